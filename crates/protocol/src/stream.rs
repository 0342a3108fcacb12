//! The request parameters of the live stream, `GET /api/realtime/stream` (SPEC 4), as
//! plain data: the `conversationId` filter, `?named=1`, `?view=ui` (issue #14) and the
//! resume point from `Last-Event-ID` (or `?lastEventId=`). No I/O; the server's handler and the
//! `stream_params` fuzz target both call [`StreamParams::parse`].

use std::collections::HashMap;

use crate::ValidationError;

/// Where a (re)connecting client resumes (SPEC 4 "Resume").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumePoint {
    /// No `Last-Event-ID` (or a blank one): start after the newest stored event.
    Newest,
    /// Resume after this event-log id: every stored event after it comes first.
    After(i64),
    /// Something that is no event id this server hands out (`garbage`, `1.5`, `-1`, bytes
    /// that are not UTF-8): the client gets the `reload` message and the stream goes on from
    /// the newest event. A 400 here would make `EventSource` stop reconnecting for good
    /// (issue #16).
    Invalid,
}

/// What each message of the stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StreamView {
    /// The SPEC 4 envelope, for API clients (the default).
    #[default]
    Api,
    /// `?view=ui`: the envelope plus a `ui` member ([`crate::api::UiUpdate`]) with what
    /// the session page shows, rendered once on the server when the event is published:
    /// the message's sanitized HTML, the session's totals and the per-agent chart. The
    /// page then needs no request per live message (issue #14).
    Ui,
}

/// The parsed parameters of one stream request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamParams {
    /// Only this conversation's events (`conversationId`, or `conversation_id`), trimmed;
    /// `None` for every conversation.
    pub conversation: Option<String>,
    /// `?named=1|true|yes` (any case): frames also carry `event: <type>`.
    pub named: bool,
    /// The resume point.
    pub resume: ResumePoint,
    /// `?view=ui` or the default API view.
    pub view: StreamView,
    /// `?uiFor=["id", ...]` (a JSON array of conversation ids, with `view=ui`): only the
    /// events of these conversations carry `ui`; the others get the plain SPEC 4
    /// envelope. `None` (no `uiFor`): every event of a `view=ui` stream carries `ui`.
    /// The web UI's shared live connection (one per browser for all tabs, issue #14)
    /// streams every conversation but needs the rendered HTML of the open ones only.
    pub ui_for: Option<Vec<String>>,
}

/// At most this many conversations in `uiFor`.
pub const UI_FOR_MAX: usize = 200;

impl StreamParams {
    /// Parses the request: `last_event_id` is the raw `Last-Event-ID` header value if the
    /// request had one (it wins over `?lastEventId=`), `query` the decoded query pairs.
    ///
    /// # Errors
    /// A `conversationId` that is empty or blank is a [`ValidationError`] on
    /// `conversationId`: an empty filter must not mean "every conversation" (issue #16).
    /// A `view` other than `ui` or `api` is one on `view`.
    pub fn parse(
        last_event_id: Option<&[u8]>,
        query: &HashMap<String, String>,
    ) -> Result<Self, ValidationError> {
        let conversation = match query
            .get("conversationId")
            .or_else(|| query.get("conversation_id"))
        {
            None => None,
            Some(c) if c.trim().is_empty() => {
                return Err(ValidationError::new(
                    "conversationId",
                    "must not be empty; leave it out to receive every conversation",
                ))
            }
            Some(c) => Some(c.trim().to_string()),
        };
        let named = matches!(
            query
                .get("named")
                .map(|s| s.to_ascii_lowercase())
                .as_deref(),
            Some("1" | "true" | "yes")
        );
        let raw = match last_event_id {
            Some(bytes) => Some(std::str::from_utf8(bytes).unwrap_or("\u{FFFD}")),
            None => query.get("lastEventId").map(String::as_str),
        };
        let resume = match raw.map(str::trim) {
            None | Some("") => ResumePoint::Newest,
            // Ids start at 1 and `0` means "from the start": a negative number was never
            // handed out (it used to be answered as "pruned" on a log that pruned nothing).
            Some(s) => s
                .parse::<i64>()
                .ok()
                .filter(|i| *i >= 0)
                .map_or(ResumePoint::Invalid, ResumePoint::After),
        };
        let view = match query.get("view").map(|v| v.trim().to_ascii_lowercase()) {
            None => StreamView::Api,
            Some(v) if v.is_empty() || v == "api" => StreamView::Api,
            Some(v) if v == "ui" => StreamView::Ui,
            Some(_) => {
                return Err(ValidationError::new(
                    "view",
                    "must be `ui` (rendered updates for the web UI) or `api` (the default)",
                ))
            }
        };
        let ui_for = match query.get("uiFor") {
            None => None,
            Some(raw) => Some(parse_ui_for(raw)?),
        };
        Ok(Self {
            conversation,
            named,
            resume,
            view,
            ui_for,
        })
    }
}

