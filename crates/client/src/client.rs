//! [`Client`]: the HTTP side of the library, with the retry policy of [`crate::is_retryable`].

use std::sync::Arc;
use std::time::Duration;

use agentpipe_protocol::api::{ErrorBody, SessionDetail, SessionList};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::event::Event;
use crate::{is_retryable, Backoff, Error};

/// Settings of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Server address, e.g. `http://localhost:3000`; a trailing `/api/ingest` and slashes
    /// are stripped (as the AgentPipe CLI does with `AGENTPIPE_STREAM_URL`).
    pub base_url: String,
    /// Bearer key (`AGENTPIPE_STREAM_API_KEY`); `None` sends no `Authorization` header.
    pub api_key: Option<String>,
    /// Timeout of one HTTP attempt (connect + response), not of the whole retry loop.
    pub timeout: Duration,
    /// Retries after the first attempt (3: up to four attempts, like the AgentPipe CLI).
    pub retry_attempts: u32,
    /// Delay schedule between attempts.
    pub backoff: Backoff,
    /// Upper bound on a server's `Retry-After` that is honoured; longer requests are cut
    /// to this.
    pub max_retry_after: Duration,
    /// Extra trusted CA certificates, PEM (one or more), e.g. a private CA's or a
    /// self-signed server's (`--ca-cert`, issue #13). The system trust store (with
    /// `SSL_CERT_FILE` / `SSL_CERT_DIR`) and the bundled web roots are always trusted.
    pub ca_cert_pem: Option<Vec<u8>>,
}

impl ClientConfig {
    /// Defaults: 10 s timeout, 3 retries, [`Backoff::default`], `Retry-After` up to 60 s.
    pub fn new(base_url: impl Into<String>, api_key: Option<String>) -> Self {
        ClientConfig {
            base_url: base_url.into(),
            api_key,
            timeout: Duration::from_secs(10),
            retry_attempts: 3,
            backoff: Backoff::default(),
            max_retry_after: Duration::from_secs(60),
            ca_cert_pem: None,
        }
    }
}

/// Strips surrounding blanks, trailing slashes and a trailing `/api/ingest` or `/api`
/// from `url` (issue #13: `http://host/api` means the server at `http://host`), and
/// checks that it is an `http`/`https` URL.
///
/// Errors: [`Error::InvalidUrl`].
pub fn normalize_base_url(url: &str) -> Result<String, Error> {
    let mut s = url.trim().trim_end_matches('/').to_string();
    for suffix in ["/api/ingest", "/api"] {
        if let Some(stripped) = s.strip_suffix(suffix) {
            s = stripped.trim_end_matches('/').to_string();
            break;
        }
    }
    let parsed = reqwest::Url::parse(&s).map_err(|e| Error::InvalidUrl {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        return Err(Error::InvalidUrl {
            url: url.to_string(),
            reason: "the scheme must be http or https".into(),
        });
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::InvalidUrl {
            url: url.to_string(),
            reason: "a base URL takes no query or fragment".into(),
        });
    }
    Ok(s)
}

/// The answer to one event (SPEC 2.3), in either dialect.
#[derive(Debug, Clone, PartialEq)]
pub struct SendOutcome {
    /// HTTP status (200 or 201).
    pub http_status: u16,
    /// `created`, `exists`, `duplicate`, `deleted`, or `None` for `{success: true}` answers.
    pub status: Option<String>,
    /// The conversation id the server answered with (generated for a spec start).
    pub conversation_id: Option<String>,
    /// The message id the server answered with.
    pub message_id: Option<String>,
    /// The whole body.
    pub body: Value,
}

