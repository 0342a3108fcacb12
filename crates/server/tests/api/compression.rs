//! Request decompression and response compression (issue #16).

use std::io::{Read, Write};

use serde_json::{json, Value};

use crate::helpers::{App, TEST_KEY};

fn event(id: &str) -> Vec<u8> {
    json!({"type":"conversation.started","timestamp":"2025-01-01T00:00:00Z",
        "data":{"conversation_id":id,"mode":"round-robin","initial_prompt":"compressed"}})
    .to_string()
    .into_bytes()
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).expect("gzip");
    e.finish().expect("gzip")
}

fn br(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(b).expect("br");
    }
    out
}

async fn post_encoded(app: &App, coding: &str, body: Vec<u8>) -> (u16, Value) {
    let r = app
        .http
        .post(app.url("/api/ingest"))
        .bearer_auth(TEST_KEY)
        .header("content-type", "application/json")
        .header("content-encoding", coding)
        .body(body)
        .send()
        .await
        .expect("post");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn gzip_br_and_zstd_request_bodies_are_decoded() {
    let app = App::start().await;
    let (s, b) = post_encoded(&app, "gzip", gzip(&event("gz-1"))).await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = post_encoded(&app, "br", br(&event("br-1"))).await;
    assert_eq!(s, 201, "{b}");
    let z = zstd::encode_all(&event("zstd-1")[..], 3).expect("zstd");
    let (s, b) = post_encoded(&app, "zstd", z).await;
    assert_eq!(s, 201, "{b}");
    // Codings are case-insensitive and x-gzip is gzip (RFC 9110); identity is none.
    let (s, b) = post_encoded(&app, "GZIP", gzip(&event("gz-2"))).await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = post_encoded(&app, "x-gzip", gzip(&event("gz-3"))).await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = post_encoded(&app, "identity, Gzip", gzip(&event("gz-4"))).await;
    assert_eq!(s, 201, "{b}");
    for id in ["gz-1", "br-1", "zstd-1", "gz-2", "gz-3", "gz-4"] {
        let (s, _) = app.get(&format!("/api/sessions/{id}")).await;
        assert_eq!(s, 200, "{id} stored");
    }
}

#[tokio::test]
async fn other_encodings_are_415_naming_them_and_corrupt_bodies_400() {
    let app = App::start().await;
    for coding in ["deflate", "compress", "x-custom"] {
        let (s, b) = post_encoded(&app, coding, event("x-1")).await;
        assert_eq!(s, 415, "{coding}: {b}");
        assert_eq!(b["error"], "unsupported_encoding", "{b}");
        assert!(b["message"].as_str().unwrap_or("").contains(coding), "{b}");
    }
    // A body encoded twice: the JSON 415 naming both, not an empty one.
    let (s, b) = post_encoded(&app, "gzip, gzip", gzip(&gzip(&event("x-1")))).await;
    assert_eq!(s, 415, "{b}");
    assert_eq!(b["error"], "unsupported_encoding", "{b}");
    assert!(
        b["message"].as_str().unwrap_or("").contains("gzip, gzip"),
        "{b}"
    );
    let (s, b) = post_encoded(&app, "gzip", b"definitely not gzip".to_vec()).await;
    assert_eq!(s, 400, "{b}");
    let (s, _) = app.get("/api/sessions/x-1").await;
    assert_eq!(s, 404, "nothing stored");
}

#[tokio::test]
async fn a_decoded_body_over_the_limit_is_413() {
    let app = App::start().await;
    // 12 MB of spaces compress to a few KB: the 10 MB batch limit applies to the decoded body.
    let mut big = b"[".to_vec();
    big.extend(std::iter::repeat_n(b' ', 12 * 1024 * 1024));
    big.extend(b"]");
    let (s, b) = post_encoded(&app, "gzip", gzip(&big)).await;
    assert_eq!(s, 413, "{b}");
}

#[tokio::test]
async fn responses_are_compressed_when_asked_except_sse() {
    let app = App::start().await;
    let (s, _) = app
        .ingest(&serde_json::from_slice(&event("c-1")).unwrap())
        .await;
    assert_eq!(s, 201);
    for path in [
        "/api/sessions",
        "/api/sessions/c-1/export",
        "/sessions",
        "/metrics",
    ] {
        let r = app
            .http
            .get(app.url(path))
            .bearer_auth(TEST_KEY)
            .header("accept-encoding", "gzip")
            .send()
            .await
            .expect("get");
        assert_eq!(r.status().as_u16(), 200, "{path}");
        assert_eq!(
            r.headers()
                .get("content-encoding")
                .map(|v| v.to_str().unwrap_or("")),
            Some("gzip"),
            "{path}"
        );
        let bytes = r.bytes().await.expect("body");
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .expect("gunzip");
        assert!(!text.is_empty(), "{path}");
    }
    let r = app
        .http
        .get(app.url("/api/realtime/stream"))
        .header("accept-encoding", "gzip, br, zstd")
        .send()
        .await
        .expect("sse");
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers().get("content-encoding").is_none(),
        "SSE must not be compressed"
    );
}
