//! Cursor (keyset) pagination of `GET /api/sessions` (issue #15).
//!
//! A cursor names the last row of a page by its sort value and id; the next page is the
//! rows strictly after that pair in the list's order (`(sort, id) < (value, id)` for
//! `desc`), so a session inserted or deleted while a client walks the list never makes
//! it repeat or skip a row that was there before the walk, unlike `page` (an offset).
//! Ties on the sort value are broken by id exactly as SPEC 5 orders them.
//!
//! The text form is opaque to clients: hex of `v1|<sort>|<a|d>|<filters>|<i:int|r:real>|<id>`,
//! where `<filters>` is a 16-hex-digit digest of the list's filters, so a cursor passed
//! with other filters, sort or order is refused (400 naming `cursor`) instead of walking
//! a different list from a meaningless position.

use sha2::{Digest, Sha256};

use super::{ListQuery, SortKey};

/// The sort value of the row a cursor points after: the column's own type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CursorValue {
    /// `createdAt` / `startedAt` (µs since the Unix epoch), `totalTokens`, `totalMessages`.
    Int(i64),
    /// `totalCost` (USD), compared exactly: the stored double round-trips through the text.
    Real(f64),
}

/// A decoded cursor: the position after which the next page starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    /// The sort key of the list it was made for.
    pub sort: SortKey,
    /// Whether that list was descending.
    pub desc: bool,
    /// Digest of that list's filters ([`filter_digest`]).
    pub filters: String,
    /// Sort value of the last row of the previous page.
    pub value: CursorValue,
    /// Stored id of that row (the tie-breaker).
    pub id: String,
}

fn sort_name(s: SortKey) -> &'static str {
    match s {
        SortKey::CreatedAt => "createdAt",
        SortKey::StartedAt => "startedAt",
        SortKey::TotalCost => "totalCost",
        SortKey::TotalTokens => "totalTokens",
        SortKey::TotalMessages => "totalMessages",
    }
}

/// Digest (16 hex digits) of what selects the rows of a list: every filter, the sort key
/// and the order. Page, limit and the cursor itself are not part of it.
pub fn filter_digest(q: &ListQuery) -> String {
    let mut h = Sha256::new();
    let mut put = |name: &str, v: Option<String>| {
        h.update(name.as_bytes());
        match v {
            Some(v) => {
                h.update([1]);
                h.update((v.len() as u64).to_le_bytes());
                h.update(v.as_bytes());
            }
            None => h.update([0]),
        }
    };
    put("status", q.status.clone());
    put("source", q.source.clone());
    put("agentType", q.agent_type.clone());
    put("from", q.start_from.map(|v| v.to_string()));
    put("to", q.start_to.map(|v| v.to_string()));
    put("q", q.q.clone());
    put(
        "completeness",
        q.completeness.map(|c| c.as_str().to_string()),
    );
    put("sort", Some(sort_name(q.sort).to_string()));
    put("desc", Some(q.desc.to_string()));
    hex::encode(&h.finalize()[..8])
}

impl Cursor {
    /// The cursor after a row of the list `q`, given the row's sort value and stored id.
    pub fn after(q: &ListQuery, value: CursorValue, id: String) -> Self {
        Cursor {
            sort: q.sort,
            desc: q.desc,
            filters: filter_digest(q),
            value,
            id,
        }
    }

    /// The opaque text form (hex; safe in a URL as is).
    pub fn encode(&self) -> String {
        let v = match self.value {
            CursorValue::Int(i) => format!("i:{i}"),
            CursorValue::Real(r) => format!("r:{r:?}"),
        };
        let dir = if self.desc { "d" } else { "a" };
        hex::encode(format!(
            "v1|{}|{dir}|{}|{v}|{}",
            sort_name(self.sort),
            self.filters,
            self.id
        ))
    }