impl SendOutcome {
    fn from_body(http_status: u16, body: Value) -> Self {
        let s = |a: &str, b: &str| {
            body.get(a)
                .or_else(|| body.get(b))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        SendOutcome {
            http_status,
            status: body.get("status").and_then(Value::as_str).map(String::from),
            conversation_id: s("conversationId", "conversation_id"),
            message_id: s("messageId", "message_id"),
            body,
        }
    }

    /// Whether this was a repeat the server already had (200 `exists`/`duplicate`).
    pub fn is_repeat(&self) -> bool {
        matches!(self.status.as_deref(), Some("exists") | Some("duplicate"))
    }
}

/// One item of a batch answer: `{index, httpStatus, ...}` (SPEC 2.3).
#[derive(Debug, Clone, PartialEq)]
pub struct ItemResult {
    /// 0-based position in the batch.
    pub index: usize,
    /// The status the item would have got alone.
    pub http_status: u16,
    /// The item's parsed answer.
    pub outcome: SendOutcome,
}

impl ItemResult {
    /// 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.http_status)
    }
}

/// The answer to a batch: `{accepted, rejected, results}` (SPEC 2.3).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchOutcome {
    /// Items not rejected (repeats included).
    pub accepted: u64,
    /// Items rejected.
    pub rejected: u64,
    /// One result per item, in order.
    pub results: Vec<ItemResult>,
}

/// The answer to an upload (SPEC 3).
#[derive(Debug, Clone, PartialEq)]
pub struct UploadOutcome {
    /// 201 (stored, or at least one event applied) or 200 (duplicate / all present).
    pub http_status: u16,
    /// The conversation.
    pub conversation_id: Option<String>,
    /// Shape 1/2: already stored.
    pub duplicate: bool,
    /// Shape 1/2: messages stored.
    pub messages_created: Option<i64>,
    /// Shape 1/2: participants stored.
    pub participants_created: Option<i64>,
    /// Event log: events applied.
    pub events_applied: Option<i64>,
    /// Event log: events already stored.
    pub events_already_present: Option<i64>,
    /// Stored token total.
    pub total_tokens: Option<i64>,
    /// Stored cost total, USD.
    pub total_cost: Option<f64>,
    /// E.g. `line 9: incomplete JSON, ignored`.
    pub warnings: Vec<String>,
    /// The whole body.
    pub body: Value,
}

impl UploadOutcome {
    fn from_body(http_status: u16, body: Value) -> Self {
        let i = |k: &str| body.get(k).and_then(Value::as_i64);
        UploadOutcome {
            http_status,
            conversation_id: body
                .get("conversationId")
                .or_else(|| body.get("conversation_id"))
                .and_then(Value::as_str)
                .map(String::from),
            duplicate: body.get("duplicate").and_then(Value::as_bool) == Some(true),
            messages_created: i("messagesCreated"),
            participants_created: i("participantsCreated"),
            events_applied: i("eventsApplied"),
            events_already_present: i("eventsAlreadyPresent"),
            total_tokens: i("totalTokens"),
            total_cost: body.get("totalCost").and_then(Value::as_f64),
            warnings: body
                .get("warnings")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|w| w.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            body,
        }
    }

    /// Nothing new was stored: a duplicate shape 1/2 upload, or an event log whose events
    /// were all present already.
    pub fn is_duplicate(&self) -> bool {
        self.duplicate || (self.http_status == 200 && self.events_applied == Some(0))
    }
}

/// A request body.
#[derive(Clone)]
pub(crate) struct Body {
    bytes: Bytes,
    content_type: &'static str,
}

/// An AgentPipe Web client. Cheap to clone (shared connection pool).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never print the key
        f.debug_struct("Client")
            .field("base_url", &self.inner.config.base_url)
            .field(
                "api_key",
                &self.inner.config.api_key.as_ref().map(|_| "***"),
            )
            .finish()
    }
}

