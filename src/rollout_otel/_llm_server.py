"""A local LLM server (OpenAI, Anthropic, Gemini and Bedrock APIs) streaming deterministic replies, stdlib only.

Why it exists: the demo (`rollout-otel demo`) must show a real streamed call made with the real `openai` client
without an API key or network access, and the test-suite must drive the real `openai` and `anthropic` clients
through every stream shape and failure mode they can meet. Recent clients talk HTTP through `httpx2`, which
transport mocks do not intercept, so the only faithful fake is a real server on a real socket.

`LocalLLMServer` serves `POST /v1/chat/completions`, `POST /v1/responses` and `POST /v1/messages`, streamed
(server-sent events over chunked transfer encoding) or not; Gemini's `:generateContent` and
`:streamGenerateContent?alt=sse`; and Bedrock's `POST /model/{modelId}/converse`, `/converse-stream`, `/invoke` and
`/invoke-with-response-stream` (binary `application/vnd.amazon.eventstream` framing); on 127.0.0.1. What each reply
looks like and how it fails is chosen per request by the `x-rollout-scenario` header (or server-wide), see `Scenario`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import socket
import socketserver
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final, Literal
from urllib.parse import quote, unquote, urlsplit

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

SCENARIO_HEADER: Final = "x-rollout-scenario"

DEFAULT_REPLY: Final = (
    "Streaming responses arrive as a sequence of small deltas, each carrying a word or a fragment of one. "
    "A client that prints them as they come feels fast, because the first words appear within a fraction of a "
    "second, even when the whole answer takes several seconds to finish. Tracing such a call is harder than "
    "tracing an ordinary request: the interesting part happens between the first byte and the last, and a span "
    "that only records the final text hides slow starts, stalls in the middle, and connections that drop before "
    "the end. Good telemetry keeps a short preview and reports progress while the stream is still open."
)
DEFAULT_REFUSAL: Final = "I'm sorry, but I can't help with that request."
DEFAULT_THINKING: Final = "The user asks about streaming, so I should explain deltas and why tracing them is hard."

MAX_DELTA_CHARS: Final = 8
"""Longest text delta: a word longer than this is split, the way tokenizers split rare words."""

Flavor = Literal["openai", "anthropic", "bedrock", "gemini"]

_DEFAULT_MODELS: Final[dict[Flavor, str]] = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-sonnet-4-6",
    "bedrock": "anthropic.claude-sonnet-4-6-v1:0",
    "gemini": "gemini-2.5-flash",
}
_DEFAULT_TOOL: Final[tuple[str, dict[str, Any]]] = (
    "get_weather",
    {
        "type": "object",
        "properties": {
            "location": {"type": "string", "description": "City and country"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["location", "unit"],
    },
)
_SAMPLE_STRINGS: Final = {"location": "Paris, France", "city": "Paris", "query": "streamed LLM tracing"}


# --------------------------------------------------------------------------------------------------------------------
# Reply text


_TOKEN_RE: Final = re.compile(r"\s*(?:\w+|[^\w\s])|\s+")


def tokenize(text: str) -> list[str]:
    """Split `text` into token-like deltas: a word or one punctuation mark with its leading whitespace.

    Deltas are 1 to `MAX_DELTA_CHARS` characters and join back to exactly `text`; the same function counts
    prompt tokens, so usage numbers stay consistent with what was sent.
    """
    deltas: list[str] = []
    for match in _TOKEN_RE.finditer(text):
        token = match.group()
        deltas.extend(token[i : i + MAX_DELTA_CHARS] for i in range(0, len(token), MAX_DELTA_CHARS))
    return deltas


def reply_deltas(text: str, count: int | None = None) -> list[str]:
    """The deltas of `text`, or exactly `count` deltas made by cycling its words (for very long streams)."""
    first = tokenize(text)
    if count is None:
        return first
    if not first:
        text, first = DEFAULT_REPLY, tokenize(DEFAULT_REPLY)
    again = first if text[:1].isspace() else tokenize(" " + text)
    deltas = first[:count]
    while len(deltas) < count:
        deltas.extend(again[: count - len(deltas)])
    return deltas


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a message (its role and type tags aside), wherever the API nests it."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key not in ("role", "type"):
                yield from _strings(item)
    elif isinstance(value, Sequence):
        for item in value:
            yield from _strings(item)


def count_prompt_tokens(body: Mapping[str, Any]) -> int:
    """A deterministic prompt size: 3 tokens per message plus its text's deltas, plus 3 to prime the reply.

    The system prompt / instructions count as one more message; a string `input` counts as one message.
    """
    messages: list[Any] = [body[key] for key in ("system", "instructions", "systemInstruction") if body.get(key)]
    conversation = body.get("messages", body.get("input", body.get("contents", [])))
    messages.extend([conversation] if isinstance(conversation, str) else list(conversation or []))
    return 3 + sum(3 + sum(len(tokenize(text)) for text in _strings(message)) for message in messages)


# --------------------------------------------------------------------------------------------------------------------
# Scenarios


class Cut(Enum):
    """How a reply is cut short at the scenario's failure point."""

    DROP = "drop"
    ERROR = "error"
    FAILED = "failed"


def _parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(f"must be >= 0: {value!r}")
    return number


def _non_negative_float(value: str) -> float:
    number = float(value)
    if not number >= 0:
        raise ValueError(f"must be >= 0: {value!r}")
    return number


def _error_status(value: str) -> int:
    status = int(value)
    if not 400 <= status <= 599:
        raise ValueError(f"status must be an HTTP error status (400-599): {value!r}")
    return status


_PARSERS: Final[dict[str, Callable[[str], object]]] = {
    "chunks": _non_negative_int,
    "delay": _non_negative_float,
    "first_delay": _non_negative_float,
    "stall_at": _non_negative_int,
    "stall": _non_negative_float,
    "status": _error_status,
    "drop_after": _non_negative_int,
    "error_after": _non_negative_int,
    "failed_after": _non_negative_int,
    "incomplete": _parse_bool,
    "tools": _parse_bool,
    "refusal": _parse_bool,
    "text": lambda value: unquote(value, errors="surrogatepass"),  # any text, lone surrogates included
    "cached": _non_negative_int,
    "cache_write": _non_negative_int,
    "thinking": _parse_bool,
}


