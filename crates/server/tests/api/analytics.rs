//! `GET /api/analytics` (issue #20) on both backends: sessions streamed live (with
//! repeats and out of order) and uploaded, then every series checked against sums the
//! test computes from what it sent.

use std::collections::BTreeMap;

use agentpipe_protocol::timefmt::{format_us, parse_rfc3339_us};
use agentpipe_server::store::analytics::duration_bucket;
use serde_json::{json, Value};

use crate::backends::backends;
use crate::helpers::App;

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

/// One message as the test sent it.
#[derive(Clone)]
struct Msg {
    ts: i64,
    agent_type: &'static str,
    model: Option<&'static str>,
    input: i64,
    output: i64,
    cost: f64,
    duration: i64,
}

/// One session as the test sent it.
struct Sess {
    id: String,
    started: i64,
    mode: &'static str,
    status: &'static str,
    /// (agent type, model) of each participant
    participants: Vec<(&'static str, Option<&'static str>)>,
    messages: Vec<Msg>,
    uploaded: bool,
}

const AGENTS: [(&str, Option<&str>); 3] = [
    ("claude", Some("claude-sonnet-4-5")),
    ("gemini", Some("gemini-2.5-pro")),
    ("codex", None),
];

fn sessions() -> Vec<Sess> {
    // Monday 2025-03-03 00:00 UTC
    let base = parse_rfc3339_us("2025-03-03T00:00:00Z").expect("base");
    (0..10)
        .map(|i: i64| {
            let started = base + i * 7 * HOUR + i * 13 * 60_000_000;
            let n_agents = 2 + (i % 2) as usize;
            let participants: Vec<_> = AGENTS[..n_agents].to_vec();
            let messages = (0..6)
                .map(|k: i64| {
                    let (agent_type, pmodel) = participants[k as usize % n_agents];
                    Msg {
                        // 25 minutes apart: a session's messages cross hours
                        ts: started + (k + 1) * 25 * 60_000_000 + i,
                        agent_type,
                        model: if k == 5 { None } else { pmodel },
                        input: 100 * (k + 1) + i,
                        output: 10 * (k + 2),
                        cost: 0.001 * ((k + 1) * (i + 1)) as f64,
                        duration: 40 * (k + 1) * (i + 1) + 7,
                    }
                })
                .collect();
            Sess {
                id: format!("an-{i}"),
                started,
                mode: if i % 3 == 0 {
                    "reactive"
                } else {
                    "round-robin"
                },
                status: ["COMPLETED", "ERROR", "ACTIVE", "COMPLETED", "INTERRUPTED"]
                    [i as usize % 5],
                participants,
                messages,
                uploaded: i == 4 || i == 7,
            }
        })
        .collect()
}

fn ts(us: i64) -> String {
    format_us(us)
}

async fn store(app: &App, s: &Sess) {
    if s.uploaded {
        let body = json!({
            "conversation": {
                "id": s.id, "name": format!("Uploaded {}", s.id), "mode": s.mode,
                "initial_prompt": "p", "started_at": ts(s.started), "status": s.status,
            },
            "agents": s.participants.iter().map(|(t, m)| json!({"agent_type": t, "agent_name": t, "model": m})).collect::<Vec<_>>(),
            "messages": s.messages.iter().map(|m| json!({
                "agent_type": m.agent_type, "agent_name": m.agent_type, "content": "x", "timestamp": ts(m.ts),
                "input_tokens": m.input, "output_tokens": m.output, "cost": m.cost, "model": m.model,
                "duration_ms": m.duration,
            })).collect::<Vec<_>>(),
        });
        let (st, r) = app.post("/api/sessions/upload", &body).await;
        assert_eq!(st, 201, "{r}");
        return;
    }
    let mut events = Vec::new();
    for (k, m) in s.messages.iter().enumerate() {
        events.push(json!({"type": "message.created", "timestamp": ts(m.ts), "data": {
            "conversation_id": s.id, "message_id": format!("{}-m{k}", s.id), "agent_type": m.agent_type,
            "agent_name": m.agent_type, "content": format!("message {k}"), "input_tokens": m.input,
            "output_tokens": m.output, "cost": m.cost, "model": m.model, "duration_ms": m.duration,
        }}));
    }
    // messages first, then the start, then every message again (a retry): order
    // independence and idempotency
    events.push(json!({"type": "conversation.started", "timestamp": ts(s.started), "data": {
        "conversation_id": s.id, "mode": s.mode, "initial_prompt": "p",
        "participants": s.participants.iter().enumerate().map(|(i, (t, m))| json!({"agent_id": format!("{t}-{i}"), "agent_type": t, "name": t, "model": m})).collect::<Vec<_>>(),
    }}));
    events.extend(events[..s.messages.len()].to_vec());
    let end = s.messages.last().map(|m| m.ts).unwrap_or(s.started) + 1;
    match s.status {
        "COMPLETED" | "INTERRUPTED" => events.push(
            json!({"type": "conversation.completed", "timestamp": ts(end), "data": {
                "conversation_id": s.id, "status": s.status.to_ascii_lowercase(),
            }}),
        ),
        "ERROR" => events.push(
            json!({"type": "conversation.error", "timestamp": ts(end), "data": {
                "conversation_id": s.id, "error_message": "boom",
            }}),
        ),
        _ => {}
    }
    let (st, r) = app.post("/api/ingest", &Value::Array(events)).await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["rejected"], 0, "{r}");
}

