//! SQLite side of historical uploads (SPEC 3). Runs inside the writer's transaction
//! ([`super::SqliteStore::write`]): an `Err` rolls back everything the upload did.
//!
//! Shapes 1 and 2 are written in bulk: the conversation row and participants once, the
//! messages through one cached prepared statement, the computed sums with one aggregate
//! query at the end, one `session.uploaded` event. An event log goes through
//! [`super::apply_item_as`], the live ingest path, so its identities and merging are
//! exactly those of live ingest.

use agentpipe_protocol::event::Message;
use agentpipe_protocol::upload::{SessionUpload, UploadIdentity};
use agentpipe_protocol::EventKind;
use rusqlite::{params, Connection, OptionalExtension};

use super::{
    append_event, apply_item_as, apply_start, ensure_conversation, message_dedup_key, recompute,
    sha256_hex,
};
use crate::store::upload::{
    at_line, latest_ts, same_run_additions, same_run_window, MergeTally, StoredAgentMessage,
    UploadPlan, UploadResult,
};
use crate::store::{IngestItem, StoreError, StoredEvent};

/// The `source` of everything an upload stores (SPEC 2.4).
pub const UPLOAD_SOURCE: &str = "cli-upload";

/// Applies one upload inside the open transaction. `now` is µs since the epoch.
///
/// Errors: storage errors, and for event logs an item error naming its line
/// (`StoreError::Invalid { field: "line N: ..." }`); either way the caller rolls back.
pub fn apply_upload(
    conn: &Connection,
    plan: UploadPlan,
    now: i64,
    silence_us: i64,
    pubs: &mut Vec<StoredEvent>,
) -> Result<UploadResult, StoreError> {
    match plan {
        UploadPlan::Session(s) => apply_session(conn, *s, now, silence_us, pubs),
        UploadPlan::EventLog(items) => apply_event_log(conn, &items, now, silence_us, pubs),
    }
}

fn exists(conn: &Connection, sql: &str, id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(sql)?
        .query_row([id], |_| Ok(()))
        .optional()?
        .is_some())
}

fn stored_totals(conn: &Connection, cid: &str) -> Result<Option<(i64, i64, f64)>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT total_messages, total_tokens, total_cost FROM conversations WHERE id = ?1",
        )?
        .query_row([cid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?)
}

