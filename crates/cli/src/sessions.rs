//! `sessions list|show|export` (SPEC 5).

use std::io::Write;
use std::path::PathBuf;

use agentpipe_client::Client;
use agentpipe_protocol::api::SessionListItem;
use agentpipe_protocol::title::{is_default_name, session_title};
use futures::stream::{self, StreamExt};

use crate::common::{count, ellipsize, print_table, CliError, ClientArgs, Style};

/// The titles of listed sessions, as the web UI shows them (issue #13): the name, or for
/// an unnamed session (a name the server made up) its prompt's first words. The list does
/// not carry prompts, so each unnamed session is read (at most 8 at a time); one that
/// cannot be read keeps its name.
async fn titles(client: &Client, items: &[SessionListItem]) -> Vec<String> {
    stream::iter(items)
        .map(|s| async move {
            if !is_default_name(&s.name, &s.id) {
                return s.name.clone();
            }
            let prompt = client
                .session(&s.id, &[])
                .await
                .ok()
                .and_then(|d| d.initial_prompt);
            session_title(&s.name, &s.id, prompt.as_deref())
        })
        .buffered(8)
        .collect()
        .await
}

/// `agentpipe-web sessions`.
#[derive(clap::Args, Debug)]
pub struct SessionsArgs {
    #[command(subcommand)]
    pub command: SessionsCommand,

    #[command(flatten)]
    pub client: ClientArgs,
}

/// The `sessions` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum SessionsCommand {
    /// List conversations, newest first (filters of SPEC 5).
    List(ListArgs),
    /// Show one conversation: fields, participants and (with --messages) messages.
    Show(ShowArgs),
    /// Download a conversation as JSON, Markdown or HTML.
    Export(ExportArgs),
}

/// `sessions list`.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// `ACTIVE`, `COMPLETED`, `INTERRUPTED` or `ERROR`.
    #[arg(long)]
    pub status: Option<String>,
    /// `cli-stream`, `cli-upload` or `api`.
    #[arg(long)]
    pub source: Option<String>,
    /// Only conversations with a participant of this agent type (e.g. `claude`).
    #[arg(long)]
    pub agent_type: Option<String>,
    /// Started at or after (RFC 3339, or a bare date `YYYY-MM-DD` = from that UTC day).
    #[arg(long)]
    pub start_date: Option<String>,
    /// Started at or before (RFC 3339, or a bare date = through that UTC day).
    #[arg(long)]
    pub end_date: Option<String>,
    /// Full-text search over names, prompts and message content.
    #[arg(long, short)]
    pub q: Option<String>,
    /// `createdAt`, `startedAt`, `totalCost`, `totalTokens` or `totalMessages`.
    #[arg(long, default_value = "createdAt")]
    pub sort: String,
    /// `desc` or `asc`.
    #[arg(long, default_value = "desc")]
    pub order: String,
    /// Page number (1-based).
    #[arg(long, default_value_t = 1)]
    pub page: u32,
    /// Rows per page (at most 100).
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Print the server's JSON answer instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `sessions show`.
#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// Conversation id.
    pub id: String,
    /// Also print the messages (every page).
    #[arg(long)]
    pub messages: bool,
    /// Messages fetched per request.
    #[arg(long, default_value_t = 100)]
    pub message_limit: u32,
    /// Print the server's JSON answer (with --messages: the first page of messages).
    #[arg(long)]
    pub json: bool,
}

/// `sessions export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Conversation id.
    pub id: String,
    /// `json`, `markdown` or `html`.
    #[arg(long, default_value = "markdown")]
    pub format: String,
    /// `prompts`: leave out the system prompts, agent settings and the command line
    /// (issue #18).
    #[arg(long)]
    pub redact: Option<String>,
    /// Write to this file (`-`: standard output) [default: the name the server suggests].
    /// An existing file is left alone unless --force.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Overwrite the output file when it exists.
    #[arg(long)]
    pub force: bool,
}

