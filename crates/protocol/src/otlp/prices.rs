//! Model prices for the cost of OTLP messages (issue #19: "cost when a price is known (a
//! small built-in table, overridable) or absent").

use serde_json::Value;

use crate::ValidationError;

/// Price of one model, USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    /// USD per 1,000,000 input (prompt) tokens.
    pub input_per_mtok: f64,
    /// USD per 1,000,000 output (completion) tokens.
    pub output_per_mtok: f64,
}

/// Model-name prefixes and their prices; the longest matching prefix wins.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceTable {
    entries: Vec<(String, Price)>,
}

/// The built-in list prices (USD per million input / output tokens, standard tier, as
/// published by the providers at the time of writing). Override or extend them with
/// [`PriceTable::with_overrides`] (`AGENTPIPE_OTLP_PRICES`).
const BUILTIN: &[(&str, f64, f64)] = &[
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1", 2.00, 8.00),
    ("gpt-5-nano", 0.05, 0.40),
    ("gpt-5-mini", 0.25, 2.00),
    ("gpt-5", 1.25, 10.00),
    ("o3-mini", 1.10, 4.40),
    ("o4-mini", 1.10, 4.40),
    ("o3", 2.00, 8.00),
    ("claude-3-5-haiku", 0.80, 4.00),
    ("claude-haiku-4", 1.00, 5.00),
    ("claude-3-5-sonnet", 3.00, 15.00),
    ("claude-3-7-sonnet", 3.00, 15.00),
    ("claude-sonnet-4", 3.00, 15.00),
    ("claude-opus-4", 15.00, 75.00),
    ("gemini-2.0-flash", 0.10, 0.40),
    ("gemini-2.5-flash", 0.30, 2.50),
    ("gemini-2.5-pro", 1.25, 10.00),
];

impl Default for PriceTable {
    fn default() -> Self {
        Self::builtin()
    }
}

impl PriceTable {
    /// The built-in table.
    pub fn builtin() -> Self {
        PriceTable {
            entries: BUILTIN
                .iter()
                .map(|(m, i, o)| {
                    (
                        m.to_string(),
                        Price {
                            input_per_mtok: *i,
                            output_per_mtok: *o,
                        },
                    )
                })
                .collect(),
        }
    }

    /// A table without any price (every cost absent unless the span states one).
    pub fn empty() -> Self {
        PriceTable {
            entries: Vec::new(),
        }
    }

    /// This table with the entries of `json` added or replacing the built-in ones:
    /// `{"<model prefix>": {"input": <USD per 1M tokens>, "output": <USD per 1M tokens>}}`.
    ///
    /// Errors name the entry at fault (`prices.gpt-4o.input`).
    pub fn with_overrides(mut self, json: &Value) -> Result<Self, ValidationError> {
        let map = json
            .as_object()
            .ok_or_else(|| ValidationError::new("prices", "must be a JSON object"))?;
        for (model, v) in map {
            let num = |k: &str| {
                v.get(k)
                    .and_then(Value::as_f64)
                    .filter(|f| f.is_finite() && *f >= 0.0)
                    .ok_or_else(|| {
                        ValidationError::new(
                            format!("prices.{model}.{k}"),
                            "must be a non-negative number (USD per million tokens)",
                        )
                    })
            };
            let price = Price {
                input_per_mtok: num("input")?,
                output_per_mtok: num("output")?,
            };
            let key = model.to_ascii_lowercase();
            self.entries.retain(|(m, _)| *m != key);
            self.entries.push((key, price));
        }
        Ok(self)
    }

    /// The price of `model`: the entry with the longest prefix of the lower-cased name
    /// (a provider prefix such as `openai/` is ignored).
    pub fn price(&self, model: &str) -> Option<Price> {
        let m = model.to_ascii_lowercase();
        let m = m.rsplit('/').next().unwrap_or(&m);
        self.entries
            .iter()
            .filter(|(p, _)| m.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len())
            .map(|(_, price)| *price)
    }

    /// Cost in USD of a call, when the model has a price and at least one token count is
    /// known (a missing count counts as 0).
    pub fn cost(
        &self,
        model: Option<&str>,
        input: Option<i64>,
        output: Option<i64>,
    ) -> Option<f64> {
        if input.is_none() && output.is_none() {
            return None;
        }
        let p = self.price(model?)?;
        let c = input.unwrap_or(0) as f64 * p.input_per_mtok / 1e6
            + output.unwrap_or(0) as f64 * p.output_per_mtok / 1e6;
        (c.is_finite() && c <= crate::MAX_AMOUNT).then_some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_and_overrides_replace() {
        let t = PriceTable::builtin();
        assert_eq!(
            t.price("gpt-4o-mini-2024-07-18").unwrap().input_per_mtok,
            0.15
        );
        assert_eq!(t.price("openai/GPT-4o").unwrap().input_per_mtok, 2.50);
        assert!(t.price("llama-3").is_none());
        let c = t
            .cost(Some("gpt-4o"), Some(1_000_000), Some(500_000))
            .unwrap();
        assert!((c - 7.5).abs() < 1e-9);
        assert_eq!(t.cost(Some("gpt-4o"), None, None), None);
        let t = t
            .with_overrides(&serde_json::json!({"gpt-4o": {"input": 1, "output": 2}, "llama": {"input": 0, "output": 0}}))
            .unwrap();
        assert_eq!(t.price("gpt-4o-2024").unwrap().output_per_mtok, 2.0);
        assert_eq!(t.cost(Some("llama-3"), Some(10), Some(10)), Some(0.0));
        let e = PriceTable::builtin()
            .with_overrides(&serde_json::json!({"x": {"input": -1, "output": 1}}))
            .unwrap_err();
        assert_eq!(e.field, "prices.x.input");
    }
}
