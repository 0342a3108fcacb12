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
