//! The OTLP export pipeline with the cross-batch parent join (issue #19; the rules are in
//! [`agentpipe_protocol::otlp::join`]): for each `POST /v1/traces` request,
//!
//! 1. held spans that this request releases are read back (those waiting for one of its
//!    spans) and mapped together with it;
//! 2. the ancestors of its spans that are not in it are read from the span index,
//!    level by level;
//! 3. the spans are mapped ([`otlp::map_joined`]); what every span passes down and the
//!    spans still open are stored (held) — before anything is acknowledged;
//! 4. the events are applied as live ingest applies them (durable before the answer,
//!    idempotent by span id), then the released spans are marked mapped.
//!
//! A held span and the parent that releases it may arrive at the same moment in two
//! requests; each request checks, after storing its held spans, whether their missing
//! ancestors were stored meanwhile, and maps those spans at once. A background task maps
//! spans held longer than `OTLP_HOLD_SECONDS` with what is known then ([`spawn`]).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use agentpipe_protocol::otlp::{
    self, ExportTraceServiceRequest, Join, Mapped, Rejected, ResourceSpans, SpanContext,
};
use agentpipe_protocol::timefmt::now_us;
use agentpipe_protocol::ValidationError;
use prost::Message as _;

use crate::routes::ingest::{outcome_label, record_event};
use crate::store::otlp::{HeldSpan, Release, SpanKey};
use crate::store::{IngestItem, StoreError};
use crate::AppState;

/// Most held spans one request (or one sweep) maps.
pub const MAX_RELEASE: usize = 10_000;
/// Most levels of ancestors read from the span index for one request.
const MAX_LEVELS: usize = 32;

/// What an export did: spans in the request, and those refused (each named).
#[derive(Debug, Default)]
pub struct Exported {
    /// Spans in the request.
    pub spans: usize,
    /// Spans of the request refused (invalid, or a value the store cannot hold).
    pub rejected: Vec<Rejected>,
}

fn keys_of(req: &ExportTraceServiceRequest) -> Vec<SpanKey> {
    let mut out = Vec::new();
    for rs in &req.resource_spans {
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                out.push((
                    otlp::join::hex_id(&s.trace_id),
                    otlp::join::hex_id(&s.span_id),
                ));
            }
        }
    }
    out
}

/// Appends the held spans `rows` (each a `ResourceSpans` of one span) to `req`, skipping
/// spans `req` has already; returns the keys appended.
fn append_held(req: &mut ExportTraceServiceRequest, rows: Vec<HeldSpan>) -> Vec<SpanKey> {
    let have: HashSet<SpanKey> = keys_of(req).into_iter().collect();
    let mut added = Vec::new();
    for h in rows {
        if have.contains(&h.key) || added.contains(&h.key) {
            continue;
        }
        match ResourceSpans::decode(&h.resource_spans[..]) {
            Ok(rs) => {
                req.resource_spans.push(rs);
                added.push(h.key);
            }
            Err(e) => tracing::warn!(trace = %h.key.0, span = %h.key.1, error = %e,
                "a held OTLP span cannot be read back; dropped"),
        }
    }
    added
}

/// The stored contexts of the ancestors of `req`'s spans that `req` lacks.
async fn known_ancestors(
    state: &AppState,
    req: &ExportTraceServiceRequest,
) -> Result<HashMap<SpanKey, SpanContext>, StoreError> {
    let mut inside: HashSet<SpanKey> = HashSet::new();
    let mut wanted: Vec<SpanKey> = Vec::new();
    for rs in &req.resource_spans {
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                let trace = otlp::join::hex_id(&s.trace_id);
                inside.insert((trace.clone(), otlp::join::hex_id(&s.span_id)));
                if !s.parent_span_id.is_empty() {
                    wanted.push((trace, otlp::join::hex_id(&s.parent_span_id)));
                }
            }
        }
    }
    let mut known = HashMap::new();
    let mut asked: HashSet<SpanKey> = HashSet::new();
    for _ in 0..MAX_LEVELS {
        wanted.retain(|k| !inside.contains(k) && !known.contains_key(k) && asked.insert(k.clone()));
        if wanted.is_empty() {
            break;
        }
        let found = state
            .store
            .otlp_contexts(std::mem::take(&mut wanted))
            .await?;
        for c in found {
            if !c.parent_span_id.is_empty() {
                wanted.push((c.trace_id.clone(), c.parent_span_id.clone()));
            }
            known.insert((c.trace_id.clone(), c.span_id.clone()), c);
        }
    }
    Ok(known)
}

