//! Full-text search of `GET /api/sessions?q=` on SQLite with bounded work (issue #15).
//!
//! A session matches a word when its name, its initial prompt or any of its messages holds
//! a token that starts with the word (SPEC 5 `q`; every word of `q` must match). Message
//! rows are in `messages_fts`, whose rowid is `(search id << 32) | (pk & 0xFFFFFFFF)`
//! (migration 0076), so the sessions of the hits need no lookup and "does session X hold
//! word W" is one seek into a rowid range.
//!
//! Per word, [`word`] finds:
//! - the FTS expression for messages: an ASCII letters-and-digits word is expanded into
//!   the index's terms it is a prefix of (at most [`MAX_TERMS`], one seek each in
//!   `messages_fts_terms`), so FTS5 never merges every doclist of a prefix; any other
//!   word, or one with more terms, is FTS5's own prefix query;
//! - the sessions whose name or prompt match (`conversations_fts`, one row per session);
//! - the sessions whose messages match, if there are at most [`COMPLETE_SESSIONS`]:
//!   the first [`STREAM_HITS`] hits are read in one pass, then (if they named at most that
//!   many sessions) one seek per further session, past the last session seen. A word with more sessions than that is *dense*.
//!
//! [`plan`] then picks how the list query finds its rows:
//! - [`Plan::Among`]: some word is not dense, so the matching sessions are among a known
//!   set of at most a few thousand; the list counts them exactly;
//! - [`Plan::Walk`]: every word is dense: the list walks its own sort order and checks
//!   each session with one seek per word, stopping at the page. Counting every match
//!   would check every session, so the count stops at [`crate::store::SEARCH_TOTAL_CAP`]: above it, `total`
//!   is a lower bound and `pagination.totalIsLowerBound` is true.
//!
//! The one case that is not bounded: a word that is not plain ASCII letters and digits,
//! or a prefix of more than [`MAX_TERMS`] terms (a one- or two-letter word), found in very
//! many messages: FTS5 merges its doclists for every check, so such a word is read in
//! full once instead, at a cost proportional to its hits.

use rusqlite::Connection;

use crate::store::StoreError;

/// Hits read in one pass (about 0.07 us each) before switching to one seek per session
/// (tens of us each).
pub const STREAM_HITS: usize = 20_000;
/// Sessions (by message content) above which a word is dense (checked per row).
pub const COMPLETE_SESSIONS: usize = 200;
/// Sessions matching by name or prompt above which a word is dense.
pub const NAME_SESSIONS: usize = 4_000;
/// Terms a search word may expand into before it is FTS5's prefix query instead.
pub const MAX_TERMS: usize = 64;

/// What one search word matches.
#[derive(Debug, Clone)]
pub struct Word {
    /// FTS5 expression over `messages_fts`; `None` when no indexed term starts with the word.
    pub expr: Option<String>,
    /// Whether `expr` is FTS5's own prefix query (costly per check: read in full instead).
    pub native_prefix: bool,
    /// Search ids of the sessions whose name or initial prompt match.
    pub names: Vec<i64>,
    /// Search ids of the sessions whose messages match, when the word is not dense.
    pub messages: Option<Vec<i64>>,
    /// When dense by its messages: the search ids (sorted) of the more than
    /// [`COMPLETE_SESSIONS`] sessions that the messages read so far showed to match, a
    /// subset of its matches (see [`Word::known`]).
    pub seen: Vec<i64>,
}

impl Word {
    /// Every session the word matches, when that set is known.
    fn sessions(&self) -> Option<Vec<i64>> {
        // A native prefix query is never checked row by row (see the module comment).
        if self.names.len() > NAME_SESSIONS && !self.native_prefix {
            return None;
        }
        let mut all = self.messages.clone()?;
        all.extend_from_slice(&self.names);
        all.sort_unstable();
        all.dedup();
        Some(all)
    }

    /// Search ids (sorted) of more than [`crate::store::SEARCH_TOTAL_CAP`] sessions known
    /// to match this dense word, or `None`. A capped count first counts the listed
    /// sessions among these (one lookup each) and checks every session (one FTS seek
    /// each) only when fewer than the cap + 1 of them pass the list's other filters.
    pub fn known(&self) -> Option<&[i64]> {
        let cap = crate::store::SEARCH_TOTAL_CAP as usize;
        if self.seen.len() > cap {
            Some(&self.seen)
        } else if self.names.len() > cap {
            Some(&self.names)
        } else {
            None
        }
    }
}

/// How the list query finds the matching sessions.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Among these search ids (sorted), each also matching every word of `checks`.
    Among { rids: Vec<i64>, checks: Vec<Word> },
    /// Any session, checked row by row against every word.
    Walk { checks: Vec<Word> },
}

