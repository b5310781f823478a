//! `socketlab check`: grades a student's server or client against the lesson, item by item.
//!
//! For a server the check plays the client (`probe.rs`, `server_udp.rs`, `server_tcp.rs`); for
//! a client it hosts the server and may run the client itself (`client_udp.rs`,
//! `client_tcp.rs`, `child.rs`). The rubric and the score come from `socketlab_proto::check`;
//! `output.rs` prints them. This is the operator's own tool, so `--target` may name any address.

mod child;
mod client_tcp;
mod client_udp;
mod output;
mod probe;
mod server_tcp;
mod server_udp;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::{Args, ValueEnum};
use socketlab_proto::check::{self, Program};

use crate::client::Recorder;
use crate::trace::Tracer;

/// The sentences typed into a client when the check runs it and none are given.
const DEFAULT_SENTENCES: [&str; 3] = ["hello socket", "straße and ﬁne", "one more line"];

/// `check` flags.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The program to grade: udp-server, tcp-server, udp-client or tcp-client.
    #[arg(value_parser = program)]
    pub program: Program,
    /// For a server: the student's running server, as HOST:PORT.
    #[arg(long)]
    pub target: Option<String>,
    /// For a client: where the check's server listens for it.
    #[arg(long, default_value = "127.0.0.1:12000")]
    pub listen: SocketAddr,
    /// For a client: how long to wait for it to show up, in seconds.
    #[arg(long, default_value = "30", value_parser = seconds)]
    pub wait: Duration,
    /// How long any one wait within an item may take, in milliseconds.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub timeout_ms: u64,
    /// The sentences the client is given (repeat the flag); the check types them when it runs
    /// the client, and expects them on the wire either way.
    #[arg(long = "sentence")]
    pub sentences: Vec<String>,
    /// text (a table), json (the documented schema) or gradescope (results.json).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// For a client: its command, run by the check; `{port}` in an argument becomes the port.
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Gradescope,
}

fn program(s: &str) -> Result<Program, String> {
    Program::parse(s).ok_or_else(|| format!("{s:?} is not udp-server, tcp-server, udp-client or tcp-client"))
}

fn seconds(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 && x <= 3600.0 => Ok(Duration::from_secs_f64(x)),
        _ => Err(format!("{s:?} is not a number of seconds between 0 and 3600")),
    }
}

/// What the client checks need from the flags.
#[derive(Debug)]
pub struct ClientOpts {
    pub listen: SocketAddr,
    pub wait: Duration,
    pub timeout: Duration,
    pub sentences: Vec<String>,
    pub command: Vec<String>,
    /// Whether to tell the person at the terminal where to point the client (not through the
    /// gateway, whose page and API say it instead).
    pub announce: bool,
    /// The only address a client is taken from (the gateway's requester); datagrams and
    /// connections from anywhere else are dropped unrecorded.
    pub only_from: Option<IpAddr>,
}

impl ClientOpts {
    /// Whether a client at `ip` is the one to grade.
    fn takes(&self, ip: IpAddr) -> bool {
        self.only_from.is_none_or(|only| only.to_canonical() == ip.to_canonical())
    }

    /// The sentences to type: the given ones, or the defaults.
    fn sentences(&self) -> Vec<String> {
        if self.sentences.is_empty() {
            DEFAULT_SENTENCES.iter().map(|s| (*s).to_owned()).collect()
        } else {
            self.sentences.clone()
        }
    }
}

/// Tells the person (or the script) running the check where to point the client.
fn announce(proto: &str, addr: SocketAddr, opts: &ClientOpts) {
    if !opts.announce {
        tracing::debug!(%addr, proto, "a client check is listening");
        return;
    }
    let who = if opts.command.is_empty() { "your client" } else { "the client it runs" };
    eprintln!("socketlab check listening on {proto} {addr}; waiting up to {} s for {who}", opts.wait.as_secs_f64());
}

/// Why a check could not give a grade, or the grade it gave.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The flags do not make sense together.
    #[error("{0}")]
    Usage(String),
    /// The target cannot be reached at all, or the check cannot listen.
    #[error("{0}")]
    Unreachable(String),
    /// The check ran and a required item failed (the report is already printed).
    #[error("{failed} required item(s) failed")]
    Failed { failed: usize },
}

impl CheckError {
    /// The exit code: 1 when an item failed, 2 when there was nothing to grade.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Failed { .. } => 1,
            Self::Usage(_) | Self::Unreachable(_) => 2,
        }
    }
}

