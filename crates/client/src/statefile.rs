//! AgentPipe CLI state files (`~/.agentpipe/states/conversation-YYYYMMDD-HHMMSS.json`)
//! converted to upload shape 1 (SPEC 3).
//!
//! A state file is Go's default JSON of the CLI's `State`: PascalCase keys where the Go
//! struct has no tags (`Messages[]{AgentID, AgentName, AgentType, Content, Timestamp (unix
//! seconds), Role, Metrics{Duration (ns), InputTokens, OutputTokens, TotalTokens, Model,
//! Cost}}`, `Config{Agents[]{ID, Type, Name, Prompt, Announcement, Model, ...},
//! Orchestrator{Mode, MaxTurns, InitialPrompt, ...}}`), snake_case where it has tags
//! (`version`, `saved_at`, `messages`, `config`, `metadata{...}`).
//!
//! The conversion builds the upload from scratch, field by field, so nothing of
//! `Config.Bridge` (which can hold the user's API key) or `Config.Logging` is ever sent.

use agentpipe_protocol::timefmt::{default_name, format_us, parse_rfc3339_us};
use serde_json::{json, Map, Value};

use crate::Error;

/// Whether `v` looks like a CLI state file (and not an upload shape).
pub fn is_state_file(v: &Value) -> bool {
    let Some(o) = v.as_object() else {
        return false;
    };
    !o.contains_key("session")
        && !o.contains_key("conversation")
        && o.get("messages").is_some_and(Value::is_array)
        && (o.get("config").is_some_and(Value::is_object) || o.contains_key("saved_at"))
}

/// Case-tolerant lookup: Go writes `AgentID`, but hand-edited files may differ in case.
fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let o = v.as_object()?;
    o.get(key)
        .or_else(|| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
        .filter(|v| !v.is_null())
}

