"""Schemathesis hooks for the AgentPipe Web API (loaded through SCHEMATHESIS_HOOKS by
crates/server/tests/api/schemathesis.rs).

`application/x-ndjson` (ingest batches and event-log uploads) has no built-in serializer:
a generated string is sent as is, anything else as one JSON document per line (a list:
one line per item).
"""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    items = value if isinstance(value, list) else [value]
    return "".join(json.dumps(i) + "\n" for i in items).encode("utf-8", "surrogatepass")