/// Expected figures of one (bucket, group).
#[derive(Default, Debug)]
struct Want {
    sessions: i64,
    messages: i64,
    input: i64,
    output: i64,
    cost: f64,
    durations: Vec<i64>,
}

fn group_of_msg(s: &Sess, m: &Msg, by: &str) -> String {
    match by {
        // Its own model, else its participant's (issue #20): the messages name their
        // agent by type (bridge, no agent_id) or by name (upload), so the participant
        // of that type.
        "model" => m
            .model
            .or_else(|| {
                s.participants
                    .iter()
                    .find(|p| p.0 == m.agent_type)
                    .and_then(|p| p.1)
            })
            .unwrap_or("(none)")
            .to_string(),
        "agentType" => m.agent_type.to_string(),
        "status" => s.status.to_string(),
        _ => s.mode.to_string(),
    }
}

fn groups_of_session(s: &Sess, by: &str) -> Vec<String> {
    let mut g: Vec<String> = match by {
        "model" => s
            .participants
            .iter()
            .map(|p| p.1.unwrap_or("(none)").to_string())
            .collect(),
        "agentType" => s.participants.iter().map(|p| p.0.to_string()).collect(),
        "status" => vec![s.status.to_string()],
        _ => vec![s.mode.to_string()],
    };
    g.sort();
    g.dedup();
    g
}

fn expected(all: &[Sess], by: &str, width: i64) -> BTreeMap<(i64, String), Want> {
    let floor = |t: i64| t - t.rem_euclid(width);
    let mut w: BTreeMap<(i64, String), Want> = BTreeMap::new();
    for s in all {
        for g in groups_of_session(s, by) {
            w.entry((floor(s.started), g)).or_default().sessions += 1;
        }
        for m in &s.messages {
            let e = w.entry((floor(m.ts), group_of_msg(s, m, by))).or_default();
            e.messages += 1;
            e.input += m.input;
            e.output += m.output;
            e.cost += m.cost;
            e.durations.push(m.duration);
        }
    }
    w
}

