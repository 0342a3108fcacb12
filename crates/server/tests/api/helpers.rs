//! Shared helpers: a started server plus an HTTP client that sends the test key.

#![allow(dead_code)]

pub use agentpipe_server::testing::{TestServer, TEST_KEY};
use serde_json::Value;

/// A server and a client for it.
pub struct App {
    pub server: TestServer,
    pub http: reqwest::Client,
}

impl App {
    pub async fn start() -> Self {
        Self::from(TestServer::start().await)
    }

    pub fn from(server: TestServer) -> Self {
        App {
            server,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// POSTs JSON with the test key; returns status and parsed body (Null if not JSON).
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .bearer_auth(TEST_KEY)
            .json(body)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// POSTs one event to /api/ingest.
    pub async fn ingest(&self, event: &Value) -> (u16, Value) {
        self.post("/api/ingest", event).await
    }

    /// GETs a path with the test key; returns status and parsed body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(TEST_KEY)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// DELETEs a path with the test key; returns the status.
    pub async fn delete(&self, path: &str) -> u16 {
        self.http
            .delete(self.url(path))
            .bearer_auth(TEST_KEY)
            .send()
            .await
            .expect("request")
            .status()
            .as_u16()
    }
}

/// A self-signed certificate for `localhost` written as PEM files for `--tls-cert` /
/// `--tls-key`; the files live as long as this value.
pub struct TlsFiles {
    /// The certificate and its key.
    pub cert: rcgen::CertifiedKey<rcgen::KeyPair>,
    pub cert_path: std::path::PathBuf,
    pub key_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl TlsFiles {
    /// Generates the certificate and writes both files into a fresh temporary directory.
    pub fn localhost() -> Self {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
        let dir = tempfile::tempdir().expect("dir");
        let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert_path, cert.cert.pem()).expect("write cert");
        std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("write key");
        TlsFiles {
            cert,
            cert_path,
            key_path,
            _dir: dir,
        }
    }
}
