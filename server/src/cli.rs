//! The `socketlab` command line: the four textbook programs and the gateway.
//!
//! Parsing lives here and `main` stays thin. Every flag has a default taken from the lesson
//! (port 12000, `recvfrom(2048)`, `recv(1024)`, `listen(1)`).

use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use socketlab_proto::{Event, Op, Side, Transport};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

use crate::client::{self, Recorder};
use crate::error::NetError;
use crate::impair::Loss;
use crate::log::{Log, LogFormat};
use crate::tcp_server::{self, Mode, TcpServer};
use crate::trace::Tracer;
use crate::udp_server::{self, UdpServer};
use crate::{net, shutdown};

/// The socket-programming lesson, for real.
#[derive(Debug, Parser)]
#[command(name = "socketlab", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// How operator logs on stderr are written (`RUST_LOG` chooses which, default `info`).
    #[arg(long, global = true, env = "SOCKETLAB_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, display_order = 1000)]
    pub log_format: LogFormat,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the UDP upper-case server (the lesson's UDPServer).
    UdpServer(UdpServerArgs),
    /// Run the TCP upper-case server (the lesson's TCPServer).
    TcpServer(TcpServerArgs),
    /// Send lines to a UDP server and print the replies (the lesson's UDPClient).
    UdpClient(UdpClientArgs),
    /// Send one sentence to a TCP server and print the reply (the lesson's TCPClient).
    TcpClient(TcpClientArgs),
    /// Run the UDP pinger assignment's server: upper-cases, and loses a share of requests.
    PingerServer(PingerServerArgs),
    /// Run the playground: both servers plus the HTTP and WebSocket gateway.
    Serve(Box<crate::config::Settings>),
    /// Grade a student's server or client against the lesson, item by item.
    Check(crate::check::CheckArgs),
    /// Manage classes: `socketlab class create "Networks 101"`.
    #[command(subcommand)]
    Class(ClassCommand),
}

/// `class` subcommands.
#[derive(Debug, Subcommand)]
pub enum ClassCommand {
    /// Create a class; prints its join code and the instructor's link (keep that private).
    Create(ClassCreateArgs),
}

/// `class create` flags: the store the gateways use.
#[derive(Debug, Args)]
pub struct ClassCreateArgs {
    /// The class's name, 1 to 40 characters.
    pub name: String,
    /// Directory of the embedded SQLite store, as given to `serve`.
    #[arg(long, env = "SOCKETLAB_DATA_DIR", default_value = "socketlab-data")]
    pub data_dir: std::path::PathBuf,
    /// The PostgreSQL URL the gateways share, as given to `serve`.
    #[arg(long, env = "SOCKETLAB_DATABASE")]
    pub database: Option<String>,
    /// The gateway's public host name, to print the link in full.
    #[arg(long, env = "SOCKETLAB_PUBLIC_NAME")]
    pub public_name: Option<String>,
}

/// Flags every server shares.
#[derive(Debug, Args)]
pub struct Listen {
    /// Address to bind.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
    /// Port to bind (0 picks a free one).
    #[arg(long, default_value_t = 12000)]
    pub port: u16,
    /// Print every socket call as a JSON line on stderr.
    #[arg(long)]
    pub trace: bool,
}

/// `udp-server` flags.
#[derive(Debug, Args)]
pub struct UdpServerArgs {
    #[command(flatten)]
    pub listen: Listen,
    /// Receive buffer in bytes, as in `recvfrom(2048)`; longer datagrams are truncated.
    #[arg(long, default_value_t = udp_server::DEFAULT_BUFFER, value_parser = buffer_size)]
    pub buffer: usize,
}

/// `pinger-server` flags.
#[derive(Debug, Args)]
pub struct PingerServerArgs {
    #[command(flatten)]
    pub listen: Listen,
    /// The share of requests to lose, from 0 to 1.
    #[arg(long, default_value_t = 0.3, value_parser = share)]
    pub loss: f64,
    /// Seed for the losses: the same seed loses the same requests (default: a new one each run).
    #[arg(long)]
    pub seed: Option<u64>,
}

/// `tcp-server` flags.
#[derive(Debug, Args)]
pub struct TcpServerArgs {
    #[command(flatten)]
    pub listen: Listen,
    /// Bytes one `recv` reads, as in `recv(1024)`.
    #[arg(long, default_value_t = tcp_server::DEFAULT_BUFFER, value_parser = buffer_size)]
    pub buffer: usize,
    /// Connections the kernel may queue before `accept`, as in `listen(1)`.
    #[arg(long, default_value_t = tcp_server::DEFAULT_BACKLOG)]
    pub backlog: u32,
    /// `iterative` serves one client at a time, like the lesson; `concurrent` serves all at once.
    #[arg(long, value_enum, default_value_t = Mode::Iterative)]
    pub mode: Mode,
}