/// Applies a mapping's events as live ingest would; returns the spans the store refused.
async fn ingest(
    state: &AppState,
    mapped: &mut Mapped,
    key_hash: &str,
) -> Result<Vec<Rejected>, StoreError> {
    let events = std::mem::take(&mut mapped.events);
    let mut refused = Vec::new();
    if events.is_empty() {
        return Ok(refused);
    }
    let labels: Vec<&'static str> = events.iter().map(|e| e.kind.as_str()).collect();
    let spans: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            let s = |k: &str| {
                e.data
                    .get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string()
            };
            (s("span_id"), s("span_name"))
        })
        .collect();
    let items = events
        .into_iter()
        .map(|event| IngestItem {
            event,
            key_hash: key_hash.to_string(),
            idempotency_key: None,
        })
        .collect();
    let results = state.store.ingest(items).await.inspect_err(|_| {
        for l in &labels {
            record_event(l, "otlp", "failed", None);
        }
    })?;
    let touched = crate::live_state::budget::touched(&results);
    crate::live_state::budget::after_commit(&state.store, touched.iter().map(String::as_str)).await;
    for ((r, label), (span_id, name)) in results.into_iter().zip(labels).zip(spans) {
        match r {
            Ok(a) => record_event(
                label,
                "otlp",
                outcome_label(&a.outcome),
                a.conversation_id.as_deref(),
            ),
            Err(StoreError::Invalid { field, message }) => {
                record_event(label, "otlp", "rejected", None);
                if !refused.iter().any(|x: &Rejected| x.span_id == span_id) {
                    refused.push(Rejected {
                        span_id,
                        name,
                        reason: ValidationError::new(field, message),
                    });
                }
            }
            Err(e) => {
                record_event(label, "otlp", "failed", None);
                return Err(e);
            }
        }
    }
    Ok(refused)
}

/// Maps and stores `req` (steps 2-4 of the module documentation). `released` are the held
/// spans appended to it; `forced` spans are mapped even when still open. Returns the
/// refused spans and the spans left held.
async fn run(
    state: &AppState,
    req: &ExportTraceServiceRequest,
    key_hash: &str,
    released: &[SpanKey],
    forced: HashSet<SpanKey>,
) -> Result<(Vec<Rejected>, Vec<otlp::Held>), StoreError> {
    let hold = state.config.otlp_hold_seconds > 0;
    let known = known_ancestors(state, req).await?;
    let mut mapped = otlp::map_joined(
        req,
        &state.prices,
        &Join {
            known,
            hold,
            forced,
        },
    );
    let contexts = std::mem::take(&mut mapped.contexts);
    let held = std::mem::take(&mut mapped.held);
    state
        .store
        .otlp_record(contexts, held.clone(), now_us())
        .await?;
    let mut rejected = std::mem::take(&mut mapped.rejected);
    rejected.extend(ingest(state, &mut mapped, key_hash).await?);
    let still: HashSet<(&str, &str)> = held
        .iter()
        .map(|h| (h.trace_id.as_str(), h.span_id.as_str()))
        .collect();
    let done: Vec<SpanKey> = released
        .iter()
        .filter(|k| !still.contains(&(k.0.as_str(), k.1.as_str())))
        .cloned()
        .collect();
    state.store.otlp_release(done).await?;
    Ok((rejected, held))
}

