//! Windows of one conversation's messages (issue #14): what the session page shows of a
//! long session (the newest page first, older pages as the reader scrolls up, the first
//! page, the page around a message found by text) and `GET /api/sessions/{id}?before=`.
//!
//! Pages are keyset pages in display order, the order of the `messages_order` index
//! `(conversation_id, sort_seq, ts, id)` (SPEC 5's message order): a page never repeats
//! or skips a message when messages are inserted meanwhile. Both backends run the SQL
//! built here (`$n` placeholders; SQLite's are rewritten to `?n`); PostgreSQL compares ids
//! bytewise (`COLLATE "C"`, as its index does), like SQLite.

use agentpipe_protocol::api::MessageView;

use super::StoreError;

/// Where a window of messages starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchor {
    /// The first messages of the conversation.
    Start,
    /// The newest messages.
    End,
    /// The messages right after this message id (not included).
    After(String),
    /// The messages right before this message id (not included), the nearest last.
    Before(String),
    /// About half the window before this message id and the rest from it on (included).
    Around(String),
}

impl Anchor {
    /// The message id the window is anchored at, if any.
    pub fn id(&self) -> Option<&str> {
        match self {
            Anchor::Start | Anchor::End => None,
            Anchor::After(m) | Anchor::Before(m) | Anchor::Around(m) => Some(m),
        }
    }

    /// The query parameter that names the anchor, for a 400 when it is unknown.
    pub fn field(&self) -> &'static str {
        match self {
            Anchor::Start | Anchor::End => "edge",
            Anchor::After(_) => "after",
            Anchor::Before(_) => "before",
            Anchor::Around(_) => "around",
        }
    }

    /// The error for an anchor id that names no message of the conversation.
    pub fn unknown(&self) -> StoreError {
        StoreError::Invalid {
            field: self.field().into(),
            message: "no message of this session has this id".into(),
        }
    }
}

/// A window of messages, in display order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Window {
    /// The messages, oldest first.
    pub messages: Vec<MessageView>,
    /// Older messages exist (pass the first message's id as `before`).
    pub more_before: bool,
    /// Newer messages exist (pass the last message's id as `after`).
    pub more_after: bool,
}

/// A `before` page as `GET /api/sessions/{id}` answers it: the messages, `prevBefore`
/// (the first message's id while older ones exist, else `null`) and `nextAfter` (the
/// last message's id: the page after it continues at the `before` message; `null` for
/// an empty page).
pub fn into_detail(d: &mut agentpipe_protocol::api::SessionDetail, w: Window) {
    let first = w.messages.first().map(|m| m.id.clone());
    d.prev_before = Some(first.filter(|_| w.more_before));
    d.next_after = Some(w.messages.last().map(|m| m.id.clone()));
    d.messages = Some(w.messages);
}

/// Where a text search in a conversation starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindFrom {
    /// The first match in display order.
    Start,
    /// The first match after this message id.
    After(String),
    /// The last match before this message id.
    Before(String),
}

impl FindFrom {
    /// The window anchor of the same message id, for its key and its errors.
    pub fn anchor(&self) -> Option<Anchor> {
        match self {
            FindFrom::Start => None,
            FindFrom::After(m) => Some(Anchor::After(m.clone())),
            FindFrom::Before(m) => Some(Anchor::Before(m.clone())),
        }
    }
}

/// A message found by text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindHit {
    /// Its message id.
    pub id: String,
    /// Its place among the matches, 1 for the first in display order.
    pub index: i64,
    /// How many messages of the conversation match.
    pub total: i64,
}

/// A message's position in display order: `(sort_seq, ts µs, id as stored)`.
pub type Key = (i64, i64, String);

/// The needle of a find as both backends compare it: ASCII letters folded to lower case
/// (so `find` matches `Find` on either backend), everything else exactly.
pub fn fold(needle: &str) -> String {
    needle.to_ascii_lowercase()
}

/// One keyset read of a window: `desc` reads backwards from the anchor; `cmp` compares
/// the key with the anchor's (`None`: from the edge); `take` rows at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step {
    pub desc: bool,
    pub cmp: Option<&'static str>,
    pub take: i64,
}

