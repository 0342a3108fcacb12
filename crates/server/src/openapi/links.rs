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

/// utoipa 5.5 writes a Link's `operationId` and `operationRef` as `operation_id` and
/// `operation_ref`; renames them in the rendered document (OpenAPI 3.1, Link Object).
pub fn fix_key_names(doc: &mut serde_json::Value) {
    use serde_json::Value;
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut().filter_map(Value::as_object_mut) {
        for op in item.values_mut().filter_map(Value::as_object_mut) {
            let Some(resps) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                continue;
            };
            for resp in resps.values_mut() {
                let Some(links) = resp.get_mut("links").and_then(Value::as_object_mut) else {
                    continue;
                };
                for link in links.values_mut().filter_map(Value::as_object_mut) {
                    for (from, to) in [
                        ("operation_id", "operationId"),
                        ("operation_ref", "operationRef"),
                    ] {
                        if let Some(x) = link.remove(from) {
                            link.insert(to.to_string(), x);
                        }
                    }
                }
            }
        }
    }
}
