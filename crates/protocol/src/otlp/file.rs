//! OTLP JSON files for `agentpipe-web upload` (issue #19): what the OpenTelemetry
//! Collector's `file` exporter and the SDKs' OTLP file exporters write.
//!
//! Two layouts, told apart by content (never by file name):
//! - one `ExportTraceServiceRequest` in OTLP/JSON (an object with a `resourceSpans`
//!   array), possibly pretty-printed over many lines;
//! - JSON Lines: one such request per line (blank lines ignored), as the Collector's
//!   `file` exporter appends them.
//!
//! Every request of a file is merged into one, so a span finds its parent on any line and
//! the whole file maps as one export ([`super::map_request`]). Errors name the line.

use std::collections::HashMap;

use serde_json::Value;

use super::{decode_json, is_otlp_json, ExportTraceServiceRequest, Mapped};
use crate::ValidationError;

/// An OTLP JSON file, read.
#[derive(Debug, Clone, Default)]
pub struct OtlpFile {
    /// Every request of the file merged into one (resource spans in file order).
    pub request: ExportTraceServiceRequest,
    /// How many requests (lines, or 1) the file held.
    pub requests: usize,
    /// The 1-based line of each span's request, by span id (hex); empty for a
    /// single-document file.
    pub lines: HashMap<String, usize>,
}

impl OtlpFile {
    /// The file's first rejected span as one error naming it (and its line in a JSON
    /// Lines file), e.g. `span 1000000000000003 'chat gpt-4o': content` with the
    /// reason as the message. `None` when nothing was rejected.
    pub fn first_rejection(&self, mapped: &Mapped) -> Option<ValidationError> {
        let r = mapped.rejected.first()?;
        let id = if r.span_id.is_empty() {
            "(no id)"
        } else {
            &r.span_id
        };
        let line = self
            .lines
            .get(&r.span_id)
            .map(|l| format!("line {l}: "))
            .unwrap_or_default();
        Some(ValidationError::new(
            format!("{line}span {id} '{}': {}", r.name, r.reason.field),
            r.reason.message.clone(),
        ))
    }
}

/// Whether `bytes` is an OTLP JSON file: the whole text, or its first non-blank line, is a
/// JSON object with a `resourceSpans` array.
pub fn looks_like_otlp_file(bytes: &[u8]) -> bool {
    if serde_json::from_slice::<Value>(bytes).is_ok_and(|v| is_otlp_json(&v)) {
        return true;
    }
    bytes
        .split(|b| *b == b'\n')
        .find(|l| !l.iter().all(u8::is_ascii_whitespace))
        .and_then(|l| serde_json::from_slice::<Value>(l).ok())
        .is_some_and(|v| is_otlp_json(&v))
}

/// Reads an OTLP JSON file (either layout of the module documentation).
///
/// Errors: `body` when the text is neither layout; `line N` with the decoder's reason
/// when a line of a JSON Lines file is not an OTLP JSON request.
pub fn parse_otlp_file(bytes: &[u8]) -> Result<OtlpFile, ValidationError> {
    if serde_json::from_slice::<Value>(bytes).is_ok_and(|v| is_otlp_json(&v)) {
        return Ok(OtlpFile {
            request: decode_json(bytes)?,
            requests: 1,
            lines: HashMap::new(),
        });
    }
    let mut file = OtlpFile::default();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let n = i + 1;
        let v: Value = serde_json::from_slice(line)
            .map_err(|e| ValidationError::new(format!("line {n}"), format!("is not JSON: {e}")))?;
        if !is_otlp_json(&v) {
            return Err(ValidationError::new(
                format!("line {n}"),
                "is not an OTLP JSON request (an object with resourceSpans)",
            ));
        }
        let req =
            decode_json(line).map_err(|e| ValidationError::new(format!("line {n}"), e.message))?;
        for rs in &req.resource_spans {
            for ss in &rs.scope_spans {
                for s in &ss.spans {
                    file.lines.entry(super::attrs::hex(&s.span_id)).or_insert(n);
                }
            }
        }
        file.request.resource_spans.extend(req.resource_spans);
        file.requests += 1;
    }
    if file.requests == 0 {
        return Err(ValidationError::new(
            "body",
            "is not an OTLP JSON file (an object with resourceSpans, or one per line)",
        ));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"00f067aa0ba902b7","name":"chat","startTimeUnixNano":"1760970600000000000","endTimeUnixNano":"1760970601000000000","attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}}]}]}]}]}"#;

    #[test]
    fn one_document_pretty_printed() {
        let v: Value = serde_json::from_str(ONE).expect("json");
        let pretty = serde_json::to_vec_pretty(&v).expect("pretty");
        assert!(looks_like_otlp_file(&pretty));
        let f = parse_otlp_file(&pretty).expect("parsed");
        assert_eq!(f.requests, 1);
        assert_eq!(f.request.resource_spans.len(), 1);
    }

    #[test]
    fn json_lines_merge_and_name_their_lines() {
        let two = ONE.replace("00f067aa0ba902b7", "00f067aa0ba902b8");
        let text = format!("{ONE}\n\n{two}\n");
        assert!(looks_like_otlp_file(text.as_bytes()));
        let f = parse_otlp_file(text.as_bytes()).expect("parsed");
        assert_eq!(f.requests, 2);
        assert_eq!(f.request.resource_spans.len(), 2);
        assert_eq!(f.lines["00f067aa0ba902b8"], 3);
        let bad = format!("{ONE}\n{{\"type\":\"message.created\"}}\n");
        let e = parse_otlp_file(bad.as_bytes()).expect_err("line 2");
        assert_eq!(e.field, "line 2");
    }

    #[test]
    fn other_json_is_not_otlp() {
        assert!(!looks_like_otlp_file(br#"{"session":{}}"#));
        assert!(!looks_like_otlp_file(b"{\"type\":\"x\",\"data\":{}}\n"));
        assert!(parse_otlp_file(b"").is_err());
    }
}
