//! Integration tests against a real server on a random port with a fresh SQLite file.

mod analytics;
mod backends;
mod bridge;
mod completeness;
mod compression;
mod conn;
mod edge;
mod errors;
mod generated_client;
mod helpers;
mod list;
mod metrics;
mod ops;
mod order;
mod otel_sdk;
mod otlp;
mod retention;
mod scaleout;
mod schema;
mod security;
mod smoke;
mod spec;
mod sqlcheck;
mod sse;
mod text;
mod upload;