/// Merges a state file into the stored conversation of the same run, if there is one
/// (issue #12; "same run" is [`same_run_additions`] after an equal initial prompt and
/// participant line-up). `None` when no stored conversation is the same run.
fn merge_same_run(
    conn: &Connection,
    s: &SessionUpload,
    identity_hash: Option<&str>,
    now: i64,
    silence_us: i64,
    pubs: &mut Vec<StoredEvent>,
) -> Result<Option<UploadResult>, StoreError> {
    let lineup: Vec<(String, String)> = s
        .started
        .participants
        .iter()
        .map(|p| (p.agent_id.clone(), p.agent_type.clone()))
        .collect();
    if lineup.is_empty() {
        return Ok(None);
    }
    let prompt = s.started.initial_prompt.clone().unwrap_or_default();
    let (lo, hi) = same_run_window(s);
    let candidates: Vec<String> = conn
        .prepare_cached(
            "SELECT id FROM conversations WHERE COALESCE(initial_prompt, '') = ?1
               AND started_at >= ?2 AND started_at <= ?3
             ORDER BY started_at DESC, id LIMIT 20",
        )?
        .query_map(params![&prompt, lo, hi], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for cid in candidates {
        let theirs: Vec<(String, String)> = conn
            .prepare_cached(
                "SELECT agent_id, agent_type FROM participants WHERE conversation_id = ?1 ORDER BY position, agent_id",
            )?
            .query_map([&cid], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        if theirs != lineup {
            continue;
        }
        let stored: Vec<StoredAgentMessage> = conn
            .prepare_cached(
                "SELECT COALESCE(agent_id, agent_type), content, sequence_number FROM messages
                 WHERE conversation_id = ?1 AND role = 'agent' ORDER BY sort_seq, ts, id",
            )?
            .query_map([&cid], |r| {
                Ok(StoredAgentMessage {
                    agent: r.get(0)?,
                    content: r.get(1)?,
                    sequence_number: r.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let Some(additions) = same_run_additions(&s.messages, &stored) else {
            continue;
        };
        let mut created = 0i64;
        for (i, seq) in additions {
            let mut m = s.messages[i].clone();
            m.conversation_id.clone_from(&cid);
            m.message_id = None;
            m.sequence_number = seq;
            created += i64::from(super::insert_message(conn, &m, now)?.is_ok());
        }
        recompute(conn, &cid, now)?;
        if let Some(h) = identity_hash {
            conn.prepare_cached(
                "INSERT INTO uploads (identity, conversation_id, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (identity) DO UPDATE SET conversation_id = excluded.conversation_id,
                   created_at = excluded.created_at",
            )?
            .execute(params![h, cid, now])?;
        }
        if created > 0 {
            if let Some(c) = super::completeness_in(conn, &cid, silence_us)? {
                let data = serde_json::json!({"conversation_id": cid, "completeness": c});
                append_event(
                    conn,
                    EventKind::ConversationUpdated,
                    Some(&cid),
                    now,
                    &data.to_string(),
                    None,
                    now,
                    pubs,
                )?;
            }
        }
        return Ok(Some(UploadResult::MergedRun {
            conversation_id: cid,
            messages_created: created,
        }));
    }
    Ok(None)
}

fn apply_session(
    conn: &Connection,
    mut s: SessionUpload,
    now: i64,
    silence_us: i64,
    pubs: &mut Vec<StoredEvent>,
) -> Result<UploadResult, StoreError> {
    // Identity (SPEC 3): the conversation id itself, or a remembered upload key.
    let identity_hash = s.identity.key().map(|k| sha256_hex(&[&k]));
    let cid = match &s.identity {
        UploadIdentity::ConversationId(id) => {
            if exists(
                conn,
                "SELECT 1 FROM deleted_conversations WHERE id = ?1",
                id,
            )? {
                return Ok(UploadResult::Deleted {
                    conversation_id: id.clone(),
                });
            }
            if exists(conn, "SELECT 1 FROM conversations WHERE id = ?1", id)? {
                return Ok(UploadResult::Duplicate {
                    conversation_id: id.clone(),
                });
            }
            id.clone()
        }
        _ => {
            let prior: Option<String> = conn
                .prepare_cached("SELECT conversation_id FROM uploads WHERE identity = ?1")?
                .query_row([&identity_hash], |r| r.get(0))
                .optional()?;
            if let Some(p) = prior {
                if exists(conn, "SELECT 1 FROM conversations WHERE id = ?1", &p)? {
                    return Ok(UploadResult::Duplicate { conversation_id: p });
                }
            }
            if let Some(r) =
                merge_same_run(conn, &s, identity_hash.as_deref(), now, silence_us, pubs)?
            {
                return Ok(r);
            }
            uuid::Uuid::new_v4().to_string()
        }
    };

    // The conversation row and its participants, as a first start would set them.
    let started_at = s.started_at_us;
    ensure_conversation(conn, &cid, started_at, UPLOAD_SOURCE, now)?;
    s.started.conversation_id = Some(cid.clone());
    apply_start(conn, &cid, &s.started, started_at, UPLOAD_SOURCE)?;
    let participants_created = s.started.participants.len() as i64;
    let metadata_version = s
        .started
        .metadata
        .as_ref()
        .and_then(|m| m.get("cliVersion"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let (comp_status, comp_rank) = match s.final_status {
        Some(f) => (Some(f.as_str()), Some(f as i64)),
        None => (None, None),
    };
    conn.prepare_cached(
        "UPDATE conversations SET comp_status = ?2, comp_ts = ?3, comp_rank = ?4,
           comp_hash = CASE WHEN ?2 IS NULL THEN NULL ELSE 'upload' END,
           comp_total_messages = ?5, comp_total_tokens = ?6, comp_total_cost = ?7,
           comp_total_duration = ?8, completion_reason = ?9, summary = ?10, error_message = ?11,
           source_version = COALESCE(source_version, ?12)
         WHERE id = ?1",
    )?
    .execute(params![
        cid,
        comp_status,
        s.completed_at_us,
        comp_rank,
        s.total_messages,
        s.total_tokens,
        s.total_cost,
        s.total_duration_ms,
        s.completion_reason,
        s.summary
            .as_ref()
            .and_then(|x| serde_json::to_string(x).ok()),
        s.error_message,
        metadata_version,
    ])?;

    // Messages in bulk: no per-message conversation update; sums computed once below.
    // Without any sequence numbers the upload order is the display order.
    let any_seq = s.messages.iter().any(|m| m.sequence_number.is_some());
    for m in s.messages.iter_mut() {
        m.conversation_id.clone_from(&cid);
    }
    let sort_seq = |i: usize, m: &Message| match m.sequence_number {
        Some(n) => n,
        None if !any_seq => i as i64 + 1,
        None => i64::MAX,
    };
    let mut messages_created = 0i64;
    let mut chunks = s.messages.chunks_exact(INSERT_CHUNK);
    let mut first = 0usize;
    if chunks.len() > 0 {
        let mut stmt = conn.prepare_cached(&insert_sql(INSERT_CHUNK))?;
        for chunk in chunks.by_ref() {
            messages_created += insert_rows(&mut stmt, chunk, first, &sort_seq)? as i64;
            first += INSERT_CHUNK;
        }
    }
    let mut stmt = conn.prepare_cached(&insert_sql(1))?;
    for m in chunks.remainder() {
        messages_created +=
            insert_rows(&mut stmt, std::slice::from_ref(m), first, &sort_seq)? as i64;
        first += 1;
    }
    drop(stmt);
    conn.prepare_cached(
        "UPDATE conversations SET (msg_count, msg_tokens, msg_cost, msg_duration) =
           (SELECT COUNT(*), COALESCE(SUM(total_tokens), 0), COALESCE(SUM(cost), 0.0),
                   COALESCE(SUM(duration_ms), 0)
              FROM messages WHERE conversation_id = ?1)
         WHERE id = ?1",
    )?
    .execute([&cid])?;
    recompute(conn, &cid, now)?;

    if let Some(h) = &identity_hash {
        conn.prepare_cached(
            "INSERT INTO uploads (identity, conversation_id, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (identity) DO UPDATE SET conversation_id = excluded.conversation_id,
               created_at = excluded.created_at",
        )?
        .execute(params![h, cid, now])?;
    }

    let name: String = conn
        .prepare_cached("SELECT name FROM conversations WHERE id = ?1")?
        .query_row([&cid], |r| r.get(0))?;
    let data = serde_json::json!({
        "conversationId": cid,
        "name": name,
        "messagesCreated": messages_created,
        "source": UPLOAD_SOURCE,
    })
    .to_string();
    let event_id = append_event(
        conn,
        EventKind::SessionUploaded,
        Some(&cid),
        now,
        &data,
        None,
        now,
        pubs,
    )?;
    let (total_messages, total_tokens, total_cost) = stored_totals(conn, &cid)?
        .ok_or_else(|| StoreError::Other("uploaded conversation vanished".into()))?;
    Ok(UploadResult::Created {
        conversation_id: cid,
        messages_created,
        participants_created,
        total_messages,
        total_tokens,
        total_cost,
        event_id,
    })
}

/// Messages per multi-row `INSERT` of an upload (19 parameters each, so 1,900 per
/// statement). One statement per message made SQLite copy every page it touched into the
/// statement journal again for each message (the insert trigger of migration 0077 makes
/// each insert a multi-write statement): 12 % of a 10,000-message upload. Per chunk, a
/// page is copied once. Rows go in in upload order, each checked against the rows before
/// it (`ON CONFLICT DO NOTHING` per row), so the outcome is that of one insert per message.
const INSERT_CHUNK: usize = 100;

/// Columns (and parameters) per row of [`insert_sql`].
const INSERT_COLS: usize = 19;

/// The message `INSERT` of `rows` rows (`ON CONFLICT DO NOTHING`).
fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO messages (id, conversation_id, dedup_key, agent_id, agent_name, agent_type, agent_version,
           content, role, ts, sort_seq, sequence_number, turn_number, duration_ms, input_tokens,
           output_tokens, total_tokens, model, cost) VALUES ",
    );
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..INSERT_COLS {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("?{}", r * INSERT_COLS + c + 1));
        }
        sql.push(')');
    }
    sql.push_str(" ON CONFLICT DO NOTHING");
    sql
}

/// Inserts the message rows of `rows` (the messages from index `first` of the upload) with
/// `stmt`, an [`insert_sql`] of `rows.len()` rows; returns how many were stored (the others'
/// identities, SPEC 2.4, are already stored).
fn insert_rows(
    stmt: &mut rusqlite::CachedStatement<'_>,
    rows: &[Message],
    first: usize,
    sort_seq: &dyn Fn(usize, &Message) -> i64,
) -> Result<usize, StoreError> {
    use rusqlite::ToSql;
    let mut ids = Vec::with_capacity(rows.len());
    let mut keys = Vec::with_capacity(rows.len());
    let mut sorts = Vec::with_capacity(rows.len());
    for (k, m) in rows.iter().enumerate() {
        ids.push(
            m.message_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        );
        keys.push(message_dedup_key(m));
        sorts.push(sort_seq(first + k, m));
    }
    let mut values: Vec<&dyn ToSql> = Vec::with_capacity(rows.len() * INSERT_COLS);
    for (k, m) in rows.iter().enumerate() {
        values.extend_from_slice(&[
            &ids[k] as &dyn ToSql,
            &m.conversation_id,
            &keys[k],
            &m.agent_id,
            &m.agent_name,
            &m.agent_type,
            &m.agent_version,
            &m.content,
            &m.role,
            &m.timestamp_us,
            &sorts[k],
            &m.sequence_number,
            &m.turn_number,
            &m.duration_ms,
            &m.input_tokens,
            &m.output_tokens,
            &m.total_tokens,
            &m.model,
            &m.cost,
        ]);
    }
    Ok(stmt.execute(values.as_slice())?)
}

fn apply_event_log(
    conn: &Connection,
    items: &[(usize, IngestItem)],
    now: i64,
    silence_us: i64,
    pubs: &mut Vec<StoredEvent>,
) -> Result<UploadResult, StoreError> {
    let mut tally = MergeTally::default();
    for (line, item) in items {
        let a = apply_item_as(conn, item, Some(UPLOAD_SOURCE), now, pubs)
            .map_err(|e| at_line(*line, e))?;
        tally.count(a);
    }
    for cid in tally.conversations_changed() {
        if let Some(c) = super::completeness_in(conn, cid, silence_us)? {
            let data = serde_json::json!({"conversation_id": cid, "completeness": c});
            append_event(
                conn,
                EventKind::ConversationUpdated,
                Some(cid),
                latest_ts(items, cid, now),
                &data.to_string(),
                None,
                now,
                pubs,
            )?;
        }
    }
    let totals = match tally.first() {
        Some(c) => stored_totals(conn, c)?,
        None => None,
    };
    Ok(tally.finish(totals))
}