/// The reads of a window of `limit` messages at `anchor`: the older half (read
/// backwards) and the newer half, each one row longer than it keeps, to tell whether
/// more exist.
pub(crate) fn steps(anchor: &Anchor, limit: i64) -> (Option<Step>, Option<Step>) {
    let limit = limit.max(1);
    let older = |cmp, n: i64| {
        Some(Step {
            desc: true,
            cmp,
            take: n + 1,
        })
    };
    let newer = |cmp, n: i64| {
        Some(Step {
            desc: false,
            cmp,
            take: n + 1,
        })
    };
    match anchor {
        Anchor::Start => (None, newer(None, limit)),
        Anchor::End => (older(None, limit), None),
        Anchor::After(_) => (None, newer(Some(">"), limit)),
        Anchor::Before(_) => (older(Some("<"), limit), None),
        Anchor::Around(_) => {
            // At least one older message is read, to tell whether more exist.
            let half = (limit / 2).max(1);
            (
                older(Some("<"), half),
                newer(Some(">="), (limit - half).max(1)),
            )
        }
    }
}

/// The window from the rows the [`steps`] read (`older` newest first, as read).
pub(crate) fn assemble(
    anchor: &Anchor,
    older: Option<(Step, Vec<MessageView>)>,
    newer: Option<(Step, Vec<MessageView>)>,
) -> Window {
    // What lies beyond each end when that end was not read.
    let mut w = Window {
        messages: Vec::new(),
        more_before: matches!(anchor, Anchor::After(_)),
        more_after: matches!(anchor, Anchor::Before(_)),
    };
    if let Some((step, mut rows)) = older {
        if rows.len() as i64 >= step.take {
            rows.truncate((step.take - 1) as usize);
            w.more_before = true;
        }
        rows.reverse();
        w.messages = rows;
    }
    if let Some((step, mut rows)) = newer {
        if rows.len() as i64 >= step.take {
            rows.truncate((step.take - 1) as usize);
            w.more_after = true;
        }
        w.messages.extend(rows);
    }
    w
}

/// The key columns as compared: `id_col` is `id` on SQLite, `id COLLATE "C"` on
/// PostgreSQL.
fn key(id_col: &str) -> String {
    format!("(sort_seq, ts, {id_col})")
}

/// `$1` conversation id, `$2` message id: the message's key.
pub(crate) const ANCHOR_KEY_SQL: &str =
    "SELECT sort_seq, ts, id FROM messages WHERE conversation_id = $1 AND id = $2";

/// One step's read: `cols` the selected columns (`... FROM messages`), `$1` the
/// conversation, `$2` the row count, `$3..$5` the anchor's key when `step.cmp` is set.
pub(crate) fn step_sql(cols: &str, id_col: &str, step: &Step) -> String {
    let dir = if step.desc { "DESC" } else { "ASC" };
    let cond = step
        .cmp
        .map(|c| format!(" AND {} {c} ($3, $4, $5)", key(id_col)))
        .unwrap_or_default();
    format!(
        "{cols} WHERE conversation_id = $1{cond} ORDER BY sort_seq {dir}, ts {dir}, {id_col} {dir} LIMIT $2"
    )
}

/// `$1` conversation, `$2..$4` a key: the latest timestamp (µs) of the messages before
/// it (NULL when none), to place errors at a window's start as the full timeline does.
pub(crate) fn max_ts_before_sql(id_col: &str) -> String {
    format!(
        "SELECT MAX(ts) FROM messages WHERE conversation_id = $1 AND {} < ($2, $3, $4)",
        key(id_col)
    )
}

