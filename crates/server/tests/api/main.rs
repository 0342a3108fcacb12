//! Integration tests against a real server on a random port with a fresh SQLite file.

mod bridge;
mod helpers;
mod smoke;
mod sqlcheck;
mod sse;
mod order;