@dataclass(frozen=True)
class Scenario:
    """What a reply looks like and how it fails, from `key=value` pairs separated by semicolons.

    - `chunks=N`: exactly N text deltas, cycling the reply text's words.
    - `delay=SECONDS`: sleep before each content delta (slow streams, the demo).
    - `first_delay=SECONDS`: streams: wait this long before the first content delta, after the response headers and
      any bookkeeping events (a model slow to start: time to first chunk, `waiting` in tail, stall events).
    - `stall=SECONDS` with `stall_at=K`: streams: pause this long once, after K content deltas (a stall mid-stream;
      `stall_at` defaults to half the reply).
    - `status=CODE`: answer with this HTTP error status, a provider-style JSON error body, `retry-after: 0` and
      `retry-after-ms: 1` (both clients treat a zero delay as "unspecified" and back off ~0.5 s; 1 ms they honour).
    - `drop_after=K`: send K content deltas, then close the connection without the stream's terminal events.
    - `error_after=K`: send K content deltas, then an in-stream error (chat: `data: {"error": ...}`; responses and
      messages: `event: error`) and end the stream.
    - `failed_after=K`: responses: send K deltas, then `response.failed`; chat and messages: like `error_after`.
    - `incomplete=1`: the reply is cut by the token limit (responses: `response.incomplete` with reason
      `max_output_tokens`; chat: finish_reason `length`; messages: stop_reason `max_tokens`).
    - `tools=1`: call a tool even if the request defines none (then `get_weather`). Requests with tools always get
      a tool call unless their tool_choice is "none"; the call comes alone unless `text` or `chunks` is also set.
    - `refusal=1`: chat only: stream `refusal` deltas instead of content.
    - `text=...`: URL-encoded reply text (replaces the default paragraph).
    - `cached=N`: report N of the prompt tokens as read from the prompt cache.
    - `cache_write=N`: messages only: report N of the prompt tokens as written to the prompt cache.
    - `thinking=1`: messages only: stream a thinking block (thinking deltas, then a signature) before the reply.

    Failure points beyond the end of the reply are moved to its end: the failure always happens, at the latest just
    before the terminal events. Non-streamed requests: `drop_after` closes the connection without an answer,
    `error_after`/`failed_after` answer 500, `delay` is slept once per delta that would have been sent.
    """

    chunks: int | None = None
    delay: float = 0.0
    first_delay: float = 0.0
    stall_at: int | None = None
    stall: float = 0.0
    status: int | None = None
    drop_after: int | None = None
    error_after: int | None = None
    failed_after: int | None = None
    incomplete: bool = False
    tools: bool = False
    refusal: bool = False
    text: str | None = None
    cached: int = 0
    cache_write: int = 0
    thinking: bool = False

    @classmethod
    def parse(cls, spec: str) -> Scenario:
        """The scenario described by `spec` ("" gives the default: the default paragraph, no failure)."""
        return cls().with_spec(spec)

    def with_spec(self, spec: str) -> Scenario:
        """This scenario with the settings in `spec` layered on top (a request's header over the server's)."""
        updates: dict[str, object] = {}
        for item in spec.split(";"):
            if not item.strip():
                continue
            key, sep, value = item.partition("=")
            key = key.strip().lower().replace("-", "_")
            if not sep or key not in _PARSERS:
                raise ValueError(f"unknown scenario setting {item.strip()!r}; known keys: {', '.join(_PARSERS)}")
            try:
                updates[key] = _PARSERS[key](value if key == "text" else value.strip())
            except ValueError as exc:
                raise ValueError(f"bad scenario value for {key!r}: {exc}") from None
        return replace(self, **updates)  # type: ignore[arg-type]

    def to_spec(self) -> str:
        """The header value that reproduces this scenario (non-default settings only)."""
        parts: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value == f.default:
                continue
            if isinstance(value, bool):
                value = int(value)
            elif isinstance(value, str):
                value = quote(value.encode("utf-8", "surrogatepass"), safe="")
            parts.append(f"{f.name}={value}")
        return ";".join(parts)

    def failure(self) -> tuple[Cut, int] | None:
        """The one failure to inject and after how many content deltas; dropping beats erroring beats failing."""
        for cut, after in ((Cut.DROP, self.drop_after), (Cut.ERROR, self.error_after), (Cut.FAILED, self.failed_after)):
            if after is not None:
                return cut, after
        return None


def scenario_headers(spec: str = "", /, **settings: object) -> dict[str, str]:
    """Request headers selecting a scenario, for `extra_headers=`: `scenario_headers(chunks=5, text="Hi; there")`.

    Settings are validated here so a typo fails in the test rather than as a 400 from the server.
    """
    spec = replace(Scenario.parse(spec), **settings).to_spec()  # type: ignore[arg-type]
    Scenario.parse(spec)
    return {SCENARIO_HEADER: spec}


class _CutReached(Exception):
    """Raised inside a reply generator at the failure point, so the endpoint can emit its own failure frames."""

    def __init__(self, cut: Cut) -> None:
        super().__init__(cut.value)
        self.cut = cut


class _Budget:
    """Counts content deltas as they are generated and stops the reply at the scenario's failure point."""

    def __init__(self, failure: tuple[Cut, int] | None, total: int) -> None:
        self.cut = failure[0] if failure else None
        self.at = min(failure[1], total) if failure else -1
        self.sent = 0

    def check(self) -> None:
        """Raise `_CutReached` if the failure point has been reached."""
        if self.cut is not None and self.sent == self.at:
            raise _CutReached(self.cut)

    def spend(self) -> None:
        """Account for one content delta about to be sent (after checking that it may be)."""
        self.check()
        self.sent += 1


# --------------------------------------------------------------------------------------------------------------------
# What one request is answered with


@dataclass(frozen=True)
class _ToolCall:
    """One tool call: its arguments are a JSON document sent in several pieces."""

    name: str
    arguments: str
    pieces: tuple[str, ...]
    call_id: str = field(default_factory=lambda: _new_id("call_", 24))

    @classmethod
    def for_schema(cls, name: str, schema: Any) -> _ToolCall:
        arguments = json.dumps(_sample_value(schema, name, schema), separators=(",", ":"), ensure_ascii=False)
        pieces = tuple(
            token[i : i + MAX_DELTA_CHARS]
            for token in re.findall(r"\w+|\W+", arguments)
            for i in range(0, len(token), MAX_DELTA_CHARS)
        )
        return cls(name=name, arguments=arguments, pieces=pieces)