/// Handles one export request: steps 1-4 of the module documentation.
///
/// Errors: storage errors (503 and the like); nothing is acknowledged then, and a retry
/// of the same request is safe.
pub async fn export(
    state: &AppState,
    request: ExportTraceServiceRequest,
    key_hash: &str,
) -> Result<Exported, StoreError> {
    let own = keys_of(&request);
    let spans = own.len();
    let own_ids: HashSet<&str> = own.iter().map(|k| k.1.as_str()).collect();
    let mut req = request;
    let waiting = state
        .store
        .otlp_held(Release {
            gaps: own.clone(),
            held_before_us: None,
            limit: MAX_RELEASE,
        })
        .await?;
    let released = append_held(&mut req, waiting);
    let (mut rejected, held) = run(state, &req, key_hash, &released, HashSet::new()).await?;

    // A parent stored by a concurrent request after step 2 releases its spans here.
    if !held.is_empty() {
        let gaps: Vec<SpanKey> = held
            .iter()
            .map(|h| (h.trace_id.clone(), h.gap_span_id.clone()))
            .collect();
        let arrived: HashSet<SpanKey> = state
            .store
            .otlp_contexts(gaps)
            .await?
            .into_iter()
            .map(|c| (c.trace_id, c.span_id))
            .collect();
        let late: Vec<HeldSpan> = held
            .into_iter()
            .filter(|h| arrived.contains(&(h.trace_id.clone(), h.gap_span_id.clone())))
            .map(|h| HeldSpan {
                key: (h.trace_id, h.span_id),
                resource_spans: h.resource_spans,
            })
            .collect();
        if !late.is_empty() {
            let mut again = ExportTraceServiceRequest::default();
            let keys = append_held(&mut again, late);
            let (r, _) = run(state, &again, key_hash, &keys, HashSet::new()).await?;
            rejected.extend(r);
        }
    }
    // Only the request's own spans are answered for; a released span refused now is
    // logged (it was accepted when it arrived).
    let (mine, others): (Vec<Rejected>, Vec<Rejected>) = rejected
        .into_iter()
        .partition(|r| own_ids.contains(r.span_id.as_str()) || r.span_id.len() != 16);
    for r in others {
        tracing::warn!(span = %r.span_id, name = %r.name, reason = %r.reason,
            "a held OTLP span was refused when released");
    }
    let mut seen = HashSet::new();
    let rejected = mine
        .into_iter()
        .filter(|r| seen.insert(r.span_id.clone()))
        .collect();
    Ok(Exported { spans, rejected })
}

/// Maps the spans held before `before_us` with what is known now (the fallbacks of rules
/// 1 and 2 where their ancestry is still open). Returns how many were mapped.
pub async fn release_expired(state: &AppState, before_us: i64) -> Result<usize, StoreError> {
    let rows = state
        .store
        .otlp_held(Release {
            held_before_us: Some(before_us),
            limit: MAX_RELEASE,
            ..Release::default()
        })
        .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut req = ExportTraceServiceRequest::default();
    let keys = append_held(&mut req, rows);
    let forced: HashSet<SpanKey> = keys.iter().cloned().collect();
    let (rejected, _) = run(state, &req, "", &keys, forced).await?;
    for r in rejected {
        tracing::warn!(span = %r.span_id, name = %r.name, reason = %r.reason,
            "a held OTLP span was refused when its hold time ended");
    }
    Ok(keys.len())
}

/// Starts the task that maps spans held longer than `OTLP_HOLD_SECONDS` (nothing when
/// it is 0): it looks every quarter of the hold time (1 s to 10 s), until shutdown.
pub fn spawn(state: AppState) {
    let hold = state.config.otlp_hold_seconds;
    if hold == 0 {
        return;
    }
    let every = Duration::from_millis((hold * 250).clamp(1000, 10_000));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = state.shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            let before = now_us() - i64::try_from(hold).unwrap_or(i64::MAX / 2_000_000) * 1_000_000;
            loop {
                match release_expired(&state, before).await {
                    Ok(n) if n >= MAX_RELEASE => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "mapping held OTLP spans failed; retrying later");
                        break;
                    }
                }
            }
        }
    });
}
