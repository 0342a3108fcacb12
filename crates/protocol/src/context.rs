//! Context-window pressure (issue #18): how full each agent's context window is, turn by
//! turn. A small built-in table of current models' context windows (tokens), matched by
//! model-name prefix, overridable with a JSON file or an inline list
//! (`AGENTPIPE_CONTEXT_WINDOWS_FILE`, `AGENTPIPE_CONTEXT_WINDOWS`), and the wire shape of
//! one point of the series that session detail returns (`contextPressure`). No I/O.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ValidationError;

/// One point of a session's context pressure: an agent message that reported its input
/// tokens, against the context window of the model it ran on. Session detail
/// (`GET /api/sessions/{id}`) lists them in conversation order as `contextPressure`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ContextPoint {
    /// The message's agent id (resolved as SPEC 2.4 says: `agent_id`, else the first
    /// participant of its agent type, else the agent type).
    pub agent_id: String,
    /// The message's turn number (`turnNumber` / `turn_number`); `null` when it gave none.
    pub turn: Option<i64>,
    /// Input (prompt) tokens the message reported, tokens: what the model was given to
    /// read for this turn.
    pub input_tokens: i64,
    /// The model whose window applies: the message's `metrics.model`, else its
    /// participant's model; `null` when neither names one.
    pub model: Option<String>,
    /// That model's context window, tokens, from the built-in table or the server's
    /// override; `null` when the model is unknown (or not named), so no pressure is known.
    pub limit: Option<i64>,
}

/// Largest context window accepted in an override, tokens (10^9).
pub const MAX_WINDOW: i64 = 1_000_000_000;

/// Context windows by model-name prefix; the longest matching prefix wins.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextWindows {
    entries: Vec<(String, i64)>,
}

/// The built-in context windows, tokens, as the providers publish them for the standard
/// tier at the time of writing (longer beta windows need an override). Prefixes are
/// lower case; `claude-sonnet-4` covers `claude-sonnet-4-5-20250929`.
const BUILTIN: &[(&str, i64)] = &[
    ("claude-opus-4", 200_000),
    ("claude-sonnet-4", 200_000),
    ("claude-haiku-4", 200_000),
    ("claude-3", 200_000),
    ("opus", 200_000),
    ("sonnet", 200_000),
    ("haiku", 200_000),
    ("gpt-5", 400_000),
    ("gpt-4.1", 1_047_576),
    ("gpt-4o", 128_000),
    ("gpt-4-turbo", 128_000),
    ("o1", 200_000),
    ("o3", 200_000),
    ("o4-mini", 200_000),
    ("gemini-3", 1_048_576),
    ("gemini-2.5-pro", 1_048_576),
    ("gemini-2.5-flash", 1_048_576),
    ("gemini-2.0-flash", 1_048_576),
    ("gemini-1.5-pro", 2_097_152),
    ("gemini-1.5-flash", 1_048_576),
];

impl Default for ContextWindows {
    fn default() -> Self {
        Self::builtin()
    }
}

impl ContextWindows {
    /// The built-in table.
    pub fn builtin() -> Self {
        ContextWindows {
            entries: BUILTIN.iter().map(|(m, n)| (m.to_string(), *n)).collect(),
        }
    }

    /// The table's entries, `(prefix, tokens)`, built-in ones first.
    pub fn entries(&self) -> &[(String, i64)] {
        &self.entries
    }

    /// Adds `prefix` (lower-cased) with `tokens`, replacing an entry of the same prefix.
    fn set(&mut self, prefix: &str, tokens: i64) {
        let key = prefix.trim().to_ascii_lowercase();
        self.entries.retain(|(m, _)| *m != key);
        self.entries.push((key, tokens));
    }

    /// This table with the entries of a JSON object `{"<model prefix>": <tokens>, ...}`
    /// (the `AGENTPIPE_CONTEXT_WINDOWS_FILE` file) added or replacing the built-in ones.
    ///
    /// Errors name the entry at fault (`contextWindows.gpt-4o`).
    pub fn with_json(mut self, json: &Value) -> Result<Self, ValidationError> {
        let map = json.as_object().ok_or_else(|| {
            ValidationError::new(
                "contextWindows",
                "must be a JSON object of model prefix to tokens",
            )
        })?;
        for (model, v) in map {
            let field = format!("contextWindows.{model}");
            if model.trim().is_empty() {
                return Err(ValidationError::new(field, "the model prefix is empty"));
            }
            let n = v
                .as_i64()
                .filter(|n| (1..=MAX_WINDOW).contains(n))
                .ok_or_else(|| ValidationError::new(&field, window_rule()))?;
            self.set(model, n);
        }
        Ok(self)
    }