/// The plan for these words (already split: at most 8, each with a letter or digit).
pub fn plan(conn: &Connection, words: &[&str]) -> Result<Plan, StoreError> {
    let mut found = Vec::with_capacity(words.len());
    for w in words {
        found.push(word(conn, w)?);
    }
    let mut among: Option<Vec<i64>> = None;
    let mut checks = Vec::new();
    for w in found {
        match w.sessions() {
            Some(set) => {
                among = Some(match among {
                    None => set,
                    Some(prev) => intersect(&prev, &set),
                })
            }
            None => checks.push(w),
        }
    }
    Ok(match among {
        Some(rids) => Plan::Among { rids, checks },
        None => Plan::Walk { checks },
    })
}

fn intersect(a: &[i64], b: &[i64]) -> Vec<i64> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// A word of ASCII letters and digits only: its FTS5 token is the word in lower case
/// (the `unicode61` tokenizer folds nothing else in it and splits nowhere).
fn plain_token(word: &str) -> Option<String> {
    if !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Some(word.to_ascii_lowercase())
    } else {
        None
    }
}

/// The smallest string above every string that starts with `prefix` (ASCII alphanumeric).
fn prefix_end(prefix: &str) -> String {
    let mut b = prefix.as_bytes().to_vec();
    if let Some(last) = b.last_mut() {
        *last += 1;
    }
    String::from_utf8(b).unwrap_or_default()
}

/// The index's terms that start with `prefix`, or `None` if there are more than
/// [`MAX_TERMS`]. One seek per term (`fts5vocab` seeks on `term >=`).
fn expand(conn: &Connection, prefix: &str) -> Result<Option<Vec<String>>, StoreError> {
    let end = prefix_end(prefix);
    let mut stmt = conn.prepare_cached(
        "SELECT term FROM messages_fts_terms WHERE term >= ?1 AND term < ?2 LIMIT 1",
    )?;
    let mut terms: Vec<String> = Vec::new();
    let mut from = prefix.to_string();
    loop {
        let next: Option<String> = stmt
            .query_row([&from, &end], |r| r.get(0))
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })?;
        let Some(t) = next else { break };
        if terms.len() == MAX_TERMS {
            return Ok(None);
        }
        // The next term is above this one: seek to the term followed by the lowest char.
        from = format!("{t}\u{1}");
        terms.push(t);
    }
    Ok(Some(terms))
}

/// What `word` (with at least one letter or digit) matches; see the module comment.
pub fn word(conn: &Connection, word: &str) -> Result<Word, StoreError> {
    let native = super::fts_prefix_query(word).unwrap_or_else(|| "\"\"".into());
    let names: Vec<i64> = conn
        .prepare_cached("SELECT rowid FROM conversations_fts WHERE conversations_fts MATCH ?1")?
        .query_map([&native], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let (expr, native_prefix) = match plain_token(word) {
        Some(prefix) => match expand(conn, &prefix)? {
            Some(terms) if terms.is_empty() => (None, false),
            Some(terms) => (
                Some(
                    terms
                        .iter()
                        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
                        .collect::<Vec<_>>()
                        .join(" OR "),
                ),
                false,
            ),
            None => (Some(native.clone()), true),
        },
        None => (Some(native.clone()), true),
    };
    let (messages, seen) = match &expr {
        None => (Some(Vec::new()), Vec::new()),
        Some(e) => match message_sessions(conn, e, native_prefix)? {
            Ok(all) => (Some(all), Vec::new()),
            Err(seen) => (None, seen),
        },
    };
    let mut names = names;
    names.sort_unstable();
    Ok(Word {
        expr,
        native_prefix,
        names,
        messages,
        seen,
    })
}

/// The search ids of the sessions with a message matching `expr` (sorted), or, when
/// there are more than [`COMPLETE_SESSIONS`] (unless `all`: then every one), `Err` with
/// the first of them (sorted, more than [`COMPLETE_SESSIONS`]).
fn message_sessions(
    conn: &Connection,
    expr: &str,
    all: bool,
) -> Result<Result<Vec<i64>, Vec<i64>>, StoreError> {
    let mut out: Vec<i64> = Vec::new();
    let mut hits = 0usize;
    let mut ended = true;
    {
        let mut stmt = conn.prepare_cached(
            "SELECT rowid >> 32 FROM messages_fts WHERE messages_fts MATCH ?1 ORDER BY rowid",
        )?;
        let mut rows = stmt.query([expr])?;
        while let Some(r) = rows.next()? {
            let rid: i64 = r.get(0)?;
            if out.last() != Some(&rid) {
                out.push(rid);
            }
            hits += 1;
            if !all && hits >= STREAM_HITS {
                ended = false;
                break;
            }
        }
    }
    if ended {
        return Ok(Ok(out));
    }
    if out.len() > COMPLETE_SESSIONS {
        return Ok(Err(out));
    }
    // Many hits: one seek per further session, past the last one seen.
    let mut stmt = conn.prepare_cached(
        "SELECT rowid >> 32 FROM messages_fts WHERE messages_fts MATCH ?1 AND rowid >= ?2
         ORDER BY rowid LIMIT 1",
    )?;
    loop {
        if out.len() > COMPLETE_SESSIONS {
            return Ok(Err(out));
        }
        let from = out.last().map_or(0, |l| (l + 1) << 32);
        let next: Option<i64> = stmt
            .query_row(rusqlite::params![expr, from], |r| r.get(0))
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })?;
        match next {
            Some(rid) => out.push(rid),
            None => return Ok(Ok(out)),
        }
    }
}

