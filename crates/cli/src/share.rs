//! `agentpipe-web share create|list|revoke` (issue #18): expiring read-only links to one
//! session (`/s/{token}`), through the server's API with an `admin` key. The link is
//! printed once at creation: the server stores only its SHA-256.

use serde_json::Value;

use crate::common::{parse_lifetime, print_table, CliError, ClientArgs};

/// `share` arguments.
#[derive(clap::Args, Debug)]
pub struct ShareArgs {
    #[command(subcommand)]
    pub command: ShareCommand,

    #[command(flatten)]
    pub client: ClientArgs,
}

/// The `share` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum ShareCommand {
    /// Create a link that shows session ID live, without a key, until it expires; prints the URL.
    Create {
        /// Conversation id.
        id: String,
        /// Lifetime, e.g. `1h`, `90m`, `7d` (at most 30 days).
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// Print the server's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// List the links of session ID: id, state (active, expired, revoked), times (never the URL).
    List {
        /// Conversation id.
        id: String,
        /// Print the server's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a link by its id (from `create` or `list`): it answers 410 from now on.
    Revoke {
        /// The link's id (not its URL).
        share_id: String,
    },
}

/// A string field of `v`, or `-`.
fn field(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or("-")
        .to_string()
}

/// A time field of `v` (RFC 3339) to the second, as `YYYY-MM-DD HH:MM:SS`, or `-`.
fn time(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .map(|s| s.get(..19).unwrap_or(s).replace('T', " "))
        .unwrap_or_else(|| "-".into())
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Runs a `share` subcommand.
pub async fn share(args: ShareArgs) -> Result<(), CliError> {
    let client = args.client.client()?;
    match args.command {
        ShareCommand::Create { id, ttl, json } => {
            let secs = parse_lifetime("--ttl", &ttl)? / 1_000_000;
            let v = client.create_share(&id, secs).await?;
            if json {
                println!("{}", pretty(&v));
            } else {
                let share_id = field(&v, "id");
                println!("{}", field(&v, "url"));
                eprintln!(
                    "share {share_id} of session {id}: expires {} UTC; revoke with `agentpipe-web share revoke {share_id}`",
                    time(&v, "expiresAt"),
                );
            }
        }
        ShareCommand::List { id, json } => {
            let v = client.list_shares(&id).await?;
            if json {
                println!("{}", pretty(&v));
                return Ok(());
            }
            let rows: Vec<Vec<String>> = v
                .get("data")
                .and_then(Value::as_array)
                .map(|a| a.as_slice())
                .unwrap_or_default()
                .iter()
                .map(|s| {
                    vec![
                        field(s, "id"),
                        field(s, "state"),
                        time(s, "createdAt"),
                        time(s, "expiresAt"),
                        time(s, "revokedAt"),
                    ]
                })
                .collect();
            if rows.is_empty() {
                println!("no share links for session {id}");
            } else {
                print_table(
                    &[
                        "ID",
                        "STATE",
                        "CREATED (UTC)",
                        "EXPIRES (UTC)",
                        "REVOKED (UTC)",
                    ],
                    &rows,
                );
            }
        }
        ShareCommand::Revoke { share_id } => {
            client.revoke_share(&share_id).await?;
            println!("revoked share {share_id}: its link answers 410 Gone from now on");
        }
    }
    Ok(())
}
