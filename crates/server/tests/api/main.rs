//! Integration tests against a real server on a random port with a fresh SQLite file.

mod helpers;
mod smoke;
