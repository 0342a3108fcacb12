//! Live ingest inside the group-commit transaction (issue #15): the items of every
//! consecutive ingest job of a group, in order. A run of `message.created` events goes to
//! the server-side function `ingest_messages` (migration 0078) in one round trip, plus a
//! savepoint around it; every other item is applied by [`super::apply_live`] in its own
//! savepoint, as before.
//!
//! The function does for each message exactly what [`super::apply_item`] does, in order,
//! each in its own subtransaction, so a failed item is rolled back alone and answered with
//! its error (mapped as [`StoreError`]'s `From<sqlx::Error>` maps it). It stops before a
//! message whose conversation is past streaming: [`super::apply_live`] applies that one
//! (it may add a `conversation.updated` event right after the message's), then the run
//! goes on. If the call itself fails (anything the function did not catch), its savepoint
//! is rolled back and the run is applied item by item instead.

use agentpipe_protocol::event::Body;
use agentpipe_protocol::EventKind;
use sqlx::PgConnection;

use super::super::{message_dedup_key, pg_error, source_of, Applied, IngestItem, Outcome};
use super::super::{StoreError, StoredEvent};
use super::{apply_live, col, enc, enc_opt, exec};

/// The result of each of `items`, applied in order; `Err` only when the connection
/// failed (the group cannot commit). `now` and `silence_us` in µs.
pub(super) async fn apply_run(
    conn: &mut PgConnection,
    items: &[&IngestItem],
    now: i64,
    silence_us: i64,
    pubs: &mut Vec<StoredEvent>,
) -> Result<Vec<Result<Applied, StoreError>>, StoreError> {
    let mut out = Vec::with_capacity(items.len());
    let mut i = 0;
    while i < items.len() {
        let messages = items[i..].iter().take_while(|it| is_message(it)).count();
        if messages > 0 {
            let run = &items[i..i + messages];
            match apply_messages(conn, run, now, silence_us, pubs, &mut out).await? {
                Some(done) => i += done,
                None => {
                    for item in run {
                        out.push(apply_one(conn, item, now, silence_us, pubs).await?);
                    }
                    i += messages;
                }
            }
            if i == items.len() || !is_message(items[i]) {
                continue;
            }
            // The function stopped before a late message: applied alone below.
        }
        out.push(apply_one(conn, items[i], now, silence_us, pubs).await?);
        i += 1;
    }
    Ok(out)
}

/// Whether `item` is a `message.created` event (what `ingest_messages` applies).
fn is_message(item: &IngestItem) -> bool {
    item.event.kind == EventKind::MessageCreated && matches!(item.event.body, Body::Message(_))
}

/// One item by [`apply_live`] in its own savepoint: `Err` inside when the item failed
/// (rolled back), outside when the connection did.
async fn apply_one(
    conn: &mut PgConnection,
    item: &IngestItem,
    now: i64,
    silence_us: i64,
    pubs: &mut Vec<StoredEvent>,
) -> Result<Result<Applied, StoreError>, StoreError> {
    exec(conn, "SAVEPOINT item").await?;
    let mut local = Vec::new();
    match apply_live(conn, item, now, silence_us, &mut local).await {
        Ok(a) => {
            exec(conn, "RELEASE SAVEPOINT item").await?;
            pubs.append(&mut local);
            Ok(Ok(a))
        }
        Err(e) => {
            sqlx::raw_sql("ROLLBACK TO SAVEPOINT item; RELEASE SAVEPOINT item")
                .execute(&mut *conn)
                .await?;
            Ok(Err(e))
        }
    }
}

/// The columns of one message run, one vector per argument of `ingest_messages`.
#[derive(Default)]
struct Columns {
    cid: Vec<String>,
    name: Vec<String>,
    source: Vec<&'static str>,
    ev_ts: Vec<i64>,
    data: Vec<String>,
    mid: Vec<String>,
    dedup: Vec<String>,
    agent_id: Vec<Option<String>>,
    agent_name: Vec<Option<String>>,
    agent_type: Vec<String>,
    agent_version: Vec<Option<String>>,
    content: Vec<String>,
    role: Vec<String>,
    ts: Vec<i64>,
    seq: Vec<Option<i64>>,
    turn: Vec<Option<i64>>,
    duration: Vec<Option<i64>>,
    input: Vec<Option<i64>>,
    output: Vec<Option<i64>>,
    total: Vec<Option<i64>>,
    model: Vec<Option<String>>,
    cost: Vec<Option<f64>>,
}