/// Flags both clients share.
#[derive(Debug, Args)]
pub struct Target {
    /// Server host name or address.
    #[arg(long, default_value = "127.0.0.1")]
    pub server: String,
    /// Server port.
    #[arg(long, default_value_t = 12000)]
    pub port: u16,
    /// Print every socket call as a JSON line on stderr.
    #[arg(long)]
    pub trace: bool,
}

/// `udp-client` flags.
#[derive(Debug, Args)]
pub struct UdpClientArgs {
    #[command(flatten)]
    pub target: Target,
    /// Give up on a reply after this many seconds and say the datagram was lost (default: wait forever, like the lesson).
    #[arg(long, value_parser = seconds)]
    pub timeout: Option<Duration>,
}

/// `tcp-client` flags.
#[derive(Debug, Args)]
pub struct TcpClientArgs {
    #[command(flatten)]
    pub target: Target,
    /// The sentence to send; without it, one line is read from stdin.
    #[arg(long)]
    pub message: Option<String>,
    /// Give up after this many seconds (default: wait forever, like the lesson).
    #[arg(long, value_parser = seconds)]
    pub timeout: Option<Duration>,
}

fn buffer_size(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=65_535).contains(&n) => Ok(n),
        _ => Err(format!("{s:?} is not a buffer size from 1 to 65535 bytes")),
    }
}

fn share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!("{s:?} is not a share from 0 to 1")),
    }
}

fn seconds(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 && x <= 86_400.0 => Ok(Duration::from_secs_f64(x)),
        _ => Err(format!("{s:?} is not a number of seconds between 0 and 86400")),
    }
}

/// What a subcommand can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Net(#[from] NetError),
    #[error(transparent)]
    Serve(#[from] crate::gateway::ServeError),
    #[error("cannot read stdin: {0}")]
    Stdin(std::io::Error),
    #[error(transparent)]
    Check(#[from] crate::check::CheckError),
    #[error(transparent)]
    Store(#[from] crate::db::StoreError),
    #[error("cannot create the class: {0}")]
    Class(String),
}

impl CliError {
    /// The process's exit code: 1 for a failure, 2 when a check had nothing to grade.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Check(e) => e.exit_code(),
            _ => 1,
        }
    }
}

/// Runs a parsed command to completion.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let cancel = CancellationToken::new();
    shutdown::cancel_on_signal(cancel.clone());
    match cli.command {
        Command::UdpServer(a) => udp_server(a, cancel).await,
        Command::TcpServer(a) => tcp_server(a, cancel).await,
        Command::PingerServer(a) => pinger_server(a, cancel).await,
        Command::UdpClient(a) => udp_client(a).await,
        Command::TcpClient(a) => tcp_client(a).await,
        Command::Serve(a) => Ok(crate::gateway::serve(*a, cancel).await?),
        Command::Check(a) => Ok(crate::check::run(a).await?),
        Command::Class(ClassCommand::Create(a)) => class_create(a).await,
    }
}

async fn class_create(a: ClassCreateArgs) -> Result<(), CliError> {
    if a.database.as_deref().is_some_and(|u| !crate::db::is_postgres_url(u)) {
        return Err(crate::db::StoreError::Url.into());
    }
    let store = crate::db::open(&a.data_dir, a.database.as_deref()).await?;
    let signer = crate::gateway::classes::signer_of(store.as_ref()).await?;
    let created = crate::gateway::classes::create_class(store.as_ref(), &signer, &a.name).await;
    store.close().await?;
    let c = created.map_err(|e| CliError::Class(e.message))?;
    println!("class {:?} created", c.name);
    println!("join code:       {}", c.join_code);
    println!("class id:        {}", c.id);
    println!("instructor link: {}", c.instructor_url);
    if let Some(host) = &a.public_name {
        println!("                 https://{host}{}", c.instructor_url);
    }
    println!("keep the instructor link private: its key is the class's instructor secret");
    Ok(())
}

async fn udp_server(a: UdpServerArgs, cancel: CancellationToken) -> Result<(), CliError> {
    let socket = net::bind_udp(SocketAddr::new(a.listen.bind, a.listen.port)).await?;
    let server = UdpServer::new(socket, a.buffer, Tracer::for_cli(a.listen.trace), Log::Stdout);
    let addr = server.local_addr()?;
    Log::Stdout.line(format_args!("socketlab UDP server ready on {addr} (recvfrom buffer {} bytes)", a.buffer));
    Ok(server.run(cancel).await?)
}