/// The first (or, `desc`, last) match: `matches` the backend's condition on `content`
/// and `$2` (the [`fold`]ed needle); `$3..$5` the key to search from when `cmp` is set.
pub(crate) fn find_sql(matches: &str, id_col: &str, desc: bool, cmp: Option<&str>) -> String {
    let dir = if desc { "DESC" } else { "ASC" };
    let cond = cmp
        .map(|c| format!(" AND {} {c} ($3, $4, $5)", key(id_col)))
        .unwrap_or_default();
    format!(
        "SELECT id, sort_seq, ts FROM messages WHERE conversation_id = $1 AND {matches}{cond}
         ORDER BY sort_seq {dir}, ts {dir}, {id_col} {dir} LIMIT 1"
    )
}

/// How many messages match (`$2` the needle) and how many of them come up to the key
/// `$3..$5` (the hit's place).
pub(crate) fn find_count_sql(matches: &str, id_col: &str) -> String {
    format!(
        "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN {} <= ($3, $4, $5) THEN 1 ELSE 0 END), 0) AS BIGINT)
         FROM messages WHERE conversation_id = $1 AND {matches}",
        key(id_col)
    )
}

/// SQLite's form of a statement built here.
pub(crate) fn sqlite(sql: &str) -> String {
    sql.replace('$', "?")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: &str) -> MessageView {
        serde_json::from_value(serde_json::json!({
            "id": id, "agentId": "claude-1", "agentType": "claude", "content": "", "role": "agent",
            "timestamp": "2025-01-01T00:00:00.000000Z", "metrics": {}
        }))
        .expect("message view")
    }

    fn ids(w: &Window) -> Vec<&str> {
        w.messages.iter().map(|m| m.id.as_str()).collect()
    }

    #[test]
    fn the_newest_page_is_read_backwards_and_shown_in_order() {
        let a = Anchor::End;
        let (older, newer) = steps(&a, 2);
        assert_eq!(newer, None);
        let step = older.expect("older");
        assert_eq!((step.desc, step.take), (true, 3));
        let w = assemble(&a, Some((step, vec![msg("c"), msg("b"), msg("a")])), None);
        assert_eq!(ids(&w), ["b", "c"]);
        assert!(w.more_before && !w.more_after);
        let w = assemble(&a, Some((step, vec![msg("b"), msg("a")])), None);
        assert_eq!(ids(&w), ["a", "b"]);
        assert!(!w.more_before && !w.more_after);
    }

    #[test]
    fn around_splits_the_window_and_keeps_the_anchor() {
        let a = Anchor::Around("m".into());
        let (older, newer) = steps(&a, 5);
        let (o, n) = (older.expect("older"), newer.expect("newer"));
        assert_eq!(
            (o.cmp, o.take, n.cmp, n.take),
            (Some("<"), 3, Some(">="), 4)
        );
        let w = assemble(
            &a,
            Some((o, vec![msg("l"), msg("k")])),
            Some((n, vec![msg("m"), msg("n"), msg("o"), msg("p")])),
        );
        assert_eq!(ids(&w), ["k", "l", "m", "n", "o"]);
        assert!(!w.more_before && w.more_after);
    }

    #[test]
    fn before_and_after_know_the_anchor_side() {
        let b = Anchor::Before("x".into());
        let (o, _) = steps(&b, 10);
        let w = assemble(&b, Some((o.expect("older"), vec![])), None);
        assert!(w.messages.is_empty() && !w.more_before && w.more_after);
        let a = Anchor::After("x".into());
        let (_, n) = steps(&a, 10);
        let w = assemble(&a, None, Some((n.expect("newer"), vec![msg("y")])));
        assert!(w.more_before && !w.more_after);
    }

    #[test]
    fn sql_is_keyset_in_display_order_on_both_backends() {
        let s = step_sql(
            "SELECT id FROM messages",
            "id COLLATE \"C\"",
            &Step {
                desc: true,
                cmp: Some("<"),
                take: 3,
            },
        );
        assert!(
            s.contains("(sort_seq, ts, id COLLATE \"C\") < ($3, $4, $5)"),
            "{s}"
        );
        assert!(s.contains("ORDER BY sort_seq DESC, ts DESC, id COLLATE \"C\" DESC LIMIT $2"));
        assert!(sqlite(&s).contains("< (?3, ?4, ?5)"));
        assert_eq!(fold("Find ÄB"), "find Äb");
    }
}
