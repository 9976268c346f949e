"""The live console of `rollout-otel tail`, headless: Textual's Pilot presses the keys, the screen is read back as
text, and SVG snapshots pin it at 80x24 and 120x40 with 10 and 100 open streams (a fixed clock keeps them exact)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from textual.widgets import Static

from rollout_otel.tail import TailModel
from rollout_otel.tail._app import DetailScreen, HelpScreen, TailApp
from rollout_otel.tail._table import RowTable
from rollout_otel.tail._view import NO_CAPTURE, NO_TEXT, layout
from tail_otlp import received_log, received_span

pytestmark = pytest.mark.anyio
NOW = 1000.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio


WORDS = "Streaming responses arrive as a sequence of small deltas, each carrying a word or a fragment of one. "


def populated(streams: int, *, clock: list[float] | None = None) -> tuple[TailModel, list[float]]:
    """`streams` open streams (waiting, streaming, stalled, without capture), six finished calls, two errors."""
    now = clock or [NOW]
    model = TailModel(clock=lambda: now[0])
    for i in range(streams):
        span_id = f"{i + 1:016x}"
        now[0] = NOW - streams + i  # older streams first
        model.on_logs([received_log("rollout.stream.start", span_id, service=f"svc-{i % 3}")])
        if i % 5 == 0:
            continue  # still waiting for its first chunk
        preview = None if i % 7 == 3 else (WORDS * 3)[: 40 + 9 * (i % 20)]
        extra: dict[str, Any] = {"rollout__stream__preview": preview} if preview is not None else {}
        for second in (1, 2, 3):
            model.on_logs(
                [
                    received_log(
                        "rollout.stream.update",
                        span_id,
                        service=f"svc-{i % 3}",
                        rollout__stream__chunks=10 * second * (i % 4 + 1),
                        rollout__stream__chars=45 * second * (i % 4 + 1),
                        rollout__stream__elapsed=0.3 + second,
                        gen_ai__response__time_to_first_chunk=0.3,
                        **extra,
                    )
                ]
            )
        if i % 9 == 4:
            model.on_logs([received_log("rollout.stream.stall", span_id, rollout__stream__gap=6.0)])
    now[0] = NOW - 5
    reasons = [("completed", "stop"), ("closed", ""), ("cancelled", ""), ("abandoned", ""), ("completed", "length")]
    for i, (reason, finish) in enumerate(reasons):
        extra = {"gen_ai__response__finish_reasons": [finish]} if finish else {}
        model.on_spans(
            [
                received_span(
                    f"f{i:015x}",
                    rollout__stream__end_reason=reason,
                    gen_ai__usage__input_tokens=20 + i,
                    gen_ai__usage__output_tokens=100 + i,
                    gen_ai__response__time_to_first_chunk=0.25,
                    gen_ai__output__messages='[{"role":"assistant","parts":[{"type":"text","content":"Done '
                    + str(i)
                    + '"}]}]',
                    **extra,
                )
            ]
        )
    for i in range(2):
        model.on_spans([received_span(f"e{i:015x}", rollout__stream__end_reason="error", error__type="RateLimitError")])
    now[0] = NOW
    return model, now


def screen_text(app: TailApp) -> str:
    """The screen as the terminal shows it, one line per row."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def app_for(model: TailModel, clock: list[float], **kwargs: Any) -> TailApp:
    return TailApp(model, address="http://127.0.0.1:4318 (HTTP)", clock=lambda: clock[0], ticking=False, **kwargs)


@pytest.mark.parametrize(("size", "streams"), [((80, 24), 10), ((80, 24), 100), ((120, 40), 10), ((120, 40), 100)])
def test_snapshot(snap_compare: Any, size: tuple[int, int], streams: int) -> None:
    model, clock = populated(streams)
    assert snap_compare(app_for(model, clock), terminal_size=size)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_readable_at_each_size_nothing_wraps(size: tuple[int, int]) -> None:
    model, clock = populated(10)
    app = app_for(model, clock)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        lines = screen_text(app).splitlines()
        assert len(lines) == size[1] and all(len(line) <= size[0] for line in lines)
        text = "\n".join(lines)
        assert "open 10" in text and "done 7" in text and "errors 2" in text
        assert "p50" in text and "p95" in text
        for word in ("waiting", "streaming", "STALLED", "name", "state", "time", "preview"):
            assert word in text, word
        assert "2 errors" in text and "RateLimitError" in text  # pinned, whatever scrolls
        table = app.query_one(RowTable)
        rows_shown = [line for line in lines if line.startswith(" openai.chat")]
        assert len(rows_shown) == 17  # one line per stream and per call: 10 open, 7 finished
        columns = [c.key for c in table.columns]
        if size[0] == 80:
            assert "model" not in columns and "rate" in columns and "[length] Done 4" in text
        else:
            assert {"model", "first", "finish", "chunks"} <= set(columns) and "length" in text


def test_columns_drop_in_priority_order() -> None:
    keys = [[c.key for c in layout(width)] for width in (44, 66, 80, 120, 200)]
    assert keys[0] == ["name", "state", "time"]  # too narrow for a preview: the essentials only
    assert "preview" in keys[1] and "chunks" not in keys[1]
    assert all(set(narrow) <= set(wide) for narrow, wide in itertools.pairwise(keys))
    assert sum(c.width + 2 for c in layout(120)) <= 120


