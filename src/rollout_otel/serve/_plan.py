"""What one request is answered with, decided up front so streamed and whole replies agree."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from ._scenarios import Budget, Scenario
from ._text import (
    DEFAULT_REFUSAL,
    DEFAULT_REPLY,
    DEFAULT_THINKING,
    MAX_DELTA_CHARS,
    Deltas,
    count_prompt_tokens,
    reply_deltas,
)

Flavor = Literal["openai", "anthropic", "bedrock", "gemini"]

DEFAULT_MODELS: Final[dict[Flavor, str]] = {
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
MAX_WHOLE_REPLY_DELTAS: Final = 1_000_000
"""A non-streamed reply is built whole before it is sent, so it is held to fewer deltas than a stream."""
_SAMPLE_STRINGS: Final = {"location": "Paris, France", "city": "Paris", "query": "streamed LLM tracing"}


@dataclass(frozen=True)
class ToolCall:
    """One tool call: its arguments are a JSON document sent in several pieces."""

    name: str
    arguments: str
    pieces: tuple[str, ...]
    call_id: str = field(default_factory=lambda: new_id("call_", 24))

    @classmethod
    def for_schema(cls, name: str, schema: Any) -> ToolCall:
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


_HOP_TOKEN: Final = "rollout-hop:"


def hop_token(hop: int) -> str:
    """The continuation token (base64, as Gemini sends bytes) that resumes a `hops` reply at part `hop`."""
    return base64.b64encode(f"{_HOP_TOKEN}{hop}".encode()).decode()


def continuation_hop(token: Any, hops: int) -> int:
    """The part of a `hops` reply a request's continuation token resumes at (0 without one)."""
    if token is None:
        return 0
    try:
        text = base64.b64decode(str(token), validate=True).decode()
        hop = int(text.removeprefix(_HOP_TOKEN)) if text.startswith(_HOP_TOKEN) else -1
    except ValueError:  # not base64, not text, not a number (binascii.Error and UnicodeDecodeError are ValueErrors)
        hop = -1
    if not 0 < hop < hops:
        raise ValueError(f"continuationToken {token!r} resumes no part of this reply (hops={hops})")
    return hop


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
class Plan:
    """Everything one reply consists of, decided up front so streamed and non-streamed replies agree."""

    scenario: Scenario
    model: str
    stream: bool
    choices: int
    deltas: Deltas
    tool: ToolCall | None
    prompt_tokens: int
    include_usage: bool
    thinking: tuple[str, ...] = ()
    hop: int = 0  # Gemini `hops`: which part of the reply this request resumes at (its continuation token's)
    created: int = field(default_factory=lambda: int(time.time()))

    @classmethod
    def build(cls, body: Mapping[str, Any], scenario: Scenario, flavor: Flavor, endpoint: str) -> Plan:
        refusal = scenario.refusal and endpoint == "chat"
        picked = None if refusal else _pick_tool(body, flavor, endpoint)
        if picked is None and scenario.tools and not refusal:
            picked = _DEFAULT_TOOL
        tool = ToolCall.for_schema(*picked) if picked else None
        text = scenario.text if scenario.text is not None else DEFAULT_REFUSAL if refusal else DEFAULT_REPLY
        with_text = tool is None or scenario.text is not None or scenario.chunks is not None
        n = body.get("n") if endpoint == "chat" and body.get("n") is not None else 1
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 128:
            raise ValueError(f"n must be an integer from 1 to 128, got {n!r}")
        options = body.get("stream_options")
        model = body.get("model")
        plan = cls(
            scenario=scenario,
            model=model if isinstance(model, str) and model else DEFAULT_MODELS[flavor],
            stream=bool(body.get("stream")),
            choices=n,
            deltas=Deltas.of(text, scenario.chunks) if with_text else Deltas(),
            tool=tool,
            prompt_tokens=count_prompt_tokens(body),
            include_usage=isinstance(options, Mapping) and bool(options.get("include_usage")),
            thinking=tuple(reply_deltas(DEFAULT_THINKING)) if scenario.thinking and flavor != "openai" else (),
            hop=continuation_hop(body.get("continuationToken"), scenario.hops) if flavor == "gemini" else 0,
        )
        if not plan.stream and plan.completion_tokens > MAX_WHOLE_REPLY_DELTAS:
            raise ValueError(
                f"a whole (non-streamed) reply has at most {MAX_WHOLE_REPLY_DELTAS} deltas (the server's limit), "
                f"this one would have {plan.completion_tokens} (chunks x n): ask for a stream instead"
            )
        return plan

    @property
    def refusal(self) -> bool:
        return self.scenario.refusal and self.tool is None

    @property
    def text(self) -> str:
        return self.deltas.text()

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

    def budget(self) -> Budget:
        budget = Budget(self.scenario.failure(), self.completion_tokens)
        budget.sent = self.sent_before
        return budget

    def hop_deltas(self) -> tuple[int, int]:
        """The text deltas this request sends, `start, stop`: all of them, or this hop's share of a `hops` reply."""
        hops, count = self.scenario.hops, len(self.deltas)
        return self.hop * count // hops, (self.hop + 1) * count // hops

    @property
    def sent_before(self) -> int:
        """The content deltas a `hops` reply sent in its earlier requests (the thoughts came with the first): the
        failure points, the stall and the first delay count over the whole reply, not each request."""
        return len(self.thinking) + self.hop_deltas()[0] if self.hop else 0

    def extra_wait(self, sent: int) -> float:
        """The scenario's one-off waits before the content delta after `sent` others: first token, then the stall."""
        wait = self.scenario.first_delay if sent == 0 else 0.0
        if self.scenario.stall > 0:
            stall_at = self.scenario.stall_at if self.scenario.stall_at is not None else self.completion_tokens // 2
            if sent == stall_at:
                wait += self.scenario.stall
        return wait


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + uuid.uuid4().hex[:length]
