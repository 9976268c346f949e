"""Every scenario setting with one line and one example, for `rollout-otel serve --help` (the README shows the same)."""

from __future__ import annotations

import json
from typing import Final

from ._scenarios import LIMITS, SCENARIO_HEADER, Scenario

GUIDE: Final[tuple[tuple[str, str, str], ...]] = (
    (
        "chunks=N",
        f"exactly N text deltas, cycling the reply's words (a long stream; at most {LIMITS['chunks']:,.0f})",
        "chunks=2000",
    ),
    ("delay=SECONDS", f"sleep before each content delta (a slow stream; at most {LIMITS['delay']:g})", "delay=0.2"),
    (
        "first_delay=SECONDS",
        f"streams: wait before the first content delta (a model slow to start; at most {LIMITS['first_delay']:g})",
        "first_delay=12",
    ),
    (
        "stall=SECONDS;stall_at=K",
        f"streams: pause once after K content deltas (K: half the reply if unset; at most {LIMITS['stall']:g})",
        "stall=15;stall_at=20",
    ),
    ("status=CODE", "answer with this HTTP error status (400-599) and the provider's error body", "status=429"),
    ("drop_after=K", "send K content deltas, then close the connection mid-stream", "drop_after=10"),
    ("error_after=K", "send K content deltas, then the provider's in-stream error event", "error_after=10"),
    ("failed_after=K", "Responses: K deltas, then `response.failed`; other APIs: like error_after", "failed_after=10"),
    ("incomplete=1", "the reply is cut by the token limit (finish reason length / max_tokens)", "incomplete=1"),
    ("tools=1", "call a tool (`get_weather` if the request defines none)", "tools=1"),
    ("refusal=1", "Chat Completions: stream a refusal instead of content", "refusal=1"),
    (
        "text=TEXT",
        f"URL-encoded reply text instead of the default paragraph (at most {LIMITS['text']:,.0f} characters)",
        "text=Hello%2C%20world",
    ),
    ("cached=N", "report N of the prompt tokens as read from the prompt cache", "cached=100"),
    (
        "cache_write=N",
        "Anthropic and Bedrock: report N prompt tokens as written to the prompt cache",
        "cache_write=100",
    ),
    ("thinking=1", "Anthropic, Gemini and Bedrock: a thinking block before the reply", "thinking=1"),
    (
        "hops=N",
        f"Gemini streams: the reply in N requests, resumed by continuation tokens (at most {LIMITS['hops']:g})",
        "hops=3",
    ),
)
"""(setting, what it does, an example header value); a test checks it names every field of `Scenario`."""


def client_call(spec: str) -> str:
    """The client-side way to ask for `spec`: `extra_headers=scenario_headers(...)`."""
    scenario = Scenario.parse(spec)
    arguments = []
    for item in spec.split(";"):
        key = item.partition("=")[0].strip()
        value = getattr(scenario, key)
        shown = json.dumps(value) if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else value
        arguments.append(f"{key}={shown}")
    return f"extra_headers=scenario_headers({', '.join(arguments)})"


def guide_text(port: int) -> str:
    """The scenarios section of `rollout-otel serve --help`: every setting with its header and its client call."""
    width = max(len(setting) for setting, _, _ in GUIDE)
    lines = [
        f"scenarios: a request picks how its reply looks and fails with the header '{SCENARIO_HEADER}: KEY=VALUE;...';",
        "--scenario SPEC sets the default for requests that send none (a request's header is layered on top).",
        "",
    ]
    for setting, meaning, example in GUIDE:
        lines.append(f"  {setting:<{width}}  {meaning}")
        lines.append(f"      -H '{SCENARIO_HEADER}: {example}'  or  {client_call(example)}")
    lines += [
        "",
        "example (a stream that stalls for 15 s after 20 deltas):",
        f"  curl -N http://127.0.0.1:{port}/v1/chat/completions -H 'content-type: application/json' \\",
        f"    -H '{SCENARIO_HEADER}: stall=15;stall_at=20' \\",
        """    -d '{"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "Hi"}]}'""",
        "  from rollout_otel.serve import scenario_headers",
        "  client.chat.completions.create(..., stream=True, extra_headers=scenario_headers(stall=15, stall_at=20))",
        "  rollout-otel serve --scenario 'status=429'   # every request that names no scenario gets a 429",
    ]
    return "\n".join(lines)
