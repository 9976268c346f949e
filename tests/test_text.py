"""The stream's text buffer: writes are one C call, blocks are joined once, readers see a consistent state, and a
span's text is right across blocks, from any kind of delta."""

from __future__ import annotations

import json
import sys
import threading

from rollout_otel import trace
from rollout_otel._text import COPIED_UP_TO, CharCounter, StreamText
from rollout_otel.testing import Capture


def test_writes_join_into_blocks_and_read_back_whole() -> None:
    text = StreamText()
    write = text.write
    pieces = [f"piece {i};" for i in range(3000)]
    for i, piece in enumerate(pieces):
        if i and not i % 1024:
            write = text.seal()
        write(piece)
    expected = "".join(pieces)
    assert text.chars == len(expected)
    assert text.text() == expected
    assert text.tail(25) == expected[-25:]
    assert text.tail(len(expected) + 10) == expected
    assert text.tail(0) == ""
    whole = text.whole()
    assert whole == expected
    assert text.text() is whole and text.whole() is whole  # joined once, then the same str
    assert text.chars == len(expected)


def test_writes_keep_no_reference_to_the_delta_and_keep_its_characters_exactly() -> None:
    text = StreamText()
    deltas = ["".join(["a\r\n", str(i)]) for i in range(5)] + ["b\rc", "\ud800", "\ud83d", "\ude00", "\U0001f600é"]
    deltas.append("\x00z")
    before = [sys.getrefcount(delta) for delta in deltas]
    write = text.write
    for i, written in enumerate(deltas):
        if i == 8:  # a block joined with lone surrogates in it, between the halves of a pair written apart
            write = text.seal()
        write(written)
    del written
    assert [sys.getrefcount(delta) for delta in deltas] == before  # copied, not held: the caller's str can go
    assert text._state[0][0].endswith("\ud800\ud83d")  # sealed as written, not decoded away
    expected = "".join(deltas)
    assert text.text() == expected and text.chars == len(expected)  # no newline translated, no pair merged
    assert text.tail(3) == expected[-3:] and text.tail(len(expected)) == expected and text.whole() == expected


def test_a_long_first_text_is_held_whole_not_copied() -> None:
    cap = Capture()
    try:
        first, later = "y" * (COPIED_UP_TO + 1), "z" * (COPIED_UP_TO + 1)
        span = cap.llm("a.b", stream=True)
        span.record_chunk(first)  # a whole answer sent as one delta
        blocks, joined, pending = span._text._state
        assert blocks[0] is first and joined == len(first) and not pending and span._first_text_ns
        span.record_chunk(later)  # a long delta later is copied: one block of writes pending at most
        blocks, _, pending = span._text._state
        assert blocks[0] is first and len(pending) == len(later) and span._text.chars == len(first) + len(later)
        span.end()
        assert cap.span().attributes["rollout.stream.chars"] == len(first) + len(later)
        output = json.loads(cap.span().attributes["gen_ai.output.messages"])[0]["parts"][0]["content"]
        assert output == first + later
    finally:
        cap.shutdown()


def test_a_block_sealed_while_another_thread_reads_is_never_seen_twice_or_lost() -> None:
    text = StreamText()
    stop = threading.Event()
    seen: list[int] = []

    lengths: list[int] = []

    def read() -> None:
        while not stop.is_set():
            seen.append(text.chars)
            lengths.append(len(text.text()))

    reader = threading.Thread(target=read)
    reader.start()
    write = text.write
    for i in range(20_000):
        if not i % 64:
            write = text.seal()
        write("x")
    stop.set()
    reader.join()
    assert seen == sorted(seen) and lengths == sorted(lengths)  # never counted twice, never lost
    assert all(n <= 20_000 for n in seen + lengths)
    assert text.chars == 20_000


def test_char_counter_keeps_no_text() -> None:
    counter = CharCounter()
    counter.write("abc")
    assert counter.seal() == counter.write
    assert (counter.chars, counter.text(), counter.whole(), counter.tail(5)) == (3, "", "", "")


class Text(str):
    """A str subclass, as some SDKs hand out."""


def test_the_span_records_every_kind_of_delta_across_blocks() -> None:
    cap = Capture()
    try:
        with trace.llm("openai.chat", stream=True, tracer_provider=cap.tracer_provider) as span:
            for i in range(2500):
                span.record_chunk("a" if i % 2 else None)
            span.record_chunk(Text("B"))
            span.record_chunk(b"\xc3\xa9")
        (finished,) = cap.spans()
        expected = "a" * 1250 + "Bé"
        assert finished.attributes["rollout.stream.chars"] == len(expected)  # type: ignore[index]
        assert finished.attributes["rollout.stream.chunks"] == 2502  # type: ignore[index]
        assert finished.attributes["rollout.stream.preview"] == expected[-4096:]  # type: ignore[index]
        assert expected in str(finished.attributes["gen_ai.output.messages"])  # type: ignore[index]
    finally:
        cap.shutdown()


def streamed(pieces: list[str], seal_every: int = 4) -> StreamText:
    """A buffer that was written `pieces`, sealed every `seal_every` writes as the span does."""
    text = StreamText()
    write = text.write
    for i, piece in enumerate(pieces):
        if i and not i % seal_every:
            write = text.seal()
        write(piece)
    return text


def fresh_copy(text: str) -> str:
    """An equal str that is not the same object, as a provider's done event carries it."""
    return "".join(list(text))


