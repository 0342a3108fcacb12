//! `demo`: streams a bundled multi-agent conversation (written for this project) in the
//! bridge dialect, at a realistic pace, so a newcomer sees the live view without any AI
//! agent installed. `ping`: checks the URL and the key, like `agentpipe bridge test`.

use std::time::Duration;

use agentpipe_client::event::bridge;
use agentpipe_client::{Client, Event};

use crate::common::{CliError, ClientArgs};

/// `agentpipe-web demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Send everything at once, without pauses (same as `--delay-ms 0`).
    #[arg(long)]
    pub fast: bool,

    /// Fixed pause between messages, in milliseconds [default: a realistic 2-6 s, longer
    /// for longer answers].
    #[arg(long, env = "AGENTPIPE_DEMO_DELAY_MS")]
    pub delay_ms: Option<u64>,

    #[command(flatten)]
    pub client: ClientArgs,
}

/// `agentpipe-web ping`.
#[derive(clap::Args, Debug)]
pub struct PingArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

struct Agent {
    id: &'static str,
    kind: &'static str,
    name: &'static str,
    model: &'static str,
    prompt: &'static str,
}

const AGENTS: [Agent; 3] = [
    Agent {
        id: "claude-0",
        kind: "claude",
        name: "Claude",
        model: "claude-sonnet-4-5",
        prompt: "You are a careful staff engineer. Argue from failure modes.",
    },
    Agent {
        id: "gemini-0",
        kind: "gemini",
        name: "Gemini",
        model: "gemini-2.5-pro",
        prompt: "You are a database specialist. Propose concrete steps and numbers.",
    },
    Agent {
        id: "codex-0",
        kind: "codex",
        name: "Codex",
        model: "gpt-5-codex",
        prompt: "You are the implementer. Turn the plan into code and checklists.",
    },
];

const PROMPT: &str = "Our Postgres `orders` table has 400 million rows. We need to split \
`address` into `street`, `city` and `postcode` without downtime. Agree on a rollout plan.";

/// (agent index, content, input tokens, output tokens, cost USD, generation ms)
const SCRIPT: &[(usize, &str, i64, i64, f64, i64)] = &[
    (0, "Start with the failure mode we cannot afford: a long `ACCESS EXCLUSIVE` lock on `orders`. \
So no `ALTER TABLE ... ADD COLUMN ... DEFAULT` on an old server, no rewrite, no single giant `UPDATE`.\n\n\
I'd do **expand / migrate / contract**:\n\n1. add the three nullable columns (metadata-only change);\n\
2. write both shapes from the application;\n3. backfill in small batches;\n4. switch reads;\n5. drop `address` weeks later.",
     412, 356, 0.0066, 5210),
    (1, "Agreed on expand/contract. Numbers for the backfill: at 400M rows, batches of 5,000 keyed by \
primary key, each in its own transaction, run about 1,200 batches a minute on our hardware before replication \
lag passes 2 s. That is roughly **5.5 hours**. I'd throttle on `pg_stat_replication.replay_lag`, not on a fixed sleep.\n\n\
One catch: rows updated by the application *during* the backfill. Dual writes cover new writes; the backfill must \
never overwrite a row whose new columns are already set.",
     655, 402, 0.0049, 6840),
    (2, "Here is the batch, idempotent and safe to re-run:\n\n```sql\nUPDATE orders o\n   SET street = p.street, city = p.city, postcode = p.postcode\n  \
FROM (SELECT id, (parse_address(address)).* FROM orders\n        WHERE id > $1 AND id <= $1 + 5000 AND street IS NULL) p\n WHERE o.id = p.id;\n```\n\n\
The `street IS NULL` guard is what makes concurrent dual writes win. Hard to test: `parse_address` on the 0.3 % of \
addresses that are free text.",
     930, 318, 0.0041, 4120),
    (0, "Good guard. Two more risks:\n\n- **Parser drift.** If `parse_address` in SQL and the app's parser disagree, \
we get two truths. Use one implementation: the app writes, the backfill calls the same code through a job, not a SQL function.\n\
- **Rollback.** Until step 5, rollback is just \"read `address` again\". Keep `address` written until the read switch has \
been live for two weeks.",
     1204, 287, 0.0079, 4480),
    (1, "Then the backfill is an application job: a cursor over `id`, 5,000 rows per batch, lag-aware. For verification, \
a nightly query comparing `concat_ws(', ', street, city, postcode)` with the normalised `address`; any mismatch goes to a \
review table instead of failing the job. Expected mismatch rate from a 1M-row sample: **0.27 %**.",
     1466, 251, 0.0031, 3950),
    (2, "Checklist I'll turn into tickets:\n\n1. migration: add `street`, `city`, `postcode` (nullable) — ships alone;\n\
2. app: dual write behind flag `orders.split_address.write`;\n3. job: `backfill_split_address` with lag throttle and resume cursor;\n\
4. nightly verification + review table;\n5. app: read new columns behind `orders.split_address.read`;\n\
6. two weeks later: stop writing `address`, then drop it.\n\nEach step is reversible except 6.",
     1702, 298, 0.0043, 4760),
    (0, "I'm happy with this. The only thing I'd add is an explicit abort criterion for step 3: if replication lag stays \
above 10 s for five minutes, the job pauses itself and pages. Otherwise someone will \"just let it run\" overnight.",
     1890, 112, 0.0061, 2630),
    (1, "Agreed. Final plan: expand/migrate/contract, app-side parser, 5k-row lag-aware batches (~5.5 h), nightly \
verification, flags for write and read, abort on sustained lag, drop after two weeks.",
     2011, 96, 0.0022, 2210),
];