fn get_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    get(v, key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn get_i64(v: &Value, key: &str) -> Option<i64> {
    get(v, key).and_then(|x| x.as_i64().or_else(|| x.as_f64().map(|f| f as i64)))
}

fn get_f64(v: &Value, key: &str) -> Option<f64> {
    get(v, key).and_then(Value::as_f64)
}

/// A Go timestamp: unix seconds (number), or RFC 3339 text.
fn time_us(v: &Value) -> Option<i64> {
    if let Some(s) = v.as_str() {
        return parse_rfc3339_us(s);
    }
    if let Some(i) = v.as_i64() {
        return i.checked_mul(1_000_000);
    }
    v.as_f64()
        .filter(|f| f.is_finite())
        .map(|f| (f * 1e6).trunc() as i64)
}

/// Converts a parsed state file to upload shape 1.
///
/// * `original_id`: the file name without extension; stored as `metadata.originalId`, so
///   uploading the same file again is recognised as a duplicate.
/// * status `COMPLETED`; name `metadata.description`, else the default name of SPEC 2.4;
///   `startedAt` from `metadata.started_at`, else the first message, else `saved_at`;
///   `completedAt` = start + `metadata.total_duration_ms`, else `saved_at`;
///   `totalDuration` = `metadata.total_duration_ms` (else computed by the server);
///   `summary` from `metadata.short_text` / `text`.
/// * participants from `Config.Agents` (ids `<Type>-<index>` when `ID` is empty), plus any
///   agent that speaks with role `agent` without being listed;
/// * messages in file order (`sequenceNumber` 1, 2, ...), timestamps in UTC, metrics with
///   `Duration` converted from nanoseconds to milliseconds (truncated); `user` and `system`
///   messages (the `host`) are kept without a participant.
///
/// Errors: [`Error::Input`] when `messages` is missing or no start time can be found.
pub fn to_upload(state: &Value, original_id: &str) -> Result<Value, Error> {
    let messages_v = get(state, "messages")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Input("a state file needs a `messages` array".into()))?;
    let config = get(state, "config").cloned().unwrap_or(Value::Null);
    let orch = get(&config, "Orchestrator").cloned().unwrap_or(Value::Null);
    let meta = get(state, "metadata").cloned().unwrap_or(Value::Null);

    // participants, in config order
    let mut participants: Vec<Value> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    if let Some(agents) = get(&config, "Agents").and_then(Value::as_array) {
        for (i, a) in agents.iter().enumerate() {
            let Some(kind) = get_str(a, "Type") else {
                continue;
            };
            let id = get_str(a, "ID")
                .map(String::from)
                .unwrap_or_else(|| format!("{kind}-{i}"));
            let mut p = Map::new();
            p.insert("agentId".into(), json!(id));
            p.insert("agentType".into(), json!(kind));
            p.insert(
                "agentName".into(),
                json!(get_str(a, "Name").unwrap_or(kind)),
            );
            for (from, to) in [
                ("Model", "model"),
                ("Prompt", "prompt"),
                ("Announcement", "announcement"),
            ] {
                if let Some(s) = get_str(a, from) {
                    p.insert(to.into(), json!(s));
                }
            }
            let mut settings = Map::new();
            if let Some(t) = get_f64(a, "Temperature") {
                settings.insert("temperature".into(), json!(t));
            }
            if let Some(t) = get_i64(a, "MaxTokens").filter(|&t| t > 0) {
                settings.insert("maxTokens".into(), json!(t));
            }
            if !settings.is_empty() {
                p.insert("settings".into(), Value::Object(settings));
            }
            ids.push(id);
            participants.push(Value::Object(p));
        }
    }

    let mut messages = Vec::with_capacity(messages_v.len());
    let mut first_msg_us: Option<i64> = None;
    let mut sum_duration_ms: i64 = 0;
    for (i, m) in messages_v.iter().enumerate() {
        let field = format!("messages[{i}]");
        let ts = get(m, "Timestamp")
            .and_then(time_us)
            .ok_or_else(|| Error::Input(format!("{field}.Timestamp: missing or not a time")))?;
        first_msg_us.get_or_insert(ts);
        let role = match get_str(m, "Role").map(str::to_ascii_lowercase).as_deref() {
            None | Some("agent") | Some("assistant") => "agent",
            Some("user") => "user",
            Some(_) => "system",
        };
        let agent_id = get_str(m, "AgentID");
        let agent_type = get_str(m, "AgentType");
        let agent_name = get_str(m, "AgentName");
        if role == "agent" {
            if let Some(id) = agent_id {
                if !ids.iter().any(|x| x == id) {
                    // an agent that is not in Config.Agents: list it so its messages belong
                    let kind = agent_type.unwrap_or("unknown");
                    participants.push(json!({
                        "agentId": id, "agentType": kind, "agentName": agent_name.unwrap_or(kind)
                    }));
                    ids.push(id.to_string());
                }
            }
        }
        let mut o = Map::new();
        match agent_id {
            Some(id) => {
                o.insert("agentId".into(), json!(id));
            }
            None if role == "agent" => {
                // derive from the type, as SPEC 2.4 does for a message without agent_id
                let kind = agent_type.unwrap_or("unknown");
                let id = participants
                    .iter()
                    .find(|p| p["agentType"] == kind)
                    .and_then(|p| p["agentId"].as_str())
                    .map(String::from)
                    .unwrap_or_else(|| {
                        let id = format!("{kind}-{}", participants.len());
                        participants.push(json!({"agentId": id, "agentType": kind, "agentName": agent_name.unwrap_or(kind)}));
                        id
                    });
                o.insert("agentId".into(), json!(id));
            }
            None => {}
        }
        if let Some(n) = agent_name {
            o.insert("agentName".into(), json!(n));
        }
        if let Some(t) = agent_type {
            o.insert("agentType".into(), json!(t));
        }
        o.insert(
            "content".into(),
            json!(get(m, "Content").and_then(Value::as_str).unwrap_or("")),
        );
        o.insert("role".into(), json!(role));
        o.insert("timestamp".into(), json!(format_us(ts)));
        o.insert("sequenceNumber".into(), json!(i + 1));
        if let Some(mx) = get(m, "Metrics").filter(|x| x.is_object()) {
            let mut x = Map::new();
            if let Some(ns) = get_i64(mx, "Duration") {
                let ms = ns / 1_000_000;
                sum_duration_ms += ms;
                x.insert("duration".into(), json!(ms));
            }
            for (from, to) in [
                ("InputTokens", "inputTokens"),
                ("OutputTokens", "outputTokens"),
                ("TotalTokens", "totalTokens"),
            ] {
                if let Some(n) = get_i64(mx, from) {
                    x.insert(to.into(), json!(n));
                }
            }
            if let Some(s) = get_str(mx, "Model") {
                x.insert("model".into(), json!(s));
            }
            if let Some(c) = get_f64(mx, "Cost") {
                x.insert("cost".into(), json!(c));
            }
            if !x.is_empty() {
                o.insert("metrics".into(), Value::Object(x));
            }
        }
        messages.push(Value::Object(o));
    }

    let saved_us = get(state, "saved_at").and_then(time_us);
    let started_us = get(&meta, "started_at")
        .and_then(time_us)
        .or(first_msg_us)
        .or(saved_us)
        .ok_or_else(|| {
            Error::Input("no start time: neither metadata.started_at, messages nor saved_at".into())
        })?;
    let total_ms = get_i64(&meta, "total_duration_ms").filter(|&d| d > 0);
    let completed_us = match total_ms {
        Some(ms) => Some(started_us.saturating_add(ms.saturating_mul(1000))),
        None => saved_us,
    };

    let mut session = Map::new();
    session.insert(
        "name".into(),
        json!(get_str(&meta, "description")
            .map(String::from)
            .unwrap_or_else(|| default_name(started_us))),
    );
    if let Some(mode) = get_str(&orch, "Mode") {
        session.insert("mode".into(), json!(mode));
    }
    if let Some(t) = get_i64(&orch, "MaxTurns").filter(|&t| t > 0) {
        session.insert("maxTurns".into(), json!(t));
    }
    session.insert(
        "initialPrompt".into(),
        json!(get(&orch, "InitialPrompt")
            .and_then(Value::as_str)
            .unwrap_or("")),
    );
    session.insert("status".into(), json!("COMPLETED"));
    session.insert("startedAt".into(), json!(format_us(started_us)));
    if let Some(c) = completed_us {
        session.insert("completedAt".into(), json!(format_us(c)));
    }
    if let Some(ms) = total_ms.or((sum_duration_ms > 0).then_some(sum_duration_ms)) {
        session.insert("totalDuration".into(), json!(ms));
    }
    let mut md = Map::new();
    md.insert("originalId".into(), json!(original_id));
    md.insert("importedFrom".into(), json!("agentpipe-state-file"));
    if let Some(v) = get_str(state, "version") {
        md.insert("stateVersion".into(), json!(v));
    }
    if let Some(s) = saved_us {
        md.insert("savedAt".into(), json!(format_us(s)));
    }
    if let Some(t) = get_i64(&meta, "total_turns") {
        md.insert("totalTurns".into(), json!(t));
    }
    session.insert("metadata".into(), Value::Object(md));
    let short = get_str(&meta, "short_text");
    let text = get_str(&meta, "text");
    if short.is_some() || text.is_some() {
        let mut s = Map::new();
        if let Some(x) = short {
            s.insert("shortText".into(), json!(x));
        }
        s.insert("text".into(), json!(text.or(short).unwrap_or("")));
        if let Some(a) = get(&orch, "Summary").and_then(|x| get_str(x, "Agent")) {
            s.insert("agentType".into(), json!(a));
        }
        session.insert("summary".into(), Value::Object(s));
    }
    Ok(json!({
        "session": Value::Object(session),
        "participants": participants,
        "messages": messages,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentpipe_protocol::upload::parse_session_upload;

    fn sample() -> Value {
        json!({
          "version": "1.0",
          "saved_at": "2025-11-04T10:15:00.619462508-08:00",
          "messages": [
            {"AgentID": "claude-0", "AgentName": "Claude", "AgentType": "claude",
             "Content": "Claude has joined.", "Timestamp": 1762279832, "Role": "system", "Metrics": null},
            {"AgentID": "host", "AgentName": "HOST", "AgentType": "",
             "Content": "Discuss.", "Timestamp": 1762279834, "Role": "system", "Metrics": null},
            {"AgentID": "claude-0", "AgentName": "Claude", "AgentType": "claude",
             "Content": "I think so.", "Timestamp": 1762279859, "Role": "agent",
             "Metrics": {"Duration": 22467014962u64, "InputTokens": 863, "OutputTokens": 781,
                         "TotalTokens": 1644, "Model": "claude-sonnet-4-5", "Cost": 0.014304}}
          ],
          "config": {
            "Agents": [{"ID": "claude-0", "Type": "claude", "Name": "Claude", "Prompt": "Be brief.",
                        "Announcement": "Claude has joined.", "Model": "claude-sonnet-4-5",
                        "Temperature": 0.7, "MaxTokens": 2000}],
            "Orchestrator": {"Mode": "round-robin", "MaxTurns": 4, "TurnTimeout": 30000000000u64,
                             "InitialPrompt": "Discuss.", "Summary": {"Enabled": true, "Agent": "gemini"}},
            "Bridge": {"Enabled": true, "URL": "http://localhost:3000",
                       "APIKey": "ap_live_SECRETSECRETSECRET", "TimeoutMs": 10000}
          },
          "metadata": {"total_turns": 1, "total_messages": 3, "total_duration_ms": 268000,
                       "started_at": "2025-11-04T10:10:32.619462508-08:00",
                       "short_text": "Short.", "text": "Long."}
        })
    }

    #[test]
    fn converts_to_a_valid_shape_1_without_the_bridge_key() {
        let st = sample();
        assert!(is_state_file(&st));
        let up = to_upload(&st, "conversation-20251104-101500").unwrap();
        let text = up.to_string();
        assert!(
            !text.contains("SECRET"),
            "the bridge key must never be sent"
        );
        assert!(!text.contains("localhost:3000"));
        let parsed = parse_session_upload(&up).expect("server-side validation accepts it");
        drop(parsed);
        let s = &up["session"];
        assert_eq!(s["status"], "COMPLETED");
        assert_eq!(s["startedAt"], "2025-11-04T18:10:32.619462Z");
        assert_eq!(s["completedAt"], "2025-11-04T18:15:00.619462Z");
        assert_eq!(s["totalDuration"], 268000);
        assert_eq!(s["maxTurns"], 4);
        assert_eq!(s["metadata"]["originalId"], "conversation-20251104-101500");
        assert_eq!(s["name"], "Conversation 2025-11-04 18:10 UTC");
        assert_eq!(s["summary"]["shortText"], "Short.");
        let m = up["messages"].as_array().unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[0]["timestamp"], "2025-11-04T18:10:32.000000Z");
        assert_eq!(m[1]["agentId"], "host");
        assert!(m[1].get("agentType").is_none());
        assert_eq!(m[2]["metrics"]["duration"], 22467);
        assert_eq!(m[2]["sequenceNumber"], 3);
        assert_eq!(up["participants"][0]["announcement"], "Claude has joined.");
    }

    #[test]
    fn unlisted_agents_become_participants_and_shapes_are_not_state_files() {
        let mut st = sample();
        st["config"]["Agents"] = json!([]);
        st["metadata"]["description"] = json!("Named");
        let up = to_upload(&st, "x").unwrap();
        assert!(parse_session_upload(&up).is_ok());
        assert_eq!(up["session"]["name"], "Named");
        assert_eq!(up["participants"][0]["agentId"], "claude-0");
        assert!(!is_state_file(&json!({"session": {}, "messages": []})));
        assert!(!is_state_file(&json!([1, 2])));
        assert!(to_upload(&json!({"config": {}}), "x").is_err());
    }
}
