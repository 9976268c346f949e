"""The update thread's view of an open stream: start and stall records, gaps between chunks, the settings for them.

Gaps are measured without timing each chunk: these tests check that the estimate is never more than the real gap
(measured here around the calls) and never less than it minus one look of the update thread.
"""

from __future__ import annotations

import cProfile
import pstats
import time
from collections.abc import Iterator

import pytest

from rollout_otel import RolloutConfigError
from rollout_otel._config import resolve_settings
from rollout_otel.testing import Capture

INTERVAL = 0.05


@pytest.fixture
def cap() -> Iterator[Capture]:
    capture = Capture(stream_update_interval=INTERVAL, stall_after=0.2)
    yield capture
    capture.shutdown()


def test_the_start_record_goes_out_before_the_first_chunk(cap: Capture) -> None:
    with cap.llm("openai.chat", model="m", stream=True) as span:
        deadline = time.monotonic() + 10
        while not cap.events("rollout.stream.start") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(cap.events("rollout.stream.start")) == 1  # while no chunk has come
        span.record_chunk("x")
    llm = cap.span()
    (start,) = cap.events("rollout.stream.start", llm)
    attributes = dict(start.log_record.attributes or {})
    assert attributes["rollout.stream.name"] == "openai.chat" and attributes["gen_ai.request.model"] == "m"
    assert start.log_record.timestamp == llm.start_time
    assert not {"rollout.stream.preview", "rollout.stream.chunks"} & attributes.keys()


def test_no_record_is_sent_for_a_span_that_is_not_streamed(cap: Capture) -> None:
    with cap.llm("openai.chat", model="m") as span:
        time.sleep(0.3)
        span.end(output="done")
    assert cap.log_exporter.get_finished_logs() == ()
    assert "rollout.stream.stalls" not in (cap.span().attributes or {})


def test_gaps_are_never_overstated_and_the_longest_is_found(cap: Capture) -> None:
    with cap.llm("a.b", stream=True) as span:
        time.sleep(0.05)
        span.record_chunk("a")
        for _ in range(5):
            span.record_chunk("b")
            time.sleep(0.01)
        before = time.monotonic()
        time.sleep(0.4)
        span.record_chunk("c")
        real_gap_at_most = time.monotonic() - before + 0.01  # the last "b" came up to one sleep before
    attributes = cap.span().attributes or {}
    max_gap = attributes["rollout.stream.max_gap"]
    assert max_gap <= real_gap_at_most
    assert max_gap >= 0.4 - 2 * INTERVAL  # within one look of the update thread (and its own timer's slack)
    stalls = cap.events("rollout.stream.stall")
    assert attributes["rollout.stream.stalls"] == len(stalls) >= 1
    assert all(s.log_record.attributes["rollout.stream.chunks"] == 6 for s in stalls)  # type: ignore[index]


def test_a_stream_without_chunks_waited_throughout(cap: Capture) -> None:
    with cap.llm("a.b", stream=True):
        time.sleep(0.3)
    attributes = cap.span().attributes or {}
    assert attributes["rollout.stream.max_gap"] >= 0.3
    assert "gen_ai.response.time_to_first_chunk" not in attributes
    assert "rollout.stream.time_to_first_text" not in attributes
    (stall,) = [s.log_record.attributes for s in cap.events("rollout.stream.stall")]
    assert stall is not None and stall["rollout.stream.chunks"] == 0 and stall["rollout.stream.gap"] >= 0.2


def test_nothing_follows_the_end(cap: Capture) -> None:
    with cap.llm("a.b", stream=True) as span:
        span.record_chunk("x")
    time.sleep(0.5)  # longer than stall_after: an open stream would have stalled
    assert cap.events("rollout.stream.stall") == []
    assert cap.processor._open == {}


def test_record_chunk_costs_two_calls_with_the_update_thread_running(cap: Capture) -> None:
    """The hot path is untouched by start, stall and gap tracking: record_chunk and the buffer's write."""
    span = cap.llm("a.b", stream=True)
    span.record_chunk("warm-up")
    record = span.record_chunk
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(3000):
        record("token ")
    profile.disable()
    span.end()
    calls = pstats.Stats(profile).total_calls  # type: ignore[attr-defined]
    # A handful more when the update thread asks for one chunk's time (once per gap) or the buffer compacts.
    assert 6000 <= calls <= 6000 + 20


@pytest.mark.parametrize(
    ("given", "expected"),
    [("auto", "auto"), ("ON", "on"), ("off", "off"), ("true", "on"), ("0", "off"), (True, "on"), (False, "off")],
)
def test_live_spans_setting(given: object, expected: str) -> None:
    assert resolve_settings(live_spans=given, environ={}).live_spans == expected  # type: ignore[arg-type]


def test_settings_from_the_environment() -> None:
    env = {"ROLLOUT_LIVE_SPANS": "on", "ROLLOUT_STALL_AFTER": "2.5", "ROLLOUT_OPENAI_INCLUDE_USAGE": "yes"}
    settings = resolve_settings(environ=env)
    assert (settings.live_spans, settings.stall_after, settings.openai_include_usage) == ("on", 2.5, True)
    defaults = resolve_settings(environ={})
    assert (defaults.live_spans, defaults.stall_after, defaults.openai_include_usage) == ("auto", 10.0, False)
    assert resolve_settings(stall_after=0, environ={}).stall_after == 0


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"live_spans": "sometimes"}, "Rollout(live_spans='sometimes')"),
        ({"stall_after": -1}, "Rollout(stall_after=-1)"),
        ({"stall_after": 0.001}, "Rollout(stall_after=0.001)"),
        ({"stall_after": float("nan")}, "Rollout(stall_after=nan)"),
        ({"stall_after": True}, "Rollout(stall_after=True)"),
        ({"openai_include_usage": "maybe"}, "Rollout(openai_include_usage='maybe')"),
        ({"environ": {"ROLLOUT_STALL_AFTER": "soon"}}, "ROLLOUT_STALL_AFTER='soon'"),
        ({"environ": {"ROLLOUT_LIVE_SPANS": "x"}}, "ROLLOUT_LIVE_SPANS='x'"),
    ],
)
def test_bad_values_fail_at_once_naming_the_setting(settings: dict[str, object], named: str) -> None:
    settings.setdefault("environ", {})
    with pytest.raises(RolloutConfigError) as raised:
        resolve_settings(**settings)  # type: ignore[arg-type]
    assert named in str(raised.value) and "expected" in str(raised.value)