    /// This table with the entries of an inline list `prefix=tokens,prefix=tokens` (the
    /// `AGENTPIPE_CONTEXT_WINDOWS` variable) added or replacing earlier ones; empty
    /// entries are skipped. Tokens are digits, optionally grouped with `_` (`200_000`), or
    /// a number with a `k`/`m` suffix (thousands / millions: `200k`, `1m`, `1.5m`).
    ///
    /// Errors name the entry at fault, as written.
    pub fn with_list(mut self, list: &str) -> Result<Self, ValidationError> {
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((model, tokens)) = entry.split_once('=') else {
                return Err(ValidationError::new(
                    entry,
                    "must be model-prefix=tokens (e.g. claude-sonnet-4=1000000)",
                ));
            };
            if model.trim().is_empty() {
                return Err(ValidationError::new(entry, "the model prefix is empty"));
            }
            let n =
                parse_tokens(tokens).ok_or_else(|| ValidationError::new(entry, window_rule()))?;
            self.set(model, n);
        }
        Ok(self)
    }

    /// The context window of `model`, tokens: the entry with the longest prefix of the
    /// lower-cased name, after any provider path (`openai/gpt-4o`, `models/gemini-2.5-pro`).
    pub fn limit(&self, model: &str) -> Option<i64> {
        let m = model.trim().to_ascii_lowercase();
        let m = m.rsplit('/').next().unwrap_or(&m);
        if m.is_empty() {
            return None;
        }
        self.entries
            .iter()
            .filter(|(p, _)| m.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len())
            .map(|(_, n)| *n)
    }
}

/// What an override's token count must be.
fn window_rule() -> String {
    format!("the context window must be a whole number of tokens from 1 to {MAX_WINDOW}")
}

/// `200000`, `200_000`, `200k`, `1m`, `1.5m` -> tokens, within `1..=MAX_WINDOW`.
fn parse_tokens(s: &str) -> Option<i64> {
    let s = s.trim().replace('_', "").to_ascii_lowercase();
    let (digits, scale) = match s.strip_suffix('k') {
        Some(d) => (d.to_string(), 1_000.0),
        None => match s.strip_suffix('m') {
            Some(d) => (d.to_string(), 1_000_000.0),
            None => (s.clone(), 1.0),
        },
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let v: f64 = digits.parse().ok()?;
    let n = v * scale;
    (n.fract() == 0.0 && n >= 1.0 && n <= MAX_WINDOW as f64).then_some(n as i64)
}

/// Each agent's newest point of `series`, agents in order of first appearance: what a
/// live `?view=ui` update carries (issue #14: the whole series grew with the session and
/// was sent to every viewer with every message).
pub fn latest_per_agent(series: &[ContextPoint]) -> Vec<ContextPoint> {
    let mut out: Vec<ContextPoint> = Vec::new();
    for p in series {
        match out.iter_mut().find(|q| q.agent_id == p.agent_id) {
            Some(q) => *q = p.clone(),
            None => out.push(p.clone()),
        }
    }
    out
}

/// The share of `limit` that `input` fills, in whole percent rounded down (so a point
/// shown as 80% has reached 80%).
pub fn percent(input: i64, limit: i64) -> i64 {
    if limit <= 0 {
        return 0;
    }
    (i128::from(input.max(0)) * 100 / i128::from(limit)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_case_insensitively_and_the_longest_wins() {
        let t = ContextWindows::builtin();
        assert_eq!(t.limit("claude-sonnet-4-5-20250929"), Some(200_000));
        assert_eq!(t.limit("Claude-Opus-4-1"), Some(200_000));
        assert_eq!(t.limit("gpt-4o-mini-2024-07-18"), Some(128_000));
        assert_eq!(t.limit("openai/gpt-4.1-mini"), Some(1_047_576));
        assert_eq!(t.limit("models/gemini-2.5-pro"), Some(1_048_576));
        assert_eq!(t.limit("o4-mini"), Some(200_000));
        assert_eq!(t.limit("llama-3.1-70b"), None);
        assert_eq!(t.limit(""), None);
        let t = t
            .with_list("claude-sonnet-4-5=1m, llama=128_000,,")
            .unwrap();
        assert_eq!(t.limit("claude-sonnet-4-5-20250929"), Some(1_000_000));
        assert_eq!(t.limit("claude-sonnet-4-20250514"), Some(200_000));
        assert_eq!(t.limit("llama-3.1"), Some(128_000));
        let t = t.with_json(&serde_json::json!({"GPT-4o": 64000})).unwrap();
        assert_eq!(t.limit("gpt-4o"), Some(64_000));
    }

    #[test]
    fn bad_overrides_name_the_entry() {
        let t = ContextWindows::builtin;
        assert_eq!(t().with_list("gpt-4o").unwrap_err().field, "gpt-4o");
        assert_eq!(
            t().with_list("a=1,gpt-4o=-5").unwrap_err().field,
            "gpt-4o=-5"
        );
        assert_eq!(t().with_list("=5").unwrap_err().field, "=5");
        assert_eq!(t().with_list("x=1.5").unwrap_err().field, "x=1.5");
        assert_eq!(
            t().with_list("x=2000000000").unwrap_err().field,
            "x=2000000000"
        );
        assert_eq!(
            t().with_json(&serde_json::json!({"x": "200k"}))
                .unwrap_err()
                .field,
            "contextWindows.x"
        );
        assert_eq!(
            t().with_json(&serde_json::json!([1])).unwrap_err().field,
            "contextWindows"
        );
        assert_eq!(parse_tokens("1.5m"), Some(1_500_000));
        assert_eq!(parse_tokens("200K"), Some(200_000));
    }

    #[test]
    fn percent_rounds_down() {
        assert_eq!(percent(172_000, 200_000), 86);
        assert_eq!(percent(159_999, 200_000), 79);
        assert_eq!(percent(160_000, 200_000), 80);
        assert_eq!(percent(5, 0), 0);
    }
}
