//! The request parameters of the live stream, `GET /api/realtime/stream` (SPEC 4), as
//! plain data: the `conversationId` filter, `?named=1` and the resume point from
//! `Last-Event-ID` (or `?lastEventId=`). No I/O; the server's handler and the
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
    /// Something that is no event id this server hands out (`garbage`, `1.5`, bytes that
    /// are not UTF-8): the client gets the `reload` message and the stream goes on from
    /// the newest event. A 400 here would make `EventSource` stop reconnecting for good
    /// (issue #16).
    Invalid,
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
}

impl StreamParams {
    /// Parses the request: `last_event_id` is the raw `Last-Event-ID` header value if the
    /// request had one (it wins over `?lastEventId=`), `query` the decoded query pairs.
    ///
    /// # Errors
    /// A `conversationId` that is empty or blank is a [`ValidationError`] on
    /// `conversationId`: an empty filter must not mean "every conversation" (issue #16).
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
            Some(s) => s
                .parse::<i64>()
                .map_or(ResumePoint::Invalid, ResumePoint::After),
        };
        Ok(Self {
            conversation,
            named,
            resume,
        })
    }
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
        for bad in [&b"garbage"[..], b"1.5", b"\xff\xfe"] {
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
    }
}