def _sample_value(schema: Any, name: str, root: Any) -> Any:
    """A value that satisfies a (simple) JSON schema, so strict and pydantic tool parsing in the clients succeeds."""
    if not isinstance(schema, Mapping):
        return f"sample {name}"
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/") and isinstance(root, Mapping):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        return _sample_value(target, name, root)
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return _sample_value(schema[key][0], name, root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties") or {}
        return {key: _sample_value(sub, key, root) for key, sub in properties.items()}
    if kind == "array":
        return [_sample_value(schema.get("items", {}), name, root)]
    samples: dict[str, Any] = {"integer": 3, "number": 1.5, "boolean": True, "null": None}
    if kind in samples:
        return samples[kind]
    return _SAMPLE_STRINGS.get(name, f"sample {name}")


_GEMINI_SCHEMA_KEYS: Final = ("parameters", "parametersJsonSchema", "parameters_json_schema")  # as the SDK sends it


def _pick_tool(body: Mapping[str, Any], flavor: Flavor, endpoint: str) -> tuple[str, Any] | None:
    """The function tool the model "decides" to call: the named one, else the first; None if tools are off."""
    choice = body.get("tool_choice")
    if choice == "none" or (isinstance(choice, Mapping) and choice.get("type") == "none"):
        return None
    wanted: Any = None
    if flavor == "gemini":
        mode = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode")
        if mode == "NONE":
            return None
        for tool in body.get("tools") or []:
            for declaration in (tool.get("functionDeclarations") or []) if isinstance(tool, Mapping) else []:
                schema = next((declaration[k] for k in _GEMINI_SCHEMA_KEYS if declaration.get(k)), None)
                return declaration.get("name", "tool"), schema
        return None
    if flavor == "bedrock":
        config: Mapping[str, Any] = body.get("toolConfig") or {}
        if not isinstance(config, Mapping):
            return None
        choice = config.get("toolChoice")
        tools = [t["toolSpec"] for t in config.get("tools") or [] if isinstance(t, Mapping) and "toolSpec" in t]
        wanted = (choice.get("tool") or {}).get("name") if isinstance(choice, Mapping) else None
        for spec in tools:
            if spec.get("name") == wanted or wanted is None:
                return spec.get("name", "tool"), (spec.get("inputSchema") or {}).get("json")
        return None
    if isinstance(choice, Mapping):
        wanted = choice.get("name") or (choice.get("function") or {}).get("name")
    candidates: list[tuple[str, Any]] = []
    for tool in body.get("tools") or []:
        if not isinstance(tool, Mapping):
            continue
        if flavor == "anthropic" and "name" in tool and tool.get("type") in (None, "custom"):
            candidates.append((tool["name"], tool.get("input_schema")))
        elif endpoint == "chat" and tool.get("type") == "function" and isinstance(tool.get("function"), Mapping):
            candidates.append((tool["function"].get("name", "tool"), tool["function"].get("parameters")))
        elif endpoint == "responses" and tool.get("type") == "function" and "name" in tool:
            candidates.append((tool["name"], tool.get("parameters")))
    for name, schema in candidates:
        if name == wanted:
            return name, schema
    return candidates[0] if candidates else None


@dataclass(frozen=True)
class _Plan:
    """Everything one reply consists of, decided up front so streamed and non-streamed replies agree."""

    scenario: Scenario
    model: str
    stream: bool
    choices: int
    deltas: tuple[str, ...]
    tool: _ToolCall | None
    prompt_tokens: int
    include_usage: bool
    thinking: tuple[str, ...] = ()
    created: int = field(default_factory=lambda: int(time.time()))

    @classmethod
    def build(cls, body: Mapping[str, Any], scenario: Scenario, flavor: Flavor, endpoint: str) -> _Plan:
        refusal = scenario.refusal and endpoint == "chat"
        picked = None if refusal else _pick_tool(body, flavor, endpoint)
        if picked is None and scenario.tools and not refusal:
            picked = _DEFAULT_TOOL
        tool = _ToolCall.for_schema(*picked) if picked else None
        default_text = DEFAULT_REFUSAL if refusal else DEFAULT_REPLY
        with_text = tool is None or scenario.text is not None or scenario.chunks is not None
        deltas = reply_deltas(scenario.text if scenario.text is not None else default_text, scenario.chunks)
        n = body.get("n") if endpoint == "chat" and body.get("n") is not None else 1
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 128:
            raise ValueError(f"n must be an integer from 1 to 128, got {n!r}")
        options = body.get("stream_options")
        model = body.get("model")
        return cls(
            scenario=scenario,
            model=model if isinstance(model, str) and model else _DEFAULT_MODELS[flavor],
            stream=bool(body.get("stream")),
            choices=n,
            deltas=tuple(deltas) if with_text else (),
            tool=tool,
            prompt_tokens=count_prompt_tokens(body),
            include_usage=isinstance(options, Mapping) and bool(options.get("include_usage")),
            thinking=tuple(reply_deltas(DEFAULT_THINKING)) if scenario.thinking and flavor != "openai" else (),
        )

    @property
    def refusal(self) -> bool:
        return self.scenario.refusal and self.tool is None

    @property
    def text(self) -> str:
        return "".join(self.deltas)

    @property
    def deltas_per_choice(self) -> int:
        return len(self.deltas) + (len(self.tool.pieces) if self.tool else 0) + len(self.thinking)

    @property
    def completion_tokens(self) -> int:
        return self.choices * self.deltas_per_choice

    @property
    def cached_tokens(self) -> int:
        return min(self.scenario.cached, self.prompt_tokens)

    @property
    def cache_written_tokens(self) -> int:
        return min(self.scenario.cache_write, self.prompt_tokens - self.cached_tokens)

    def budget(self) -> _Budget:
        return _Budget(self.scenario.failure(), self.completion_tokens)

    def extra_wait(self, sent: int) -> float:
        """The scenario's one-off waits before the content delta after `sent` others: first token, then the stall."""
        wait = self.scenario.first_delay if sent == 0 else 0.0
        if self.scenario.stall > 0:
            stall_at = self.scenario.stall_at if self.scenario.stall_at is not None else self.completion_tokens // 2
            if sent == stall_at:
                wait += self.scenario.stall
        return wait


def _new_id(prefix: str, length: int = 24) -> str:
    return prefix + uuid.uuid4().hex[:length]


# --------------------------------------------------------------------------------------------------------------------
# Wire format


@dataclass(frozen=True)
class _Frame:
    """One chunk of a streamed reply; `paced` frames (content deltas) wait for the scenario's delay first."""

    data: bytes
    paced: bool = False
    drop: bool = False
    event: str | None = None  # the event's name and JSON payload, for re-framing (Bedrock's InvokeModel streams)
    payload: Any = None


_DROP: Final = _Frame(b"", drop=True)


def _json(value: Any) -> bytes:
    """Compact JSON; text UTF-8 cannot carry (a lone surrogate) goes out escaped, as a real provider may send it."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":")).encode()


def _sse(payload: Any, event: str | None = None, paced: bool = False) -> _Frame:
    head = f"event: {event}\n".encode() if event else b""
    return _Frame(head + b"data: " + _json(payload) + b"\n\n", paced, event=event, payload=payload)


_RETRY_NOW: Final = {"retry-after": "0", "retry-after-ms": "1"}
"""Headers on error replies that make the clients' automatic retries immediate."""


def _error_type(status: int, flavor: Flavor) -> str:
    """The provider's error `type` for an HTTP status, so the clients pick their specific exception classes."""
    if flavor == "gemini":
        names = {
            400: "INVALID_ARGUMENT",
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
            404: "NOT_FOUND",
            429: "RESOURCE_EXHAUSTED",
            503: "UNAVAILABLE",
            504: "DEADLINE_EXCEEDED",
        }
        return names.get(status, "INTERNAL")
    if flavor == "bedrock":
        names = {
            400: "ValidationException",
            403: "AccessDeniedException",
            404: "ResourceNotFoundException",
            408: "ModelTimeoutException",
            424: "ModelErrorException",
            429: "ThrottlingException",
            503: "ServiceUnavailableException",
        }
        return names.get(status, "InternalServerException")
    if flavor == "anthropic":
        names = {
            400: "invalid_request_error",
            401: "authentication_error",
            403: "permission_error",
            404: "not_found_error",
            413: "request_too_large",
            429: "rate_limit_error",
            529: "overloaded_error",
        }
        return names.get(status, "api_error")
    names = {
        400: "invalid_request_error",
        401: "invalid_request_error",
        403: "invalid_request_error",
        404: "invalid_request_error",
        429: "rate_limit_exceeded",
    }
    return names.get(status, "server_error")


def _error_body(status: int, flavor: Flavor, message: str) -> dict[str, Any]:
    kind = _error_type(status, flavor)
    if flavor == "bedrock":
        return {"message": message}
    if flavor == "gemini":
        return {"error": {"code": status, "message": message, "status": kind}}
    if flavor == "anthropic":
        return {"type": "error", "error": {"type": kind, "message": message}, "request_id": _new_id("req_")}
    return {"error": {"message": message, "type": kind, "param": None, "code": kind}}


# --------------------------------------------------------------------------------------------------------------------
# Chat Completions


def _chat_usage(plan: _Plan) -> dict[str, Any]:
    return {
        "prompt_tokens": plan.prompt_tokens,
        "completion_tokens": plan.completion_tokens,
        "total_tokens": plan.prompt_tokens + plan.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": plan.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _chat_finish_reason(plan: _Plan) -> str:
    if plan.scenario.incomplete:
        return "length"
    return "tool_calls" if plan.tool else "stop"


def _chat_steps(plan: _Plan) -> list[tuple[dict[str, Any], bool]]:
    """One choice's deltas in order, each flagged whether it is a content delta (counted, paced, may be cut)."""
    field_name = "refusal" if plan.refusal else "content"
    steps: list[tuple[dict[str, Any], bool]] = [
        ({"role": "assistant", "content": None if plan.refusal else "", "refusal": "" if plan.refusal else None}, False)
    ]
    steps.extend(({field_name: piece}, True) for piece in plan.deltas)
    if plan.tool:
        tool = plan.tool
        start = {"index": 0, "id": tool.call_id, "type": "function", "function": {"name": tool.name, "arguments": ""}}
        steps.append(({"tool_calls": [start]}, False))
        steps.extend(({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}, True) for piece in tool.pieces)
    return steps


def _chat_stream(plan: _Plan) -> Iterator[_Frame]:
    """`chat.completion.chunk`s: choices interleaved delta by delta, then finish reasons, usage and `[DONE]`."""
    head: dict[str, Any] = {
        "id": _new_id("chatcmpl-", 29),
        "object": "chat.completion.chunk",
        "created": plan.created,
        "model": plan.model,
        "service_tier": "default",
        "system_fingerprint": "fp_rollout",
    }
    usage_null = {"usage": None} if plan.include_usage else {}

    def chunk(index: int, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**head, "choices": [choice], **usage_null}

    budget = plan.budget()
    steps = _chat_steps(plan)
    try:
        for delta, counted in steps:
            for index in range(plan.choices):
                if counted:
                    budget.spend()
                yield _sse(chunk(index, delta), paced=counted)
        budget.check()
    except _CutReached as reached:
        yield _DROP if reached.cut is Cut.DROP else _sse(_error_body(500, "openai", "The server had an error."))
        return
    for index in range(plan.choices):
        yield _sse(chunk(index, {}, _chat_finish_reason(plan)))
    if plan.include_usage:
        yield _sse({**head, "choices": [], "usage": _chat_usage(plan)})
    yield _Frame(b"data: [DONE]\n\n")


def _chat_completion(plan: _Plan) -> dict[str, Any]:
    """A non-streamed `chat.completion` with one message per choice."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if plan.refusal or (plan.tool and not plan.deltas) else plan.text,
        "refusal": plan.text if plan.refusal else None,
        "annotations": [],
    }
    if plan.tool:
        function = {"name": plan.tool.name, "arguments": plan.tool.arguments}
        message["tool_calls"] = [{"id": plan.tool.call_id, "type": "function", "function": function}]
    choices = [
        {"index": i, "message": message, "logprobs": None, "finish_reason": _chat_finish_reason(plan)}
        for i in range(plan.choices)
    ]
    return {
        "id": _new_id("chatcmpl-", 29),
        "object": "chat.completion",
        "created": plan.created,
        "model": plan.model,
        "choices": choices,
        "usage": _chat_usage(plan),
        "service_tier": "default",
        "system_fingerprint": "fp_rollout",
    }


# --------------------------------------------------------------------------------------------------------------------
# Responses


def _responses_usage(plan: _Plan) -> dict[str, Any]:
    return {
        "input_tokens": plan.prompt_tokens,
        "input_tokens_details": {"cached_tokens": plan.cached_tokens, "cache_write_tokens": 0},
        "output_tokens": plan.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": plan.prompt_tokens + plan.completion_tokens,
    }


@dataclass
class _ResponseState:
    """What a Responses stream has said so far: ids, the next sequence number and the output built up."""

    plan: _Plan
    response_id: str = field(default_factory=lambda: "resp_" + uuid.uuid4().hex + uuid.uuid4().hex[:16])
    message_id: str = field(default_factory=lambda: "msg_" + uuid.uuid4().hex + uuid.uuid4().hex[:16])
    function_id: str = field(default_factory=lambda: "fc_" + uuid.uuid4().hex + uuid.uuid4().hex[:16])
    sequence: int = 0
    output: list[dict[str, Any]] = field(default_factory=list)

    def event(self, kind: str, *, paced: bool = False, **payload: Any) -> _Frame:
        """The next event, numbered; serialised now, so later changes to the output do not leak into it."""
        frame = _sse({"type": kind, "sequence_number": self.sequence, **payload}, event=kind, paced=paced)
        self.sequence += 1
        return frame

    def response(self, status: str, *, usage: bool = False, **extra: Any) -> dict[str, Any]:
        """The `response` object as it stands, with this status."""
        plan = self.plan
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": plan.created,
            "status": status,
            "background": False,
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": None,
            "incomplete_details": None,
            "instructions": None,
            "max_output_tokens": None,
            "model": plan.model,
            "output": self.output,
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "store": True,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": _responses_usage(plan) if usage else None,
            "user": None,
            "metadata": {},
            **extra,
        }


def _responses_message(state: _ResponseState, budget: _Budget) -> Iterator[_Frame]:
    """A message output item: item and part added, text deltas, then text, part and item done."""
    index = len(state.output)
    item: dict[str, Any] = {
        "id": state.message_id,
        "type": "message",
        "status": "in_progress",
        "content": [],
        "role": "assistant",
    }
    state.output.append(item)
    where: dict[str, Any] = {"item_id": state.message_id, "output_index": index, "content_index": 0}
    yield state.event("response.output_item.added", output_index=index, item=item)
    part: dict[str, Any] = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
    item["content"].append(part)
    yield state.event("response.content_part.added", **where, part=part)
    for piece in state.plan.deltas:
        budget.spend()
        part["text"] += piece
        yield state.event("response.output_text.delta", paced=True, **where, delta=piece, logprobs=[])
    budget.check()
    yield state.event("response.output_text.done", **where, text=part["text"], logprobs=[])
    yield state.event("response.content_part.done", **where, part=part)
    item["status"] = "incomplete" if state.plan.scenario.incomplete else "completed"
    yield state.event("response.output_item.done", output_index=index, item=item)


def _responses_function_call(state: _ResponseState, tool: _ToolCall, budget: _Budget) -> Iterator[_Frame]:
    """A function_call output item whose arguments arrive as `response.function_call_arguments.delta` events."""
    index = len(state.output)
    item: dict[str, Any] = {
        "id": state.function_id,
        "type": "function_call",
        "status": "in_progress",
        "arguments": "",
        "call_id": tool.call_id,
        "name": tool.name,
    }
    state.output.append(item)
    where: dict[str, Any] = {"item_id": state.function_id, "output_index": index}
    yield state.event("response.output_item.added", output_index=index, item=item)
    for piece in tool.pieces:
        budget.spend()
        item["arguments"] += piece
        yield state.event("response.function_call_arguments.delta", paced=True, **where, delta=piece)
    budget.check()
    yield state.event("response.function_call_arguments.done", **where, name=tool.name, arguments=item["arguments"])
    item["status"] = "incomplete" if state.plan.scenario.incomplete else "completed"
    yield state.event("response.output_item.done", output_index=index, item=item)


def _responses_output(state: _ResponseState, budget: _Budget) -> Iterator[_Frame]:
    if state.plan.deltas or state.plan.tool is None:
        yield from _responses_message(state, budget)
    if state.plan.tool:
        yield from _responses_function_call(state, state.plan.tool, budget)


def _responses_failure(state: _ResponseState, cut: Cut) -> Iterator[_Frame]:
    if cut is Cut.DROP:
        yield _DROP
    elif cut is Cut.ERROR:
        yield state.event("error", code="server_error", message="The server had an error.", param=None)
    else:
        error = {"code": "server_error", "message": "The model failed to generate a response."}
        yield state.event("response.failed", response=state.response("failed", error=error))


def _responses_stream(plan: _Plan) -> Iterator[_Frame]:
    """The Responses event sequence: created, in_progress, output items, then completed (or incomplete)."""
    state = _ResponseState(plan)
    yield state.event("response.created", response=state.response("in_progress"))
    yield state.event("response.in_progress", response=state.response("in_progress"))
    try:
        yield from _responses_output(state, plan.budget())
    except _CutReached as reached:
        yield from _responses_failure(state, reached.cut)
        return
    if plan.scenario.incomplete:
        details = {"reason": "max_output_tokens"}
        yield state.event(
            "response.incomplete", response=state.response("incomplete", usage=True, incomplete_details=details)
        )
    else:
        yield state.event("response.completed", response=state.response("completed", usage=True))


def _response_object(plan: _Plan) -> dict[str, Any]:
    """A non-streamed Response: the completed (or incomplete) state a stream would have ended with."""
    state = _ResponseState(plan)
    for _ in _responses_output(state, _Budget(None, 0)):
        pass
    if plan.scenario.incomplete:
        return state.response("incomplete", usage=True, incomplete_details={"reason": "max_output_tokens"})
    return state.response("completed", usage=True)


# --------------------------------------------------------------------------------------------------------------------
# Anthropic Messages


_SIGNATURE: Final = {"signature": "c2lnbmF0dXJl"}


def _anthropic_stop_reason(plan: _Plan) -> str:
    if plan.scenario.incomplete:
        return "max_tokens"
    return "tool_use" if plan.tool else "end_turn"


def _anthropic_usage(plan: _Plan, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": plan.prompt_tokens - plan.cached_tokens - plan.cache_written_tokens,
        "cache_creation_input_tokens": plan.cache_written_tokens,
        "cache_read_input_tokens": plan.cached_tokens,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _anthropic_message(plan: _Plan, message_id: str, content: list[dict[str, Any]], **state: Any) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": plan.model,
        "content": content,
        "stop_reason": None,
        "stop_sequence": None,
        **state,
    }


def _anthropic_blocks(plan: _Plan) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each content block as (block at start, its deltas): a thinking block, a text block and/or a tool_use block."""
    blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    if plan.thinking:
        deltas = [{"type": "thinking_delta", "thinking": p} for p in plan.thinking]
        blocks.append(
            (
                {"type": "thinking", "thinking": "", "signature": ""},
                [*deltas, {"type": "signature_delta", **_SIGNATURE}],
            )
        )
    if plan.deltas or plan.tool is None:
        blocks.append(({"type": "text", "text": ""}, [{"type": "text_delta", "text": p} for p in plan.deltas]))
    if plan.tool:
        start = {"type": "tool_use", "id": _new_id("toolu_01", 22), "name": plan.tool.name, "input": {}}
        blocks.append((start, [{"type": "input_json_delta", "partial_json": p} for p in plan.tool.pieces]))
    return blocks


def _anthropic_stream(plan: _Plan) -> Iterator[_Frame]:
    """message_start, then per block start/ping/deltas/stop, then message_delta (stop reason, usage), message_stop."""
    message = _anthropic_message(plan, _new_id("msg_01", 22), [], usage=_anthropic_usage(plan, 1))
    yield _sse({"type": "message_start", "message": message}, event="message_start")
    budget = plan.budget()
    try:
        for index, (start, deltas) in enumerate(_anthropic_blocks(plan)):
            yield _sse({"type": "content_block_start", "index": index, "content_block": start}, "content_block_start")
            if index == 0:
                yield _sse({"type": "ping"}, event="ping")
            for delta in deltas:
                if delta["type"] != "signature_delta":
                    budget.spend()
                payload = {"type": "content_block_delta", "index": index, "delta": delta}
                yield _sse(payload, event="content_block_delta", paced=True)
            budget.check()
            yield _sse({"type": "content_block_stop", "index": index}, event="content_block_stop")
    except _CutReached as reached:
        overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        yield _DROP if reached.cut is Cut.DROP else _sse(overloaded, event="error")
        return
    delta = {"stop_reason": _anthropic_stop_reason(plan), "stop_sequence": None}
    usage = {"output_tokens": plan.completion_tokens}
    yield _sse({"type": "message_delta", "delta": delta, "usage": usage}, event="message_delta")
    yield _sse({"type": "message_stop"}, event="message_stop")


def _anthropic_complete(plan: _Plan) -> dict[str, Any]:
    """A non-streamed Message with the same content blocks a stream would have built."""
    content: list[dict[str, Any]] = []
    for start, _deltas in _anthropic_blocks(plan):
        if start["type"] == "thinking":
            content.append({"type": "thinking", "thinking": "".join(plan.thinking), **_SIGNATURE})
        elif start["type"] == "text":
            content.append({"type": "text", "text": plan.text})
        elif plan.tool:
            content.append({**start, "input": json.loads(plan.tool.arguments)})
    return _anthropic_message(
        plan,
        _new_id("msg_01", 22),
        content,
        stop_reason=_anthropic_stop_reason(plan),
        usage=_anthropic_usage(plan, plan.completion_tokens),
    )


# --------------------------------------------------------------------------------------------------------------------
# Bedrock Converse (`/model/{modelId}/converse` and `/converse-stream`)


def _event_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One `application/vnd.amazon.eventstream` message: prelude, string headers, payload, both CRC32s.

    The CRCs are real, so botocore's own parser reads the stream exactly as it reads Bedrock's.
    """
    encoded = b"".join(
        bytes([len(name)]) + name.encode() + b"\x07" + len(value.encode()).to_bytes(2, "big") + value.encode()
        for name, value in headers.items()
    )
    prelude = struct.pack(">II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def _bedrock_event(kind: str, payload: Mapping[str, Any], paced: bool = False) -> _Frame:
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    data = _event_message(headers, _json({**payload, "p": "abcdef"}))  # Bedrock pads its events
    return _Frame(data, paced, event=kind, payload={kind: payload})


def _bedrock_exception(kind: str, message: str) -> _Frame:
    headers = {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"}
    return _Frame(_event_message(headers, _json({"message": message})), event="exception")


def _bedrock_stop_reason(plan: _Plan) -> str:
    if plan.scenario.incomplete:
        return "max_tokens"
    return "tool_use" if plan.tool else "end_turn"


def _bedrock_usage(plan: _Plan) -> dict[str, Any]:
    fresh = plan.prompt_tokens - plan.cached_tokens - plan.cache_written_tokens
    return {
        "inputTokens": fresh,
        "outputTokens": plan.completion_tokens,
        "totalTokens": fresh + plan.completion_tokens,
        "cacheReadInputTokens": plan.cached_tokens,
        "cacheWriteInputTokens": plan.cache_written_tokens,
    }


def _bedrock_blocks(plan: _Plan) -> list[tuple[dict[str, Any] | None, list[dict[str, Any]]]]:
    """Each content block as (its `start`, if it has one; its deltas): reasoning, text, tool use."""
    blocks: list[tuple[dict[str, Any] | None, list[dict[str, Any]]]] = []
    if plan.thinking:
        deltas = [{"reasoningContent": {"text": piece}} for piece in plan.thinking]
        blocks.append((None, [*deltas, {"reasoningContent": _SIGNATURE}]))
    if plan.deltas or plan.tool is None:
        blocks.append((None, [{"text": piece} for piece in plan.deltas]))
    if plan.tool:
        start = {"toolUse": {"toolUseId": "tooluse_" + plan.tool.call_id[5:], "name": plan.tool.name}}
        blocks.append((start, [{"toolUse": {"input": piece}} for piece in plan.tool.pieces]))
    return blocks


def _bedrock_stream(plan: _Plan) -> Iterator[_Frame]:
    """messageStart, per block (start), deltas, stop, then messageStop and metadata (usage, latency)."""
    started = time.monotonic()
    yield _bedrock_event("messageStart", {"role": "assistant"})
    budget = plan.budget()
    try:
        for index, (start, deltas) in enumerate(_bedrock_blocks(plan)):
            if start is not None:
                yield _bedrock_event("contentBlockStart", {"contentBlockIndex": index, "start": start})
            for delta in deltas:
                if "signature" not in delta.get("reasoningContent", {}):
                    budget.spend()
                yield _bedrock_event("contentBlockDelta", {"contentBlockIndex": index, "delta": delta}, paced=True)
            budget.check()
            yield _bedrock_event("contentBlockStop", {"contentBlockIndex": index})
    except _CutReached as reached:
        failure = _bedrock_exception("modelStreamErrorException", "The model stream failed.")
        yield _DROP if reached.cut is Cut.DROP else failure
        return
    yield _bedrock_event("messageStop", {"stopReason": _bedrock_stop_reason(plan)})
    latency = int((time.monotonic() - started) * 1000)
    yield _bedrock_event("metadata", {"usage": _bedrock_usage(plan), "metrics": {"latencyMs": latency}})


def _bedrock_complete(plan: _Plan) -> dict[str, Any]:
    """A whole Converse response with the blocks a stream would have built."""
    content: list[dict[str, Any]] = []
    for start, _deltas in _bedrock_blocks(plan):
        if start is not None and plan.tool:
            tool_use = {**start["toolUse"], "input": json.loads(plan.tool.arguments)}
            content.append({"toolUse": tool_use})
        elif plan.thinking and not content:
            text = {"text": "".join(plan.thinking), **_SIGNATURE}
            content.append({"reasoningContent": {"reasoningText": text}})
        else:
            content.append({"text": plan.text})
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": _bedrock_stop_reason(plan),
        "usage": _bedrock_usage(plan),
        "metrics": {"latencyMs": 1},
    }


def _is_anthropic_model(model: str) -> bool:
    """A Bedrock model id (or cross-region inference profile) of an Anthropic model."""
    return model.startswith("anthropic.") or ".anthropic." in model


def _invoke_family(plan: _Plan) -> Callable[[_Plan], Iterator[_Frame]]:
    """InvokeModel bodies are the model family's own: Anthropic's Messages events, or Nova's Converse-shaped ones."""
    return _anthropic_stream if _is_anthropic_model(plan.model) else _bedrock_stream


def _invoke_stream(plan: _Plan) -> Iterator[_Frame]:
    """InvokeModelWithResponseStream: each of the family's events base64-encoded in a `chunk` event's `bytes`."""
    for frame in _invoke_family(plan)(plan):
        if frame.drop:
            yield frame
        elif frame.event in ("error", "exception"):
            yield _bedrock_exception("modelStreamErrorException", "The model stream failed.")
        elif frame.payload is not None:
            payload = frame.payload
            if payload.get("type") == "message_stop":  # Bedrock appends its own metrics to Anthropic's last event
                metrics = {"inputTokenCount": plan.prompt_tokens, "outputTokenCount": plan.completion_tokens}
                payload = {**payload, "amazon-bedrock-invocationMetrics": metrics}
            encoded = base64.b64encode(_json(payload)).decode("ascii")
            headers = {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
            yield _Frame(_event_message(headers, _json({"bytes": encoded})), frame.paced)


def _invoke_complete(plan: _Plan) -> dict[str, Any]:
    return _anthropic_complete(plan) if _invoke_family(plan) is _anthropic_stream else _bedrock_complete(plan)


# --------------------------------------------------------------------------------------------------------------------
# Gemini (`/v1beta/models/{model}:generateContent` and `:streamGenerateContent?alt=sse`)


def _gemini_usage(plan: _Plan, output_tokens: int, thoughts: int) -> dict[str, Any]:
    usage = {
        "promptTokenCount": plan.prompt_tokens,  # Gemini counts cached tokens in the prompt count
        "candidatesTokenCount": output_tokens,
        "totalTokenCount": plan.prompt_tokens + output_tokens + thoughts,
    }
    if plan.cached_tokens:
        usage["cachedContentTokenCount"] = plan.cached_tokens
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def _gemini_finish_reason(plan: _Plan) -> str:
    return "MAX_TOKENS" if plan.scenario.incomplete else "STOP"  # Gemini finishes a function call with STOP too


def _gemini_chunk(plan: _Plan, response_id: str, parts: list[dict[str, Any]], **candidate: Any) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"parts": parts, "role": "model"}, "index": 0, **candidate}],
        "usageMetadata": {"promptTokenCount": plan.prompt_tokens, "totalTokenCount": plan.prompt_tokens},
        "modelVersion": plan.model,
        "responseId": response_id,
    }


