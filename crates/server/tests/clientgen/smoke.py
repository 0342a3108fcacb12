"""Smoke test of a client generated from GET /api/openapi.json (issue #17).

Run by crates/server/tests/api/generated_client.rs after `openapi-python-client generate`
(package `apclient` on PYTHONPATH): ingests a conversation in both dialects, uploads a
session, lists, reads and exports it, through the generated functions and models only.
The generated client parses every answer into its documented model and raises on an
undocumented status, so a document that does not describe the wire fails here.

Usage: smoke.py BASE_URL API_KEY
"""

import datetime
import sys
import uuid

from apclient import AuthenticatedClient
from apclient.api.ingest import ingest, upload
from apclient.api.sessions import detail, export, list_
from apclient.models import (
    BatchResult,
    BridgeMessageData,
    BridgeMessageEvent,
    BridgeMessageEventType,
    BridgeParticipant,
    BridgeStartedData,
    BridgeStartedEvent,
    BridgeStartedEventType,
    BridgeCompletedData,
    BridgeCompletedEvent,
    BridgeCompletedEventType,
    BridgeStatus,
    ExportFormat,
    SessionDetail,
    SessionList,
    SpecMessage,
    SpecMessageData,
    SpecMessageEvent,
    SpecMessageEventType,
    SpecParticipant,
    SpecStartedData,
    SpecStartedEvent,
    SpecStartedEventType,
    UploadResponse,
    UploadSpecShape,
)


def field(parsed, snake, camel):
    """A result key in either dialect: a typed attribute, or an additional property."""
    v = getattr(parsed, snake, None)
    if v not in (None,) and type(v).__name__ != "Unset":
        return v
    return parsed.additional_properties.get(camel) or parsed.additional_properties.get(snake)


def expect(resp, status, what):
    assert resp.status_code == status, f"{what}: {resp.status_code} {resp.content[:300]!r}"
    assert resp.parsed is not None, f"{what}: answer not parsed"
    return resp.parsed