/// Applies the leading messages of `run` (all `message.created`) through
/// `ingest_messages`, pushing one result each to `out`; returns how many it applied
/// (fewer than `run.len()` when it stopped before a late one), or `None` when the call
/// failed and was rolled back (nothing of `run` applied).
async fn apply_messages(
    conn: &mut PgConnection,
    run: &[&IngestItem],
    now: i64,
    silence_us: i64,
    pubs: &mut Vec<StoredEvent>,
    out: &mut Vec<Result<Applied, StoreError>>,
) -> Result<Option<usize>, StoreError> {
    let mut c = Columns::default();
    // Per message: its conversation id, generated message id and event JSON (unescaped).
    let mut plain: Vec<(&str, String, String)> = Vec::with_capacity(run.len());
    for item in run {
        let Body::Message(m) = &item.event.body else {
            return Err(StoreError::Other(
                "a message run holds another event".into(),
            ));
        };
        let mid = m
            .message_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let placeholder: String = m.conversation_id.chars().take(8).collect();
        c.cid.push(enc(&m.conversation_id).into_owned());
        c.name
            .push(enc(&format!("Conversation {placeholder}")).into_owned());
        c.source.push(source_of(item.event.dialect));
        c.ev_ts.push(item.event.timestamp_us);
        let data = item.event.data.to_string();
        c.data.push(data.clone());
        c.mid.push(enc(&mid).into_owned());
        c.dedup.push(enc(&message_dedup_key(m)).into_owned());
        c.agent_id.push(enc_opt(&m.agent_id));
        c.agent_name.push(enc_opt(&m.agent_name));
        c.agent_type.push(enc(&m.agent_type).into_owned());
        c.agent_version.push(enc_opt(&m.agent_version));
        c.content.push(enc(&m.content).into_owned());
        c.role.push(enc(&m.role).into_owned());
        c.ts.push(m.timestamp_us);
        c.seq.push(m.sequence_number);
        c.turn.push(m.turn_number);
        c.duration.push(m.duration_ms);
        c.input.push(m.input_tokens);
        c.output.push(m.output_tokens);
        c.total.push(m.total_tokens);
        c.model.push(enc_opt(&m.model));
        c.cost.push(m.cost);
        plain.push((&m.conversation_id, mid, data));
    }
    exec(conn, "SAVEPOINT messages").await?;
    let rows = sqlx::query(
        "SELECT outcome, message_id, event_id, err_code, err_text FROM ingest_messages(
           $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
           $20, $21, $22, $23, $24)",
    )
    .bind(now)
    .bind(silence_us)
    .bind(&c.cid)
    .bind(&c.name)
    .bind(&c.source)
    .bind(&c.ev_ts)
    .bind(&c.data)
    .bind(&c.mid)
    .bind(&c.dedup)
    .bind(&c.agent_id)
    .bind(&c.agent_name)
    .bind(&c.agent_type)
    .bind(&c.agent_version)
    .bind(&c.content)
    .bind(&c.role)
    .bind(&c.ts)
    .bind(&c.seq)
    .bind(&c.turn)
    .bind(&c.duration)
    .bind(&c.input)
    .bind(&c.output)
    .bind(&c.total)
    .bind(&c.model)
    .bind(&c.cost)
    .fetch_all(&mut *conn)
    .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "ingest_messages failed; applying the run item by item");
            sqlx::raw_sql("ROLLBACK TO SAVEPOINT messages; RELEASE SAVEPOINT messages")
                .execute(&mut *conn)
                .await?;
            return Ok(None);
        }
    };
    exec(conn, "RELEASE SAVEPOINT messages").await?;
    if rows.len() > run.len() {
        return Err(StoreError::Other(
            "ingest_messages returned extra rows".into(),
        ));
    }
    for ((r, (cid, mid, data)), item) in rows.iter().zip(plain).zip(run) {
        let outcome: i16 = col(r, 0)?;
        let cid_opt = Some(cid.to_string());
        out.push(match outcome {
            0 => Ok(Applied {
                outcome: Outcome::Deleted,
                conversation_id: cid_opt,
                event_id: None,
                budgeted: true,
            }),
            1 => {
                let eid: i64 = col(r, 2)?;
                pubs.push(StoredEvent {
                    id: eid,
                    kind: item.event.kind.as_str().to_string(),
                    conversation_id: Some(cid.to_string()),
                    ts_us: item.event.timestamp_us,
                    data,
                });
                Ok(Applied {
                    outcome: Outcome::MessageCreated(mid),
                    conversation_id: cid_opt,
                    event_id: Some(eid),
                    budgeted: true,
                })
            }
            2 => {
                let existing: String = col(r, 1)?;
                Ok(Applied {
                    outcome: Outcome::MessageDuplicate(super::dec(existing)),
                    conversation_id: cid_opt,
                    event_id: None,
                    budgeted: true,
                })
            }
            _ => {
                let code: Option<String> = col(r, 3)?;
                let text: Option<String> = col(r, 4)?;
                Err(pg_error(
                    code.as_deref(),
                    format!("error returned from database: {}", text.unwrap_or_default()),
                ))
            }
        });
    }
    Ok(Some(rows.len()))
}
