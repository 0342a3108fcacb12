"""A two-agent conversation traced as an instrumented multi-agent app would trace it.

Used by crates/server/tests/api/otel_sdk.rs (issue #19). It uses only the real
OpenTelemetry Python SDK and its OTLP/HTTP exporter, configured from the standard
environment (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS,
OTEL_EXPORTER_OTLP_COMPRESSION), and the SDK's own BatchSpanProcessor.

A "Researcher" agent (current GenAI conventions: gen_ai.provider.name,
gen_ai.input.messages / gen_ai.output.messages, gen_ai.system_instructions, an
execute_tool span) and a "Writer" agent (the older form: gen_ai.system,
gen_ai.usage.prompt_tokens / completion_tokens, gen_ai.system.message /
gen_ai.user.message / gen_ai.choice span events) run under one root span. Each agent's
turn is flushed as its own export batch; the root span goes last.

Usage: python3 two_agents.py <conversation id>
Prints the spans' start and end times (ns) as one JSON object on standard output.
"""

import json
import sys
import time

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

conversation = sys.argv[1]
provider = TracerProvider(resource=Resource.create({"service.name": "travel-crew"}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
tracer = provider.get_tracer("agentpipe.tests.two_agents")
times = {}


def keep(name, span):
    times[name] = {"start": span.start_time, "end": span.end_time}


def pause():
    time.sleep(0.005)


WEATHER_CALL = {"city": "Lisbon"}
PROMPT = "Plan a sunny day in Lisbon."
FINDINGS = "Lisbon will be sunny (24 °C): start at Belém, lunch in Alfama."
ITINERARY = "9:00 Belém tower · 13:00 lunch in Alfama · 18:00 sunset at Miradouro."

with tracer.start_as_current_span("travel_crew") as root:
    root.set_attribute("gen_ai.conversation.id", conversation)
    pause()

    # Researcher: current conventions.
    with tracer.start_as_current_span("invoke_agent Researcher") as agent:
        agent.set_attributes({
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.id": "researcher",
            "gen_ai.agent.name": "Researcher",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.conversation.id": conversation,
        })
        pause()
        system = [{"type": "text", "content": "You are a meticulous travel researcher."}]
        user = {"role": "user", "parts": [{"type": "text", "content": PROMPT}]}
        call = {"role": "assistant", "parts": [
            {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": WEATHER_CALL}]}
        with tracer.start_as_current_span("chat gpt-4o") as chat:
            chat.set_attributes({
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.input_tokens": 1000,
                "gen_ai.usage.output_tokens": 100,
                "gen_ai.system_instructions": json.dumps(system),
                "gen_ai.input.messages": json.dumps([user]),
                "gen_ai.output.messages": json.dumps([dict(call, finish_reason="tool_call")]),
            })
            pause()
        keep("chat1", chat)
        with tracer.start_as_current_span("execute_tool get_weather") as tool:
            tool.set_attributes({
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "get_weather",
                "gen_ai.tool.call.id": "call_1",
                "gen_ai.tool.call.arguments": json.dumps(WEATHER_CALL),
                "gen_ai.tool.call.result": "Sunny, 24 °C",
            })
            pause()
        keep("tool", tool)
        with tracer.start_as_current_span("chat gpt-4o") as chat:
            chat.set_attributes({
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.input_tokens": 1200,
                "gen_ai.usage.output_tokens": 300,
                "gen_ai.system_instructions": json.dumps(system),
                "gen_ai.input.messages": json.dumps([user, call, {"role": "tool", "parts": [
                    {"type": "tool_call_response", "id": "call_1", "response": "Sunny, 24 °C"}]}]),
                "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [
                    {"type": "text", "content": FINDINGS}], "finish_reason": "stop"}]),
            })
            pause()
        keep("chat2", chat)
    keep("researcher", agent)
    provider.force_flush()

    # Writer: the older form.
    with tracer.start_as_current_span("invoke_agent Writer") as agent:
        agent.set_attributes({
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "Writer",
            "gen_ai.system": "anthropic",
            "gen_ai.conversation.id": conversation,
        })
        pause()
        with tracer.start_as_current_span("chat claude-3-5-sonnet") as chat:
            chat.set_attributes({
                "gen_ai.system": "anthropic",
                "gen_ai.request.model": "claude-3-5-sonnet",
                "gen_ai.response.model": "claude-3-5-sonnet-20241022",
                "gen_ai.usage.prompt_tokens": 400,
                "gen_ai.usage.completion_tokens": 200,
            })
            chat.add_event("gen_ai.system.message", {"content": "You write short, friendly itineraries."})
            chat.add_event("gen_ai.user.message", {"content": "Turn this into an itinerary: " + FINDINGS})
            chat.add_event("gen_ai.choice", {
                "index": 0, "finish_reason": "stop",
                "message": json.dumps({"role": "assistant", "content": ITINERARY})})
            pause()
        keep("chat3", chat)
    keep("writer", agent)
    provider.force_flush()
    pause()
keep("root", root)
provider.shutdown()
print(json.dumps(times))