/// Runs a `sessions` subcommand.
pub async fn sessions(args: SessionsArgs) -> Result<(), CliError> {
    let client = args.client.client()?;
    match args.command {
        SessionsCommand::List(a) => {
            let mut q: Vec<(&str, String)> = vec![
                ("page", a.page.to_string()),
                ("limit", a.limit.to_string()),
                ("sort", a.sort.clone()),
                ("order", a.order.clone()),
            ];
            for (k, v) in [
                ("status", &a.status),
                ("source", &a.source),
                ("agentType", &a.agent_type),
                ("startDate", &a.start_date),
                ("endDate", &a.end_date),
                ("q", &a.q),
            ] {
                if let Some(v) = v {
                    q.push((k, v.clone()));
                }
            }
            let list = client.list_sessions(&q).await?;
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
                return Ok(());
            }
            let titles = titles(&client, &list.data).await;
            let rows: Vec<Vec<String>> = list
                .data
                .iter()
                .zip(titles)
                .map(|(s, title)| {
                    vec![
                        s.id.clone(),
                        s.status.clone(),
                        s.started_at
                            .get(..16)
                            .unwrap_or(&s.started_at)
                            .replace('T', " "),
                        s.total_messages.to_string(),
                        s.total_tokens.to_string(),
                        format!("${:.4}", s.total_cost),
                        s.participant_types.join(","),
                        ellipsize(&title, 48),
                    ]
                })
                .collect();
            print_table(
                &[
                    "ID",
                    "STATUS",
                    "STARTED (UTC)",
                    "MSGS",
                    "TOKENS",
                    "COST",
                    "AGENTS",
                    "TITLE",
                ],
                &rows,
            );
            let p = &list.pagination;
            println!(
                "page {} of {} ({})",
                p.page,
                p.pages,
                count(p.total, "conversation")
            );
            Ok(())
        }
        SessionsCommand::Show(a) => {
            let limit = a.message_limit.clamp(1, 1000).to_string();
            let mut q: Vec<(&str, String)> = Vec::new();
            if a.messages {
                q.push(("includeMessages", "true".into()));
                q.push(("messageLimit", limit.clone()));
            }
            if a.json {
                let v = client.session_json(&a.id, &q).await?;
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                return Ok(());
            }
            let d = client.session(&a.id, &q).await?;
            let style = Style::stdout();
            let title = session_title(&d.name, &d.id, d.initial_prompt.as_deref());
            println!("{}  {}", style.paint("1", &title), d.id);
            println!(
                "status {}  mode {}  source {}",
                d.status,
                d.mode.as_deref().unwrap_or("-"),
                d.source
            );
            println!(
                "started {}  completed {}",
                d.started_at,
                d.completed_at.as_deref().unwrap_or("-")
            );
            println!(
                "{}, {}, ${:.4}, {} ms",
                count(d.total_messages, "message"),
                count(d.total_tokens, "token"),
                d.total_cost,
                d.total_duration
            );
            if let Some(p) = &d.initial_prompt {
                println!("prompt: {}", ellipsize(p, 200));
            }
            println!("participants:");
            for p in &d.participants {
                println!(
                    "  {} {} ({}{})",
                    p.agent_id,
                    p.agent_name.as_deref().unwrap_or(""),
                    p.agent_type,
                    p.model
                        .as_deref()
                        .map(|m| format!(", {m}"))
                        .unwrap_or_default()
                );
            }
            if let Some(s) = &d.summary {
                if let Some(t) = s.short_text.as_ref().or(s.text.as_ref()) {
                    println!("summary: {t}");
                }
            }
            if a.messages {
                let mut page = d.messages.clone().unwrap_or_default();
                let mut next = d.next_after.clone().flatten();
                loop {
                    for m in &page {
                        let who = m.agent_name.clone().unwrap_or_else(|| m.agent_type.clone());
                        println!(
                            "\n{} {} [{}]",
                            style.paint("2", &m.timestamp),
                            style.by_name(&m.agent_type, &who),
                            m.role
                        );
                        println!("{}", m.content);
                    }
                    let Some(after) = next.take() else { break };
                    let q2 = vec![
                        ("includeMessages", "true".to_string()),
                        ("messageLimit", limit.clone()),
                        ("after", after),
                    ];
                    let more = client.session(&a.id, &q2).await?;
                    page = more.messages.unwrap_or_default();
                    next = more.next_after.flatten();
                }
            }
            Ok(())
        }
        SessionsCommand::Export(a) => {
            if let Some(p) = a.output.as_ref().filter(|p| p.as_os_str() != "-") {
                if !a.force && p.exists() {
                    return Err(exists(p));
                }
            }
            let (bytes, suggested) = client
                .export_redacted(&a.id, &a.format, a.redact.as_deref())
                .await?;
            match a.output {
                Some(p) if p.as_os_str() == "-" => {
                    let mut so = std::io::stdout().lock();
                    so.write_all(&bytes)
                        .and_then(|_| so.flush())
                        .map_err(|source| CliError::Io {
                            path: "<stdout>".into(),
                            source,
                        })?;
                }
                other => {
                    let path = other.unwrap_or_else(|| {
                        PathBuf::from(
                            suggested
                                .as_deref()
                                .map(sanitize_file_name)
                                .unwrap_or_else(|| format!("{}.{}", a.id, extension(&a.format))),
                        )
                    });
                    write_file(&path, &bytes, a.force)?;
                    println!("wrote {} ({} bytes)", path.display(), bytes.len());
                }
            }
            Ok(())
        }
    }
}

/// The refusal to overwrite `path` (issue #13: `export` used to replace files silently).
fn exists(path: &std::path::Path) -> CliError {
    CliError::Usage(format!(
        "{} exists; pass --force to overwrite it",
        path.display()
    ))
}

/// Writes `bytes` to `path`; an existing file only with `force` (created exclusively
/// otherwise, so a file that appeared meanwhile is not replaced either).
fn write_file(path: &std::path::Path, bytes: &[u8], force: bool) -> Result<(), CliError> {
    let io = |source| CliError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut f = if force {
        std::fs::File::create(path).map_err(io)?
    } else {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(exists(path)),
            Err(e) => return Err(io(e)),
        }
    };
    f.write_all(bytes).map_err(io)
}

fn extension(format: &str) -> &str {
    match format {
        "markdown" | "md" => "md",
        "html" => "html",
        _ => "json",
    }
}

/// Keeps a server-suggested name inside the current directory.
fn sanitize_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let clean: String = base
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim_start_matches('.')
        .to_string();
    if clean.is_empty() {
        "export".into()
    } else {
        clean
    }
}