def _gemini_function_call(plan: _Plan) -> dict[str, Any]:
    assert plan.tool is not None
    return {"functionCall": {"name": plan.tool.name, "args": json.loads(plan.tool.arguments)}}


def _gemini_stream(plan: _Plan) -> Iterator[_Frame]:
    """One chunk per thought or text delta, the function call whole, then the finish reason and usage."""
    response_id = _new_id("", 22)
    budget = plan.budget()
    try:
        for piece in plan.thinking:
            budget.spend()
            yield _sse(_gemini_chunk(plan, response_id, [{"text": piece, "thought": True}]), paced=True)
        for piece in plan.deltas:
            budget.spend()
            yield _sse(_gemini_chunk(plan, response_id, [{"text": piece}]), paced=True)
        if plan.tool:
            for _ in plan.tool.pieces:  # the call arrives whole, but costs its tokens
                budget.spend()
            yield _sse(_gemini_chunk(plan, response_id, [_gemini_function_call(plan)]), paced=True)
        budget.check()
    except _CutReached as reached:
        error = {"error": {"code": 500, "message": "An internal error has occurred.", "status": "INTERNAL"}}
        yield _DROP if reached.cut is Cut.DROP else _sse(error)
        return
    last = _gemini_chunk(plan, response_id, [], finishReason=_gemini_finish_reason(plan))
    last["candidates"][0]["content"]["parts"] = [{"text": ""}]
    output = len(plan.deltas) + (len(plan.tool.pieces) if plan.tool else 0)
    last["usageMetadata"] = _gemini_usage(plan, output, len(plan.thinking))
    yield _sse(last)