    /// Reads a cursor's text form; `None` for anything [`Cursor::encode`] did not write
    /// (the caller answers 400 naming `cursor`).
    pub fn decode(text: &str) -> Option<Self> {
        let bytes = hex::decode(text.trim()).ok()?;
        let s = String::from_utf8(bytes).ok()?;
        let mut parts = s.splitn(6, '|');
        if parts.next()? != "v1" {
            return None;
        }
        let sort = SortKey::parse(parts.next()?)?;
        let desc = match parts.next()? {
            "d" => true,
            "a" => false,
            _ => return None,
        };
        let filters = parts.next()?.to_string();
        if filters.len() != 16 || !filters.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let value = match parts.next()?.split_once(':')? {
            ("i", v) => CursorValue::Int(v.parse().ok()?),
            ("r", v) => {
                let r: f64 = v.parse().ok()?;
                if !r.is_finite() {
                    return None;
                }
                CursorValue::Real(r)
            }
            _ => return None,
        };
        // The sort value's type follows from the sort key.
        let real = matches!(sort, SortKey::TotalCost);
        if real != matches!(value, CursorValue::Real(_)) {
            return None;
        }
        let id = parts.next()?.to_string();
        Some(Cursor {
            sort,
            desc,
            filters,
            value,
            id,
        })
    }

    /// Whether this cursor was made for the list `q` (same filters, sort and order).
    pub fn fits(&self, q: &ListQuery) -> bool {
        self.sort == q.sort && self.desc == q.desc && self.filters == filter_digest(q)
    }
}

/// `nextCursor` of a page read with one row more than `q.limit` (`fetched` rows):
/// the cursor after the page's last row (its sort value and stored id) when the extra
/// row showed that a next page exists, else `None`.
pub fn next_cursor(
    q: &ListQuery,
    fetched: usize,
    last: Option<(CursorValue, &str)>,
) -> Option<String> {
    if fetched as i64 <= q.limit {
        return None;
    }
    let (value, id) = last?;
    Some(Cursor::after(q, value, id.to_string()).encode())
}

/// The sort column of the conversations table (alias `c`) for a sort key.
pub fn sort_column(s: SortKey) -> &'static str {
    match s {
        SortKey::CreatedAt => "c.created_at",
        SortKey::StartedAt => "c.started_at",
        SortKey::TotalCost => "c.total_cost",
        SortKey::TotalTokens => "c.total_tokens",
        SortKey::TotalMessages => "c.total_messages",
    }
}

/// The keyset predicate "strictly after the cursor row" (`before = false`) or "at or
/// before it" (`before = true`, to count the rows of earlier pages), with `val` and `id`
/// the placeholders bound to the cursor's value and id and `id_col` the id expression
/// (PostgreSQL orders ids with `COLLATE "C"`, SQLite's default is already bytewise).
pub fn keyset_sql(q: &ListQuery, val: &str, id: &str, id_col: &str, before: bool) -> String {
    let col = sort_column(q.sort);
    let op = match (q.desc, before) {
        (true, false) => "<",
        (false, false) => ">",
        (true, true) => ">=",
        (false, true) => "<=",
    };
    format!("({col}, {id_col}) {op} ({val}, {id})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> ListQuery {
        ListQuery {
            page: 1,
            limit: 20,
            status: Some("ACTIVE".into()),
            source: None,
            agent_type: None,
            start_from: None,
            start_to: None,
            q: Some("fox".into()),
            completeness: None,
            sort: SortKey::TotalCost,
            desc: true,
            after: None,
        }
    }

    #[test]
    fn round_trips_ids_with_separators_and_exact_doubles() {
        let q = query();
        let c = Cursor::after(&q, CursorValue::Real(0.1 + 0.2), "a|b|c".into());
        let back = Cursor::decode(&c.encode()).expect("decodes");
        assert_eq!(back, c);
        assert_eq!(back.value, CursorValue::Real(0.30000000000000004));
        assert!(back.fits(&q));
    }

    #[test]
    fn refuses_other_lists_and_garbage() {
        let q = query();
        let c = Cursor::after(&q, CursorValue::Real(1.0), "x".into());
        let mut other = q.clone();
        other.q = Some("dog".into());
        assert!(!c.fits(&other));
        let mut asc = q.clone();
        asc.desc = false;
        assert!(!c.fits(&asc));
        for bad in [
            "",
            "zz",
            "00",
            &hex::encode("v1|totalCost|d|0011223344556677|i:3|x"),
        ] {
            assert!(Cursor::decode(bad).is_none(), "{bad}");
        }
        assert!(Cursor::decode(&hex::encode("v1|createdAt|d|0011223344556677|i:3|x")).is_some());
    }
}