/// Nearest-rank percentile.
fn exact_pct(v: &[i64], p: f64) -> i64 {
    let mut v = v.to_vec();
    v.sort();
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

fn check_point(got: &Value, want: Option<&Want>, ctx: &str) {
    let empty = Want::default();
    let w = want.unwrap_or(&empty);
    assert_eq!(got["sessions"], w.sessions, "{ctx} sessions: {got}");
    assert_eq!(got["messages"], w.messages, "{ctx} messages: {got}");
    assert_eq!(got["inputTokens"], w.input, "{ctx} inputTokens: {got}");
    assert_eq!(got["outputTokens"], w.output, "{ctx} outputTokens: {got}");
    assert_eq!(got["totalTokens"], w.input + w.output, "{ctx} totalTokens");
    let cost = got["cost"].as_f64().expect("cost");
    assert!(
        (cost - w.cost).abs() < 1e-9,
        "{ctx} cost {cost} != {}",
        w.cost
    );
    if w.durations.is_empty() {
        assert!(got["durationP50"].is_null(), "{ctx}: {got}");
    } else {
        for (key, p) in [("durationP50", 0.5), ("durationP95", 0.95)] {
            let est = got[key].as_f64().expect(key);
            let exact = exact_pct(&w.durations, p);
            assert_eq!(
                duration_bucket(est),
                duration_bucket(exact as f64),
                "{ctx} {key}: estimate {est} ms vs exact {exact} ms must share a histogram bucket"
            );
        }
    }
}

#[tokio::test]
async fn series_equal_sums_of_what_was_stored_on_both_backends() {
    let all = sessions();
    for (backend, app) in backends("analytics_series").await {
        for s in &all {
            store(&app, s).await;
        }
        for by in ["model", "agentType", "status", "mode"] {
            for (bucket, width) in [("hour", HOUR), ("day", DAY)] {
                let ctx = format!("{backend} {by}/{bucket}");
                let (st, a) = app
                    .get(&format!(
                        "/api/analytics?from=2025-03-02&to=2025-03-07&bucket={bucket}&groupBy={by}"
                    ))
                    .await;
                assert_eq!(st, 200, "{ctx}: {a}");
                assert_eq!(a["from"], "2025-03-02T00:00:00.000000Z", "{ctx}");
                assert_eq!(a["to"], "2025-03-08T00:00:00.000000Z", "{ctx}");
                let buckets: Vec<i64> = a["buckets"]
                    .as_array()
                    .expect("buckets")
                    .iter()
                    .map(|b| parse_rfc3339_us(b.as_str().expect("str")).expect("time"))
                    .collect();
                assert_eq!(buckets.len() as i64, 6 * DAY / width, "{ctx}");
                let want = expected(&all, by, width);
                let series = a["series"].as_array().expect("series");
                let mut want_groups: Vec<String> = want.keys().map(|k| k.1.clone()).collect();
                want_groups.sort();
                want_groups.dedup();
                let mut got_groups: Vec<String> = series
                    .iter()
                    .map(|s| s["group"].as_str().expect("group").to_string())
                    .collect();
                // ordered by cost, highest first
                let costs: Vec<f64> = series
                    .iter()
                    .map(|s| s["totals"]["cost"].as_f64().expect("cost"))
                    .collect();
                assert!(costs.windows(2).all(|w| w[0] >= w[1]), "{ctx}: {costs:?}");
                got_groups.sort();
                assert_eq!(got_groups, want_groups, "{ctx}");
                for s in series {
                    let g = s["group"].as_str().expect("group").to_string();
                    let points = s["points"].as_array().expect("points");
                    assert_eq!(points.len(), buckets.len(), "{ctx}: dense series");
                    let mut tot = Want::default();
                    for (p, &b) in points.iter().zip(&buckets) {
                        assert_eq!(p["start"], ts(b), "{ctx}");
                        let w = want.get(&(b, g.clone()));
                        check_point(p, w, &format!("{ctx} {g} @ {}", ts(b)));
                        if let Some(w) = w {
                            tot.sessions += w.sessions;
                            tot.messages += w.messages;
                            tot.input += w.input;
                            tot.output += w.output;
                            tot.cost += w.cost;
                            tot.durations.extend(&w.durations);
                        }
                    }
                    check_point(&s["totals"], Some(&tot), &format!("{ctx} {g} totals"));
                }
                // overall: every message once; every session once
                let msgs: Vec<Msg> = all.iter().flat_map(|s| s.messages.clone()).collect();
                let overall = Want {
                    sessions: all.len() as i64,
                    messages: msgs.len() as i64,
                    input: msgs.iter().map(|m| m.input).sum(),
                    output: msgs.iter().map(|m| m.output).sum(),
                    cost: msgs.iter().map(|m| m.cost).sum(),
                    durations: msgs.iter().map(|m| m.duration).collect(),
                };
                check_point(&a["totals"], Some(&overall), &format!("{ctx} totals"));
                let per_bucket: i64 = a["overall"]
                    .as_array()
                    .expect("overall")
                    .iter()
                    .map(|p| p["messages"].as_i64().expect("n"))
                    .sum();
                assert_eq!(per_bucket, overall.messages, "{ctx}");
            }
        }
        // A week bucket starts on Monday and holds everything here.
        let (_, a) = app
            .get("/api/analytics?from=2025-03-03&to=2025-03-09&bucket=week&groupBy=status")
            .await;
        assert_eq!(
            a["buckets"],
            json!(["2025-03-03T00:00:00.000000Z"]),
            "{backend}"
        );
        assert_eq!(a["totals"]["messages"], 60, "{backend}");
        // A range with nothing in it is zeros, not an error.
        let (st, a) = app
            .get("/api/analytics?from=2024-01-01&to=2024-01-02&bucket=hour")
            .await;
        assert_eq!(st, 200, "{backend}");
        assert_eq!(a["totals"]["messages"], 0, "{backend}");
        assert_eq!(a["series"], json!([]), "{backend}");
        // Deleting a session removes it from the figures.
        let r = app
            .http
            .delete(app.url("/api/sessions/an-0"))
            .bearer_auth(crate::helpers::TEST_KEY)
            .send()
            .await
            .expect("delete");
        assert!(r.status().is_success(), "{backend}");
        let (_, a) = app
            .get("/api/analytics?from=2025-03-02&to=2025-03-07&groupBy=mode")
            .await;
        assert_eq!(a["totals"]["messages"], 54, "{backend}");
        assert_eq!(a["totals"]["sessions"], 9, "{backend}");
        // ... from both rollups (by agent and by status), and from every group's series.
        for by in ["model", "status"] {
            let (_, a) = app
                .get(&format!(
                    "/api/analytics?from=2025-03-02&to=2025-03-07&groupBy={by}"
                ))
                .await;
            let in_series: i64 = a["series"]
                .as_array()
                .expect("series")
                .iter()
                .map(|g| g["totals"]["messages"].as_i64().expect("n"))
                .sum();
            assert_eq!(in_series, 54, "{backend} {by}: {a}");
        }
    }
}

#[tokio::test]
async fn bad_parameters_are_named() {
    let app = App::start().await;
    for (q, field) in [
        ("bucket=month", "bucket"),
        ("groupBy=colour", "groupBy"),
        ("from=yesterday", "from"),
        ("from=2025-03-05&to=2025-03-01", "to"),
        ("from=2020-01-01&to=2025-01-01&bucket=hour", "bucket"),
    ] {
        let (st, body) = app.get(&format!("/api/analytics?{q}")).await;
        assert_eq!(st, 400, "{q}: {body}");
        assert_eq!(body["details"][0]["field"], field, "{q}: {body}");
    }
}

/// The events of the fold test (issue #15, migration 0080): messages naming no model
/// before the start that declares their participants' models, a message naming its own,
/// one naming no agent id (counted under the first participant of its type), one of a
/// type with no participant, a repeat, and the completion that moves the session's
/// status; a second session that never starts and ends in error.
fn fold_events() -> Vec<Value> {
    let h = parse_rfc3339_us("2025-03-04T10:00:00Z").expect("time");
    let msg = |cid: &str,
               k: usize,
               at: i64,
               agent: Option<&str>,
               ty: &str,
               model: Option<&str>,
               dur: i64| {
        json!({"type": "message.created", "timestamp": ts(at), "data": {
            "conversation_id": cid, "message_id": format!("{cid}-m{k}"), "agent_id": agent,
            "agent_type": ty, "agent_name": ty, "content": format!("message {k}"),
            "input_tokens": 10 * (k as i64 + 1), "output_tokens": k as i64 + 3,
            "cost": 0.25 * (k as f64 + 1.0), "model": model, "duration_ms": dur,
        }})
    };
    let mut v = vec![
        msg(
            "fold-a",
            0,
            h + 1_000_000,
            Some("claude-0"),
            "claude",
            None,
            120,
        ),
        msg("fold-a", 1, h + 2_000_000, None, "gemini", None, 3_000),
        msg(
            "fold-a",
            2,
            h + 3_000_000,
            Some("codex-2"),
            "codex",
            Some("gpt-5"),
            7,
        ),
        msg("fold-b", 0, h + 4_000_000, None, "claude", None, 50),
        json!({"type": "conversation.started", "timestamp": ts(h), "data": {
            "conversation_id": "fold-a", "mode": "round-robin", "initial_prompt": "p",
            "participants": [
                {"agent_id": "claude-0", "agent_type": "claude", "name": "claude", "model": "claude-sonnet-4-5"},
                {"agent_id": "gemini-1", "agent_type": "gemini", "name": "gemini", "model": "gemini-2.5-pro"},
                {"agent_id": "codex-2", "agent_type": "codex", "name": "codex"},
            ],
        }}),
        msg(
            "fold-a",
            3,
            h + HOUR + 5_000_000,
            Some("claude-0"),
            "claude",
            None,
            900,
        ),
        msg("fold-a", 4, h + HOUR + 6_000_000, None, "mistral", None, 1),
    ];
    v.push(v[0].clone());
    v.push(
        json!({"type": "conversation.completed", "timestamp": ts(h + HOUR + 7_000_000), "data": {
            "conversation_id": "fold-a", "status": "completed",
        }}),
    );
    v.push(
        json!({"type": "conversation.error", "timestamp": ts(h + HOUR + 8_000_000), "data": {
            "conversation_id": "fold-b", "error_message": "boom",
        }}),
    );
    v
}

/// Every series of the fold test's day, by each grouping.
async fn fold_series(app: &App) -> Vec<Value> {
    let mut out = Vec::new();
    for by in ["model", "agentType", "status", "mode"] {
        let (st, a) = app
            .get(&format!(
                "/api/analytics?from=2025-03-04&to=2025-03-04&bucket=hour&groupBy={by}"
            ))
            .await;
        assert_eq!(st, 200, "{by}: {a}");
        out.push(a);
    }
    out
}

/// SQLite only: the rollups equal the grouped sums of the stored messages under the
/// model rule of migration 0063 (the invariant of 0050/0063), and no message waits
/// above the watermark after a commit.
fn check_rollups_on_sqlite(db: &std::path::Path, ctx: &str) {
    let conn = rusqlite::Connection::open(db).expect("open");
    let rows = |sql: &str| -> Vec<Vec<String>> {
        let mut st = conn.prepare(sql).expect("prepare");
        let n = st.column_count();
        let mapped = st
            .query_map([], |r| {
                (0..n)
                    .map(|i| {
                        r.get::<_, rusqlite::types::Value>(i)
                            .map(|v| format!("{v:?}"))
                    })
                    .collect::<Result<Vec<String>, _>>()
            })
            .expect("query");
        mapped.collect::<Result<_, _>>().expect("rows")
    };
    let sums = "COUNT(*), SUM(COALESCE(m.input_tokens, 0)), SUM(COALESCE(m.output_tokens, 0)), \
        SUM(COALESCE(m.total_tokens, 0)), ROUND(SUM(COALESCE(m.cost, 0.0)), 6), SUM(m.duration_ms IS NOT NULL), \
        SUM(COALESCE(m.duration_ms, 0))";
    let cols = "messages, input_tokens, output_tokens, total_tokens, ROUND(cost, 6), durations, duration_ms";
    let hour = "m.ts - (((m.ts % 3600000000) + 3600000000) % 3600000000)";
    let model = "COALESCE(NULLIF(m.model, ''), (SELECT NULLIF(p.model, '') FROM participants p \
        WHERE p.conversation_id = m.conversation_id AND (p.agent_id = m.agent_id \
        OR (m.agent_id IS NULL AND p.agent_type = m.agent_type)) ORDER BY p.position LIMIT 1), '')";
    assert_eq!(
        rows(&format!(
            "SELECT hour, agent_type, model, {cols} FROM analytics_by_agent WHERE messages <> 0 ORDER BY 1, 2, 3"
        )),
        rows(&format!(
            "SELECT {hour} AS h, m.agent_type AS t, {model} AS g, {sums} FROM messages m GROUP BY h, t, g ORDER BY 1, 2, 3"
        )),
        "{ctx}: analytics_by_agent"
    );
    assert_eq!(
        rows(&format!(
            "SELECT hour, status, mode, {cols} FROM analytics_by_status WHERE messages <> 0 ORDER BY 1, 2, 3"
        )),
        rows(&format!(
            "SELECT {hour} AS h, COALESCE(c.status, '') AS s, COALESCE(c.mode, '') AS o, {sums} \
             FROM messages m LEFT JOIN conversations c ON c.id = m.conversation_id GROUP BY h, s, o ORDER BY 1, 2, 3"
        )),
        "{ctx}: analytics_by_status"
    );
    assert_eq!(
        rows("SELECT (SELECT pk FROM analytics_watermark) >= COALESCE((SELECT MAX(pk) FROM messages), 0)"),
        [["Integer(1)".to_string()]],
        "{ctx}: messages left above the watermark"
    );
}

#[tokio::test]
async fn a_batch_counts_each_message_once_as_when_sent_one_by_one() {
    // SQLite adds a transaction's messages to the rollups at commit (issue #15): a
    // message stored before its participant's model is known, in the same transaction,
    // must be counted once, under that model, exactly as when every event is its own
    // transaction. Ways of sending: one batch; one event per request; two batches.
    let events = fold_events();
    let mut seen: Vec<(String, Vec<Value>)> = Vec::new();
    for way in ["batch", "single", "split"] {
        for (backend, app) in backends(&format!("analytics_fold_{way}")).await {
            let ctx = format!("{backend} {way}");
            match way {
                "batch" => {
                    let (st, r) = app.post("/api/ingest", &Value::Array(events.clone())).await;
                    assert_eq!(st, 200, "{ctx}: {r}");
                    assert_eq!(r["rejected"], 0, "{ctx}: {r}");
                }
                "single" => {
                    for e in &events {
                        let (st, r) = app.ingest(e).await;
                        assert!(st == 200 || st == 201, "{ctx}: {st} {r}");
                    }
                }
                _ => {
                    for part in [&events[..4], &events[4..]] {
                        let (st, r) = app.post("/api/ingest", &Value::Array(part.to_vec())).await;
                        assert_eq!(st, 200, "{ctx}: {r}");
                        assert_eq!(r["rejected"], 0, "{ctx}: {r}");
                    }
                }
            }
            if backend == "sqlite" {
                check_rollups_on_sqlite(&app.server.db_path, &ctx);
            }
            let series = fold_series(&app).await;
            // The models the participants declared carry their messages; nothing
            // counts twice or is left out: 6 messages.
            let models: BTreeMap<String, i64> = series[0]["series"]
                .as_array()
                .expect("series")
                .iter()
                .map(|s| {
                    let g = s["group"].as_str().expect("group").to_string();
                    (g, s["totals"]["messages"].as_i64().expect("messages"))
                })
                .collect();
            assert_eq!(
                models.get("claude-sonnet-4-5"),
                Some(&2),
                "{ctx}: {models:?}"
            );
            assert_eq!(models.get("gemini-2.5-pro"), Some(&1), "{ctx}: {models:?}");
            assert_eq!(models.get("gpt-5"), Some(&1), "{ctx}: {models:?}");
            assert_eq!(models.values().sum::<i64>(), 6, "{ctx}: {models:?}");
            let statuses: BTreeMap<String, i64> = series[2]["series"]
                .as_array()
                .expect("series")
                .iter()
                .map(|s| {
                    let g = s["group"].as_str().expect("group").to_string();
                    (g, s["totals"]["messages"].as_i64().expect("messages"))
                })
                .collect();
            assert_eq!(
                statuses,
                BTreeMap::from([("COMPLETED".to_string(), 5), ("ERROR".to_string(), 1)]),
                "{ctx}"
            );
            if let Some((first, want)) = seen.first() {
                assert_eq!(&series, want, "{ctx} differs from {first}");
            }
            seen.push((ctx.clone(), series));

            // Deleting a session takes exactly its messages out, in a later transaction.
            let r = app
                .http
                .delete(app.url("/api/sessions/fold-a"))
                .bearer_auth(crate::helpers::TEST_KEY)
                .send()
                .await
                .expect("delete");
            assert!(r.status().is_success(), "{ctx}: {}", r.status());
            if backend == "sqlite" {
                check_rollups_on_sqlite(&app.server.db_path, &format!("{ctx} after delete"));
            }
            let (st, a) = app
                .get("/api/analytics?from=2025-03-04&to=2025-03-04&bucket=hour&groupBy=status")
                .await;
            assert_eq!(st, 200, "{ctx}: {a}");
            assert_eq!(a["totals"]["messages"], 1, "{ctx}: {a}");
        }
    }
}