fn pause(args: &DemoArgs, content_len: usize) -> Duration {
    if args.fast {
        return Duration::ZERO;
    }
    match args.delay_ms {
        Some(ms) => Duration::from_millis(ms),
        None => Duration::from_millis((2_000 + content_len as u64 * 6).min(6_000)),
    }
}

async fn send(client: &Client, e: Event) -> Result<(), CliError> {
    client.send(&e).await?;
    Ok(())
}

/// Runs `demo`.
pub async fn demo(args: DemoArgs) -> Result<(), CliError> {
    let client = args.client.client()?;
    let id = uuid::Uuid::new_v4().to_string();
    let system_info = bridge::SystemInfo {
        agentpipe_version: Some(format!("agentpipe-web-demo/{}", env!("CARGO_PKG_VERSION"))),
        os: Some(std::env::consts::OS.into()),
        architecture: Some(std::env::consts::ARCH.into()),
        ..Default::default()
    };
    let started = std::time::Instant::now();
    send(
        &client,
        Event::new(&bridge::ConversationStarted {
            conversation_id: id.clone(),
            mode: "round-robin".into(),
            initial_prompt: PROMPT.into(),
            max_turns: Some(3),
            participants: AGENTS
                .iter()
                .map(|a| bridge::Participant {
                    agent_id: Some(a.id.into()),
                    agent_type: a.kind.into(),
                    name: Some(a.name.into()),
                    model: Some(a.model.into()),
                    prompt: Some(a.prompt.into()),
                    cli_version: None,
                })
                .collect(),
            system_info: Some(system_info),
        })?,
    )
    .await?;
    println!("demo: conversation {id}");
    // `#latest`: the page opens at the newest message and follows the conversation.
    println!(
        "demo: watch it live at {}/sessions/{id}#latest",
        client.base_url()
    );
    let (mut tokens, mut cost) = (0i64, 0f64);
    for (i, (agent, content, input, output, c, ms)) in SCRIPT.iter().enumerate() {
        tokio::time::sleep(pause(&args, content.len())).await;
        let a = &AGENTS[*agent];
        tokens += input + output;
        cost += c;
        send(
            &client,
            Event::new(&bridge::MessageCreated {
                conversation_id: id.clone(),
                message_id: Some(uuid::Uuid::new_v4().to_string()),
                agent_id: Some(a.id.into()),
                agent_type: a.kind.into(),
                agent_name: Some(a.name.into()),
                content: (*content).into(),
                role: Some("agent".into()),
                sequence_number: Some(i as i64 + 1),
                turn_number: Some(i as i64 / AGENTS.len() as i64 + 1),
                tokens_used: Some(input + output),
                input_tokens: Some(*input),
                output_tokens: Some(*output),
                cost: Some(*c),
                model: Some(a.model.into()),
                duration_ms: Some(*ms),
            })?,
        )
        .await?;
        println!("demo: {} spoke ({}/{})", a.name, i + 1, SCRIPT.len());
    }
    tokio::time::sleep(pause(&args, 200)).await;
    send(
        &client,
        Event::new(&bridge::ConversationCompleted {
            conversation_id: id.clone(),
            status: "completed".into(),
            total_messages: Some(SCRIPT.len() as i64),
            total_turns: Some(3),
            total_tokens: Some(tokens),
            total_cost: Some(cost),
            duration_seconds: Some(started.elapsed().as_secs_f64()),
            summary: Some(bridge::Summary {
                short_text: Some("Expand/migrate/contract with a lag-aware, app-side backfill.".into()),
                text: "The agents agreed to split `address` with expand/migrate/contract: nullable columns first, \
dual writes behind a flag, an application-side backfill in 5,000-row batches throttled on replication lag \
(about 5.5 hours, abort on sustained lag), nightly verification into a review table, a flag for reads, and dropping \
`address` two weeks after the switch."
                    .into(),
                agent_type: "gemini".into(),
                model: Some("gemini-2.5-flash".into()),
                ..Default::default()
            }),
        })?,
    )
    .await?;
    println!("demo: completed; {}/sessions/{id}", client.base_url());
    Ok(())
}

/// Runs `ping`: health (no key needed), then a `bridge.test` event (needs the key).
pub async fn ping(args: PingArgs) -> Result<(), CliError> {
    let client = args.client.client()?;
    let t = std::time::Instant::now();
    let health = client.health().await?;
    println!(
        "ping: {} is up (status {}, version {}, {} ms)",
        client.base_url(),
        health.get("status").and_then(|v| v.as_str()).unwrap_or("?"),
        health
            .get("version")
            .and_then(|v| v.as_str())
            .unwrap_or("?"),
        t.elapsed().as_millis()
    );
    if client.config().api_key.is_none() {
        return Err(CliError::Usage(
            "no API key: set AGENTPIPE_STREAM_API_KEY or pass --api-key".into(),
        ));
    }
    let e = Event::new(&bridge::BridgeTest {
        message: Some("agentpipe-web ping".into()),
        system_info: Some(bridge::SystemInfo {
            os: Some(std::env::consts::OS.into()),
            architecture: Some(std::env::consts::ARCH.into()),
            ..Default::default()
        }),
    })?;
    match client.send(&e).await {
        Ok(_) => {
            println!("ping: the API key is accepted for ingest");
            Ok(())
        }
        Err(err) if matches!(err.status(), Some(401) | Some(403)) => Err(CliError::Incomplete(
            format!("the API key is not accepted: {err}"),
        )),
        Err(err) => Err(err.into()),
    }
}
