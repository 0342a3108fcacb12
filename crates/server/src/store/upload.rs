//! What a historical upload (SPEC 3, `POST /api/sessions/upload`) asks the store to do,
//! and what it did. The bodies are parsed and validated by
//! [`agentpipe_protocol::upload`]; the store applies one upload in one transaction.

use agentpipe_protocol::upload::SessionUpload;

use super::IngestItem;

/// One validated upload, ready to store (all of it or nothing).
#[derive(Debug, Clone)]
pub enum UploadPlan {
    /// Shape 1 or 2: a finished session, stored as a new conversation with source
    /// `cli-upload` unless its identity is already stored.
    Session(Box<SessionUpload>),
    /// Shape 3: the events of an AgentPipe CLI event log with their 1-based line numbers,
    /// merged event by event exactly as live ingest would apply them (source `cli-upload`).
    EventLog(Vec<(usize, IngestItem)>),
}

/// The outcome of [`UploadPlan`] (SPEC 3 responses).
#[derive(Debug, Clone, PartialEq)]
pub enum UploadResult {
    /// A new conversation (201).
    Created {
        /// Its id (shape 2 `conversation.id`, else generated).
        conversation_id: String,
        /// Messages stored.
        messages_created: i64,
        /// Participants stored.
        participants_created: i64,
        /// The stored total message count (SPEC 2.4 rule).
        total_messages: i64,
        /// The stored token total.
        total_tokens: i64,
        /// The stored cost total, USD.
        total_cost: f64,
        /// Event-log id of the `session.uploaded` event.
        event_id: i64,
    },
    /// The same session was uploaded before (200 `duplicate: true`); nothing stored.
    Duplicate {
        /// The stored conversation.
        conversation_id: String,
    },
    /// A state file of a run already stored (issue #12), merged into it: 200 `merged`.
    MergedRun {
        /// The stored conversation it merged into.
        conversation_id: String,
        /// Messages added.
        messages_created: i64,
    },
    /// Shape 2 naming a deleted conversation (SPEC 2.4 "Deleted"): stored nowhere (200).
    Deleted {
        /// The deleted conversation's id.
        conversation_id: String,
    },
    /// An event log merged event by event (201 when `events_applied > 0`, else 200).
    Merged {
        /// The conversation of the log (the first one named, in line order).
        conversation_id: Option<String>,
        /// Every conversation the log names, in order of first appearance.
        conversation_ids: Vec<String>,
        /// Events newly applied (and appended to the event log).
        events_applied: i64,
        /// Events already stored (repeats, duplicates, events of deleted conversations).
        events_already_present: i64,
        /// Messages newly stored.
        messages_created: i64,
        /// The stored token total of `conversation_id`.
        total_tokens: Option<i64>,
        /// The stored cost total of `conversation_id`, USD.
        total_cost: Option<f64>,
        /// The stored message count of `conversation_id`.
        total_messages: Option<i64>,
    },
}

/// Counts what merging an event log did, event by event, for [`UploadResult::Merged`]
/// (SPEC 3: `eventsApplied`, `eventsAlreadyPresent`). Shared by both backends.
#[derive(Debug, Default)]
pub struct MergeTally {
    applied: i64,
    present: i64,
    messages_created: i64,
    ids: Vec<String>,
}

impl MergeTally {
    /// Counts one applied (or already present) event.
    pub fn count(&mut self, a: super::Applied) {
        use super::Outcome;
        match a.outcome {
            Outcome::StartCreated(_) | Outcome::Accepted => self.applied += 1,
            Outcome::MessageCreated(_) => {
                self.applied += 1;
                self.messages_created += 1;
            }
            Outcome::StartExists(_)
            | Outcome::MessageDuplicate(_)
            | Outcome::Repeat
            | Outcome::Deleted => self.present += 1,
        }
        if let Some(c) = a.conversation_id {
            if !self.ids.contains(&c) {
                self.ids.push(c);
            }
        }
    }

    /// The conversations an event log upload touched, when it applied anything (each
    /// then gets a `conversation.updated` event with its new completeness, issue #12).
    pub fn conversations_changed(&self) -> &[String] {
        if self.applied > 0 {
            &self.ids
        } else {
            &[]
        }
    }

    /// The conversation the response reports (the first one named, in line order).
    pub fn first(&self) -> Option<&str> {
        self.ids.first().map(String::as_str)
    }

    /// The result, with the first conversation's stored totals
    /// `(messages, tokens, cost USD)` when known.
    pub fn finish(self, totals: Option<(i64, i64, f64)>) -> UploadResult {
        UploadResult::Merged {
            conversation_id: self.ids.first().cloned(),
            conversation_ids: self.ids,
            events_applied: self.applied,
            events_already_present: self.present,
            messages_created: self.messages_created,
            total_messages: totals.map(|t| t.0),
            total_tokens: totals.map(|t| t.1),
            total_cost: totals.map(|t| t.2),
        }
    }
}

