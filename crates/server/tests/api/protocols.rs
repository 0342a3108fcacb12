//! HTTP/1.1 and HTTP/2 on one listener (issue #14): the server picks the protocol
//! before hyper reads a byte: on the plain port by the HTTP/2 client preface (prior
//! knowledge, RFC 9113 3.4), with TLS by ALPN (RFC 7301). Each case is checked on the
//! wire: the version of the answer, and a live stream's first event over HTTP/2.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestServer, TEST_KEY};

const GUARD: Duration = Duration::from_secs(20);

/// Sends `GET path` over an HTTP/2 connection on `io` and returns the status, the
/// version, and the body's first data (up to one frame) as text.
async fn h2_get<I>(io: I, path: &str) -> (u16, hyper::Version, String)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut send, conn) = hyper::client::conn::http2::handshake::<_, _, Empty<Bytes>>(
        TokioExecutor::new(),
        TokioIo::new(io),
    )
    .await
    .expect("HTTP/2 handshake");
    tokio::spawn(conn);
    let req = hyper::Request::get(format!("http://localhost{path}"))
        .header("authorization", format!("Bearer {TEST_KEY}"))
        .body(Empty::new())
        .expect("request");
    let resp = tokio::time::timeout(GUARD, send.send_request(req))
        .await
        .expect("no answer")
        .expect("HTTP/2 request");
    let status = resp.status().as_u16();
    let version = resp.version();
    let mut body = resp.into_body();
    let first = tokio::time::timeout(GUARD, body.frame())
        .await
        .expect("no body frame")
        .and_then(|f| f.ok())
        .and_then(|f| f.into_data().ok())
        .map(|d| String::from_utf8_lossy(&d).into_owned())
        .unwrap_or_default();
    (status, version, first)
}

#[tokio::test]
async fn the_plain_port_serves_http2_with_prior_knowledge_and_http1() {
    let s = TestServer::start().await;
    let sock = TcpStream::connect(s.addr).await.expect("connect");
    let (status, version, body) = h2_get(sock, "/livez").await;
    assert_eq!((status, version), (200, hyper::Version::HTTP_2), "{body}");
    assert!(body.contains("ok"), "{body}");

    // A live stream over HTTP/2: its first event arrives.
    let sock = TcpStream::connect(s.addr).await.expect("connect");
    let (status, version, first) = h2_get(sock, "/api/realtime/stream").await;
    assert_eq!((status, version), (200, hyper::Version::HTTP_2));
    assert!(first.contains("connected"), "first frame: {first}");

    // HTTP/1.1 on the same port, including a request line whose first byte comes alone
    // (a prefix of the HTTP/2 preface, "P", until the rest arrives).
    let mut sock = TcpStream::connect(s.addr).await.expect("connect");
    sock.write_all(b"P").await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let text = exchange(
        &mut sock,
        b"OST /api/ingest HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    )
    .await;
    // No key: the ingest answer is 401, over HTTP/1.1.
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
}

/// A server serving HTTPS with `files`' certificate.
async fn tls_server(files: &crate::helpers::TlsFiles) -> TestServer {
    let _ = rustls::crypto::ring::default_provider().install_default();
    TestServer::start_with(|c| {
        c.tls_cert = Some(files.cert_path.clone());
        c.tls_key = Some(files.key_path.clone());
    })
    .await
}

/// A TLS client trusting `files`' certificate and offering `alpn`.
fn tls_connector(
    files: &crate::helpers::TlsFiles,
    alpn: Vec<Vec<u8>>,
) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(files.cert.cert.der().clone()).expect("root");
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn;
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// A TLS connection to `s` through `connector`, retried while the server starts.
async fn tls_connect(
    s: &TestServer,
    connector: &tokio_rustls::TlsConnector,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    for _ in 0..200 {
        if let Ok(sock) = TcpStream::connect(s.addr).await {
            let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
            if let Ok(t) = connector.connect(name, sock).await {
                return t;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("TLS handshake");
}

/// Writes `request` on `io` and returns everything read until the server closes, as text.
async fn exchange<I>(io: &mut I, request: &[u8]) -> String
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    io.write_all(request).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(GUARD, io.read_to_end(&mut out))
        .await
        .expect("no answer")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

const GET_LIVEZ: &[u8] = b"GET /livez HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

#[tokio::test]
async fn https_offers_http2_by_alpn_and_still_serves_http1() {
    let files = crate::helpers::TlsFiles::localhost();
    let s = tls_server(&files).await;
    for (offer, want) in [
        (vec![b"h2".to_vec(), b"http/1.1".to_vec()], Some(&b"h2"[..])),
        (vec![b"http/1.1".to_vec()], Some(&b"http/1.1"[..])),
    ] {
        let mut tls = tls_connect(&s, &tls_connector(&files, offer)).await;
        assert_eq!(tls.get_ref().1.alpn_protocol(), want);
        if want == Some(&b"h2"[..]) {
            let (status, version, _) = h2_get(tls, "/livez").await;
            assert_eq!((status, version), (200, hyper::Version::HTTP_2));
        } else {
            let text = exchange(&mut tls, GET_LIVEZ).await;
            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        }
    }
}

#[tokio::test]
async fn plain_http_on_the_tls_port_gets_a_400_saying_to_use_https() {
    let files = crate::helpers::TlsFiles::localhost();
    let s = tls_server(&files).await;
    // Once the server takes TLS connections, a plain request.
    drop(tls_connect(&s, &tls_connector(&files, Vec::new())).await);
    let mut sock = TcpStream::connect(s.addr).await.expect("connect");
    let text = exchange(
        &mut sock,
        b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
    let body: serde_json::Value =
        serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap_or("")).expect("JSON body");
    assert_eq!(body["error"], "https_required", "{text}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("https://")),
        "{text}"
    );
    // TLS on the same port still works after it.
    let mut tls = tls_connect(&s, &tls_connector(&files, Vec::new())).await;
    let text = exchange(&mut tls, GET_LIVEZ).await;
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "HTTPS after the refused plain request: {text}"
    );
}
