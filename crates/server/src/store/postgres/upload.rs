//! PostgreSQL side of historical uploads (SPEC 3), the counterpart of
//! [`crate::store::sqlite::upload`]. Runs inside the writer's transaction (holding the
//! write lock): an `Err` rolls back everything the upload did.
//!
//! Shapes 1 and 2: the conversation row and participants once, the messages in one
//! `INSERT ... SELECT FROM UNNEST(...)` (one round trip for 10,000 messages), the computed
//! sums with one aggregate query, one `session.uploaded` event. An event log goes through
//! [`super::apply_item_as`], the live ingest path.

use agentpipe_protocol::upload::{SessionUpload, UploadIdentity};
use agentpipe_protocol::EventKind;
use sqlx::PgConnection;

use super::nul::{dec, enc, enc_opt};
use super::{
    append_event, apply_item_as, apply_start, ensure_conversation, json_opt, recompute, sha256_hex,
};
use crate::store::message_dedup_key;
use crate::store::upload::{
    at_line, same_run_additions, same_run_window, MergeTally, StoredAgentMessage, UploadPlan,
    UploadResult,
};
use crate::store::{IngestItem, StoreError, StoredEvent};

/// The `source` of everything an upload stores (SPEC 2.4).
pub const UPLOAD_SOURCE: &str = "cli-upload";

/// Applies one upload inside the open transaction. `now` is µs since the epoch.
///
/// Errors: storage errors, and for event logs an item error naming its line
/// (`StoreError::Invalid { field: "line N: ..." }`); either way the caller rolls back.
pub async fn apply_upload(
    conn: &mut PgConnection,
    plan: UploadPlan,
    now: i64,
    silence_us: i64,
    pubs: &mut Vec<StoredEvent>,
) -> Result<UploadResult, StoreError> {
    match plan {
        UploadPlan::Session(s) => apply_session(conn, *s, now, silence_us, pubs).await,
        UploadPlan::EventLog(items) => apply_event_log(conn, &items, now, silence_us, pubs).await,
    }
}

async fn exists(conn: &mut PgConnection, sql: &'static str, id: &str) -> Result<bool, StoreError> {
    let r: Option<i32> = sqlx::query_scalar(sql)
        .bind(enc(id))
        .fetch_optional(&mut *conn)
        .await?;
    Ok(r.is_some())
}

async fn stored_totals(
    conn: &mut PgConnection,
    cid: &str,
) -> Result<Option<(i64, i64, f64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT total_messages, total_tokens, total_cost FROM conversations WHERE id = $1",
    )
    .bind(enc(cid))
    .fetch_optional(&mut *conn)
    .await?)
}

/// Merges a state file into the stored conversation of the same run, if there is one;
/// the twin of the SQLite store's `merge_same_run` (issue #12).
async fn merge_same_run(
    conn: &mut PgConnection,
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
    let candidates: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM conversations WHERE COALESCE(initial_prompt, '') = $1
           AND started_at >= $2 AND started_at <= $3
         ORDER BY started_at DESC, id COLLATE \"C\" LIMIT 20",
    )
    .bind(enc(&prompt))
    .bind(lo)
    .bind(hi)
    .fetch_all(&mut *conn)
    .await?;
    for raw in candidates {
        let theirs: Vec<(String, String)> = sqlx::query_as(
            "SELECT agent_id, agent_type FROM participants WHERE conversation_id = $1
             ORDER BY position, agent_id COLLATE \"C\"",
        )
        .bind(&raw)
        .fetch_all(&mut *conn)
        .await?;
        let theirs: Vec<(String, String)> =
            theirs.into_iter().map(|(a, t)| (dec(a), dec(t))).collect();
        if theirs != lineup {
            continue;
        }
        let rows: Vec<(String, String, Option<i64>)> = sqlx::query_as(
            "SELECT COALESCE(agent_id, agent_type), content, sequence_number FROM messages
             WHERE conversation_id = $1 AND role = 'agent' ORDER BY sort_seq, ts, id COLLATE \"C\"",
        )
        .bind(&raw)
        .fetch_all(&mut *conn)
        .await?;
        let stored: Vec<StoredAgentMessage> = rows
            .into_iter()
            .map(|(a, c, seq)| StoredAgentMessage {
                agent: dec(a),
                content: dec(c),
                sequence_number: seq,
            })
            .collect();
        let Some(additions) = same_run_additions(&s.messages, &stored) else {
            continue;
        };
        let cid = dec(raw);
        let mut created = 0i64;
        for (i, seq) in additions {
            let mut m = s.messages[i].clone();
            m.conversation_id.clone_from(&cid);
            m.message_id = None;
            m.sequence_number = seq;
            created += i64::from(super::insert_message(conn, &m, now).await?.is_ok());
        }
        recompute(conn, &cid, now).await?;
        if let Some(h) = identity_hash {
            sqlx::query(
                "INSERT INTO uploads (identity, conversation_id, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (identity) DO UPDATE SET conversation_id = excluded.conversation_id,
                   created_at = excluded.created_at",
            )
            .bind(h)
            .bind(enc(&cid))
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        if created > 0 {
            if let Some(c) = super::completeness_in(conn, &cid, silence_us).await? {
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
                )
                .await?;
            }
        }
        return Ok(Some(UploadResult::MergedRun {
            conversation_id: cid,
            messages_created: created,
        }));
    }
    Ok(None)
}

