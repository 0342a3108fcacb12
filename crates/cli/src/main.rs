//! `agentpipe-web`: the AgentPipe Web server and its command-line tools.

mod backup;
mod common;
mod demo;
mod keys;
mod sessions;
mod share;
mod stream;
mod sync;
mod tail;
mod upload;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use crate::common::CliError;

#[derive(Parser)]
#[command(
    name = "agentpipe-web",
    version,
    about = "Stream, store and watch AgentPipe multi-agent conversations"
)]
struct Cli {
    /// Log format: `text` (human) or `json`. Level from RUST_LOG (default: info for `serve`, warn otherwise).
    #[arg(
        long,
        global = true,
        env = "AGENTPIPE_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (API, live stream, storage).
    Serve(agentpipe_server::ServeConfig),
    /// Forward JSON-lines events as they arrive (e.g. `agentpipe run --json ... | agentpipe-web stream`);
    /// during an outage they are spooled on disk and delivered when the server is back.
    Stream(stream::StreamArgs),
    /// Deliver the events spooled by `stream` while the server was unreachable.
    Flush(stream::FlushArgs),
    /// Upload event logs, AgentPipe CLI state files, sessions (shapes 1 and 2) or directories of them.
    Upload(upload::UploadArgs),
    /// Keep the server equal to the AgentPipe CLI's event logs and state files: watches
    /// ~/.agentpipe/events and ~/.agentpipe/states (or DIR...) and sends what is new, resuming where it stopped.
    Sync(sync::SyncArgs),
    /// Print live events as they are stored; resumes after disconnects without loss or repeats.
    Tail(tail::TailArgs),
    /// List, show and export stored conversations.
    Sessions(sessions::SessionsArgs),
    /// Expiring read-only links to one live session (`/s/{token}`, no key needed to open):
    /// create, list, revoke (admin key).
    Share(share::ShareArgs),
    /// Check the server URL and the API key (like `agentpipe bridge test`).
    Ping(demo::PingArgs),
    /// Stream a bundled multi-agent conversation to the server at a realistic pace.
    Demo(demo::DemoArgs),
    /// Create, list and revoke API keys (administration; needs the database).
    Keys(keys::KeysArgs),
    /// Copy the SQLite database to a new file while the server runs (online, consistent).
    Backup(backup::BackupArgs),
    /// Print a shell completion script: `agentpipe-web completions bash > /etc/bash_completion.d/agentpipe-web`.
    Completions {
        /// Shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Runs a client-side command and turns its outcome into an exit status.
async fn client_command(
    f: impl std::future::Future<Output = Result<(), CliError>>,
) -> std::process::ExitCode {
    match f.await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(e.exit_code())
        }
    }
}

/// Logs go to standard error; the server logs at `info`, the client-side commands at `warn`
/// (their output is their report), unless `RUST_LOG` says otherwise.
fn init_logging(format: LogFormat, server: bool) {
    let default = if server { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn shutdown_signal(token: CancellationToken) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
    token.cancel();
}

/// mimalloc: the request path allocates many small objects on several threads, where
/// glibc's allocator showed up as ~12 % of server CPU under load. The `system-alloc`
/// feature turns it off for heap profiling. Built with `no_thp` (workspace Cargo.toml):
/// mimalloc does not ask for transparent huge pages, which made every idle SSE
/// connection's buffers resident in 2 MiB pages (21 KiB of RSS per idle subscriber
/// instead of 13, issue #14; batch-ingest CPU the same either way, within noise).
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    init_logging(cli.log_format, matches!(cli.command, Command::Serve(_)));
    match cli.command {
        Command::Stream(a) => client_command(stream::stream(a)).await,
        Command::Flush(a) => client_command(stream::flush(a)).await,
        Command::Upload(a) => client_command(upload::upload(a)).await,
        Command::Sync(a) => client_command(sync::sync(a)).await,
        Command::Tail(a) => client_command(tail::tail(a)).await,
        Command::Sessions(a) => client_command(sessions::sessions(a)).await,
        Command::Share(a) => client_command(share::share(a)).await,
        Command::Ping(a) => client_command(demo::ping(a)).await,
        Command::Demo(a) => client_command(demo::demo(a)).await,
        Command::Keys(a) => client_command(keys::keys(a)).await,
        Command::Backup(a) => client_command(backup::backup(a)).await,
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "agentpipe-web",
                &mut std::io::stdout(),
            );
            std::process::ExitCode::SUCCESS
        }
        Command::Serve(config) => {
            let listener = match tokio::net::TcpListener::bind(config.listen).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("error: cannot listen on {}: {e}", config.listen);
                    return std::process::ExitCode::from(2);
                }
            };
            let token = CancellationToken::new();
            tokio::spawn(shutdown_signal(token.clone()));
            match agentpipe_server::serve(config, listener, token).await {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::ExitCode::from(1)
                }
            }
        }
    }
}
