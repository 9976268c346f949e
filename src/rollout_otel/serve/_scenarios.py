"""Scenarios: what a reply looks like and how it fails, chosen per request by a header or server-wide."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from enum import Enum
from typing import Final
from urllib.parse import quote, unquote

SCENARIO_HEADER: Final = "x-rollout-scenario"


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


LIMITS: Final[dict[str, float]] = {
    "chunks": 10_000_000,
    "delay": 60.0,
    "first_delay": 600.0,
    "stall": 600.0,
    "text": 1_000_000,
    "hops": 100,
}
"""The largest value of each sized setting: one request must not hold the server's memory or a thread for long."""


def _limit(key: str, value: float, raw: str) -> None:
    if value > LIMITS[key]:
        raise ValueError(f"at most {LIMITS[key]:.15g} (the server's limit on {key}), got {raw!r}")


def _non_negative_int(value: str, key: str = "") -> int:
    number = int(value)
    if number < 0:
        raise ValueError(f"must be >= 0: {value!r}")
    if key:
        _limit(key, number, value)
    return number


def _non_negative_float(value: str, key: str = "") -> float:
    number = float(value)
    if not number >= 0:
        raise ValueError(f"must be >= 0: {value!r}")
    if key:
        _limit(key, number, value)
    return number


def _text(value: str) -> str:
    text = unquote(value, errors="surrogatepass")  # any text, lone surrogates included
    if len(text) > LIMITS["text"]:
        raise ValueError(f"at most {LIMITS['text']:.15g} characters (the server's limit on text), got {len(text)}")
    return text


def _hops(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(f"must be >= 1: {value!r}")
    _limit("hops", number, value)
    return number


def _error_status(value: str) -> int:
    status = int(value)
    if not 400 <= status <= 599:
        raise ValueError(f"status must be an HTTP error status (400-599): {value!r}")
    return status


_PARSERS: Final[dict[str, Callable[[str], object]]] = {
    "chunks": lambda value: _non_negative_int(value, "chunks"),
    "delay": lambda value: _non_negative_float(value, "delay"),
    "first_delay": lambda value: _non_negative_float(value, "first_delay"),
    "stall_at": _non_negative_int,
    "stall": lambda value: _non_negative_float(value, "stall"),
    "status": _error_status,
    "drop_after": _non_negative_int,
    "error_after": _non_negative_int,
    "failed_after": _non_negative_int,
    "incomplete": _parse_bool,
    "tools": _parse_bool,
    "refusal": _parse_bool,
    "text": _text,
    "cached": _non_negative_int,
    "cache_write": _non_negative_int,
    "thinking": _parse_bool,
    "hops": _hops,
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
    - `cache_write=N`: Anthropic and Bedrock: report N of the prompt tokens as written to the prompt cache.
    - `thinking=1`: Anthropic, Gemini and Bedrock: stream a thinking block (deltas, then a signature) before the reply.
    - `hops=N`: Gemini streams: the reply in N requests, as a model resumed by automatic continuation. Each but the
      last ends with finish reason `CONTINUATION` and a `continuationToken`; the request that sends the token back
      gets the next part, under a new response id, with its own usage.

    The same list, one line and one example each, is `_guide.GUIDE` (`rollout-otel serve --help`, the README).
    Sized settings are capped by `LIMITS`: a value over its limit is a `ValueError` (a 400 from the server).

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
    hops: int = 1

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


class CutReached(Exception):
    """Raised inside a reply generator at the failure point, so the endpoint can emit its own failure frames."""

    def __init__(self, cut: Cut) -> None:
        super().__init__(cut.value)
        self.cut = cut


class Budget:
    """Counts content deltas as they are generated and stops the reply at the scenario's failure point."""

    def __init__(self, failure: tuple[Cut, int] | None, total: int) -> None:
        self.cut = failure[0] if failure else None
        self.at = min(failure[1], total) if failure else -1
        self.sent = 0

    def check(self) -> None:
        """Raise `CutReached` if the failure point has been reached."""
        if self.cut is not None and self.sent == self.at:
            raise CutReached(self.cut)

    def spend(self) -> None:
        """Account for one content delta about to be sent (after checking that it may be)."""
        self.check()
        self.sent += 1