/// Names the event-log line in a validation error raised while applying it (SPEC 3:
/// "a 400 naming the line").
pub fn at_line(line: usize, e: super::StoreError) -> super::StoreError {
    match e {
        super::StoreError::Invalid { field, message } => super::StoreError::Invalid {
            field: format!("line {line}: {field}"),
            message,
        },
        other => other,
    }
}

/// The timestamp of a `conversation.updated` event (issue #12): the latest event time
/// among an event log's items of conversation `cid` (so every backend logs the same
/// event), else `now` (µs).
pub fn latest_ts(items: &[(usize, super::IngestItem)], cid: &str, now: i64) -> i64 {
    items
        .iter()
        .filter(|(_, i)| i.event.conversation_id() == Some(cid))
        .map(|(_, i)| i.event.timestamp_us)
        .max()
        .unwrap_or(now)
}

/// One stored agent message, as the state-file merge compares it (issue #12).
#[derive(Debug, Clone)]
pub struct StoredAgentMessage {
    /// Its agent (`agent_id`, else `agent_type`).
    pub agent: String,
    /// Its text.
    pub content: String,
    /// Its sequence number.
    pub sequence_number: Option<i64>,
}

/// The agent of an uploaded or stored message for matching: `agent_id`, else the type.
pub fn agent_key(m: &agentpipe_protocol::event::Message) -> String {
    m.agent_id.clone().unwrap_or_else(|| m.agent_type.clone())
}

/// Slack of [`same_run_window`] on either side, µs (60 s).
pub const SAME_RUN_SLACK_US: i64 = 60_000_000;

/// The start times (µs, inclusive) a stored conversation may have to be the streamed run a
/// state file describes (issue #12): from the file's `startedAt` to the end of its run
/// (completion or last message, whichever is later), each widened by
/// [`SAME_RUN_SLACK_US`]. A streamed run starts when its `conversation.started` says, or,
/// when that event was lost, at its first surviving event, never before the file's start.
/// A conversation with the same prompt and line-up started outside it is another run.
pub fn same_run_window(s: &SessionUpload) -> (i64, i64) {
    let end = s
        .messages
        .iter()
        .map(|m| m.timestamp_us)
        .chain(s.completed_at_us)
        .fold(s.started_at_us, i64::max);
    (
        s.started_at_us.saturating_sub(SAME_RUN_SLACK_US),
        end.saturating_add(SAME_RUN_SLACK_US),
    )
}

/// Whether an uploaded session (a CLI state file, shape 1) is **the same run** as a
/// stored conversation, and if so which of its messages to add (issue #12).
///
/// The caller has already matched the initial prompt and the participant line-up
/// (agent ids and types, in order). Here: the upload's agent messages (role `agent`)
/// are matched to the stored agent messages by (agent, content), each stored message used
/// once; it is the same run when more than half of the shorter side matches (and at
/// least one message). The answer is the indexes into `upload` of the agent messages not
/// stored, each with the sequence number to give it: its 1-based position among the
/// upload's agent messages (the CLI numbers agent messages the same way) when every
/// matched stored message carries exactly that number, else none. Host prompts,
/// announcements and other non-agent messages are not added: the stream never carries
/// them (the prompt and announcements are kept on the conversation and its participants).
/// `None` when not the same run.
pub fn same_run_additions(
    upload: &[agentpipe_protocol::event::Message],
    stored: &[StoredAgentMessage],
) -> Option<Vec<(usize, Option<i64>)>> {
    let agent_msgs: Vec<(usize, &agentpipe_protocol::event::Message)> = upload
        .iter()
        .enumerate()
        .filter(|(_, m)| m.role == "agent")
        .collect();
    let mut used = vec![false; stored.len()];
    let mut matched = 0usize;
    let mut numbering_holds = true;
    let mut missing = Vec::new();
    for (k, (i, m)) in agent_msgs.iter().enumerate() {
        let agent = agent_key(m);
        let hit = stored
            .iter()
            .enumerate()
            .position(|(j, s)| !used[j] && s.agent == agent && s.content == m.content);
        match hit {
            Some(j) => {
                used[j] = true;
                matched += 1;
                if stored[j].sequence_number.is_some_and(|s| s != k as i64 + 1) {
                    numbering_holds = false;
                }
            }
            None => missing.push((*i, k as i64 + 1)),
        }
    }
    let shorter = agent_msgs.len().min(stored.len());
    if matched == 0 || matched * 2 <= shorter {
        return None;
    }
    Some(
        missing
            .into_iter()
            .map(|(i, seq)| (i, numbering_holds.then_some(seq)))
            .collect(),
    )
}
