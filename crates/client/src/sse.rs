//! [`Subscriber`]: follows `GET /api/realtime/stream` (SPEC 4) and reconnects after any
//! disconnect with `Last-Event-ID`, so the server replays what was missed: no gap, no
//! repeat.

use std::collections::VecDeque;
use std::time::Duration;

use futures::StreamExt;
use reqwest::header::{HeaderValue, ACCEPT};
use serde_json::Value;

use crate::client::{encode_segment, http_error, network_error};
use crate::{is_retryable, Backoff, Client, Error};

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    /// The `id:` field (the event-log id), absent for the `connected` message.
    pub id: Option<String>,
    /// The `event:` field (only with `?named=1`).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

impl SseEvent {
    /// `data` parsed as JSON: `{"id", "type", "timestamp", "conversationId", "data"}`.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.data).ok()
    }

    /// Whether this is the `{"type": "connected"}` greeting sent on every (re)connect.
    pub fn is_connected(&self) -> bool {
        self.id.is_none()
            && self
                .json()
                .is_some_and(|v| v.get("type").and_then(Value::as_str) == Some("connected"))
    }
}

/// Settings of a [`Subscriber`].
#[derive(Debug, Clone)]
pub struct SubscriberConfig {
    /// Only events of this conversation (`?conversationId=`).
    pub conversation_id: Option<String>,
    /// Start after this event-log id (replay from there), instead of live only.
    pub last_event_id: Option<String>,
    /// Reconnect delays (the server's `retry:` hint raises the first one).
    pub backoff: Backoff,
    /// A connection silent this long is considered dead and replaced (the server sends a
    /// heartbeat every 30 s by default).
    pub idle_timeout: Duration,
    /// Give up after this many consecutive failed connects (`None`: never).
    pub max_reconnects: Option<u32>,
}

impl Default for SubscriberConfig {
    /// All conversations, live only, reconnect after 250 ms up to 5 s, 90 s idle timeout,
    /// retry forever.
    fn default() -> Self {
        SubscriberConfig {
            conversation_id: None,
            last_event_id: None,
            backoff: Backoff::new(Duration::from_millis(250), Duration::from_secs(5)),
            idle_timeout: Duration::from_secs(90),
            max_reconnects: None,
        }
    }
}

type ByteStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// A live-stream subscription. Call [`Subscriber::next`] in a loop.
pub struct Subscriber {
    client: Client,
    config: SubscriberConfig,
    last_id: Option<String>,
    stream: Option<ByteStream>,
    parser: Parser,
    ready: VecDeque<SseEvent>,
    failures: u32,
    retry_hint: Option<Duration>,
}

impl Subscriber {
    /// A subscriber; it connects on the first [`Subscriber::next`].
    pub fn new(client: Client, config: SubscriberConfig) -> Self {
        Subscriber {
            client,
            last_id: config.last_event_id.clone(),
            config,
            stream: None,
            parser: Parser::default(),
            ready: VecDeque::new(),
            failures: 0,
            retry_hint: None,
        }
    }

    /// The id of the last event received (what a reconnect sends as `Last-Event-ID`).
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// The next event, the `connected` greeting included (see [`SseEvent::is_connected`]).
    /// Disconnects are handled inside: it reconnects with `Last-Event-ID` and carries on.
    ///
    /// Errors: a refusal that retrying cannot cure (401, 403, 400, 404), or
    /// `max_reconnects` consecutive failed connects.
    pub async fn next(&mut self) -> Result<SseEvent, Error> {
        loop {
            if let Some(ev) = self.ready.pop_front() {
                if ev.id.is_some() {
                    self.last_id.clone_from(&ev.id);
                }
                return Ok(ev);
            }
            if self.stream.is_none() {
                self.connect().await?;
                continue;
            }
            let idle = self.config.idle_timeout;
            let chunk = match self.stream.as_mut() {
                Some(s) => tokio::time::timeout(idle, s.next()).await,
                None => continue,
            };
            match chunk {
                Ok(Some(Ok(bytes))) => {
                    self.parser.feed(&bytes);
                    while let Some(item) = self.parser.next_item() {
                        match item {
                            Item::Event(e) => self.ready.push_back(e),
                            Item::Retry(ms) => {
                                self.retry_hint = Some(Duration::from_millis(ms));
                            }
                        }
                    }
                    if !self.ready.is_empty() {
                        self.failures = 0;
                    }
                }
                Ok(Some(Err(e))) => {
                    tracing::warn!(error = %network_error(&self.client.url("/api/realtime/stream"), &e), "live stream broke; reconnecting");
                    self.disconnect();
                }
                Ok(None) => {
                    tracing::info!("live stream ended; reconnecting");
                    self.disconnect();
                }
                Err(_) => {
                    tracing::warn!(?idle, "live stream silent; reconnecting");
                    self.disconnect();
                }
            }
        }
    }

    fn disconnect(&mut self) {
        self.stream = None;
        // a half-received event is dropped; the replay resends it whole
        self.parser = Parser::default();
    }