async fn apply_session(
    conn: &mut PgConnection,
    mut s: SessionUpload,
    now: i64,
    silence_us: i64,
    pubs: &mut Vec<StoredEvent>,
) -> Result<UploadResult, StoreError> {
    let identity_hash = s.identity.key().map(|k| sha256_hex(&[&k]));
    let cid = match &s.identity {
        UploadIdentity::ConversationId(id) => {
            if exists(
                conn,
                "SELECT 1 FROM deleted_conversations WHERE id = $1",
                id,
            )
            .await?
            {
                return Ok(UploadResult::Deleted {
                    conversation_id: id.clone(),
                });
            }
            if exists(conn, "SELECT 1 FROM conversations WHERE id = $1", id).await? {
                return Ok(UploadResult::Duplicate {
                    conversation_id: id.clone(),
                });
            }
            id.clone()
        }
        _ => {
            let prior: Option<String> =
                sqlx::query_scalar("SELECT conversation_id FROM uploads WHERE identity = $1")
                    .bind(&identity_hash)
                    .fetch_optional(&mut *conn)
                    .await?;
            if let Some(p) = prior.map(dec) {
                if exists(conn, "SELECT 1 FROM conversations WHERE id = $1", &p).await? {
                    return Ok(UploadResult::Duplicate { conversation_id: p });
                }
            }
            if let Some(r) =
                merge_same_run(conn, &s, identity_hash.as_deref(), now, silence_us, pubs).await?
            {
                return Ok(r);
            }
            uuid::Uuid::new_v4().to_string()
        }
    };

    let started_at = s.started_at_us;
    ensure_conversation(conn, &cid, started_at, UPLOAD_SOURCE, now).await?;
    s.started.conversation_id = Some(cid.clone());
    apply_start(conn, &cid, &s.started, started_at, UPLOAD_SOURCE).await?;
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
    sqlx::query(
        "UPDATE conversations SET comp_status = $2::TEXT, comp_ts = $3, comp_rank = $4,
           comp_hash = CASE WHEN $2::TEXT IS NULL THEN NULL ELSE 'upload' END,
           comp_total_messages = $5, comp_total_tokens = $6, comp_total_cost = $7,
           comp_total_duration = $8, completion_reason = $9, summary = $10, error_message = $11,
           source_version = COALESCE(source_version, $12)
         WHERE id = $1",
    )
    .bind(enc(&cid))
    .bind(comp_status)
    .bind(s.completed_at_us)
    .bind(comp_rank)
    .bind(s.total_messages)
    .bind(s.total_tokens)
    .bind(s.total_cost)
    .bind(s.total_duration_ms)
    .bind(enc_opt(&s.completion_reason))
    .bind(json_opt(&s.summary))
    .bind(enc_opt(&s.error_message))
    .bind(enc_opt(&metadata_version))
    .execute(&mut *conn)
    .await?;

    // Messages in bulk, in upload order (first write of an identity wins). Without any
    // sequence numbers the upload order is the display order.
    let any_seq = s.messages.iter().any(|m| m.sequence_number.is_some());
    let n = s.messages.len();
    let mut ids = Vec::with_capacity(n);
    let mut dedups = Vec::with_capacity(n);
    let mut agent_ids = Vec::with_capacity(n);
    let mut agent_names = Vec::with_capacity(n);
    let mut agent_types = Vec::with_capacity(n);
    let mut agent_versions = Vec::with_capacity(n);
    let mut contents = Vec::with_capacity(n);
    let mut roles = Vec::with_capacity(n);
    let mut tss = Vec::with_capacity(n);
    let mut sort_seqs = Vec::with_capacity(n);
    let mut seqs = Vec::with_capacity(n);
    let mut turns = Vec::with_capacity(n);
    let mut durations = Vec::with_capacity(n);
    let mut inputs = Vec::with_capacity(n);
    let mut outputs = Vec::with_capacity(n);
    let mut totals = Vec::with_capacity(n);
    let mut models = Vec::with_capacity(n);
    let mut costs = Vec::with_capacity(n);
    for (i, m) in s.messages.iter_mut().enumerate() {
        m.conversation_id.clone_from(&cid);
        let sort_seq = match m.sequence_number {
            Some(n) => n,
            None if !any_seq => i as i64 + 1,
            None => i64::MAX,
        };
        let id = m
            .message_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        ids.push(enc(&id).into_owned());
        dedups.push(enc(&message_dedup_key(m)).into_owned());
        agent_ids.push(enc_opt(&m.agent_id));
        agent_names.push(enc_opt(&m.agent_name));
        agent_types.push(enc(&m.agent_type).into_owned());
        agent_versions.push(enc_opt(&m.agent_version));
        contents.push(enc(&m.content).into_owned());
        roles.push(enc(&m.role).into_owned());
        tss.push(m.timestamp_us);
        sort_seqs.push(sort_seq);
        seqs.push(m.sequence_number);
        turns.push(m.turn_number);
        durations.push(m.duration_ms);
        inputs.push(m.input_tokens);
        outputs.push(m.output_tokens);
        totals.push(m.total_tokens);
        models.push(enc_opt(&m.model));
        costs.push(m.cost);
    }
    let messages_created = if n == 0 {
        0
    } else {
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, dedup_key, agent_id, agent_name, agent_type,
               agent_version, content, role, ts, sort_seq, sequence_number, turn_number, duration_ms,
               input_tokens, output_tokens, total_tokens, model, cost)
             SELECT u.id, $1, u.dedup, u.agent_id, u.agent_name, u.agent_type, u.agent_version,
               u.content, u.role, u.ts, u.sort_seq, u.seq, u.turn, u.duration, u.input, u.output,
               u.total, u.model, u.cost
             FROM UNNEST($2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[],
                         $8::TEXT[], $9::TEXT[], $10::BIGINT[], $11::BIGINT[], $12::BIGINT[],
                         $13::BIGINT[], $14::BIGINT[], $15::BIGINT[], $16::BIGINT[], $17::BIGINT[],
                         $18::TEXT[], $19::DOUBLE PRECISION[])
               WITH ORDINALITY AS u(id, dedup, agent_id, agent_name, agent_type, agent_version,
                 content, role, ts, sort_seq, seq, turn, duration, input, output, total, model,
                 cost, ord)
             ORDER BY u.ord
             ON CONFLICT DO NOTHING",
        )
        .bind(enc(&cid))
        .bind(&ids)
        .bind(&dedups)
        .bind(&agent_ids)
        .bind(&agent_names)
        .bind(&agent_types)
        .bind(&agent_versions)
        .bind(&contents)
        .bind(&roles)
        .bind(&tss)
        .bind(&sort_seqs)
        .bind(&seqs)
        .bind(&turns)
        .bind(&durations)
        .bind(&inputs)
        .bind(&outputs)
        .bind(&totals)
        .bind(&models)
        .bind(&costs)
        .execute(&mut *conn)
        .await?
        .rows_affected() as i64
    };
    sqlx::query(
        "UPDATE conversations SET (msg_count, msg_tokens, msg_cost, msg_duration) =
           (SELECT COUNT(*), COALESCE(SUM(total_tokens), 0), COALESCE(SUM(cost), 0.0),
                   COALESCE(SUM(duration_ms), 0)
              FROM messages WHERE conversation_id = $1)
         WHERE id = $1",
    )
    .bind(enc(&cid))
    .execute(&mut *conn)
    .await?;
    recompute(conn, &cid, now).await?;

    if let Some(h) = &identity_hash {
        sqlx::query(
            "INSERT INTO uploads (identity, conversation_id, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (identity) DO UPDATE SET conversation_id = EXCLUDED.conversation_id,
               created_at = EXCLUDED.created_at",
        )
        .bind(h)
        .bind(enc(&cid))
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }

    let name: String = sqlx::query_scalar("SELECT name FROM conversations WHERE id = $1")
        .bind(enc(&cid))
        .fetch_one(&mut *conn)
        .await?;
    let data = serde_json::json!({
        "conversationId": cid,
        "name": dec(name),
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
    )
    .await?;
    let (total_messages, total_tokens, total_cost) = stored_totals(conn, &cid)
        .await?
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

async fn apply_event_log(
    conn: &mut PgConnection,
    items: &[(usize, IngestItem)],
    now: i64,
    silence_us: i64,
    pubs: &mut Vec<StoredEvent>,
) -> Result<UploadResult, StoreError> {
    let mut tally = MergeTally::default();
    for (line, item) in items {
        let a = apply_item_as(conn, item, Some(UPLOAD_SOURCE), now, pubs)
            .await
            .map_err(|e| at_line(*line, e))?;
        tally.count(a);
    }
    for cid in tally.conversations_changed() {
        if let Some(c) = super::completeness_in(conn, cid, silence_us).await? {
            let data = serde_json::json!({"conversation_id": cid, "completeness": c});
            append_event(
                conn,
                EventKind::ConversationUpdated,
                Some(cid),
                crate::store::upload::latest_ts(items, cid, now),
                &data.to_string(),
                None,
                now,
                pubs,
            )
            .await?;
        }
    }
    let totals = match tally.first() {
        Some(c) => stored_totals(conn, c).await?,
        None => None,
    };
    Ok(tally.finish(totals))
}
