//! HTTPS for the client commands (issue #13): a server whose certificate comes from a
//! private CA (made here with rcgen) is refused by default and trusted with `--ca-cert`,
//! `AGENTPIPE_STREAM_CA_CERT` or `SSL_CERT_FILE` (the system trust store's override); a
//! self-signed certificate given with `--ca-cert` is pinned, even when marked CA:TRUE as
//! `openssl req -x509` makes it, and only for its own names.

use std::path::Path;
use std::process::Command;

use agentpipe_server::testing::{TestServer, TEST_KEY};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

const BIN: &str = env!("CARGO_BIN_EXE_agentpipe-web");

/// Writes `ca.pem`, `cert.pem` (for localhost and 127.0.0.1, signed by the CA) and
/// `key.pem` into `dir`.
fn make_certificates(dir: &Path) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "agentpipe test CA");
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("ca key")).expect("ca");
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("leaf params")
        .signed_by(&leaf_key, &ca)
        .expect("leaf");
    std::fs::write(dir.join("ca.pem"), ca.pem()).expect("ca.pem");
    std::fs::write(dir.join("cert.pem"), leaf.pem()).expect("cert.pem");
    std::fs::write(dir.join("key.pem"), leaf_key.serialize_pem()).expect("key.pem");
}

fn ping(url: &str, envs: &[(&str, &Path)], args: &[&str]) -> (bool, String) {
    let mut c = Command::new(BIN);
    c.arg("ping")
        .args(["--retry-attempts", "0"])
        .args(args)
        .env("AGENTPIPE_STREAM_URL", url)
        .env("AGENTPIPE_STREAM_API_KEY", TEST_KEY)
        .env_remove("AGENTPIPE_STREAM_CA_CERT")
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR");
    for (k, v) in envs {
        c.env(k, v);
    }
    let out = c.output().expect("run ping");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_is_trusted_with_ca_cert_its_variable_or_ssl_cert_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    make_certificates(dir.path());
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let server = TestServer::start_with(move |c| {
        c.tls_cert = Some(cert);
        c.tls_key = Some(key);
    })
    .await;
    let url = format!("https://127.0.0.1:{}", server.addr.port());
    let ca = dir.path().join("ca.pem");

    let (ok, text) = ping(&url, &[], &[]);
    assert!(!ok, "an unknown CA must not be trusted: {text}");

    let ca_arg = ca.display().to_string();
    let (ok, text) = ping(&url, &[], &["--ca-cert", &ca_arg]);
    assert!(ok, "--ca-cert: {text}");

    let (ok, text) = ping(&url, &[("AGENTPIPE_STREAM_CA_CERT", &ca)], &[]);
    assert!(ok, "AGENTPIPE_STREAM_CA_CERT: {text}");

    let (ok, text) = ping(&url, &[("SSL_CERT_FILE", &ca)], &[]);
    assert!(ok, "SSL_CERT_FILE: {text}");

    let (ok, text) = ping(&url, &[], &["--ca-cert", "/nonexistent/ca.pem"]);
    assert!(!ok && text.contains("/nonexistent/ca.pem"), "{text}");
}

/// A self-signed certificate for `names`, `ca` choosing its basicConstraints
/// (`openssl req -x509` writes CA:TRUE by default): (cert.pem, key.pem) in `dir`, named
/// after `name`.
fn self_signed(
    dir: &Path,
    name: &str,
    names: &[&str],
    ca: bool,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = KeyPair::generate().expect("key");
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("params");
    if ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    let cert = params.self_signed(&key).expect("self-signed");
    let (c, k) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}-key.pem")),
    );
    std::fs::write(&c, cert.pem()).expect("cert");
    std::fs::write(&k, key.serialize_pem()).expect("key");
    (c, k)
}

