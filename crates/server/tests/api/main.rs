//! Integration tests against a real server on a random port with a fresh SQLite file.

mod bridge;
mod helpers;
mod order;
mod smoke;
mod sqlcheck;
mod sse;