impl Client {
    /// Builds a client; the base URL is normalised with [`normalize_base_url`].
    ///
    /// Errors: [`Error::InvalidUrl`], or [`Error::Input`] when the HTTP stack cannot start.
    pub fn new(mut config: ClientConfig) -> Result<Self, Error> {
        config.base_url = normalize_base_url(&config.base_url)?;
        config.api_key = config
            .api_key
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty());
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.timeout)
            .user_agent(concat!("agentpipe-web/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &config.ca_cert_pem {
            // Our own rustls settings: reqwest's would refuse a pinned self-signed CA:TRUE
            // certificate (see `crate::tls`).
            let certs = crate::tls::parse_pem_certificates(pem)?;
            builder = builder.use_preconfigured_tls(crate::tls::client_config(certs)?);
        }
        let http = builder
            .build()
            .map_err(|e| Error::Input(format!("HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner { http, config }),
        })
    }

    /// The same client (sharing connections) with a different number of retries.
    pub fn with_retry_attempts(&self, retry_attempts: u32) -> Client {
        let mut config = self.inner.config.clone();
        config.retry_attempts = retry_attempts;
        Client {
            inner: Arc::new(Inner {
                http: self.inner.http.clone(),
                config,
            }),
        }
    }

    /// The normalised base URL, e.g. `http://localhost:3000`.
    pub fn base_url(&self) -> &str {
        &self.inner.config.base_url
    }

    /// The settings in use.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// `base_url` + `path` (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.inner.config.base_url, path)
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub(crate) fn auth_headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(key) = &self.inner.config.api_key {
            if let Ok(v) = HeaderValue::from_str(&format!("Bearer {key}")) {
                h.insert(reqwest::header::AUTHORIZATION, v);
            }
        }
        h
    }

    /// Sends one event to `POST /api/ingest` with retries. A spec-dialect
    /// `conversation.started` gets a fresh `Idempotency-Key` (the same for every retry).
    ///
    /// Errors: [`Error::Http`] for a rejection (e.g. 400 naming the field) or when retries
    /// ran out; [`Error::Network`] when the server stayed unreachable.
    pub async fn send(&self, event: &Event) -> Result<SendOutcome, Error> {
        let key = event
            .is_spec_start()
            .then(|| uuid::Uuid::new_v4().to_string());
        self.send_with_key(event, key.as_deref()).await
    }

    /// Like [`Client::send`] with a caller-chosen `Idempotency-Key` (e.g. one kept in the
    /// spool, so that a replay after a restart is still recognised).
    pub async fn send_with_key(
        &self,
        event: &Event,
        idempotency_key: Option<&str>,
    ) -> Result<SendOutcome, Error> {
        let body = json_body(&event.to_value())?;
        let mut headers = HeaderMap::new();
        if let Some(k) = idempotency_key {
            let v = HeaderValue::from_str(k)
                .map_err(|_| Error::Input("Idempotency-Key must be visible ASCII".into()))?;
            headers.insert("idempotency-key", v);
        }
        let (status, bytes) = self
            .execute(Method::POST, "/api/ingest", Some(body), headers)
            .await?;
        Ok(SendOutcome::from_body(
            status,
            self.parse_json("/api/ingest", &bytes)?,
        ))
    }

    /// Sends several events as one JSON-array batch (SPEC 2.3), with retries of the whole
    /// request. Each item is handled by the server as if sent alone; look at
    /// [`BatchOutcome::results`] for per-item answers. An empty slice sends nothing.
    ///
    /// Spec-dialect starts need their own `Idempotency-Key`; send those with
    /// [`Client::send`] (the [`crate::Batcher`] does).
    pub async fn send_batch(&self, events: &[Event]) -> Result<BatchOutcome, Error> {
        if events.is_empty() {
            return Ok(BatchOutcome {
                accepted: 0,
                rejected: 0,
                results: vec![],
            });
        }
        let arr = Value::Array(events.iter().map(Event::to_value).collect());
        let body = json_body(&arr)?;
        let (_, bytes) = self
            .execute(Method::POST, "/api/ingest", Some(body), HeaderMap::new())
            .await?;
        let v = self.parse_json("/api/ingest", &bytes)?;
        let decode = |m: &str| Error::Decode {
            url: self.url("/api/ingest"),
            message: m.to_string(),
        };
        let results_v = v
            .get("results")
            .and_then(Value::as_array)
            .ok_or_else(|| decode("batch answer without results"))?;
        let mut results = Vec::with_capacity(results_v.len());
        for (i, r) in results_v.iter().enumerate() {
            let index = r
                .get("index")
                .and_then(Value::as_u64)
                .map(|x| x as usize)
                .unwrap_or(i);
            let http_status = r
                .get("httpStatus")
                .and_then(Value::as_u64)
                .and_then(|s| u16::try_from(s).ok())
                .ok_or_else(|| decode("batch result without httpStatus"))?;
            results.push(ItemResult {
                index,
                http_status,
                outcome: SendOutcome::from_body(http_status, r.clone()),
            });
        }
        if results.len() != events.len() {
            return Err(decode(&format!(
                "{} results for {} events",
                results.len(),
                events.len()
            )));
        }
        Ok(BatchOutcome {
            accepted: v.get("accepted").and_then(Value::as_u64).unwrap_or(0),
            rejected: v.get("rejected").and_then(Value::as_u64).unwrap_or(0),
            results,
        })
    }

    /// Uploads a session in JSON shape 1 or 2 to `POST /api/sessions/upload` (SPEC 3).
    pub async fn upload_json(&self, session: &Value) -> Result<UploadOutcome, Error> {
        self.upload(json_body(session)?).await
    }

    /// Uploads an AgentPipe CLI event log (NDJSON lines, sent as they are) (SPEC 3 shape 3).
    pub async fn upload_event_log(&self, ndjson: Bytes) -> Result<UploadOutcome, Error> {
        self.upload(Body {
            bytes: ndjson,
            content_type: "application/x-ndjson",
        })
        .await
    }

    async fn upload(&self, body: Body) -> Result<UploadOutcome, Error> {
        let path = "/api/sessions/upload";
        let (status, bytes) = self
            .execute(Method::POST, path, Some(body), HeaderMap::new())
            .await?;
        Ok(UploadOutcome::from_body(
            status,
            self.parse_json(path, &bytes)?,
        ))
    }

    /// `GET /api/health` (no key needed): `{status, version, ...}`.
    pub async fn health(&self) -> Result<Value, Error> {
        self.get_json("/api/health", &[]).await
    }

    /// `GET /api/sessions` with the filters of SPEC 5 as query pairs
    /// (`status`, `source`, `agentType`, `startDate`, `endDate`, `q`, `sort`, `order`,
    /// `page`, `limit`).
    pub async fn list_sessions(&self, query: &[(&str, String)]) -> Result<SessionList, Error> {
        let v = self.get_json("/api/sessions", query).await?;
        serde_json::from_value(v).map_err(|e| Error::Decode {
            url: self.url("/api/sessions"),
            message: e.to_string(),
        })
    }

    /// `GET /api/sessions/{id}`; `query` may hold `includeMessages`, `messageLimit`, `after`.
    pub async fn session(
        &self,
        id: &str,
        query: &[(&str, String)],
    ) -> Result<SessionDetail, Error> {
        let path = format!("/api/sessions/{}", encode_segment(id));
        let v = self.get_json(&path, query).await?;
        serde_json::from_value(v).map_err(|e| Error::Decode {
            url: self.url(&path),
            message: e.to_string(),
        })
    }

    /// `GET /api/sessions/{id}` as raw JSON.
    pub async fn session_json(&self, id: &str, query: &[(&str, String)]) -> Result<Value, Error> {
        let path = format!("/api/sessions/{}", encode_segment(id));
        self.get_json(&path, query).await
    }

    /// `GET /api/sessions/{id}/export?format=...` (`json`, `markdown`, `html`): the bytes
    /// and the file name the server suggested in `Content-Disposition`, if any.
    pub async fn export(&self, id: &str, format: &str) -> Result<(Bytes, Option<String>), Error> {
        self.export_redacted(id, format, None).await
    }

    /// [`Client::export`] with `redact=<redact>` when given (`prompts`: without the system
    /// prompts and the command line, issue #18).
    pub async fn export_redacted(
        &self,
        id: &str,
        format: &str,
        redact: Option<&str>,
    ) -> Result<(Bytes, Option<String>), Error> {
        let mut path = format!(
            "/api/sessions/{}/export?format={}",
            encode_segment(id),
            encode_segment(format)
        );
        if let Some(r) = redact {
            path.push_str(&format!("&redact={}", encode_segment(r)));
        }
        let resp = self
            .execute_raw(Method::GET, &path, None, HeaderMap::new())
            .await?;
        let name = resp
            .headers()
            .get(reqwest::header::CONTENT_DISPOSITION)
            .and_then(|v| v.to_str().ok())
            .and_then(filename_from_disposition);
        let url = self.url(&path);
        let bytes = resp.bytes().await.map_err(|e| network_error(&url, &e))?;
        Ok((bytes, name))
    }

    /// `POST /api/sessions/{id}/shares` with `{"ttlSeconds": ttl_seconds}` (admin scope,
    /// issue #18): an expiring read-only link to one session, answered
    /// `{id, url, sessionId, expiresAt}`; the `url` holds the token and is shown only here.
    /// Errors: [`Error::Http`] 400 (ttl outside 1 s..30 days), 401/403 (key), 404 (session).
    pub async fn create_share(&self, id: &str, ttl_seconds: i64) -> Result<Value, Error> {
        let path = format!("/api/sessions/{}/shares", encode_segment(id));
        let body = json_body(&serde_json::json!({ "ttlSeconds": ttl_seconds }))?;
        let (_, bytes) = self
            .execute(Method::POST, &path, Some(body), HeaderMap::new())
            .await?;
        self.parse_json(&path, &bytes)
    }

    /// `GET /api/sessions/{id}/shares` (admin scope, issue #18): `{data: [{id, sessionId,
    /// createdAt, expiresAt, revokedAt, state}]}`, never the tokens.
    pub async fn list_shares(&self, id: &str) -> Result<Value, Error> {
        let path = format!("/api/sessions/{}/shares", encode_segment(id));
        self.get_json(&path, &[]).await
    }

    /// `DELETE /api/shares/{shareId}` (admin scope, issue #18): the link answers 410 from
    /// now on; answered with the share as listed. 404 for an unknown share id.
    pub async fn revoke_share(&self, share_id: &str) -> Result<Value, Error> {
        let path = format!("/api/shares/{}", encode_segment(share_id));
        let (_, bytes) = self
            .execute(Method::DELETE, &path, None, HeaderMap::new())
            .await?;
        self.parse_json(&path, &bytes)
    }

    /// `PUT /api/sessions/{id}/budget` with `{"usd": usd}` (scope `ingest` or `admin`,
    /// issue #18): the session's budget in USD, kept even when the session has not
    /// arrived yet. Answered `{sessionId, sessionExists, budget: {usd, spentUsd,
    /// projectedUsd, projection, remainingTurns}, alertEventIds}`.
    /// The server rounds `usd` to whole micro-dollars. Errors: [`Error::Http`] 400 (`usd`
    /// outside 0.000001..=1000000 once rounded, or an `id` ingest refuses: blank, over 256
    /// bytes, `.` / `..`), 401/403 (key).
    pub async fn set_budget(&self, id: &str, usd: f64) -> Result<Value, Error> {
        let path = format!("/api/sessions/{}/budget", encode_segment(id));
        let body = json_body(&serde_json::json!({ "usd": usd }))?;
        let (_, bytes) = self
            .execute(Method::PUT, &path, Some(body), HeaderMap::new())
            .await?;
        self.parse_json(&path, &bytes)
    }

    /// `DELETE /api/sessions/{id}/budget` (scope `ingest` or `admin`, issue #18): removes
    /// the session's budget. Errors: [`Error::Http`] 404 when it has none.
    pub async fn clear_budget(&self, id: &str) -> Result<(), Error> {
        let path = format!("/api/sessions/{}/budget", encode_segment(id));
        self.execute(Method::DELETE, &path, None, HeaderMap::new())
            .await?;
        Ok(())
    }

    async fn get_json(&self, path: &str, query: &[(&str, String)]) -> Result<Value, Error> {
        let mut p = path.to_string();
        if !query.is_empty() {
            let qs: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{}={}", encode_segment(k), encode_segment(v)))
                .collect();
            p.push(if p.contains('?') { '&' } else { '?' });
            p.push_str(&qs.join("&"));
        }
        let (_, bytes) = self
            .execute(Method::GET, &p, None, HeaderMap::new())
            .await?;
        self.parse_json(&p, &bytes)
    }

    fn parse_json(&self, path: &str, bytes: &[u8]) -> Result<Value, Error> {
        serde_json::from_slice(bytes).map_err(|e| Error::Decode {
            url: self.url(path),
            message: format!("not JSON: {e}"),
        })
    }

    /// Sends with retries and returns status and body of the successful answer.
    pub(crate) async fn execute(
        &self,
        method: Method,
        path: &str,
        body: Option<Body>,
        headers: HeaderMap,
    ) -> Result<(u16, Bytes), Error> {
        let resp = self.execute_raw(method, path, body, headers).await?;
        let status = resp.status().as_u16();
        let url = self.url(path);
        let bytes = resp.bytes().await.map_err(|e| network_error(&url, &e))?;
        Ok((status, bytes))
    }

    /// The retry loop: network errors, 5xx and 429 are retried up to `retry_attempts`
    /// times, waiting `Retry-After` when given (capped) or the backoff delay otherwise.
    async fn execute_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Body>,
        headers: HeaderMap,
    ) -> Result<reqwest::Response, Error> {
        let cfg = &self.inner.config;
        let url = self.url(path);
        let mut attempt: u32 = 0;
        loop {
            let mut req = self
                .inner
                .http
                .request(method.clone(), &url)
                .timeout(cfg.timeout)
                .headers(self.auth_headers())
                .headers(headers.clone());
            if let Some(b) = &body {
                req = req
                    .header(CONTENT_TYPE, b.content_type)
                    .body(b.bytes.clone());
            }
            let err = match req.send().await {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => http_error(&url, resp).await,
                Err(e) => network_error(&url, &e),
            };
            if !is_retryable(&err) || attempt >= cfg.retry_attempts {
                return Err(err);
            }
            let delay = match err.retry_after() {
                Some(d) => d.min(cfg.max_retry_after),
                None => cfg.backoff.delay(attempt),
            };
            tracing::debug!(%url, attempt, ?delay, error = %err, "retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

fn json_body(v: &Value) -> Result<Body, Error> {
    let bytes = serde_json::to_vec(v).map_err(|e| Error::Input(e.to_string()))?;
    Ok(Body {
        bytes: Bytes::from(bytes),
        content_type: "application/json",
    })
}

/// A network-level failure, with the error's causes (reqwest's own text is terse) and, for
/// the usual TLS mistakes (wrong scheme, an untrusted or CA:TRUE server certificate), what to do.
pub(crate) fn network_error(url: &str, e: &reqwest::Error) -> Error {
    let mut message = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        message.push_str(": ");
        message.push_str(&s.to_string());
        src = s.source();
    }
    // rustls got a plain-HTTP answer to its TLS hello (issue #13).
    if url.starts_with("https://")
        && (message.contains("InvalidContentType") || message.contains("corrupt message"))
    {
        message = format!("the server speaks plain HTTP; use http:// ({message})");
    } else if url.starts_with("http://") && message.contains("invalid HTTP version parsed") {
        // hyper got a TLS record in answer to a plain request.
        message = format!("the server speaks HTTPS; use https:// ({message})");
    } else if message.contains("CaUsedAsEndEntity") {
        // `openssl req -x509` marks its certificate CA:TRUE by default, which webpki
        // refuses as a server's own certificate when it is trusted only as a root (e.g.
        // through SSL_CERT_FILE); given itself with --ca-cert it is pinned and accepted.
        message = format!(
            "the server's certificate is a CA certificate (basicConstraints CA:TRUE, what \
             `openssl req -x509` makes by default), which is accepted as a server's own only \
             when that very certificate is given with --ca-cert FILE / \
             AGENTPIPE_STREAM_CA_CERT ({message})"
        );
    } else if message.contains("invalid peer certificate")
        && (message.contains("UnknownIssuer") || message.contains("BadSignature"))
    {
        message = format!(
            "the server's certificate is not trusted: pass its CA (or the self-signed \
             certificate itself) with --ca-cert FILE / AGENTPIPE_STREAM_CA_CERT ({message})"
        );
    }
    Error::Network {
        url: url.to_string(),
        message,
        timeout: e.is_timeout(),
    }
}

/// Turns a non-success response into [`Error::Http`].
pub(crate) async fn http_error(url: &str, resp: reqwest::Response) -> Error {
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let text = resp.text().await.unwrap_or_default();
    let body: Option<Box<ErrorBody>> = serde_json::from_str(&text).ok();
    let message = match &body {
        Some(b) => {
            let mut m = b.message.clone();
            if let Some(d) = &b.details {
                let fields: Vec<String> = d
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect();
                if !fields.is_empty() {
                    m.push_str(" (");
                    m.push_str(&fields.join("; "));
                    m.push(')');
                }
            }
            m
        }
        None => {
            let t: String = text.chars().take(200).collect();
            if t.trim().is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("unknown status")
                    .to_string()
            } else {
                t
            }
        }
    };
    Error::Http {
        url: url.to_string(),
        status: status.as_u16(),
        message,
        body,
        retry_after,
    }
}

/// `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 10.2.3).
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs));
        }
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

