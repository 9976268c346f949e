"""A Responses stream's text handed over to the events that repeat it: once a done event carries exactly the text
streamed, the span's buffer refers to the event's str instead of its own copy, and moves on to each newer event's.
With the real `openai` client over a socket, every span is exactly what it is without the hand-over: completed,
closed after any done event, incomplete, failed, dropped, with a tool call, several parts, a refusal, or a done
text that is not what was streamed."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan

from rollout_otel import trace as trace_module
from rollout_otel import wrap
from rollout_otel.serve import LocalLLMServer, scenario_headers
from rollout_otel.serve._wire import sse
from rollout_otel.testing import Capture

CONTENT_KEYS = ("gen_ai.output.messages", "rollout.stream.preview", "rollout.stream.chars", "rollout.stream.chunks")
DONE_EVENTS = (
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
    "response.incomplete",
)


def repeated(event: Any) -> str | None:
    """The last text part an event repeats whole, if it repeats one."""
    if event.type == "response.output_text.done":
        return str(event.text)
    if event.type == "response.content_part.done":
        return event.part.text if event.part.type == "output_text" else None
    items = [event.item] if event.type == "response.output_item.done" else list(event.response.output)
    texts = [
        part.text for item in items if item.type == "message" for part in item.content if part.type == "output_text"
    ]
    return texts[-1] if texts else None


def content_of(span: ReadableSpan) -> dict[str, Any]:
    """The content attributes, tool-call ids (new on each request) set aside."""
    found = {key: span.attributes.get(key) for key in CONTENT_KEYS}  # type: ignore[union-attr]
    found["end_reason"] = span.attributes.get("rollout.stream.end_reason")  # type: ignore[union-attr]
    messages = found["gen_ai.output.messages"]
    if isinstance(messages, str):
        for message in (parsed := json.loads(messages)):
            for part in message["parts"]:
                part.pop("id", None)
        found["gen_ai.output.messages"] = parsed
    return found


class Run:
    """One traced Responses stream, read until `stop_after` (an event type) or its end; records whether the span's
    buffer held each done event's own str right after it."""

    def __init__(self, base_url: str, headers: dict[str, str], stop_after: str | None = None) -> None:
        self.base_url, self.headers, self.stop_after = base_url, headers, stop_after
        self.held: dict[str, bool] = {}
        self.streamed: list[str] = []

    def check(self, stream: Any, event: Any) -> bool:
        """Note what the buffer holds after `event`; whether to stop here."""
        if event.type == "response.output_text.delta":
            self.streamed.append(event.delta)
        elif event.type in DONE_EVENTS and (text := repeated(event)) is not None:
            blocks, _, pending = stream._self_span._text._state  # the span's buffer: its last block is that str
            self.held[event.type] = bool(blocks) and blocks[-1] is text and not pending
        return event.type == self.stop_after

    def sync(self, cap: Capture) -> ReadableSpan:
        client = wrap(
            openai.OpenAI(base_url=self.base_url, api_key="k", max_retries=0), tracer_provider=cap.tracer_provider
        )
        stream = client.responses.create(model="m", input="Hi", stream=True, extra_headers=self.headers)
        try:
            for event in stream:
                if self.check(stream, event):
                    break
        except openai.APIConnectionError:  # a dropped connection: the span keeps what arrived
            pass
        del stream
        gc.collect()
        return cap.spans()[-1]

    def asynchronous(self, cap: Capture) -> ReadableSpan:
        async def main() -> None:
            client = wrap(
                openai.AsyncOpenAI(base_url=self.base_url, api_key="k", max_retries=0),
                tracer_provider=cap.tracer_provider,
            )
            stream = await client.responses.create(model="m", input="Hi", stream=True, extra_headers=self.headers)
            async for event in stream:
                if self.check(stream, event):
                    break
            await stream.close()

        asyncio.run(main())
        gc.collect()
        return cap.spans()[-1]


def every_way(monkeypatch: pytest.MonkeyPatch, run: Callable[[Capture], ReadableSpan]) -> list[ReadableSpan]:
    """The same stream with the hand-over (its text spliced in from 100 characters on, or encoded whole), then
    without it: the first is with the hand-over, spliced; the last without it."""
    found = []
    adopt = trace_module.LLMSpan._adopt_text
    for handover, splice_from in ((True, 100), (True, 10**12), (False, 10**12)):
        monkeypatch.setattr(trace_module.LLMSpan, "_adopt_text", adopt if handover else lambda self, text: None)
        monkeypatch.setattr(trace_module, "_SPLICE_FROM", splice_from)
        cap = Capture()
        try:
            found.append(run(cap))
        finally:
            cap.shutdown()
    monkeypatch.setattr(trace_module.LLMSpan, "_adopt_text", adopt)
    return found


