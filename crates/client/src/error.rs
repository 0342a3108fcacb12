//! The one error type of this crate, and the retry policy over it.

use std::path::PathBuf;
use std::time::Duration;

use agentpipe_protocol::api::ErrorBody;

/// Everything that can go wrong talking to AgentPipe Web or using the spool.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The base URL cannot be used.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The server could not be reached, or the connection broke or timed out.
    #[error("cannot reach {url}: {message}")]
    Network {
        /// The request URL.
        url: String,
        /// What the HTTP stack reported.
        message: String,
        /// Whether it was a timeout.
        timeout: bool,
    },
    /// The server answered with a non-success status.
    #[error("HTTP {status} from {url}: {message}")]
    Http {
        /// The request URL.
        url: String,
        /// HTTP status code.
        status: u16,
        /// The error body's `message` (SPEC 6), else the body text (shortened).
        message: String,
        /// The parsed error body, when the server sent one.
        body: Option<Box<ErrorBody>>,
        /// The `Retry-After` the server asked for, if any.
        retry_after: Option<Duration>,
    },
    /// A success response whose body was not what SPEC 2/3/5 describe.
    #[error("unexpected response from {url}: {message}")]
    Decode {
        /// The request URL.
        url: String,
        /// What was wrong.
        message: String,
    },
    /// Input given to the library (an event, a file) is not usable.
    #[error("invalid input: {0}")]
    Input(String),
    /// A spool file could not be read or written.
    #[error("spool {}: {source}", path.display())]
    Spool {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Any other I/O error (reading input files).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl Error {
    /// The HTTP status, for [`Error::Http`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The `Retry-After` delay the server asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Whether a request that failed with `err` may succeed when sent again: network errors
/// and timeouts, 5xx (503 included) and 429 yes; every other 4xx, bad input, decoding
/// and spool errors no.
pub fn is_retryable(err: &Error) -> bool {
    match err {
        Error::Network { .. } => true,
        Error::Http { status, .. } => is_retryable_status(*status),
        _ => false,
    }
}

/// The status half of [`is_retryable`]: 429 and every 5xx.
pub fn is_retryable_status(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16) -> Error {
        Error::Http {
            url: "u".into(),
            status,
            message: String::new(),
            body: None,
            retry_after: None,
        }
    }

    #[test]
    fn retry_policy() {
        assert!(is_retryable(&Error::Network {
            url: "u".into(),
            message: "refused".into(),
            timeout: false
        }));
        for s in [500, 502, 503, 504, 429] {
            assert!(is_retryable(&http(s)), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 413, 415, 422] {
            assert!(!is_retryable(&http(s)), "{s}");
        }
        assert!(!is_retryable(&Error::Input("x".into())));
    }
}