async fn pinger_server(a: PingerServerArgs, cancel: CancellationToken) -> Result<(), CliError> {
    let socket = net::bind_udp(SocketAddr::new(a.listen.bind, a.listen.port)).await?;
    let seed = a.seed.unwrap_or_else(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        now.as_nanos() as u64 ^ u64::from(std::process::id())
    });
    let server = UdpServer::new(socket, udp_server::DEFAULT_BUFFER, Tracer::for_cli(a.listen.trace), Log::Stdout)
        .lossy(Loss::new(a.loss, seed));
    let addr = server.local_addr()?;
    Log::Stdout.line(format_args!(
        "socketlab pinger server ready on {addr} (loses {:.0}% of requests, seed {seed})",
        a.loss * 100.0
    ));
    Ok(server.run(cancel).await?)
}

async fn tcp_server(a: TcpServerArgs, cancel: CancellationToken) -> Result<(), CliError> {
    let welcome = net::bind_tcp(SocketAddr::new(a.listen.bind, a.listen.port), a.backlog)?;
    let server = TcpServer::new(welcome, a.buffer, a.mode, Tracer::for_cli(a.listen.trace), Log::Stdout);
    let addr = server.local_addr()?;
    Log::Stdout.line(format_args!(
        "socketlab TCP server ready on {addr} (welcome socket, backlog {}, recv buffer {} bytes, {:?} mode)",
        a.backlog, a.buffer, a.mode
    ));
    Ok(server.run(cancel).await?)
}

/// Writes the recorder's events to the tracer's sink (stderr under `--trace`).
fn flush(tracer: &Tracer, rec: &mut Recorder) {
    for e in rec.take() {
        tracer.record(e.peer, |_| e);
    }
}

async fn prompt(interactive: bool) {
    if interactive {
        let mut out = tokio::io::stdout();
        let _ = out.write_all(b"Input lowercase sentence:").await;
        let _ = out.flush().await;
    }
}

async fn udp_client(a: UdpClientArgs) -> Result<(), CliError> {
    let server = crate::error::resolve(&a.target.server, a.target.port).await?;
    let tracer = Tracer::for_cli(a.target.trace);
    let mut rec = Recorder::new(tracer.clone(), a.target.trace);
    let socket = net::client_udp_socket(server).await?;
    let sock = rec.socket(Transport::Udp);
    let local = socket.local_addr().ok();
    rec.push(|t| Event::new(t, Side::Client, sock, Op::Socket).addrs(local, None));
    let interactive = std::io::stdin().is_terminal();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        flush(&tracer, &mut rec);
        prompt(interactive).await;
        let Some(line) = lines.next_line().await.map_err(CliError::Stdin)? else {
            break;
        };
        if line == "end" {
            break;
        }
        match client::udp_exchange(&socket, sock, server, line.as_bytes(), a.timeout, 64 * 1024, &mut rec).await {
            Ok(reply) => println!("{}", String::from_utf8_lossy(&reply)),
            // A lost datagram is part of the lesson, not the end of the program.
            Err(e @ NetError::Timeout { .. }) => eprintln!("socketlab: {e}"),
            Err(e) => {
                flush(&tracer, &mut rec);
                return Err(e.into());
            }
        }
    }
    rec.push(|t| Event::new(t, Side::Client, sock, Op::Close).addrs(local, None));
    flush(&tracer, &mut rec);
    Ok(())
}

async fn tcp_client(a: TcpClientArgs) -> Result<(), CliError> {
    let server = crate::error::resolve(&a.target.server, a.target.port).await?;
    let tracer = Tracer::for_cli(a.target.trace);
    let mut rec = Recorder::new(tracer.clone(), a.target.trace);
    let deadline = a.timeout.map(client::Deadline::after);
    let (socket, local) = net::client_tcp_socket(server)?;
    let sock = rec.socket(Transport::Tcp);
    rec.push(|t| Event::new(t, Side::Client, sock, Op::Socket).addrs(Some(local), None));
    // Like the lesson, connect first and ask for the sentence afterwards.
    let connected = client::tcp_connect(socket, sock, server, deadline, &mut rec).await;
    flush(&tracer, &mut rec);
    let stream = connected?;
    let message = match a.message {
        Some(m) => m,
        None => {
            prompt(std::io::stdin().is_terminal()).await;
            let mut lines = BufReader::new(tokio::io::stdin()).lines();
            lines.next_line().await.map_err(CliError::Stdin)?.unwrap_or_default()
        }
    };
    let reply = client::tcp_converse(stream, sock, message.as_bytes(), deadline, 1 << 20, &mut rec).await;
    flush(&tracer, &mut rec);
    println!("From Server: {}", String::from_utf8_lossy(&reply?));
    Ok(())
}
