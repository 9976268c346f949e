"""The bundled LLM server (OpenAI, Anthropic, Gemini and Bedrock APIs) streaming deterministic replies, stdlib only.

Why it exists: the demo (`rollout-otel demo`) must show a real streamed call made with the real `openai` client
without an API key or network access, users rehearse what tracing shows when a provider is slow, fails or stalls
(`rollout-otel serve`), and the test-suite drives the real clients through every stream shape and failure mode they
can meet. Recent clients talk HTTP through `httpx2`, which transport mocks do not intercept, so the only faithful
fake is a real server on a real socket.

`LocalLLMServer` serves `POST /v1/chat/completions`, `POST /v1/responses` and `POST /v1/messages`, streamed
(server-sent events over chunked transfer encoding) or not; Gemini's `:generateContent` and
`:streamGenerateContent?alt=sse`; and Bedrock's `POST /model/{modelId}/converse`, `/converse-stream`, `/invoke` and
`/invoke-with-response-stream` (binary `application/vnd.amazon.eventstream` framing); on 127.0.0.1. What each reply
looks like and how it fails is chosen per request by the `x-rollout-scenario` header (or server-wide), see `Scenario`.
"""

from __future__ import annotations

from ._http import RecordedRequest
from ._scenarios import SCENARIO_HEADER, Scenario, scenario_headers
from ._server import LocalLLMServer
from ._text import DEFAULT_REFUSAL, DEFAULT_REPLY, DEFAULT_THINKING, count_prompt_tokens, reply_deltas, tokenize

__all__ = [
    "DEFAULT_REFUSAL",
    "DEFAULT_REPLY",
    "DEFAULT_THINKING",
    "SCENARIO_HEADER",
    "LocalLLMServer",
    "RecordedRequest",
    "Scenario",
    "count_prompt_tokens",
    "reply_deltas",
    "scenario_headers",
    "tokenize",
]