/// `uiFor`: a JSON array of at most [`UI_FOR_MAX`] non-blank strings (trimmed).
fn parse_ui_for(raw: &str) -> Result<Vec<String>, ValidationError> {
    const RULE: &str = "must be a JSON array of conversation ids (non-empty strings), at most 200";
    let ids: Vec<String> =
        serde_json::from_str(raw).map_err(|_| ValidationError::new("uiFor", RULE))?;
    if ids.len() > UI_FOR_MAX || ids.iter().any(|c| c.trim().is_empty()) {
        return Err(ValidationError::new("uiFor", RULE));
    }
    Ok(ids.into_iter().map(|c| c.trim().to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn header_wins_over_query_and_bad_ids_ask_for_reload() {
        let p = StreamParams::parse(Some(b" 42 "), &q(&[("lastEventId", "7")])).unwrap();
        assert_eq!(p.resume, ResumePoint::After(42));
        let p = StreamParams::parse(None, &q(&[("lastEventId", "7")])).unwrap();
        assert_eq!(p.resume, ResumePoint::After(7));
        for bad in [
            &b"garbage"[..],
            b"1.5",
            b"\xff\xfe",
            b"-1",
            b"-9223372036854775808",
        ] {
            let p = StreamParams::parse(Some(bad), &q(&[])).unwrap();
            assert_eq!(p.resume, ResumePoint::Invalid);
        }
        let p = StreamParams::parse(Some(b"  "), &q(&[])).unwrap();
        assert_eq!(p.resume, ResumePoint::Newest);
    }

    #[test]
    fn blank_filter_is_refused_naming_it() {
        let e = StreamParams::parse(None, &q(&[("conversationId", "  ")])).unwrap_err();
        assert_eq!(e.field, "conversationId");
        let p = StreamParams::parse(None, &q(&[("conversation_id", " c1 "), ("named", "YES")]))
            .unwrap();
        assert_eq!(p.conversation.as_deref(), Some("c1"));
        assert!(p.named);
        assert_eq!(p.view, StreamView::Api);
    }

    #[test]
    fn ui_for_is_a_json_array_of_ids_and_anything_else_is_refused_naming_it() {
        let p = StreamParams::parse(None, &q(&[("view", "ui"), ("uiFor", r#"["a,b", " c "]"#)]))
            .unwrap();
        assert_eq!(p.ui_for, Some(vec!["a,b".to_string(), "c".to_string()]));
        assert_eq!(StreamParams::parse(None, &q(&[])).unwrap().ui_for, None);
        let p = StreamParams::parse(None, &q(&[("uiFor", "[]")])).unwrap();
        assert_eq!(p.ui_for, Some(vec![]));
        let many = serde_json::to_string(&vec!["x"; UI_FOR_MAX + 1]).unwrap();
        for bad in ["a", "[1]", r#"[""]"#, "{}", many.as_str()] {
            let e = StreamParams::parse(None, &q(&[("uiFor", bad)])).unwrap_err();
            assert_eq!(e.field, "uiFor", "{bad}");
        }
    }

    #[test]
    fn view_is_ui_or_api_and_anything_else_is_refused_naming_it() {
        let p = StreamParams::parse(None, &q(&[("view", "UI")])).unwrap();
        assert_eq!(p.view, StreamView::Ui);
        let p = StreamParams::parse(None, &q(&[("view", "api")])).unwrap();
        assert_eq!(p.view, StreamView::Api);
        let e = StreamParams::parse(None, &q(&[("view", "html")])).unwrap_err();
        assert_eq!(e.field, "view");
    }
}