fn filename_from_disposition(v: &str) -> Option<String> {
    v.split(';').map(str::trim).find_map(|p| {
        p.strip_prefix("filename=")
            .map(|f| f.trim_matches('"').to_string())
    })
}

/// Percent-encodes a path segment or query component (RFC 3986 unreserved kept).
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether a status code is a success (2xx).
pub fn is_success(status: u16) -> bool {
    StatusCode::from_u16(status).is_ok_and(|s| s.is_success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_is_normalised() {
        for (given, want) in [
            ("http://localhost:3000", "http://localhost:3000"),
            ("http://localhost:3000/", "http://localhost:3000"),
            ("http://localhost:3000/api/ingest", "http://localhost:3000"),
            ("http://localhost:3000/api/ingest/", "http://localhost:3000"),
            ("http://localhost:3000/api", "http://localhost:3000"),
            ("http://localhost:3000/api/", "http://localhost:3000"),
            (
                " https://x.example/base//api/ingest ",
                "https://x.example/base",
            ),
        ] {
            assert_eq!(normalize_base_url(given).unwrap(), want, "{given}");
        }
        assert!(normalize_base_url("localhost:3000").is_err());
        assert!(normalize_base_url("ftp://x").is_err());
        assert!(normalize_base_url("").is_err());
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode_segment("a b/c"), "a%20b%2Fc");
        assert_eq!(encode_segment("d849-x_y.z~"), "d849-x_y.z~");
    }

    #[test]
    fn debug_hides_the_key() {
        let c = Client::new(ClientConfig::new("http://x", Some("secret".into()))).unwrap();
        assert!(!format!("{c:?}").contains("secret"));
    }
}