/// The trials of issue #13: a self-signed certificate made the usual way (`openssl req
/// -x509`, CA:TRUE) and one made CA:FALSE are both trusted with `--ca-cert` (pinned);
/// without it the error names `--ca-cert`; `http://` against the HTTPS server says to use
/// `https://`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_certificates_ca_true_or_not_are_trusted_with_ca_cert() {
    let dir = tempfile::tempdir().expect("tempdir");
    for ca in [true, false] {
        let name = if ca { "ca-true" } else { "ca-false" };
        let (cert, key) = self_signed(dir.path(), name, &["localhost", "127.0.0.1"], ca);
        let (c, k) = (cert.clone(), key.clone());
        let server = TestServer::start_with(move |cfg| {
            cfg.tls_cert = Some(c);
            cfg.tls_key = Some(k);
        })
        .await;
        let url = format!("https://localhost:{}", server.addr.port());
        let cert_arg = cert.display().to_string();
        let (ok, text) = ping(&url, &[], &["--ca-cert", &cert_arg]);
        assert!(ok, "{name} self-signed certificate with --ca-cert: {text}");
        let (ok, text) = ping(&url, &[("AGENTPIPE_STREAM_CA_CERT", &cert)], &[]);
        assert!(ok, "{name} with AGENTPIPE_STREAM_CA_CERT: {text}");
        let (ok, text) = ping(&url, &[], &[]);
        assert!(
            !ok && text.contains("--ca-cert"),
            "{name} untrusted: {text}"
        );
        let plain = format!("http://localhost:{}", server.addr.port());
        let (ok, text) = ping(&plain, &[], &[]);
        assert!(!ok && text.contains("use https://"), "{text}");
    }
}

/// Pinning accepts exactly the pinned certificate for its own names: a server with a
/// CA:TRUE self-signed certificate is refused when a different CA:TRUE certificate (same
/// names) is pinned, or when the pinned certificate is its own but the URL's host is not
/// among its names; `upload` goes through with the right one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_certificate_must_be_the_servers_own_and_name_the_host() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = self_signed(dir.path(), "served", &["localhost"], true);
    let (other, _) = self_signed(dir.path(), "other", &["localhost", "127.0.0.1"], true);
    let (c, k) = (cert.clone(), key.clone());
    let server = TestServer::start_with(move |cfg| {
        cfg.tls_cert = Some(c);
        cfg.tls_key = Some(k);
    })
    .await;
    let port = server.addr.port();
    let url = format!("https://localhost:{port}");
    let (cert_arg, other_arg) = (cert.display().to_string(), other.display().to_string());

    let (ok, text) = ping(&url, &[], &["--ca-cert", &other_arg]);
    assert!(
        !ok,
        "another pinned CA:TRUE certificate must not do: {text}"
    );

    let by_ip = format!("https://127.0.0.1:{port}");
    let (ok, text) = ping(&by_ip, &[], &["--ca-cert", &cert_arg]);
    assert!(
        !ok && text.to_lowercase().contains("name"),
        "127.0.0.1 is not among the certificate's names: {text}"
    );

    let session = dir.path().join("session.json");
    std::fs::write(
        &session,
        serde_json::json!({
            "conversation": {"id": "tls-pinned-1", "name": "Pinned", "mode": "reactive",
                "initial_prompt": "Over HTTPS?", "started_at": "2025-11-04T09:00:00Z",
                "status": "completed"},
            "agents": [{"agent_type": "gemini", "agent_name": "Gemini"}],
            "messages": [{"agent_type": "gemini", "agent_name": "Gemini", "content": "Yes.",
                "timestamp": "2025-11-04T09:00:10Z"}]
        })
        .to_string(),
    )
    .expect("session");
    let upload = |args: &[&str]| {
        let out = Command::new(BIN)
            .arg("upload")
            .args(["--retry-attempts", "0"])
            .args(args)
            .arg(&session)
            .env("AGENTPIPE_STREAM_URL", &url)
            .env("AGENTPIPE_STREAM_API_KEY", TEST_KEY)
            .env("NO_COLOR", "1")
            .env_remove("AGENTPIPE_STREAM_CA_CERT")
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run upload");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, text) = upload(&[]);
    assert!(!ok, "upload without --ca-cert: {text}");
    let (ok, text) = upload(&["--ca-cert", &cert_arg]);
    assert!(ok, "upload with --ca-cert: {text}");
    // the library, pinned the same way, reads it back
    let mut cfg = agentpipe_client::ClientConfig::new(&url, Some(TEST_KEY.to_string()));
    cfg.ca_cert_pem = Some(std::fs::read(&cert).expect("read cert"));
    let client = agentpipe_client::Client::new(cfg).expect("client");
    let detail = client
        .session_json("tls-pinned-1", &[])
        .await
        .expect("the uploaded session is stored");
    assert_eq!(detail["storedMessages"], 1, "{detail}");
}
