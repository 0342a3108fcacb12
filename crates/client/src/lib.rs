//! Client library for AgentPipe Web (SPEC 0 "client"): the Rust counterpart of the seed's
//! Go streaming client.
//!
//! * [`Client`]: sends events (one or a batch) to `POST /api/ingest`, uploads sessions to
//!   `POST /api/sessions/upload`, reads sessions; retries network errors, 5xx and 429 with
//!   exponential [`Backoff`] and jitter, honouring `Retry-After`; never retries other 4xx.
//!   Every spec-dialect `conversation.started` carries an `Idempotency-Key`.
//! * [`event`]: typed builders for both ingest dialects (SPEC 2.1 and 2.2).
//! * [`Batcher`]: groups events into batches, flushed on size, on time and on close.
//! * [`Spool`]: a durable on-disk queue (JSON lines, fsync'd) for events that could not be
//!   delivered; replayed in order. The server deduplicates repeats, so at-least-once
//!   delivery from the spool stores every event exactly once.
//! * [`Subscriber`]: a live-stream (SSE) subscriber that reconnects with `Last-Event-ID`.
//! * [`statefile`]: converts AgentPipe CLI state files to upload shape 1 (SPEC 3).
//! * [`sync`]: keeps the server equal to the CLI's event logs and state files
//!   ([`Syncer`]: incremental, resumable from a [`PositionFile`]; issue #12).
//!
//! Every fallible operation returns [`Error`].

pub mod backoff;
pub mod batcher;
pub mod client;
pub mod error;
pub mod event;
pub mod spool;
pub mod sse;
pub mod statefile;
pub mod sync;
mod tls;

pub use backoff::Backoff;
pub use batcher::{Batcher, BatcherConfig, BatcherReport};
pub use client::{
    normalize_base_url, parse_retry_after, BatchOutcome, Client, ClientConfig, ItemResult,
    SendOutcome, UploadOutcome,
};
pub use error::{is_retryable, Error};
pub use event::Event;
pub use spool::{DrainReport, Spool, SpoolRecord};
pub use sse::{SseEvent, Subscriber, SubscriberConfig};
pub use sync::position::PositionFile;
pub use sync::{FileReport, PassReport, SyncConfig, Syncer};