def _gemini_complete(plan: _Plan) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if plan.thinking:
        parts.append({"text": "".join(plan.thinking), "thought": True})
    if plan.deltas:
        parts.append({"text": plan.text})
    if plan.tool:
        parts.append(_gemini_function_call(plan))
    reply = _gemini_chunk(plan, _new_id("", 22), parts, finishReason=_gemini_finish_reason(plan))
    output = len(plan.deltas) + (len(plan.tool.pieces) if plan.tool else 0)
    reply["usageMetadata"] = _gemini_usage(plan, output, len(plan.thinking))
    return reply


# --------------------------------------------------------------------------------------------------------------------
# HTTP


@dataclass(frozen=True)
class _Endpoint:
    name: str
    flavor: Flavor
    stream: Callable[[_Plan], Iterator[_Frame]]
    complete: Callable[[_Plan], dict[str, Any]]
    stream_content_type: str = "text/event-stream; charset=utf-8"


_ENDPOINTS: Final = {
    "/v1/chat/completions": _Endpoint("chat", "openai", _chat_stream, _chat_completion),
    "/v1/responses": _Endpoint("responses", "openai", _responses_stream, _response_object),
    "/v1/messages": _Endpoint("messages", "anthropic", _anthropic_stream, _anthropic_complete),
}
_BEDROCK: Final = _Endpoint(
    "converse", "bedrock", _bedrock_stream, _bedrock_complete, "application/vnd.amazon.eventstream"
)
_BEDROCK_INVOKE: Final = _Endpoint(
    "invoke", "bedrock", _invoke_stream, _invoke_complete, "application/vnd.amazon.eventstream"
)
_GEMINI: Final = _Endpoint("generate", "gemini", _gemini_stream, _gemini_complete)
_GEMINI_PATH: Final = re.compile(
    r"/v1(?:beta|alpha)?/models/(?P<model>[^/:]+):(?P<action>generateContent|streamGenerateContent)"
)
_BEDROCK_PATH: Final = re.compile(
    r"/model/(?P<model>[^/]+)/(?P<action>converse|converse-stream|invoke|invoke-with-response-stream)"
)


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the server received it: headers lower-cased, body parsed from JSON (None if it was not)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


