"""The content worker's turns (`_content/_turns.py`): it gives the GIL away while it maps a history, not only while
it encodes it, and the same mapping on any other thread never pauses. Asserted by where the worker napped, never
by timings."""

from __future__ import annotations

import base64
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rollout_otel._content import Request, _anthropic, _bedrock, _gemini, _manual, _openai, _turns
from rollout_otel._content._early import early
from rollout_otel._content._pieces import SLICE

HISTORY = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i}"} for i in range(100)]


@pytest.fixture
def naps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[set[str]]]:
    """Every pause naps (no work is too short); each nap is recorded as the names of the functions it was in."""
    found: list[set[str]] = []

    def nap(seconds: float) -> None:
        frame: Any = sys._getframe(1)
        names = set()
        while frame is not None:
            names.add(frame.f_code.co_name)
            frame = frame.f_back
        found.append(names)

    monkeypatch.setattr(_turns, "WORK_S", 0.0)
    monkeypatch.setattr(_turns, "_sleep", nap)
    yield found


MAPPERS: list[tuple[str, Callable[[Any], Any], Any]] = [
    ("openai chat", _openai.chat_messages, HISTORY),
    ("openai responses", _openai.responses_input, [dict(m, type="message") for m in HISTORY]),
    ("anthropic", _anthropic.messages, HISTORY),
    ("bedrock", _bedrock.messages, [{"role": m["role"], "content": [{"text": m["content"]}]} for m in HISTORY]),
    ("gemini", _gemini.messages, [{"role": "user", "parts": [{"text": m["content"]}]} for m in HISTORY]),
    ("manual", _manual.messages, HISTORY),
]


@pytest.mark.parametrize(("name", "mapper", "history"), MAPPERS, ids=[m[0] for m in MAPPERS])
def test_mapping_a_history_pauses_on_the_worker_only(
    name: str, mapper: Callable[[Any], Any], history: Any, naps: list[set[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    mapped = mapper(history)
    assert len(mapped) == len(HISTORY) and not naps  # not on the worker: no pause at all

    monkeypatch.setattr(_turns.turns, "worker", threading.get_ident())  # this thread, as the worker
    assert mapper(history) == mapped
    assert len(naps) == len(HISTORY) // _turns.EVERY  # one clock check every EVERY messages, not one per message


def test_the_worker_gives_the_gil_away_while_mapping_and_while_encoding_an_image(naps: list[set[str]]) -> None:
    image = base64.b64encode(bytes(300_000)).decode("ascii")
    history = [
        *HISTORY,
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:;base64," + image}}]},
    ]
    job = early(lambda: Request(messages=_openai.chat_messages(history)), 10**7)
    assert job is not None and job._done.wait(30)  # built by the worker, not taken back
    found = job.take(10**7)
    assert found is not None and image in found[1]["gen_ai.input.messages"][0]
    mapping = [names for names in naps if "each" in names]
    quoting = [names for names in naps if "_fragments" in names]  # the image's base64, a slice at a time
    assert len(mapping) >= len(HISTORY) // _turns.EVERY and len(quoting) >= len(image) // SLICE
    assert all("run" in names for names in naps)  # all of them on the worker, in its job
