//! AgentPipe CLI events as the CLI writes them to `~/.agentpipe/events/events_<id>.jsonl`:
//! Go's `json.Encoder` output of its event structs (fields in struct order, zero values
//! left out where the field has `omitempty`, `<` `>` `&` escaped, UTC timestamps with up to
//! nine fractional digits and `Z`). The shapes follow SPEC 2.1 and the CLI's documented
//! format; nothing of the CLI's code is used.

#![allow(dead_code)]

use serde::Serialize;

fn zero_i(v: &i64) -> bool {
    *v == 0
}
fn zero_f(v: &f64) -> bool {
    *v == 0.0
}
fn empty(v: &str) -> bool {
    v.is_empty()
}

/// `{type, timestamp, data}`.
#[derive(Serialize)]
pub struct Envelope<T: Serialize> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub timestamp: String,
    pub data: T,
}

#[derive(Serialize, Clone)]
pub struct SystemInfo {
    pub agentpipe_version: String,
    pub os: String,
    pub os_version: String,
    pub go_version: String,
    pub architecture: String,
}

impl SystemInfo {
    pub fn test() -> Self {
        SystemInfo {
            agentpipe_version: "0.7.2".into(),
            os: "linux".into(),
            os_version: "Debian 13".into(),
            go_version: "go1.25.3".into(),
            architecture: "amd64".into(),
        }
    }
}

#[derive(Serialize)]
pub struct BridgeConnected {
    pub system_info: SystemInfo,
    pub connected_at: String,
}

#[derive(Serialize, Clone)]
pub struct Participant {
    pub agent_id: String,
    pub agent_type: String,
    #[serde(skip_serializing_if = "empty")]
    pub model: String,
    #[serde(skip_serializing_if = "empty")]
    pub name: String,
    #[serde(skip_serializing_if = "empty")]
    pub prompt: String,
    #[serde(skip_serializing_if = "empty")]
    pub cli_version: String,
}

#[derive(Serialize)]
pub struct Started {
    pub conversation_id: String,
    pub mode: String,
    pub initial_prompt: String,
    #[serde(skip_serializing_if = "zero_i")]
    pub max_turns: i64,
    pub participants: Vec<Participant>,
    pub system_info: SystemInfo,
}

#[derive(Serialize, Clone)]
pub struct MessageCreated {
    pub conversation_id: String,
    pub message_id: String,
    pub agent_id: String,
    pub agent_type: String,
    #[serde(skip_serializing_if = "empty")]
    pub agent_name: String,
    pub content: String,
    #[serde(skip_serializing_if = "zero_i")]
    pub sequence_number: i64,
    #[serde(skip_serializing_if = "zero_i")]
    pub turn_number: i64,
    #[serde(skip_serializing_if = "zero_i")]
    pub tokens_used: i64,
    #[serde(skip_serializing_if = "zero_i")]
    pub input_tokens: i64,
    #[serde(skip_serializing_if = "zero_i")]
    pub output_tokens: i64,
    #[serde(skip_serializing_if = "zero_f")]
    pub cost: f64,
    #[serde(skip_serializing_if = "empty")]
    pub model: String,
    #[serde(skip_serializing_if = "zero_i")]
    pub duration_ms: i64,
}

#[derive(Serialize)]
pub struct Completed {
    pub conversation_id: String,
    pub status: String,
    #[serde(skip_serializing_if = "zero_i")]
    pub total_messages: i64,
    #[serde(skip_serializing_if = "zero_i")]
    pub total_turns: i64,
    #[serde(skip_serializing_if = "zero_i")]
    pub total_tokens: i64,
    #[serde(skip_serializing_if = "zero_f")]
    pub total_cost: f64,
    #[serde(skip_serializing_if = "zero_f")]
    pub duration_seconds: f64,
}

/// One line of the event log (with its `\n`), escaped as Go's encoder does.
pub fn line<T: Serialize>(kind: &'static str, timestamp: &str, data: T) -> String {
    let env = Envelope {
        kind,
        timestamp: timestamp.to_string(),
        data,
    };
    let s = serde_json::to_string(&env).expect("serialise");
    let mut out = String::with_capacity(s.len() + 1);
    for ch in s.chars() {
        match ch {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('\n');
    out
}

/// Go's `2006-01-02T15:04:05.999999999Z` of a UTC instant given in ns since the epoch
/// (trailing zeros of the fraction dropped, no fraction when it is zero).
pub fn go_time(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let t = time::OffsetDateTime::from_unix_timestamp(secs).expect("time");
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if frac == 0 {
        format!("{base}Z")
    } else {
        let f = format!("{frac:09}");
        format!("{base}.{}Z", f.trim_end_matches('0'))
    }
}

/// `go_time` of now.
pub fn now() -> String {
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    go_time(i64::try_from(ns).expect("ns"))
}