def assert_same(spans: list[ReadableSpan]) -> dict[str, Any]:
    first = content_of(spans[0])
    for other in spans[1:]:
        assert content_of(other) == first
    return first


def output_texts(content: dict[str, Any]) -> list[str]:
    return [
        part["content"]
        for message in content["gen_ai.output.messages"]
        for part in message["parts"]
        if part["type"] == "text"
    ]


@pytest.mark.parametrize(
    ("scenario", "stop_after", "end_reason"),
    [
        ({}, None, "completed"),
        ({}, "response.output_text.done", "closed"),
        ({}, "response.content_part.done", "closed"),
        ({}, "response.output_item.done", "closed"),
        ({"incomplete": 1}, None, "completed"),
        ({"incomplete": 1}, "response.output_item.done", "closed"),
        ({"tools": 1}, None, "completed"),  # a message, then a function call
        ({"tools": 1}, "response.function_call_arguments.done", "closed"),
        ({"error_after": 1200}, None, "error"),  # no done event: the streamed text
        ({"failed_after": 1200}, None, "error"),
        ({"drop_after": 1200}, None, "error"),
    ],
)
def test_the_bundled_servers_streams_are_exactly_as_without_the_hand_over(
    monkeypatch: pytest.MonkeyPatch,
    server: LocalLLMServer,
    scenario: dict[str, Any],
    stop_after: str | None,
    end_reason: str,
) -> None:
    runs: list[Run] = []

    def run(cap: Capture) -> ReadableSpan:
        runs.append(one := Run(server.base_url, scenario_headers(chunks=1500, **scenario), stop_after))
        return one.sync(cap)

    content = assert_same(every_way(monkeypatch, run))
    assert content["end_reason"] == end_reason
    streamed = "".join(runs[0].streamed)
    assert output_texts(content) == [streamed] and len(streamed) > 5000
    assert content["rollout.stream.chars"] == len(streamed)
    done = [kind for kind in DONE_EVENTS if kind in runs[0].held]
    assert all(runs[0].held[kind] for kind in done)  # each done event's own str, from the first one on
    assert not any(runs[-1].held.values())  # without the hand-over, the buffer keeps its own copy
    if not any(key in scenario for key in ("error_after", "failed_after", "drop_after")):
        assert "response.output_text.done" in done


def test_the_async_stream_hands_over_too(monkeypatch: pytest.MonkeyPatch, server: LocalLLMServer) -> None:
    runs: list[Run] = []

    def run(cap: Capture) -> ReadableSpan:
        runs.append(one := Run(server.base_url, scenario_headers(chunks=1500), "response.output_item.done"))
        return one.asynchronous(cap)

    content = assert_same(every_way(monkeypatch, run))
    assert content["end_reason"] == "closed"
    assert output_texts(content) == ["".join(runs[0].streamed)]
    assert runs[0].held == dict.fromkeys(
        ("response.output_text.done", "response.content_part.done", "response.output_item.done"), True
    )


# -- streams the bundled server does not send: several parts, a refusal, a done text unlike the deltas ------------


def _event(kind: str, sequence: list[int], **payload: Any) -> bytes:
    sequence[0] += 1
    return sse({"type": kind, "sequence_number": sequence[0], **payload}, event=kind).data


def _response(status: str, output: list[dict[str, Any]]) -> dict[str, Any]:
    usage = {
        "input_tokens": 3,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 9,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 12,
    }
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "status": status,
        "model": "m",
        "output": output,
        "usage": usage if status == "completed" else None,
        "error": None,
        "incomplete_details": None,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }


def crafted_stream(items: list[list[tuple[str, list[str], str]]]) -> bytes:
    """A Responses stream of message items, each a list of (part type, deltas, the text its done events repeat)."""
    seq = [-1]
    frames = [_event("response.created", seq, response=_response("in_progress", []))]
    output: list[dict[str, Any]] = []
    for index, parts in enumerate(items):
        item: dict[str, Any] = {
            "id": f"msg_{index}",
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        frames.append(_event("response.output_item.added", seq, output_index=index, item={**item, "content": []}))
        for content_index, (kind, deltas, done) in enumerate(parts):
            where = {"item_id": item["id"], "output_index": index, "content_index": content_index}
            field = "refusal" if kind == "refusal" else "text"
            empty = {"type": kind, field: "", **({"annotations": []} if kind == "output_text" else {})}
            frames.append(_event("response.content_part.added", seq, **where, part=empty))
            for delta in deltas:
                frames.append(
                    _event(
                        f"response.{field if kind == 'refusal' else 'output_text'}.delta",
                        seq,
                        **where,
                        delta=delta,
                        logprobs=[],
                    )
                )
            part = {**empty, field: done}
            done_kind = "response.refusal.done" if kind == "refusal" else "response.output_text.done"
            frames.append(_event(done_kind, seq, **where, **{field: done}, logprobs=[]))
            frames.append(_event("response.content_part.done", seq, **where, part=part))
            item["content"].append(part)
        item["status"] = "completed"
        output.append(item)
        frames.append(_event("response.output_item.done", seq, output_index=index, item=item))
    frames.append(_event("response.completed", seq, response=_response("completed", output)))
    return b"".join(frames)


@pytest.fixture
def crafted() -> Iterator[tuple[str, list[bytes]]]:
    """A loopback server answering each Responses request with the body at the head of the list."""
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            body = bodies[0]
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", bodies
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def words(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i} " for i in range(n)]


PART_A, PART_B, PART_C = words("a", 1300), words("b", 1200), words("c", 900)


@pytest.mark.parametrize(
    ("items", "held_at_end"),
    [
        # two parts in one message, then a second message: each part's text is its own done events' str
        (
            [
                [("output_text", PART_A, "".join(PART_A)), ("output_text", PART_B, "".join(PART_B))],
                [("output_text", PART_C, "".join(PART_C))],
            ],
            True,
        ),
        # a refusal part before a text part: the refusal is no part of the text buffer
        ([[("refusal", words("no", 50), "".join(words("no", 50))), ("output_text", PART_A, "".join(PART_A))]], True),
        # the done events repeat a text unlike what was streamed: the buffer keeps its own copy
        ([[("output_text", PART_A, "".join(PART_A).upper())]], False),
        ([[("output_text", PART_A, "".join(PART_A)[:-1])]], False),
    ],
    ids=["several-parts-and-items", "refusal", "different-text", "different-length"],
)
@pytest.mark.parametrize("stop_after", [None, "response.output_text.done", "response.output_item.done"])
def test_crafted_streams_are_exactly_as_without_the_hand_over(
    monkeypatch: pytest.MonkeyPatch,
    crafted: tuple[str, list[bytes]],
    items: list[list[tuple[str, list[str], str]]],
    held_at_end: bool,
    stop_after: str | None,
) -> None:
    base_url, bodies = crafted
    bodies.append(crafted_stream(items))
    runs: list[Run] = []

    def run(cap: Capture) -> ReadableSpan:
        runs.append(one := Run(base_url, {}, stop_after))
        return one.sync(cap)

    content = assert_same(every_way(monkeypatch, run))
    streamed = "".join(runs[0].streamed)
    assert content["rollout.stream.chars"] == len(streamed)
    if stop_after is None:  # the output from response.completed: every part as the response has it
        assert content["end_reason"] == "completed"
        assert output_texts(content) == [done for parts in items for _, _, done in parts]  # a refusal too
    else:  # stopped early: the text streamed so far, then any refusal
        assert content["end_reason"] == "closed"
        refusals = ["".join(deltas) for parts in items for kind, deltas, _ in parts if kind == "refusal"]
        assert output_texts(content) == [streamed, *refusals]
    assert runs[0].held.get("response.output_text.done") is held_at_end


def test_a_done_event_without_the_fields_it_should_have_costs_only_the_hand_over(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An event model built without `part`, `item` or `output` (a newer API's shape): nothing is held, nothing is
    logged as an error, and the span is as it would be without the hand-over."""
    from types import SimpleNamespace

    from rollout_otel.instrumentation.openai._responses import ResponsesAccumulator

    cap = Capture()
    try:
        with trace_module.llm("openai.responses", stream=True, tracer_provider=cap.tracer_provider) as span:
            acc = ResponsesAccumulator(span)
            for delta in ("Hello", " there"):
                acc.on_item(SimpleNamespace(type="response.output_text.delta", delta=delta))
            for event in (
                SimpleNamespace(type="response.content_part.done"),
                SimpleNamespace(type="response.output_item.done", item=SimpleNamespace(type="message")),
                SimpleNamespace(type="response.completed", response=SimpleNamespace(status="completed")),
            ):
                acc.on_item(event)
            assert span._text.text() == "Hello there"
            acc.on_item(SimpleNamespace(type="response.output_text.done", text="Hello" + " there"))
            assert span._text.text() == "Hello there"
        (finished,) = cap.spans()
        (message,) = json.loads(finished.attributes["gen_ai.output.messages"])  # type: ignore[arg-type]
        assert message["parts"] == [{"type": "text", "content": "Hello there"}]
        assert not [r for r in caplog.records if r.name.startswith("rollout_otel") and r.levelno >= logging.WARNING]
    finally:
        cap.shutdown()