class _Stopped(Exception):
    """The server is stopping: abandon the reply."""


class _HTTPServer(ThreadingHTTPServer):
    """Daemon handler threads that `server_close` does not wait for, plus the sockets to cut on stop."""

    request_queue_size = 1024  # hundreds of clients connect at once in the load tests

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], default_scenario: Scenario) -> None:
        self.default_scenario = default_scenario
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.recorded: list[RecordedRequest] = []
        self.lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall on machines without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def track(self, connection: socket.socket, active: bool) -> None:
        with self.lock:
            if active:
                self.connections.add(connection)
            else:
                self.connections.discard(connection)

    def cut_connections(self) -> None:
        """Shut every open connection down, waking handlers blocked on reads and failing their writes."""
        with self.lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: clients hanging up mid-stream is the normal case here, not worth a traceback."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # Deltas are tiny writes; without TCP_NODELAY, Nagle plus delayed ACKs would stall them by up to 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request access log: tests and the demo print their own output."""

    def do_GET(self) -> None:
        self._read_body()
        self._send_json(404, _error_body(404, "openai", f"Unknown path {self.path}"))

    def do_POST(self) -> None:
        try:
            self._answer()
        except (_Stopped, OSError):
            self.close_connection = True

    # ----------------------------------------------------------------------------------------------------------------

    def _answer(self) -> None:
        raw = self._read_body()
        path = urlsplit(self.path).path
        headers = {key.lower(): value for key, value in self.headers.items()}
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self.server.lock:
            self.server.recorded.append(RecordedRequest(self.command, path, headers, body))
        endpoint = _ENDPOINTS.get(path)
        bedrock = _BEDROCK_PATH.fullmatch(path)
        if bedrock is not None and isinstance(body, dict):  # the model and streaming are in the path, not the body
            action = bedrock["action"]
            endpoint = _BEDROCK if action.startswith("converse") else _BEDROCK_INVOKE
            stream = action in ("converse-stream", "invoke-with-response-stream")
            body = {**body, "model": unquote(bedrock["model"]), "stream": stream}
        gemini = _GEMINI_PATH.fullmatch(path)
        if gemini is not None and isinstance(body, dict):
            endpoint = _GEMINI
            body = {**body, "model": unquote(gemini["model"]), "stream": gemini["action"] == "streamGenerateContent"}
        if endpoint is None:
            self._send_json(404, _error_body(404, "openai", f"Unknown path {path}"))
            return
        try:
            scenario = self.server.default_scenario.with_spec(headers.get(SCENARIO_HEADER, ""))
            if not isinstance(body, dict):
                raise ValueError("the request body must be a JSON object")
            flavor: Flavor = endpoint.flavor
            if endpoint is _BEDROCK_INVOKE and _is_anthropic_model(body["model"]):
                flavor = "anthropic"  # the body is Anthropic's Messages request: its tools, its thinking
            plan = _Plan.build(body, scenario, flavor, endpoint.name)
        except ValueError as exc:
            self._send_json(400, _error_body(400, endpoint.flavor, str(exc)))
            return
        if scenario.status is not None:
            message = f"Error {scenario.status} requested by the {SCENARIO_HEADER} header."
            error = _error_body(scenario.status, endpoint.flavor, message)
            headers = {**_RETRY_NOW, **self._request_id_header(endpoint.flavor)}
            if endpoint.flavor == "bedrock":
                headers["x-amzn-errortype"] = _error_type(scenario.status, "bedrock")
            self._send_json(scenario.status, error, headers)
        elif plan.stream:
            self._send_stream(endpoint, plan)
        else:
            self._send_complete(endpoint, plan)

    def _read_body(self) -> bytes:
        """The request body, by Content-Length or chunked; reading it all keeps the connection reusable."""
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            data = b""
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                data += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return data
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _request_id_header(self, flavor: Flavor) -> dict[str, str]:
        name = {"anthropic": "request-id", "bedrock": "x-amzn-requestid", "gemini": "x-goog-request-id"}.get(
            flavor, "x-request-id"
        )
        return {name: _new_id("req_")}

    def _send_json(self, status: int, payload: Any, extra_headers: Mapping[str, str] | None = None) -> None:
        data = _json(payload)
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for key, value in (extra_headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_stream(self, endpoint: _Endpoint, plan: _Plan) -> None:
        """Write the frames as HTTP chunks, pacing content deltas; a drop frame cuts the connection."""
        self.send_response(200)
        self.send_header("content-type", endpoint.stream_content_type)
        self.send_header("transfer-encoding", "chunked")
        self.send_header("cache-control", "no-cache")
        for key, value in self._request_id_header(endpoint.flavor).items():
            self.send_header(key, value)
        self.end_headers()
        paced = 0
        for frame in endpoint.stream(plan):
            if frame.drop:
                self._drop()
                return
            if frame.paced:
                self._pause(plan.scenario.delay + plan.extra_wait(paced))
                paced += 1
            self.wfile.write(b"%X\r\n%s\r\n" % (len(frame.data), frame.data))
        self.wfile.write(b"0\r\n\r\n")

    def _send_complete(self, endpoint: _Endpoint, plan: _Plan) -> None:
        """A non-streamed reply, after the time its deltas would have taken; failures become a drop or a 500."""
        budget = plan.budget()
        self._pause(plan.scenario.delay * (budget.at if budget.cut else plan.completion_tokens))
        if budget.cut is Cut.DROP:
            self._drop()
        elif budget.cut is not None:
            self._send_json(500, _error_body(500, endpoint.flavor, "The server had an error."))
        else:
            self._send_json(200, endpoint.complete(plan), self._request_id_header(endpoint.flavor))

    def _pause(self, seconds: float) -> None:
        if self.server.stopping.is_set() or (seconds > 0 and self.server.stopping.wait(seconds)):
            raise _Stopped

    def _drop(self) -> None:
        """Close the TCP connection without finishing the reply (FIN, not RST, so sent data still arrives)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


# --------------------------------------------------------------------------------------------------------------------
# Public server


class LocalLLMServer:
    """A server speaking the OpenAI, Anthropic, Gemini and Bedrock APIs on 127.0.0.1, run in a background thread.

    Use as a context manager, or call `start()` and `stop()`. Point `OpenAI(base_url=server.base_url, api_key=...)`
    or `Anthropic(base_url=server.anthropic_base_url, api_key=...)` at it; any API key is accepted.
    """

    def __init__(self, port: int = 0, *, default_scenario: str | Scenario = "") -> None:
        self._requested_port = port
        self._default = default_scenario if isinstance(default_scenario, Scenario) else Scenario.parse(default_scenario)
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> LocalLLMServer:
        """Bind and start serving; returns self."""
        if self._server is not None:
            raise RuntimeError("a LocalLLMServer starts once; make a new one to serve again")
        self._server = _HTTPServer(("127.0.0.1", self._requested_port), self._default)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="rollout-llm-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut open connections, even mid-stream; returns within a fraction of a second."""
        server, thread = self._server, self._thread
        if server is None or server.stopping.is_set():
            return
        server.stopping.set()
        server.shutdown()
        server.cut_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=2)
        self._thread = None

    def __enter__(self) -> LocalLLMServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("LocalLLMServer is not started")
        return self._server.server_port

    @property
    def base_url(self) -> str:
        """What `OpenAI(base_url=...)` wants."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """What `Anthropic(base_url=...)` wants (the client adds `/v1/messages` itself)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def bedrock_endpoint_url(self) -> str:
        """What `boto3.client("bedrock-runtime", endpoint_url=...)` wants (it adds `/model/{id}/converse...`)."""
        return f"http://127.0.0.1:{self.port}"

    def requests(self) -> list[RecordedRequest]:
        """The requests received so far, oldest first (a copy)."""
        if self._server is None:
            return []
        with self._server.lock:
            return list(self._server.recorded)

    def clear_requests(self) -> None:
        """Forget the requests received so far."""
        if self._server is not None:
            with self._server.lock:
                self._server.recorded.clear()