    async fn connect(&mut self) -> Result<(), Error> {
        loop {
            match self.try_connect().await {
                Ok(stream) => {
                    self.stream = Some(stream);
                    return Ok(());
                }
                Err(e) if is_retryable(&e) => {
                    self.failures += 1;
                    if self
                        .config
                        .max_reconnects
                        .is_some_and(|m| self.failures > m)
                    {
                        return Err(e);
                    }
                    let mut backoff = self.config.backoff;
                    if let Some(h) = self.retry_hint {
                        backoff.base = backoff.base.max(h).min(backoff.max);
                    }
                    let delay = e
                        .retry_after()
                        .unwrap_or_else(|| backoff.delay(self.failures.saturating_sub(1)));
                    tracing::warn!(error = %e, ?delay, "cannot reach the live stream; retrying");
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn try_connect(&self) -> Result<ByteStream, Error> {
        let mut path = "/api/realtime/stream".to_string();
        if let Some(c) = &self.config.conversation_id {
            path.push_str("?conversationId=");
            path.push_str(&encode_segment(c));
        }
        let url = self.client.url(&path);
        let mut req = self
            .client
            .http()
            .get(&url)
            .headers(self.client.auth_headers())
            .header(ACCEPT, "text/event-stream");
        if let Some(id) = &self.last_id {
            if let Ok(v) = HeaderValue::from_str(id) {
                req = req.header("last-event-id", v);
            }
        }
        let resp = req.send().await.map_err(|e| network_error(&url, &e))?;
        if !resp.status().is_success() {
            return Err(http_error(&url, resp).await);
        }
        Ok(Box::pin(resp.bytes_stream()))
    }
}

enum Item {
    Event(SseEvent),
    Retry(u64),
}

/// An incremental `text/event-stream` parser (WHATWG HTML 9.2.6): `data`, `event`, `id`,
/// `retry` fields, `:` comments, CRLF/LF/CR line ends, a leading BOM.
#[derive(Default)]
struct Parser {
    buf: Vec<u8>,
    started: bool,
    data: String,
    has_data: bool,
    event: Option<String>,
    id: Option<String>,
    out: VecDeque<Item>,
}

impl Parser {
    fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        if !self.started && self.buf.len() >= 3 {
            self.started = true;
            if self.buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
                self.buf.drain(..3);
            }
        }
        while let Some(pos) = self.buf.iter().position(|&b| b == b'\n' || b == b'\r') {
            let cr = self.buf[pos] == b'\r';
            if cr && pos + 1 == self.buf.len() {
                break; // maybe CRLF split across chunks
            }
            let line: Vec<u8> = self.buf.drain(..pos).collect();
            let skip = if cr && self.buf.get(1) == Some(&b'\n') {
                2
            } else {
                1
            };
            self.buf.drain(..skip);
            self.line(&String::from_utf8_lossy(&line));
        }
    }

    fn line(&mut self, line: &str) {
        if line.is_empty() {
            if self.has_data {
                let mut data = std::mem::take(&mut self.data);
                if data.ends_with('\n') {
                    data.pop();
                }
                self.out.push_back(Item::Event(SseEvent {
                    id: self.id.clone(),
                    event: self.event.take(),
                    data,
                }));
            }
            self.has_data = false;
            self.data.clear();
            self.event = None;
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.find(':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (line, ""),
        };
        match field {
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_string()),
            "id" if !value.contains('\0') => {
                self.id = (!value.is_empty()).then(|| value.to_string());
            }
            "retry" => {
                if let Ok(ms) = value.parse::<u64>() {
                    self.out.push_back(Item::Retry(ms));
                }
            }
            _ => {}
        }
    }

    fn next_item(&mut self) -> Option<Item> {
        self.out.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = Parser::default();
        let mut out = vec![];
        for c in chunks {
            p.feed(c);
            while let Some(i) = p.next_item() {
                if let Item::Event(e) = i {
                    out.push(e);
                }
            }
        }
        out
    }

    #[test]
    fn parses_fields_comments_and_line_ends() {
        let evs = parse_all(&[
            b"\xEF\xBB\xBFretry: 2000\n\ndata: {\"type\":\"connected\"}\n\n:heartbeat\n\n",
            b"id: 7\r\nevent: message.created\r\ndata: a\r",
            b"\ndata: b\r\n\r\nid: 8\rdata: c\r\r\n",
        ]);
        assert_eq!(evs.len(), 3);
        assert!(evs[0].is_connected());
        assert_eq!(evs[1].id.as_deref(), Some("7"));
        assert_eq!(evs[1].event.as_deref(), Some("message.created"));
        assert_eq!(evs[1].data, "a\nb");
        assert_eq!(evs[2].id.as_deref(), Some("8"));
        assert_eq!(evs[2].data, "c");
        assert_eq!(evs[2].event, None);
    }

    #[test]
    fn split_chunks_anywhere() {
        let whole = b"id: 41\ndata: {\"x\": 1}\n\nid: 42\ndata: {\"x\": 2}\n\n";
        for cut in 0..whole.len() {
            let evs = parse_all(&[&whole[..cut], &whole[cut..]]);
            assert_eq!(evs.len(), 2, "cut at {cut}");
            assert_eq!(evs[1].id.as_deref(), Some("42"));
        }
    }
}
