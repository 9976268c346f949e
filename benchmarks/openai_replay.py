"""The OpenAI benchmark's transport: replies captured once from the local server, replayed in process."""

from __future__ import annotations

import importlib
import importlib.util
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

MODEL = "gpt-4o-mini"
SYSTEM = "You are a helpful assistant."
PROMPT = "Write a long story about a lighthouse keeper and a robot."
ENDPOINTS = ("chat", "responses")
PATHS = {"/v1/chat/completions": "chat", "/v1/responses": "responses"}
REQUESTS: dict[str, dict[str, Any]] = {
    "chat": {
        "model": MODEL,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}],
        "stream": True,
        "stream_options": {"include_usage": True},
    },
    "responses": {"model": MODEL, "instructions": SYSTEM, "input": PROMPT, "stream": True},
}
SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "x-request-id": "req_bench"}


# -- transport ------------------------------------------------------------------------------------------------


def http_module() -> ModuleType:
    """The HTTP library the installed openai client is built on: httpx2 (openai 3+) or httpx."""
    import openai._base_client as base

    return base.httpx2 if hasattr(base, "httpx2") else importlib.import_module("httpx")


def split_frames(body: bytes) -> list[bytes]:
    """Server-sent events, one per item (JSON payloads never hold a raw newline)."""
    return [frame + b"\n\n" for frame in body.split(b"\n\n") if frame.strip()]


def reply_chars(endpoint: str, frames: Sequence[bytes]) -> int:
    """Characters of the streamed text, from the captured events."""
    chars = 0
    for frame in frames:
        data = frame.split(b"data: ", 1)[-1].strip()
        if not data.startswith(b"{"):
            continue
        event = json.loads(data)
        if endpoint == "chat":
            for choice in event.get("choices") or ():
                chars += len((choice.get("delta") or {}).get("content") or "")
        elif event.get("type") == "response.output_text.delta":
            chars += len(event["delta"])
    return chars


def capture_replies(sizes: Sequence[int], directory: Path) -> dict[str, dict[int, int]]:
    """Stream each reply once from LocalLLMServer over loopback and save its body; returns the text chars."""
    from rollout_otel.serve import LocalLLMServer, scenario_headers

    http = http_module()
    chars: dict[str, dict[int, int]] = {endpoint: {} for endpoint in ENDPOINTS}
    with LocalLLMServer() as server, http.Client(timeout=60) as client:
        for path, endpoint in PATHS.items():
            for size in sizes:
                url = server.base_url.removesuffix("/v1") + path
                response = client.post(url, json=REQUESTS[endpoint], headers=scenario_headers(chunks=size))
                response.raise_for_status()
                (directory / f"{endpoint}-{size}.sse").write_bytes(response.content)
                chars[endpoint][size] = reply_chars(endpoint, split_frames(response.content))
    return chars


class Replay:
    """In-process transport handler: answers each request with the events captured for its path.

    With `pace`, each event waits for its slot (`pace` seconds apart) as a model streaming in real time would.
    """

    def __init__(self, frames: dict[str, list[bytes]], pace: float = 0.0) -> None:
        self.frames = frames
        self.pace = pace
        self.http = http_module()

    def __call__(self, request: Any) -> Any:
        frames = self.frames[PATHS[request.url.path]]
        content = self._paced(frames) if self.pace else iter(frames)
        return self.http.Response(200, headers=SSE_HEADERS, content=content)

    def _paced(self, frames: list[bytes]) -> Iterator[bytes]:
        start = time.perf_counter()
        for index, frame in enumerate(frames):
            delay = start + index * self.pace - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            yield frame


def load_replay(directory: Path, size: int, pace: float = 0.0) -> Replay:
    """The captured replies of one size, for both endpoints."""
    return Replay({e: split_frames((directory / f"{e}-{size}.sse").read_bytes()) for e in ENDPOINTS}, pace)


def make_client(replay: Replay) -> Any:
    """A real `openai.OpenAI` client whose HTTP transport is the replay, in process."""
    import openai

    http = replay.http
    return openai.OpenAI(
        api_key="bench",
        base_url="http://bench.invalid/v1",
        http_client=http.Client(transport=http.MockTransport(replay)),
        max_retries=0,
    )


def consume(client: Any, endpoint: str) -> int:
    """Make one streamed call and read it to the end, as an application printing the deltas would."""
    if endpoint == "chat":
        stream = client.chat.completions.create(**REQUESTS["chat"])
    else:
        stream = client.responses.create(**REQUESTS["responses"])
    items = 0
    for _item in stream:
        items += 1
    return items