def test_a_str_equal_to_everything_written_is_held_in_place_of_the_blocks() -> None:
    pieces = [f"word{i} " for i in range(30)]  # 7 blocks and pending writes
    text = streamed(pieces)
    whole = fresh_copy("".join(pieces))
    assert text.adopt(whole)
    assert text.text() is whole and text.chars == len(whole)  # no copy of its own left
    assert text.tail(9) == whole[-9:]
    text.write("more")  # writes go on after it
    assert text.text() == whole + "more" and text.chars == len(whole) + 4


def test_a_str_that_is_not_exactly_the_text_changes_nothing() -> None:
    pieces = [f"word{i} " for i in range(30)]
    for other in ("".join(pieces)[:-1], "".join(pieces) + "!", "".join(pieces).replace("word7", "WORD7"), ""):
        text = streamed(pieces)
        assert not text.adopt(other)
        assert text.text() == "".join(pieces) and all(block is not other for block in text._state[0])  # never guessed


def test_each_later_part_is_held_after_the_earlier_one_and_moved_on_to_newer_copies() -> None:
    first = [f"a{i} " for i in range(10)]
    second = [f"b{i} " for i in range(10)]
    text = streamed(first)
    part1 = fresh_copy("".join(first))
    assert text.adopt(part1)
    write = text.write
    for i, piece in enumerate(second):  # the second part's deltas, in blocks after the first part
        if i and not i % 4:
            write = text.seal()
        write(piece)
    assert not text.adopt(fresh_copy("".join(first + second)[5:]))  # not from a block's start: kept
    part2 = fresh_copy("".join(second))
    assert text.adopt(part2)
    assert text._state[0] == [part1, part2] and text._state[0][1] is part2
    newer1, newer2 = fresh_copy(part1), fresh_copy(part2)  # later events repeat both parts
    assert text.adopt(newer1) and text.adopt(newer2)
    assert text._state[0][0] is newer1 and text._state[0][1] is newer2
    assert text.text() == "".join(first + second)


def test_a_text_held_whole_moves_on_to_each_equal_str() -> None:
    """The next event repeating the same part: the newer str is held, the same one again changes nothing, and
    writes after it go on as before."""
    text = streamed([f"w{i} " for i in range(40)])
    first = fresh_copy(text.text())
    assert text.adopt(first) and text._state[0] == [first]
    newer = fresh_copy(first)
    assert text.adopt(newer) and text._state[0][0] is newer
    assert text.adopt(newer) and text._state[0][0] is newer
    assert not text.adopt(newer[:-1]) and text._state[0][0] is newer  # not equal: nothing changes
    text.write("more")
    assert text.adopt(fresh_copy(newer + "more"))  # pending writes: the full comparison, sealed first
    assert text.text() == newer + "more" and text.chars == len(newer) + 4


def test_a_second_part_is_not_held_when_the_first_was_not() -> None:
    """The parts' boundary falls inside a block: the second part's text is not the buffer's from a block's start."""
    text = streamed(["a1 ", "a2 ", "a3 ", "b1 ", "b2 "], seal_every=2)  # blocks "a1 a2 ", "a3 b1 ", then "b2 "
    assert not text.adopt("b1 b2 ")
    assert text.text() == "a1 a2 a3 b1 b2 "


def test_take_blocks_and_whole_give_the_held_str_back() -> None:
    text = streamed(["x" * 5] * 9)
    held = fresh_copy("x" * 45)
    assert text.adopt(held)
    assert text.whole() is held
    assert text.take_blocks() == [held] and text.chars == 0


def test_char_counter_adopts_nothing() -> None:
    counter = CharCounter(3)
    assert not counter.adopt("abc")
    assert counter.chars == 3


def test_the_span_writes_on_after_its_buffer_holds_a_providers_str() -> None:
    cap = Capture()
    try:
        with trace.llm("openai.responses", stream=True, tracer_provider=cap.tracer_provider) as span:
            for i in range(1500):  # past the first sealed block
                span.record_chunk(f"w{i} ")
            part = fresh_copy("".join(f"w{i} " for i in range(1500)))
            span._adopt_text(part)
            assert span._text.text() is part
            span._adopt_text("something else")  # not the text: nothing changes
            for i in range(1500, 2600):
                span.record_chunk(f"w{i} ")
        (finished,) = cap.spans()
        expected = "".join(f"w{i} " for i in range(2600))
        (message,) = json.loads(finished.attributes["gen_ai.output.messages"])  # type: ignore[arg-type]
        assert message["parts"] == [{"type": "text", "content": expected}]
        assert finished.attributes["rollout.stream.chars"] == len(expected)  # type: ignore[index]
        assert finished.attributes["rollout.stream.chunks"] == 2600  # type: ignore[index]
    finally:
        cap.shutdown()


def test_whole_below_joins_a_short_text_once_and_leaves_a_long_one_in_blocks() -> None:
    short = StreamText()
    for piece in ("ab", "cd"):
        short.write(piece)
    assert short.whole_below(5) == "abcd"
    assert short.whole_below(5) is short.whole()  # joined once, then the same str
    assert short.whole_below(4) is None  # 4 characters: not below 4
    long = StreamText()
    long.write("x" * 10)
    long.seal()
    long.write("y")
    assert long.whole_below(11) is None and long.chars == 11  # nothing joined
    assert long.whole_below(12) == "x" * 10 + "y"
    assert StreamText().whole_below(1) == "" and CharCounter(3).whole_below(1) == ""
