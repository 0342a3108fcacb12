//! `agentpipe-web keys create|list|revoke` (SPEC 6): API key administration, run where the
//! database is reachable (`--database-url`, as for `serve`). Keys are stored as SHA-256
//! hashes; a new key is printed once and can never be shown again. Revocation and expiry
//! hold from the next request on every server instance (each request looks the key up).

use agentpipe_protocol::timefmt::{format_us, now_us};
use agentpipe_server::auth::{generate_key, hash_key};
use agentpipe_server::ServeConfig;

use crate::common::{parse_lifetime, CliError};

/// `keys` arguments.
#[derive(clap::Args)]
pub struct KeysArgs {
    /// Database URL, as for `serve` (`sqlite:///path` or `postgres://...`; default: the
    /// SQLite file in the platform data directory).
    #[arg(long, env = "DATABASE_URL", global = true)]
    database_url: Option<String>,

    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(clap::Subcommand)]
enum KeysCommand {
    /// Create a key and print it once.
    Create {
        /// Unique name of the key (e.g. the machine or person using it).
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: ingest, upload, read, admin.
        #[arg(long, default_value = "ingest,upload")]
        scopes: String,
        /// Lifetime, e.g. `30d`, `12h`, `90m`, `2w` (default: never expires).
        #[arg(long)]
        expires: Option<String>,
        /// Make an `ap_test_` key instead of `ap_live_`.
        #[arg(long)]
        test: bool,
    },
    /// List keys: name, scopes, created, last used, use count, expiry, revocation (never the key).
    List {
        /// One JSON object per key instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by name; it stops working on the next request.
    Revoke {
        /// The key's name.
        name: String,
    },
}

const SCOPES: [&str; 4] = ["ingest", "upload", "read", "admin"];

/// Parses `--scopes`: a non-empty comma-separated subset of ingest, upload, read, admin.
fn parse_scopes(s: &str) -> Result<String, CliError> {
    let mut out: Vec<&str> = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if !SCOPES.contains(&part) {
            return Err(CliError::Usage(format!(
                "--scopes: unknown scope '{part}' (use ingest, upload, read, admin)"
            )));
        }
        if !out.contains(&part) {
            out.push(part);
        }
    }
    if out.is_empty() {
        return Err(CliError::Usage("--scopes: give at least one scope".into()));
    }
    Ok(out.join(","))
}

fn when(us: Option<i64>) -> String {
    us.map(|t| format_us(t)[..19].replace('T', " "))
        .unwrap_or_else(|| "-".into())
}

/// Runs `keys`.
pub async fn keys(args: KeysArgs) -> Result<(), CliError> {
    let config = ServeConfig::admin(args.database_url);
    let store = agentpipe_server::open_store(&config)
        .await
        .map_err(|e| CliError::Incomplete(format!("cannot open the database: {e}")))?;
    let fail = |e: agentpipe_server::store::StoreError| CliError::Incomplete(e.to_string());
    match args.command {
        KeysCommand::Create {
            name,
            scopes,
            expires,
            test,
        } => {
            let name = name.trim().to_string();
            if name.is_empty() {
                return Err(CliError::Usage("--name must not be empty".into()));
            }
            let scopes = parse_scopes(&scopes)?;
            let expires_at = match expires {
                Some(e) => Some(now_us().saturating_add(parse_lifetime("--expires", &e)?)),
                None => None,
            };
            let mut key = generate_key();
            if test {
                key = key.replacen("ap_live_", "ap_test_", 1);
            }
            store
                .insert_key(&name, &hex::encode(hash_key(&key)), &scopes, expires_at)
                .await
                .map_err(fail)?;
            println!("{key}");
            eprintln!(
                "Created key '{name}' with scopes {scopes}{}. It is shown only this once: store it now.",
                expires_at
                    .map(|e| format!(", expiring {}", when(Some(e))))
                    .unwrap_or_default()
            );
        }
        KeysCommand::List { json } => {
            let keys = store.list_keys().await.map_err(fail)?;
            if json {
                for k in keys {
                    println!(
                        "{}",
                        serde_json::json!({
                            "name": k.name, "scopes": k.scopes,
                            "createdAt": format_us(k.created_at),
                            "lastUsedAt": k.last_used_at.map(format_us),
                            "useCount": k.use_count,
                            "expiresAt": k.expires_at.map(format_us),
                            "revokedAt": k.revoked_at.map(format_us),
                        })
                    );
                }
            } else {
                println!(
                    "{:<20} {:<26} {:<19} {:<19} {:>6} {:<19} {:<19}",
                    "NAME", "SCOPES", "CREATED", "LAST USED", "USES", "EXPIRES", "REVOKED"
                );
                for k in keys {
                    println!(
                        "{:<20} {:<26} {:<19} {:<19} {:>6} {:<19} {:<19}",
                        k.name,
                        k.scopes,
                        when(Some(k.created_at)),
                        when(k.last_used_at),
                        k.use_count,
                        when(k.expires_at),
                        when(k.revoked_at)
                    );
                }
            }
        }
        KeysCommand::Revoke { name } => {
            if store.revoke_key(&name).await.map_err(fail)? {
                eprintln!("Revoked key '{name}'.");
            } else {
                return Err(CliError::Incomplete(format!(
                    "no active key named '{name}'"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_lifetimes() {
        assert_eq!(parse_scopes("read, admin,read").unwrap(), "read,admin");
        assert!(parse_scopes("write").is_err());
        assert!(parse_scopes(" , ").is_err());
        assert_eq!(
            parse_lifetime("--expires", "30d").unwrap(),
            30 * 86_400 * 1_000_000
        );
        assert_eq!(
            parse_lifetime("--expires", "2w").unwrap(),
            14 * 86_400 * 1_000_000
        );
        assert!(parse_lifetime("--expires", "0d").is_err());
        assert!(parse_lifetime("--expires", "d").is_err());
        assert!(parse_lifetime("--expires", "5y").is_err());
        assert!(parse_lifetime("--expires", "é").is_err());
    }
}
