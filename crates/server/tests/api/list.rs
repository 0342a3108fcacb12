//! `GET /api/sessions` (SPEC 5): pagination without skips or repeats, every filter, and
//! every sort key in both orders.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::helpers::App;

/// How many conversations the fixture stores.
const N: usize = 23;

/// What the fixture knows about one stored conversation.
#[derive(Debug, Clone)]
struct Conv {
    id: String,
    status: &'static str,
    source: &'static str,
    types: Vec<&'static str>,
    /// `started_at` as returned by the API.
    started: String,
    day: u32,
}

/// Stores `N` conversations with varied status, source, agent types, start days, sizes and
/// costs (several equal, so that ties must be broken by id).
async fn fixture(app: &App) -> Vec<Conv> {
    let mut out = Vec::new();
    for i in 0..N {
        let id = format!("list-{i:02}");
        let day = 1 + (i as u32 % 5);
        let hour = i % 24;
        let ts = format!("2025-11-{day:02}T{hour:02}:30:00.{i:06}Z");
        let types: Vec<&'static str> = match i % 3 {
            0 => vec!["claude"],
            1 => vec!["gemini"],
            _ => vec!["claude", "codex"],
        };
        let spec = i % 2 == 1;
        let topic = if i % 5 == 0 {
            "Kubernetes rollout"
        } else {
            "Lunch plans"
        };
        let start = if spec {
            json!({"type": "conversation.started", "timestamp": ts,
                "data": {"conversationId": id, "name": format!("{topic} {i}"), "mode": "free-form",
                    "initialPrompt": "Discuss",
                    "participants": types.iter().enumerate().map(|(k, t)| json!({
                        "agentId": format!("{t}-{k}"), "agentType": t, "agentName": t})).collect::<Vec<_>>()}})
        } else {
            json!({"type": "conversation.started", "timestamp": ts,
                "data": {"conversation_id": id, "mode": "round-robin", "initial_prompt": format!("{topic}?"),
                    "participants": types.iter().map(|t| json!({"agent_type": t})).collect::<Vec<_>>()}})
        };
        let (s, body) = app.ingest(&start).await;
        assert_eq!(s, 201, "{body}");
        // i % 4 messages, equal costs for equal i % 4 (ties), tokens varying with i.
        for k in 0..(i % 4) {
            let content = if i == 7 && k == 1 {
                "the secret word is xylophone"
            } else {
                "hello"
            };
            let (s, body) = app
                .ingest(&json!({"type": "message.created", "timestamp": ts,
                    "data": {"conversation_id": id, "message_id": format!("{id}-m{k}"),
                        "agent_type": types[0], "content": content, "sequence_number": k,
                        "tokens_used": (i % 7) * 10 + k, "cost": 0.25}}))
                .await;
            assert_eq!(s, 201, "{body}");
        }
        let status = match i % 4 {
            0 => "ACTIVE",
            1 => "COMPLETED",
            2 => "INTERRUPTED",
            _ => "ERROR",
        };
        if status != "ACTIVE" {
            let (s, body) = app
                .ingest(&json!({"type": "conversation.completed",
                    "timestamp": format!("2025-11-{day:02}T{hour:02}:59:00Z"),
                    "data": {"conversation_id": id, "status": status.to_ascii_lowercase()}}))
                .await;
            assert_eq!(s, 200, "{body}");
        }
        out.push(Conv {
            id,
            status,
            source: if spec { "api" } else { "cli-stream" },
            types,
            started: format!("2025-11-{day:02}T{hour:02}:30:00.{i:06}Z"),
            day,
        });
    }
    out
}

/// GETs one list page; asserts 200 and the pagination block.
async fn page(app: &App, query: &str) -> Value {
    let (s, body) = app.get(&format!("/api/sessions?{query}")).await;
    assert_eq!(s, 200, "{query}: {body}");
    body
}

fn ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect()
}