/// Runs the check, prints its report, and fails when a required item failed.
pub async fn run(a: CheckArgs) -> Result<(), CheckError> {
    let timeout = Duration::from_millis(a.timeout_ms);
    let mut rec = Recorder::new(Tracer::silent(), true);
    let (target, outcomes) = if a.program.is_server() {
        if !a.command.is_empty() || !a.sentences.is_empty() {
            return Err(CheckError::Usage(format!("{} takes --target, not a command or --sentence", a.program.name())));
        }
        let Some(target) = a.target.as_deref() else {
            return Err(CheckError::Usage(format!("{} needs --target HOST:PORT", a.program.name())));
        };
        let addr = resolve(target).await?;
        (
            addr.to_string(),
            server_outcomes(a.program, addr, timeout, rec, &mut |_| {}).await.map_err(CheckError::Unreachable)?,
        )
    } else {
        if a.target.is_some() {
            return Err(CheckError::Usage(format!("{} takes --listen, not --target", a.program.name())));
        }
        let opts = ClientOpts {
            listen: a.listen,
            wait: a.wait,
            timeout,
            sentences: a.sentences,
            command: a.command,
            announce: true,
            only_from: None,
        };
        let ran = match a.program {
            Program::UdpClient => client_udp::run(&opts, &mut rec).await,
            _ => client_tcp::run(&opts, &mut rec).await,
        };
        ran.map_err(CheckError::Unreachable)?
    };
    let report = check::grade(a.program, &target, outcomes);
    output::print(&report, a.format);
    let failed = report.items.iter().filter(|i| i.required && i.verdict == check::Verdict::Fail).count();
    if failed > 0 { Err(CheckError::Failed { failed }) } else { Ok(()) }
}

/// Called with each item's outcome as soon as it is known, in the rubric's order.
pub type OnItem<'a> = dyn FnMut(&check::ItemOutcome) + Send + 'a;

/// One rubric item run against the server: a server program's `item` function, boxed.
type ItemFn = for<'a> fn(
    &'a mut probe::Probe,
    &'static str,
) -> std::pin::Pin<Box<dyn Future<Output = check::ItemOutcome> + Send + 'a>>;

/// Runs a server program's rubric in order, handing each item to `on_item` as it finishes.
/// Items after the server died are skipped; when the `first` item finds nothing listening,
/// the check stops with `unreachable` and no item has been handed over.
async fn run_rubric(
    p: &mut probe::Probe,
    program: Program,
    on_item: &mut OnItem<'_>,
    (first, unreachable): (&str, String),
    item: ItemFn,
) -> Result<Vec<check::ItemOutcome>, String> {
    let mut out: Vec<check::ItemOutcome> = Vec::new();
    for spec in program.rubric() {
        if p.refused {
            let dead = out.last().map_or("", |o| o.id);
            let skipped = check::ItemOutcome::skipped(spec.id, format!("the server had died during item {dead}"));
            on_item(&skipped);
            out.push(skipped);
            continue;
        }
        let outcome = item(p, spec.id).await;
        if spec.id == first && p.refused {
            return Err(unreachable);
        }
        on_item(&outcome);
        out.push(outcome);
    }
    Ok(out)
}

/// Grades the server at `addr` as `program` (a server program), each wait at most `timeout`,
/// handing each item to `on_item` as it finishes. An error says the server cannot be reached
/// at all; no item has been handed over then.
pub async fn grade_server(
    program: Program,
    addr: SocketAddr,
    timeout: Duration,
    on_item: &mut OnItem<'_>,
) -> Result<check::Report, String> {
    let outcomes = server_outcomes(program, addr, timeout, Recorder::new(Tracer::silent(), true), on_item).await?;
    Ok(check::grade(program, &addr.to_string(), outcomes))
}

/// Listens on `listen` for a student's client (only from `only_from`, when given), at most
/// `wait` for its first message, and grades it as `program` (a client program); the items are
/// handed to `on_item` once the client is done. An error says the check could not listen.
pub async fn grade_client(
    program: Program,
    listen: SocketAddr,
    only_from: Option<IpAddr>,
    wait: Duration,
    timeout: Duration,
    on_item: &mut OnItem<'_>,
) -> Result<check::Report, String> {
    let opts =
        ClientOpts { listen, wait, timeout, sentences: Vec::new(), command: Vec::new(), announce: false, only_from };
    let mut rec = Recorder::new(Tracer::silent(), true);
    let (target, outcomes) = match program {
        Program::UdpClient => client_udp::run(&opts, &mut rec).await?,
        Program::TcpClient => client_tcp::run(&opts, &mut rec).await?,
        other => return Err(format!("{} is not a client", other.name())),
    };
    outcomes.iter().for_each(&mut *on_item);
    Ok(check::grade(program, &target, outcomes))
}

async fn server_outcomes(
    program: Program,
    addr: SocketAddr,
    timeout: Duration,
    rec: Recorder,
    on_item: &mut OnItem<'_>,
) -> Result<Vec<check::ItemOutcome>, String> {
    let mut p = probe::Probe::new(rec, addr, timeout);
    match program {
        Program::UdpServer => server_udp::run(&mut p, on_item).await,
        Program::TcpServer => server_tcp::run(&mut p, on_item).await,
        other => Err(format!("{} is not a server", other.name())),
    }
}

async fn resolve(target: &str) -> Result<SocketAddr, CheckError> {
    let (host, port) = target
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.trim_start_matches('[').trim_end_matches(']'), p.parse::<u16>().ok()?)))
        .ok_or_else(|| CheckError::Usage(format!("--target {target:?} is not HOST:PORT")))?;
    crate::error::resolve(host, port).await.map_err(|e| CheckError::Unreachable(e.to_string()))
}
