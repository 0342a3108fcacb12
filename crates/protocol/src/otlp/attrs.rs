//! Reading OTLP attributes (`KeyValue` lists of `AnyValue`) as plain values.

use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use serde_json::Value;

/// A span's (or event's, or resource's) attributes, looked up by key.
#[derive(Clone, Copy)]
pub struct Attrs<'a>(pub &'a [KeyValue]);

impl<'a> Attrs<'a> {
    /// The raw value of `key`, when present and set.
    pub fn get(&self, key: &str) -> Option<&'a Any> {
        self.0
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| v.value.as_ref())
    }

    /// `key` as text: strings as given, numbers and booleans printed; `None` when absent,
    /// empty or structured.
    pub fn str(&self, key: &str) -> Option<String> {
        let s = match self.get(key)? {
            Any::StringValue(s) => s.clone(),
            Any::IntValue(i) => i.to_string(),
            Any::DoubleValue(d) => d.to_string(),
            Any::BoolValue(b) => b.to_string(),
            _ => return None,
        };
        (!s.trim().is_empty()).then_some(s)
    }

    /// The first of `keys` that is set, as text.
    pub fn first_str(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|k| self.str(k))
    }

    /// The first of `keys` that is set to a conversation id a URL path can carry: `.` and
    /// `..` count as missing, so the mapping falls back as it does for an absent id.
    pub fn first_conversation_id(&self, keys: &[&str]) -> Option<String> {
        keys.iter()
            .find_map(|k| self.str(k).filter(|id| !crate::event::is_dot_segment(id)))
    }

    /// `key` as a non-negative integer (an integral double or a numeric string also count).
    pub fn count(&self, key: &str) -> Option<i64> {
        let v = match self.get(key)? {
            Any::IntValue(i) => *i,
            Any::DoubleValue(d) if d.fract() == 0.0 && d.abs() < 9.0e15 => *d as i64,
            Any::StringValue(s) => s.trim().parse().ok()?,
            _ => return None,
        };
        (0..=crate::MAX_COUNT).contains(&v).then_some(v)
    }

    /// The first of `keys` that is a count.
    pub fn first_count(&self, keys: &[&str]) -> Option<i64> {
        keys.iter().find_map(|k| self.count(k))
    }

    /// `key` as a finite, non-negative amount within [`crate::MAX_AMOUNT`].
    pub fn amount(&self, key: &str) -> Option<f64> {
        let v = match self.get(key)? {
            Any::IntValue(i) => *i as f64,
            Any::DoubleValue(d) => *d,
            Any::StringValue(s) => s.trim().parse().ok()?,
            _ => return None,
        };
        (v.is_finite() && (0.0..=crate::MAX_AMOUNT).contains(&v)).then_some(v)
    }

    /// `key` as JSON: structured values converted, a string holding JSON parsed, any other
    /// string as a JSON string.
    pub fn json(&self, key: &str) -> Option<Value> {
        match self.get(key)? {
            Any::StringValue(s) => {
                Some(serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())))
            }
            other => Some(to_json(other)),
        }
    }

    /// True when some key starts with `prefix`.
    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.0.iter().any(|kv| kv.key.starts_with(prefix))
    }
}

/// An `AnyValue` as JSON (bytes as hex; non-finite doubles as null).
pub fn to_json(v: &Any) -> Value {
    match v {
        Any::StringValue(s) => Value::String(s.clone()),
        Any::BoolValue(b) => Value::Bool(*b),
        Any::IntValue(i) => Value::from(*i),
        Any::DoubleValue(d) => serde_json::Number::from_f64(*d).map_or(Value::Null, Value::Number),
        Any::BytesValue(b) => Value::String(hex(b)),
        Any::ArrayValue(a) => Value::Array(a.values.iter().map(any_json).collect()),
        Any::StringValueStrindex(_) => Value::Null,
        Any::KvlistValue(kv) => Value::Object(
            kv.values
                .iter()
                .map(|e| {
                    (
                        e.key.clone(),
                        e.value.as_ref().map_or(Value::Null, any_json),
                    )
                })
                .collect(),
        ),
    }
}

fn any_json(v: &AnyValue) -> Value {
    v.value.as_ref().map_or(Value::Null, to_json)
}

/// Lower-case hex of an id.
pub fn hex(b: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(D[(x >> 4) as usize] as char);
        s.push(D[(x & 15) as usize] as char);
    }
    s
}
