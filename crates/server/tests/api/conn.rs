//! Hostile and slow clients on raw sockets (issue #16): idle sockets, slowloris heads,
//! partial request lines, stalled bodies, the per-client connection cap, and shutdown
//! with a deadline on HTTP and HTTPS. Every wait is bounded by a generous guard so a
//! regression fails instead of hanging; nothing asserts on durations.

use std::time::Duration;

use agentpipe_server::ServeConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestServer, TEST_KEY};

/// Longest a test waits for the server to act.
const GUARD: Duration = Duration::from_secs(20);

async fn start(f: impl FnOnce(&mut ServeConfig)) -> TestServer {
    let s = TestServer::start_with(f).await;
    // Wait until it answers.
    for _ in 0..200 {
        if reqwest::get(s.url("/livez")).await.is_ok() {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("server did not start");
}

/// Reads until the server closes the socket; returns what it sent. Panics when the
/// socket is still open after [`GUARD`].
async fn read_until_closed(sock: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let r = tokio::time::timeout(GUARD, async {
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(r.is_ok(), "the server kept the connection open");
    out
}

#[tokio::test]
async fn an_idle_socket_is_closed_after_the_keep_alive_timeout() {
    let s = start(|c| c.keep_alive_timeout = 1).await;
    let mut sock = TcpStream::connect(s.addr).await.expect("connect");
    let got = read_until_closed(&mut sock).await;
    assert!(got.is_empty(), "nothing is sent to an idle socket");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_a_request() {
    let s = start(|c| c.keep_alive_timeout = 1).await;
    let mut sock = TcpStream::connect(s.addr).await.expect("connect");
    sock.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let got = String::from_utf8_lossy(&read_until_closed(&mut sock).await).to_string();
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
}

#[tokio::test]
async fn a_slowloris_head_is_closed_after_the_header_read_timeout() {
    let s = start(|c| {
        c.header_read_timeout = 1;
        c.keep_alive_timeout = 300;
    })
    .await;
    let sock = TcpStream::connect(s.addr).await.expect("connect");
    let (mut rd, mut wr) = sock.into_split();
    // One header byte every 200 ms, forever (until the server closes).
    let writer = tokio::spawn(async move {
        if wr
            .write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n")
            .await
            .is_err()
        {
            return;
        }
        for _ in 0..1000 {
            if wr.write_all(b"X").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut buf = [0u8; 1024];
    let r = tokio::time::timeout(GUARD, async {
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    writer.abort();
    assert!(r.is_ok(), "a head sent one byte at a time was not cut off");
}

#[tokio::test]
async fn a_partial_request_line_is_closed() {
    let s = start(|c| {
        c.header_read_timeout = 1;
        c.keep_alive_timeout = 300;
    })
    .await;
    let mut sock = TcpStream::connect(s.addr).await.expect("connect");
    sock.write_all(b"GET /li").await.expect("write");
    read_until_closed(&mut sock).await;
}

#[tokio::test]
async fn a_stalled_body_gets_408_and_the_connection_closes() {
    let s = start(|c| {
        c.header_read_timeout = 1;
        c.min_body_rate = 100;
    })
    .await;
    let mut sock = TcpStream::connect(s.addr).await.expect("connect");
    let head = format!(
        "POST /api/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TEST_KEY}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{\"type\":"
    );
    sock.write_all(head.as_bytes()).await.expect("write");
    let got = String::from_utf8_lossy(&read_until_closed(&mut sock).await).to_string();
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(got.contains("\"request_timeout\""), "{got}");
}

#[tokio::test]
async fn a_slow_but_steady_body_is_accepted() {
    // 60 bytes/s against a minimum of 20 bytes/s: slower than any timeout in total
    // (about 3 s against a 1 s grace), still accepted because the rate is kept.
    let s = start(|c| {
        c.header_read_timeout = 1;
        c.min_body_rate = 20;
    })
    .await;
    let body = serde_json::json!({"type":"conversation.started","conversation_id":"slow-1","timestamp":"2025-01-01T00:00:00Z","data":{"mode":"round-robin"}}).to_string();
    let mut sock = TcpStream::connect(s.addr).await.expect("connect");
    let head = format!(
        "POST /api/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TEST_KEY}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    sock.write_all(head.as_bytes()).await.expect("write");
    for chunk in body.as_bytes().chunks(6) {
        sock.write_all(chunk).await.expect("write");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = String::from_utf8_lossy(&read_until_closed(&mut sock).await).to_string();
    assert!(got.starts_with("HTTP/1.1 201"), "{got}");
}

#[tokio::test]
async fn an_sse_stream_outlives_the_idle_and_head_timeouts() {
    let s = start(|c| {
        c.header_read_timeout = 1;
        c.keep_alive_timeout = 1;
        c.sse_heartbeat_interval_ms = 300;
    })
    .await;
    let mut sock = TcpStream::connect(s.addr).await.expect("connect");
    sock.write_all(b"GET /api/realtime/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    // Ten heartbeats (3 s) are more than both timeouts.
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let r = tokio::time::timeout(GUARD, async {
        while seen.matches(":heartbeat").count() < 10 {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
        true
    })
    .await;
    assert_eq!(r, Ok(true), "the stream was closed: {seen}");
}

/// Sends one keep-alive request on `sock`; true when a 200 came back.
async fn livez_on(sock: &mut TcpStream) -> bool {
    if sock
        .write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 1024];
    match tokio::time::timeout(GUARD, sock.read(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        _ => false,
    }
}

#[tokio::test]
async fn the_per_client_cap_closes_extra_plain_connections_but_not_sse() {
    let s = start(|c| c.max_connections_per_client = 2).await;
    // Three SSE streams do not count against the cap of two plain connections.
    let http = reqwest::Client::new();
    let mut streams = Vec::new();
    for _ in 0..3 {
        let r = http
            .get(s.url("/api/realtime/stream"))
            .send()
            .await
            .expect("sse");
        assert_eq!(r.status().as_u16(), 200);
        streams.push(r);
    }
    let mut a = TcpStream::connect(s.addr).await.expect("connect");
    let mut b = TcpStream::connect(s.addr).await.expect("connect");
    assert!(livez_on(&mut a).await);
    assert!(livez_on(&mut b).await);
    let mut c = TcpStream::connect(s.addr).await.expect("connect");
    assert!(
        !livez_on(&mut c).await,
        "a third plain connection was served"
    );
    // A slot frees when a connection closes.
    drop(a);
    let mut served = false;
    for _ in 0..100 {
        let mut d = TcpStream::connect(s.addr).await.expect("connect");
        if livez_on(&mut d).await {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "the freed slot was not given to a new connection");
    drop(streams);
}

/// Starts a stalled request body and an SSE stream, fires shutdown, and checks that the
/// stream ends and the server stops by itself.
async fn shutdown_with_stalled_body(mut s: TestServer, https: bool) {
    let mut stalled = TcpStream::connect(s.addr).await.expect("connect");
    if !https {
        let head = format!(
            "POST /api/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TEST_KEY}\r\nContent-Length: 1000\r\n\r\n{{"
        );
        stalled.write_all(head.as_bytes()).await.expect("write");
    } else {
        // Half a TLS ClientHello record header.
        stalled.write_all(&[0x16, 0x03]).await.expect("write");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.shutdown.cancel();
    let handle = s.handle.take().expect("handle");
    let done = tokio::time::timeout(GUARD, handle).await;
    assert!(
        done.is_ok(),
        "the server did not stop within its shutdown deadline"
    );
    drop(stalled);
}

#[tokio::test]
async fn shutdown_has_a_deadline_on_http() {
    let s = start(|c| {
        c.shutdown_timeout = 1;
        c.min_body_rate = 0;
        c.header_read_timeout = 0;
        c.keep_alive_timeout = 0;
    })
    .await;
    // An SSE stream is ended first.
    let mut sse = TcpStream::connect(s.addr).await.expect("connect");
    sse.write_all(b"GET /api/realtime/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 1024];
    let n = sse.read(&mut buf).await.expect("read");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let ender = tokio::spawn(async move { read_until_closed(&mut sse).await });
    shutdown_with_stalled_body(s, false).await;
    // `read_until_closed` panics if the stream stayed open.
    ender
        .await
        .expect("the SSE stream was not ended by shutdown");
}

#[tokio::test]
async fn shutdown_has_a_deadline_on_https() {
    let tls = crate::helpers::TlsFiles::localhost();
    let s = TestServer::start_with(|c| {
        c.tls_cert = Some(tls.cert_path.clone());
        c.tls_key = Some(tls.key_path.clone());
        c.shutdown_timeout = 1;
        c.header_read_timeout = 0;
        c.keep_alive_timeout = 0;
    })
    .await;
    shutdown_with_stalled_body(s, true).await;
}