/// Pages through `query` with `limit`; asserts no skip and no repeat, and the
/// pagination numbers; returns the ids in order.
async fn all_pages(app: &App, query: &str, limit: usize) -> Vec<String> {
    let first = page(app, &format!("{query}&limit={limit}&page=1")).await;
    let total = first["pagination"]["total"].as_u64().expect("total") as usize;
    let pages = first["pagination"]["pages"].as_u64().expect("pages") as usize;
    assert_eq!(pages, total.div_ceil(limit), "{query}");
    let mut seen = ids(&first);
    for p in 2..=pages {
        let body = page(app, &format!("{query}&limit={limit}&page={p}")).await;
        assert_eq!(body["pagination"]["page"], p);
        assert_eq!(body["pagination"]["limit"], limit);
        let got = ids(&body);
        let want_len = if p < pages {
            limit
        } else {
            total - limit * (pages - 1)
        };
        assert_eq!(got.len(), want_len, "{query} page {p}");
        seen.extend(got);
    }
    // Past the end: empty.
    let past = page(app, &format!("{query}&limit={limit}&page={}", pages + 1)).await;
    assert!(ids(&past).is_empty());
    let distinct: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(
        distinct.len(),
        seen.len(),
        "{query}: a row repeated: {seen:?}"
    );
    assert_eq!(seen.len(), total, "{query}: a row skipped");
    seen
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

#[tokio::test]
async fn pagination_filters_and_sorting() {
    let app = App::start().await;
    let convs = fixture(&app).await;
    let all: Vec<String> = convs.iter().map(|c| c.id.clone()).collect();

    // Defaults: page 1, limit 20, newest created first.
    let body = page(&app, "").await;
    let mut p = body["pagination"].clone();
    assert!(p["nextCursor"].is_string(), "{p}");
    p.as_object_mut().expect("object").remove("nextCursor");
    assert_eq!(p, json!({"page": 1, "limit": 20, "total": N, "pages": 2}));
    let expected_first: Vec<String> = all.iter().rev().take(20).cloned().collect();
    assert_eq!(ids(&body), expected_first);
    // The limit is clamped to 100.
    let body = page(&app, "limit=1000").await;
    assert_eq!(body["pagination"]["limit"], 100);
    assert_eq!(ids(&body).len(), N);
    // No match: pages is 0.
    let body = page(&app, "status=COMPLETED&source=api&agentType=nobody").await;
    assert_eq!(
        body["pagination"],
        json!({"page": 1, "limit": 20, "total": 0, "pages": 0, "nextCursor": null})
    );

    // Every sort key, both orders: pages concatenate to the full ordering, which is
    // ordered by the key, ties broken by id in the same direction.
    let one_page = page(&app, "limit=100").await;
    let rows: Vec<Value> = one_page["data"].as_array().expect("data").clone();
    for key in [
        "createdAt",
        "startedAt",
        "totalCost",
        "totalTokens",
        "totalMessages",
    ] {
        for order in ["asc", "desc"] {
            let got = all_pages(&app, &format!("sort={key}&order={order}"), 4).await;
            let mut want = rows.clone();
            want.sort_by(|a, b| {
                let ka = &a[key];
                let kb = &b[key];
                let c = match (ka.as_f64(), kb.as_f64()) {
                    (Some(x), Some(y)) => x.partial_cmp(&y).expect("comparable"),
                    _ => ka.as_str().cmp(&kb.as_str()),
                };
                c.then_with(|| a["id"].as_str().cmp(&b["id"].as_str()))
            });
            if order == "desc" {
                want.reverse();
            }
            let want: Vec<String> = want
                .iter()
                .map(|r| r["id"].as_str().expect("id").to_string())
                .collect();
            assert_eq!(got, want, "sort={key}&order={order}");
        }
    }
    // Default order is desc.
    assert_eq!(
        ids(&page(&app, "sort=totalMessages&limit=100").await),
        ids(&page(&app, "sort=totalMessages&order=desc&limit=100").await)
    );

    let filter = |f: &dyn Fn(&Conv) -> bool| -> Vec<String> {
        convs
            .iter()
            .filter(|c| f(c))
            .map(|c| c.id.clone())
            .collect()
    };

    // status, source, agentType
    for status in ["ACTIVE", "COMPLETED", "INTERRUPTED", "ERROR"] {
        let got = all_pages(&app, &format!("status={status}"), 3).await;
        assert_eq!(
            sorted(&got),
            filter(&|c| c.status == status),
            "status={status}"
        );
        assert!(!got.is_empty());
    }
    for source in ["api", "cli-stream"] {
        let got = all_pages(&app, &format!("source={source}"), 5).await;
        assert_eq!(
            sorted(&got),
            filter(&|c| c.source == source),
            "source={source}"
        );
    }
    assert!(all_pages(&app, "source=cli-upload", 5).await.is_empty());
    for t in ["claude", "gemini", "codex"] {
        let got = all_pages(&app, &format!("agentType={t}"), 5).await;
        assert_eq!(
            sorted(&got),
            filter(&|c| c.types.contains(&t)),
            "agentType={t}"
        );
    }
    // agentType with status: its total comes from stored counts (migration 0079), which
    // must follow each conversation from ACTIVE to its final status.
    for status in ["ACTIVE", "COMPLETED", "INTERRUPTED", "ERROR"] {
        for t in ["claude", "gemini", "codex"] {
            let got = all_pages(&app, &format!("status={status}&agentType={t}"), 2).await;
            assert_eq!(
                sorted(&got),
                filter(&|c| c.status == status && c.types.contains(&t)),
                "status={status}&agentType={t}"
            );
        }
    }

    // startDate / endDate: bare dates are whole UTC days, inclusive.
    let got = all_pages(&app, "startDate=2025-11-02&endDate=2025-11-03", 5).await;
    assert_eq!(sorted(&got), filter(&|c| (2..=3).contains(&c.day)));
    let got = all_pages(&app, "endDate=2025-11-01", 5).await;
    assert_eq!(sorted(&got), filter(&|c| c.day == 1));
    let got = all_pages(&app, "startDate=2025-11-05", 5).await;
    assert_eq!(sorted(&got), filter(&|c| c.day == 5));
    // RFC 3339 bounds are inclusive to the microsecond, in any offset.
    let pivot = &convs[7];
    let got = all_pages(
        &app,
        &format!("startDate={0}&endDate={0}", pivot.started),
        5,
    )
    .await;
    assert_eq!(got, vec![pivot.id.clone()]);
    let later = filter(&|c| c.started.as_str() >= pivot.started.as_str());
    let got = all_pages(&app, &format!("startDate={}", pivot.started), 5).await;
    assert_eq!(sorted(&got), later);
    // the same instant one microsecond later excludes it; written with an offset
    let (date, rest) = pivot.started.split_at(11);
    assert_eq!(date, "2025-11-03T");
    assert_eq!(rest, "07:30:00.000007Z");
    let got = all_pages(&app, "startDate=2025-11-03T09:30:00.000008%2B02:00", 5).await;
    let strictly_later = filter(&|c| c.started.as_str() > pivot.started.as_str());
    assert_eq!(sorted(&got), strictly_later);

    // Combined filters.
    let got = all_pages(
        &app,
        "status=COMPLETED&agentType=claude&source=cli-stream",
        2,
    )
    .await;
    assert_eq!(
        sorted(&got),
        filter(&|c| c.status == "COMPLETED"
            && c.types.contains(&"claude")
            && c.source == "cli-stream")
    );

    // q: names (spec), prompts (bridge) and message content, case-insensitively.
    let got = all_pages(&app, "q=kubernetes", 3).await;
    let want: Vec<String> = (0..N)
        .filter(|i| i % 5 == 0)
        .map(|i| format!("list-{i:02}"))
        .collect();
    assert_eq!(sorted(&got), want);
    let got = all_pages(&app, "q=XYLOPHONE", 3).await;
    assert_eq!(got, vec!["list-07".to_string()]);
    assert!(all_pages(&app, "q=nonexistentword", 3).await.is_empty());
}

/// `agentType=` (issue #15, migration 0077): a type counts when a participant or only a
/// message has it, on every backend, through live ingest, uploads and deletes, and a
/// type stops counting when the last participant and message with it are gone.
#[tokio::test]
async fn agent_type_counts_participants_and_message_only_types_on_every_backend() {
    for (backend, app) in crate::backends::backends("agent_type_index").await {
        let ids = |body: &Value| -> BTreeSet<String> {
            body["data"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["id"].as_str().map(str::to_string))
                .collect()
        };
        let (s, body) = app
            .ingest(
                &json!({"type": "conversation.started", "timestamp": "2025-11-04T10:00:00Z",
                "data": {"conversation_id": "at-a", "mode": "round-robin", "initial_prompt": "hi",
                    "participants": [{"agent_type": "claude"}]}}),
            )
            .await;
        assert_eq!(s, 201, "{body}");
        for (cid, mid, t) in [
            ("at-a", "m1", "claude"),
            ("at-a", "m2", "gemini"),
            ("at-b", "m1", "codex"),
            ("at-b", "m2", "codex"),
        ] {
            let (s, body) = app
                .ingest(&json!({"type": "message.created", "timestamp": "2025-11-04T10:00:01Z",
                    "data": {"conversation_id": cid, "message_id": mid, "agent_type": t, "content": "x"}}))
                .await;
            assert_eq!(s, 201, "{body}");
        }
        let upload = json!({
            "session": {"name": "Up", "status": "COMPLETED", "startedAt": "2025-10-20T14:30:05Z",
                "metadata": {"originalId": "at-up"}},
            "participants": [{"agentId": "q-1", "agentType": "qwen", "agentName": "Qwen"}],
            "messages": [{"agentId": "q-1", "agentType": "ollama", "content": "hello",
                "timestamp": "2025-10-20T14:30:20Z", "sequenceNumber": 1}]
        });
        let (s, body) = app.post("/api/sessions/upload", &upload).await;
        assert!(s == 200 || s == 201, "{s} {body}");
        let up = body["sessionId"]
            .as_str()
            .or(body["id"].as_str())
            .map(str::to_string);
        let find = |t: &'static str| {
            let app = &app;
            async move {
                let (s, body) = app.get(&format!("/api/sessions?agentType={t}")).await;
                assert_eq!(s, 200, "{body}");
                (ids(&body), body["pagination"]["total"].as_i64())
            }
        };
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(find("claude").await, (set(&["at-a"]), Some(1)), "{backend}");
        assert_eq!(find("gemini").await, (set(&["at-a"]), Some(1)), "{backend}");
        assert_eq!(find("codex").await, (set(&["at-b"]), Some(1)), "{backend}");
        assert_eq!(find("amp").await, (set(&[]), Some(0)), "{backend}");
        let (qwen, n) = find("qwen").await;
        assert_eq!((qwen.len(), n), (1, Some(1)), "{backend}");
        assert_eq!(find("ollama").await.0, qwen, "{backend}");
        if let Some(up) = &up {
            assert!(qwen.contains(up), "{backend}: {up} {qwen:?}");
        }
        for cid in ["at-a"] {
            let r = app
                .http
                .delete(app.url(&format!("/api/sessions/{cid}")))
                .bearer_auth(crate::helpers::TEST_KEY)
                .send()
                .await
                .expect("delete");
            assert!(r.status().is_success(), "{}", r.status());
        }
        assert_eq!(find("claude").await, (set(&[]), Some(0)), "{backend}");
        assert_eq!(find("gemini").await, (set(&[]), Some(0)), "{backend}");
        assert_eq!(find("codex").await, (set(&["at-b"]), Some(1)), "{backend}");
        // With status: the conversation moves from ACTIVE to COMPLETED, the deleted one
        // counts nowhere.
        let (s, body) = app
            .ingest(
                &json!({"type": "conversation.completed", "timestamp": "2025-11-04T10:00:05Z",
                "data": {"conversation_id": "at-b", "status": "completed"}}),
            )
            .await;
        assert_eq!(s, 200, "{body}");
        for (query, want) in [
            ("status=ACTIVE&agentType=codex", set(&[])),
            ("status=COMPLETED&agentType=codex", set(&["at-b"])),
            ("status=ACTIVE&agentType=claude", set(&[])),
            ("status=ACTIVE&agentType=gemini", set(&[])),
        ] {
            let (s, body) = app.get(&format!("/api/sessions?{query}")).await;
            assert_eq!(s, 200, "{body}");
            let n = want.len() as i64;
            assert_eq!(
                (ids(&body), body["pagination"]["total"].as_i64()),
                (want, Some(n)),
                "{backend} {query}"
            );
        }
        // The deleted id used again: it stays deleted (SPEC 2.4) or starts afresh with only
        // its own types.
        let (s, body) = app
            .ingest(&json!({"type": "message.created", "timestamp": "2025-11-04T10:00:09Z",
                "data": {"conversation_id": "at-a", "message_id": "m9", "agent_type": "amp", "content": "x"}}))
            .await;
        assert!(s == 200 || s == 201 || s == 409 || s == 410, "{s} {body}");
        if s == 201 {
            assert_eq!(find("amp").await, (set(&["at-a"]), Some(1)), "{backend}");
            assert_eq!(find("gemini").await, (set(&[]), Some(0)), "{backend}");
        }
    }
}
