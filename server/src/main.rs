//! The `socketlab` binary: parse the command line, run it, and turn any failure into one line.

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;
use socketlab::cli::{self, Cli};

/// mimalloc instead of glibc's malloc: a traced exchange allocates and frees dozens of small
/// buffers (events, frames, strings) across the runtime's threads, where glibc's allocator was
/// about 15% of the gateway's instructions.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's first line names the problem; usage and hints follow in `--help`.
            let rendered = e.to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            let first = first.trim_start_matches("error: ");
            eprintln!("socketlab: {first} (see socketlab --help)");
            return ExitCode::from(2);
        }
    };
    socketlab::log::init(cli.log_format);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("socketlab: {e:#}");
            ExitCode::from(e.downcast_ref::<cli::CliError>().map_or(1, cli::CliError::exit_code))
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    use cli::Command;
    let mut builder = match &cli.command {
        // A lone server is one loop, like the lesson's: one thread, no wake-ups across threads
        // (the UDP server's datagrams have a thread of their own besides).
        Command::UdpServer(_) | Command::TcpServer(_) | Command::PingerServer(_) => {
            tokio::runtime::Builder::new_current_thread()
        }
        Command::Serve(settings) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            // `--worker-threads`; a setting that does not resolve is reported by `serve` itself.
            if let Ok(Some(n)) = socketlab::config::Config::resolve(settings).map(|c| c.worker_threads) {
                builder.worker_threads(n);
            }
            builder
        }
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = builder.enable_all().build()?;
    // As a task: on a multi-thread runtime it runs on a worker, so the gateway's accept loop
    // hands each connection to a task on its own worker, where from `block_on` every
    // connection woke a worker across threads. A panic stays a panic (exit code 101), never
    // one of the commands' own codes, which `check` gives meanings.
    match runtime.block_on(async { tokio::spawn(cli::run(cli)).await }) {
        Ok(result) => Ok(result?),
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => Err(e.into()),
        },
    }
}
