//! Rebuilds when a migration changes: `sqlx::migrate!` embeds `migrations/postgres/`.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