/// The SQL condition that a session (`c`, a `conversations` row) matches `w`, a dense
/// word: its id among the sessions of `names_json` (a JSON array parameter of search
/// ids, read once per statement), or one seek into its rowid range of `messages_fts` for
/// `expr_param` (its search id looked up once; `CROSS JOIN` keeps that lookup first).
pub fn check_sql(w: &Word, names_json: &str, expr_param: Option<&str>) -> String {
    let names = format!(
        "c.id IN (SELECT conversation_id FROM conversation_search_ids
                  WHERE rid IN (SELECT value FROM json_each({names_json})))"
    );
    match (expr_param, &w.expr) {
        (Some(e), Some(_)) => format!(
            "({names} OR EXISTS (SELECT 1 FROM conversation_search_ids s CROSS JOIN messages_fts
                WHERE s.conversation_id = c.id AND messages_fts MATCH {e}
                AND messages_fts.rowid BETWEEN s.rid << 32 AND (s.rid << 32) | 4294967295))"
        ),
        _ => names,
    }
}

/// The ids as a JSON array (a parameter for `json_each`).
pub fn json_ids(ids: &[i64]) -> String {
    let mut s = String::with_capacity(ids.len() * 8 + 2);
    s.push('[');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&id.to_string());
    }
    s.push(']');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let c = Connection::open_in_memory().expect("open");
        c.execute_batch(
            "CREATE TABLE conversation_search_ids (rid INTEGER PRIMARY KEY, conversation_id TEXT UNIQUE);
             CREATE VIRTUAL TABLE conversations_fts USING fts5(name, initial_prompt,
                 tokenize = 'unicode61 remove_diacritics 2');
             CREATE VIRTUAL TABLE messages_fts USING fts5(content, content = '', contentless_delete = 1,
                 tokenize = 'unicode61 remove_diacritics 2');
             CREATE VIRTUAL TABLE messages_fts_terms USING fts5vocab(messages_fts, instance);",
        )
        .expect("schema");
        c
    }

    fn add(c: &Connection, rid: i64, pk: i64, text: &str) {
        c.execute(
            "INSERT INTO messages_fts (rowid, content) VALUES (?1, ?2)",
            rusqlite::params![(rid << 32) | pk, text],
        )
        .expect("insert");
    }

    #[test]
    fn words_expand_into_their_terms_and_find_their_sessions() {
        let c = db();
        add(&c, 1, 1, "the fox jumps");
        add(&c, 1, 2, "foxes run");
        add(&c, 2, 3, "a fox");
        add(&c, 3, 4, "nothing here");
        c.execute(
            "INSERT INTO conversations_fts (rowid, name, initial_prompt) VALUES (4, 'Fox den', NULL)",
            [],
        )
        .expect("name");
        let w = word(&c, "FOX").expect("word");
        assert_eq!(w.expr.as_deref(), Some("\"fox\" OR \"foxes\""));
        assert!(!w.native_prefix);
        assert_eq!(w.messages, Some(vec![1, 2]));
        assert_eq!(w.names, vec![4]);
        let w = word(&c, "zebra").expect("word");
        assert_eq!(w.expr, None);
        assert_eq!(w.messages, Some(vec![]));
        let w = word(&c, "jumps!").expect("word");
        assert!(w.native_prefix);
        assert_eq!(w.messages, Some(vec![1]));
        match plan(&c, &["fox", "run"]).expect("plan") {
            Plan::Among { rids, checks } => {
                assert_eq!(rids, vec![1]);
                assert!(checks.is_empty());
            }
            p => panic!("{p:?}"),
        }
    }

    #[test]
    fn a_word_in_many_sessions_is_dense() {
        let c = db();
        for rid in 1..=(COMPLETE_SESSIONS as i64 + 10) {
            for k in 0..100 {
                add(&c, rid, rid * 100 + k, "fox");
            }
        }
        let w = word(&c, "fox").expect("word");
        assert_eq!(w.messages, None);
        assert!(matches!(
            plan(&c, &["fox"]).expect("plan"),
            Plan::Walk { .. }
        ));
        // Deleted by rowid alone.
        c.execute(
            "DELETE FROM messages_fts WHERE rowid BETWEEN (1 << 32) AND (1 << 32) | 4294967295",
            [],
        )
        .expect("delete");
        let n: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH 'fox'",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(n, (COMPLETE_SESSIONS as i64 + 9) * 100);
    }
}