def main():
    base, key = sys.argv[1], sys.argv[2]
    c = AuthenticatedClient(base_url=base, token=key, raise_on_unexpected_status=True)
    ts = datetime.datetime(2025, 11, 4, 8, 11, 38, tzinfo=datetime.timezone.utc)
    run = uuid.uuid4().hex[:12]
    word = "zqgen" + "".join(ch for ch in run if ch.isalpha()) + "x"

    # Bridge dialect, as the AgentPipe CLI sends it.
    cid = f"gen-{run}"
    p = expect(
        ingest.sync_detailed(
            client=c,
            body=BridgeStartedEvent(
                type_=BridgeStartedEventType.CONVERSATION_STARTED,
                timestamp=ts,
                data=BridgeStartedData(
                    conversation_id=cid,
                    mode="round-robin",
                    initial_prompt=f"Generated client {word}",
                    participants=[
                        BridgeParticipant(agent_type="claude", agent_id="claude-0", name="Claude")
                    ],
                ),
            ),
        ),
        201,
        "bridge start",
    )
    assert field(p, "conversation_id", "conversationId") == cid, p
    p = expect(
        ingest.sync_detailed(
            client=c,
            body=BridgeMessageEvent(
                type_=BridgeMessageEventType.MESSAGE_CREATED,
                timestamp=ts + datetime.timedelta(seconds=5),
                data=BridgeMessageData(
                    conversation_id=cid,
                    message_id=f"{cid}-m1",
                    agent_id="claude-0",
                    agent_type="claude",
                    content="Hi from the generated client!",
                    tokens_used=42,
                    cost=0.001,
                ),
            ),
        ),
        201,
        "bridge message",
    )
    # A batch (one completion) answers 200 with one result per item.
    b = expect(
        ingest.sync_detailed(
            client=c,
            body=[
                BridgeCompletedEvent(
                    type_=BridgeCompletedEventType.CONVERSATION_COMPLETED,
                    timestamp=ts + datetime.timedelta(seconds=9),
                    data=BridgeCompletedData(conversation_id=cid, status=BridgeStatus.COMPLETED),
                )
            ],
        ),
        200,
        "bridge batch",
    )
    assert isinstance(b, BatchResult) and b.accepted == 1 and b.rejected == 0, b

    # Spec dialect: the server generates the id; Idempotency-Key makes the retry safe.
    start = SpecStartedEvent(
        type_=SpecStartedEventType.CONVERSATION_STARTED,
        timestamp=ts,
        data=SpecStartedData(
            name=f"Spec {word}",
            mode="free-form",
            initial_prompt="Hello",
            participants=[SpecParticipant(agent_type="gemini", agent_id="a", agent_name="Gemini")],
        ),
    )
    p = expect(
        ingest.sync_detailed(client=c, body=start, idempotency_key=f"gen-{run}"), 201, "spec start"
    )
    sid = field(p, "conversation_id", "conversationId")
    assert sid, p
    again = expect(
        ingest.sync_detailed(client=c, body=start, idempotency_key=f"gen-{run}"), 200, "spec retry"
    )
    assert field(again, "conversation_id", "conversationId") == sid, again
    expect(
        ingest.sync_detailed(
            client=c,
            body=SpecMessageEvent(
                type_=SpecMessageEventType.MESSAGE_CREATED,
                timestamp=ts + datetime.timedelta(seconds=3),
                data=SpecMessageData(
                    conversation_id=sid,
                    message=SpecMessage(agent_type="gemini", agent_id="a", content="Spec hello"),
                ),
            ),
        ),
        201,
        "spec message",
    )

    # Upload shape 1.
    shape = UploadSpecShape.from_dict(
        {
            "session": {
                "name": f"Upload {word}",
                "mode": "round-robin",
                "initialPrompt": "SSE or WebSockets?",
                "status": "COMPLETED",
                "startedAt": "2025-11-04T08:11:38Z",
                "metadata": {"originalId": f"gen-{run}-upload"},
            },
            "participants": [{"agentId": "claude-0", "agentType": "claude", "agentName": "Claude"}],
            "messages": [
                {
                    "agentId": "claude-0",
                    "role": "agent",
                    "content": "SSE.",
                    "timestamp": "2025-11-04T08:11:54Z",
                    "metrics": {"inputTokens": 120, "outputTokens": 40},
                }
            ],
        }
    )
    u = expect(upload.sync_detailed(client=c, body=shape), 201, "upload")
    assert isinstance(u, UploadResponse) and u.success and u.messages_created == 1, u
    dup = expect(upload.sync_detailed(client=c, body=shape), 200, "upload again")
    assert dup.duplicate is True and dup.conversation_id == u.conversation_id, dup

    # List, read, export.
    lst = list_.sync(client=c, q=word, limit=100)
    assert isinstance(lst, SessionList), lst
    ids = {s.id for s in lst.data}
    assert {cid, sid, u.conversation_id} <= ids, (ids, cid, sid, u.conversation_id)
    d = detail.sync(cid, client=c, include_messages=True, message_limit=10)
    assert isinstance(d, SessionDetail), d
    assert d.status == "COMPLETED" and d.total_tokens == 42, d
    assert [m.content for m in d.messages] == ["Hi from the generated client!"], d.messages
    ds = detail.sync(sid, client=c, include_messages=True)
    assert isinstance(ds, SessionDetail) and ds.messages[0].content == "Spec hello", ds
    # The generator parses a 200 as its first content type (JSON): the Markdown download
    # goes through the client's own HTTP session.
    md = c.get_httpx_client().get(
        f"/api/sessions/{cid}/export", params={"format": ExportFormat.MARKDOWN.value}
    )
    assert md.status_code == 200 and "Hi from the generated client!" in md.text, md
    js = export.sync_detailed(u.conversation_id, client=c, format_=ExportFormat.JSON)
    assert js.status_code == 200 and isinstance(js.parsed, SessionDetail), js
    assert js.parsed.messages[0].content == "SSE.", js.parsed
    missing = detail.sync_detailed(f"gen-{run}-none", client=c)
    assert missing.status_code == 404, missing
    print("generated client smoke test: 2 dialects, upload, list, detail, export: ok")


if __name__ == "__main__":
    main()