async def test_one_hundred_open_streams_scroll() -> None:
    model, clock = populated(100)
    app = app_for(model, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.query_one(RowTable)
        assert table.row_count == 100 + 1 + 7  # the streams, the separator, the finished calls
        await pilot.press("pagedown", "pagedown", "pagedown")
        await pilot.pause()
        page = table.size.height - 2
        assert table.cursor == 3 * page and table.scroll_offset.y > 0
        await pilot.press(*"j" * (60 - 3 * page))
        assert table.cursor == 60
        assert app._keys[60] in screen_text(app) or "openai.chat" in screen_text(app)
        await pilot.press("k")
        assert table.cursor == 59


async def test_keys_detail_filter_sort_pause_errors_help_quit() -> None:
    model, clock = populated(10)
    app = app_for(model, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(RowTable)
        await pilot.press("down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        detail = screen_text(app)
        assert "preview" in detail and "attributes" in detail and "rollout.stream.chunks" in detail
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailScreen)

        await pilot.press("slash", *"svc-1", "enter")
        await pilot.pause()
        assert app.filter_text == "svc-1"
        shown = [app._keys[i] for i in range(table.row_count)]
        assert len([k for k in shown if not k.startswith(("done:", "--"))]) == 3  # streams 1, 4, 7
        await pilot.press("slash", "ctrl+u", "enter")
        assert app.filter_text == ""
        await pilot.press("slash", "x", "escape")  # Esc leaves the box without filtering
        await pilot.pause()
        assert app.filter_text == "" and not app.query_one("#filter").has_class("shown")

        await pilot.press("s")
        assert app.sort == "longest" and "sort longest" in screen_text(app)

        await pilot.press("p")
        assert app.paused and "PAUSED" in screen_text(app)
        version = app.model.version
        model.on_logs([received_log("rollout.stream.start", "00000000000000aa")])
        app._tick()
        assert "open 10" in screen_text(app) and app.model.version > version  # frozen while paused
        await pilot.press("p")
        await pilot.pause()
        assert "open 11" in screen_text(app)

        await pilot.press("e")
        await pilot.pause()
        assert app.errors_only and table.row_count == 3  # separator and the two errors
        await pilot.press("escape")
        assert not app.errors_only

        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen) and "errors only" in screen_text(app)
        await pilot.press("escape")
        await pilot.press("q")
    assert app.return_code == 0


async def test_detail_of_a_finished_call_shows_prompt_usage_and_tool_calls() -> None:
    model, clock = populated(0)
    messages = '[{"role":"assistant","parts":[{"type":"tool_call","name":"search","arguments":{}}]}]'
    model.on_spans(
        [
            received_span(
                "a" * 16,
                gen_ai__input__messages='[{"role":"user","parts":[{"type":"text","content":"What is OTLP?"}]}]',
                gen_ai__output__messages=messages,
                gen_ai__usage__input_tokens=12,
                gen_ai__usage__output_tokens=34,
                gen_ai__response__finish_reasons=["tool_call"],
            )
        ]
    )
    app = app_for(model, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("down", "enter")  # the first row is the separator
        await pilot.pause()
        text = screen_text(app)
    assert "user: What is OTLP?" in text and "tool calls" in text and "search" in text
    assert "tokens in 12 out 34" in text and "finish tool_call" in text


async def test_elapsed_ticks_between_updates() -> None:
    model, clock = populated(2)
    app = app_for(model, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        before = screen_text(app)
        clock[0] += 7
        app._tick()
        await pilot.pause()
        after = screen_text(app)
    assert "4.3s" in before and "11.3s" in after  # 3.3 s at its last update, a second and then 8 s before


def test_counts_only_label_only_when_capture_is_off() -> None:
    from rollout_otel.tail._view import stream_cells

    model, clock = populated(0)
    tool_call_stream = received_log(
        "rollout.stream.update", "1" * 16, rollout__stream__chunks=5, rollout__stream__preview=""
    )
    model.on_logs([tool_call_stream])  # content captured, but no text yet: tool-call arguments or thinking
    model.on_logs([received_log("rollout.stream.update", "2" * 16, rollout__stream__chunks=5)])
    streams = {s.span_id: s for s in model.snapshot()[0]}
    columns = layout(200)
    preview = [c.key for c in columns].index("preview")
    tool_calls = stream_cells(streams["1" * 16], columns, clock[0], 5.0)[preview].plain
    no_capture = stream_cells(streams["2" * 16], columns, clock[0], 5.0)[preview].plain
    assert tool_calls == NO_TEXT and no_capture == NO_CAPTURE


async def test_forwarding_failures_and_errors_are_pinned() -> None:
    model, clock = populated(100)
    app = app_for(model, clock, forward_status=lambda: "3 failed (HTTP 503 from http://collector)")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        line = str(app.query_one("#errors", Static).render())
    assert "2 errors" in line and "forward: 3 failed" in line
