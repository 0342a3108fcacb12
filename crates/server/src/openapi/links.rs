//! OpenAPI links from the create calls to the reads of what they created (issue #17), so
//! that tools that follow them (schemathesis' stateful phase, generated clients' docs)
//! can chain `POST /api/ingest` or `POST /api/sessions/upload` into
//! `GET /api/sessions/{id}`, its export and its deletion.

use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::{OpenApi, RefOr};

/// Operations that take the conversation id as path parameter `id`, by operationId.
const READS: [(&str, &str); 3] = [
    ("detail", "Read the conversation"),
    ("export", "Export the conversation"),
    ("delete", "Delete the conversation"),
];

fn add(op: Option<&mut Operation>, statuses: &[&str], pointers: &[(&str, &str)]) {
    let Some(op) = op else { return };
    for status in statuses {
        let Some(RefOr::T(resp)) = op.responses.responses.get_mut(*status) else {
            continue;
        };
        for (suffix, pointer) in pointers {
            for (operation_id, what) in READS {
                resp.links.insert(
                    format!("{operation_id}{suffix}"),
                    LinkBuilder::new()
                        .operation_id(operation_id)
                        .parameter("id", format!("$response.body#/{pointer}"))
                        .description(format!("{what} this call created or named"))
                        .build()
                        .into(),
                );
            }
        }
    }
}

/// Adds the links to `api`'s ingest and upload answers.
pub fn add_to(api: &mut OpenApi) {
    if let Some(item) = api.paths.paths.get_mut("/api/ingest") {
        // Key names follow the dialect: `conversation_id` (bridge), `conversationId` (spec).
        add(
            item.post.as_mut(),
            &["201", "200"],
            &[("Bridge", "conversation_id"), ("Spec", "conversationId")],
        );
    }
    if let Some(item) = api.paths.paths.get_mut("/api/sessions/upload") {
        add(
            item.post.as_mut(),
            &["201", "200"],
            &[("", "conversationId")],
        );
    }
}
