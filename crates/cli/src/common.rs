//! What the client-side commands share: connection flags, the error type, output helpers.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use agentpipe_client::{Backoff, Client, ClientConfig, Spool};

/// The one error type of the command-line tool.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A client-library failure (network, HTTP, spool, input).
    #[error(transparent)]
    Client(#[from] agentpipe_client::Error),
    /// Bad flags or arguments (exit status 2).
    #[error("{0}")]
    Usage(String),
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The command ran but did not fully succeed (exit status 1); already reported.
    #[error("{0}")]
    Incomplete(String),
    /// Interrupted with Ctrl-C after reporting what was done (exit status 130, as a shell
    /// reports SIGINT).
    #[error("{0}")]
    Interrupted(String),
}

impl CliError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Interrupted(_) => 130,
            _ => 1,
        }
    }
}

/// Parses the lifetime given to `flag`, such as `30d`, `12h`, `90m`, `2w`, `45s` into microseconds.
pub fn parse_lifetime(flag: &str, s: &str) -> Result<i64, CliError> {
    let s = s.trim();
    let bad = || CliError::Usage(format!("{flag}: '{s}' is not like 30d, 12h, 90m or 2w"));
    let unit = s.chars().last().ok_or_else(bad)?;
    let n: i64 = s[..s.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
    let secs = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        'w' => 604_800,
        _ => return Err(bad()),
    };
    if n <= 0 {
        return Err(bad());
    }
    n.checked_mul(secs)
        .and_then(|v| v.checked_mul(1_000_000))
        .ok_or_else(bad)
}

/// Where to send and how hard to try: shared by every client-side command.
#[derive(clap::Args, Clone, Debug)]
pub struct ClientArgs {
    /// AgentPipe Web server URL (a trailing `/api/ingest` is ignored, as the AgentPipe CLI does).
    #[arg(
        long,
        global = true,
        env = "AGENTPIPE_STREAM_URL",
        default_value = "http://localhost:3000"
    )]
    pub url: String,

    /// API key, sent as `Authorization: Bearer <key>`. Reads need none on a loopback server.
    #[arg(
        long,
        global = true,
        env = "AGENTPIPE_STREAM_API_KEY",
        hide_env_values = true
    )]
    pub api_key: Option<String>,

    /// Timeout of one HTTP attempt, in milliseconds.
    #[arg(
        long,
        global = true,
        env = "AGENTPIPE_STREAM_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub timeout_ms: u64,

    /// Retries after a failed attempt (network error, 5xx, 429; never other 4xx).
    #[arg(
        long,
        global = true,
        env = "AGENTPIPE_STREAM_RETRY_ATTEMPTS",
        default_value_t = 3
    )]
    pub retry_attempts: u32,

    /// Delay before the first retry, in milliseconds; it doubles on each retry (±20 % jitter,
    /// at most 30 s). A server's `Retry-After` takes precedence.
    #[arg(
        long,
        global = true,
        env = "AGENTPIPE_STREAM_RETRY_BASE_MS",
        default_value_t = 1_000
    )]
    pub retry_base_ms: u64,

    /// PEM file of a CA (or a self-signed server certificate) to trust for `https://`
    /// besides the system trust store (which honours SSL_CERT_FILE and SSL_CERT_DIR).
    #[arg(
        long,
        global = true,
        env = "AGENTPIPE_STREAM_CA_CERT",
        value_name = "FILE"
    )]
    pub ca_cert: Option<PathBuf>,
}

impl ClientArgs {
    /// Builds the client.
    pub fn client(&self) -> Result<Client, CliError> {
        let mut cfg = ClientConfig::new(self.url.clone(), self.api_key.clone());
        if let Some(path) = &self.ca_cert {
            let pem = std::fs::read(path).map_err(|source| CliError::Io {
                path: path.display().to_string(),
                source,
            })?;
            cfg.ca_cert_pem = Some(pem);
        }
        cfg.timeout = Duration::from_millis(self.timeout_ms.max(1));
        cfg.retry_attempts = self.retry_attempts;
        cfg.backoff = Backoff::new(
            Duration::from_millis(self.retry_base_ms),
            Duration::from_secs(30).max(Duration::from_millis(self.retry_base_ms)),
        );
        Client::new(cfg).map_err(|e| CliError::Usage(e.to_string()))
    }
}

/// Where undeliverable events are kept.
#[derive(clap::Args, Clone, Debug)]
pub struct SpoolArgs {
    /// Spool directory for events that could not be delivered
    /// [default: <data dir>/agentpipe-web/spool, e.g. ~/.local/share/agentpipe-web/spool].
    #[arg(long, env = "AGENTPIPE_SPOOL_DIR")]
    pub spool_dir: Option<PathBuf>,
}

impl SpoolArgs {
    /// The spool of `client`'s server.
    pub fn spool(&self, client: &Client) -> Result<Spool, CliError> {
        let dir = match &self.spool_dir {
            Some(d) => d.clone(),
            None => Spool::default_dir().ok_or_else(|| {
                CliError::Usage("this platform has no data directory; pass --spool-dir".into())
            })?,
        };
        Ok(Spool::open(&dir, client.base_url())?)
    }
}

/// ANSI styling, on only when standard output is a terminal and `NO_COLOR` is unset.
#[derive(Clone, Copy)]
pub struct Style {
    on: bool,
}

impl Style {
    /// Decides for standard output.
    pub fn stdout() -> Self {
        Style {
            on: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    /// Wraps `s` in the SGR `code` when colour is on.
    pub fn paint(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    /// A stable colour per name (agents keep their colour).
    pub fn by_name(&self, name: &str, s: &str) -> String {
        const CODES: [&str; 6] = ["36", "33", "35", "32", "34", "91"];
        let h = name
            .bytes()
            .fold(0usize, |a, b| a.wrapping_mul(31).wrapping_add(b as usize));
        self.paint(CODES[h % CODES.len()], s)
    }
}

/// `n` with `noun` in the right form: `1 event`, `0 events`, `2 events` (the noun is
/// given in the singular and takes an `s`; every noun the commands print does).
pub fn count<N: std::fmt::Display + PartialEq + From<u8>>(n: N, noun: &str) -> String {
    if n == N::from(1) {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Shortens `s` to at most `n` characters, marking the cut with `…`.
pub fn ellipsize(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Prints rows as a left-aligned text table (width by characters).
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            if i + 1 == cells.len() {
                out.push_str(c);
            } else {
                out.push_str(c);
                out.push_str(&" ".repeat(w.saturating_sub(c.chars().count()) + 2));
            }
        }
        println!("{}", out.trim_end());
    };
    line(headers.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn counts_take_the_singular_for_one() {
        assert_eq!(count(0u64, "event"), "0 events");
        assert_eq!(count(1usize, "event"), "1 event");
        assert_eq!(count(1i64, "message"), "1 message");
        assert_eq!(count(2usize, "file"), "2 files");
    }
}
