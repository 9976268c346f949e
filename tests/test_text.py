"""The stream's text buffer: writes are one C call, blocks are joined once, readers see a consistent state, and a
span's text is right across blocks, from any kind of delta."""

from __future__ import annotations

import threading

from rollout_otel import trace
from rollout_otel._text import CharCounter, StreamText
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
