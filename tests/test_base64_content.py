"""Long base64 content read by slices (`_content/_base64.py`): a `data:` URL's data is never copied out whole, bytes
are never encoded whole while mapping, and the recorded JSON is byte for byte what the whole text would give."""

from __future__ import annotations

import base64
import random
from typing import Any

import pytest

from rollout_otel._content import _base64, _pieces
from rollout_otel._content._base64 import BytesData, UrlData, base64_of, data_of_url
from rollout_otel._content._bedrock import messages as bedrock_messages
from rollout_otel._content._encode import encode
from rollout_otel._content._gemini import messages as gemini_messages
from rollout_otel._content._openai import chat_messages
from rollout_otel._content._pieces import encode_in_pieces

CAPS = (50, 300, 1000, 5000, 100_000, 10**8)


def _eager(value: Any) -> Any:
    """`value` with every lazy base64 text made whole: what mapping gave before."""
    if isinstance(value, dict):
        return {k: _eager(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_eager(v) for v in value]
    if isinstance(value, _base64.Base64Text):
        return str(value)
    return value


def _assert_same_json(lazy: Any, eager: Any) -> None:
    for cap in CAPS:
        expected = encode(eager, cap)
        assert encode(lazy, cap) == expected, cap
        assert encode_in_pieces(lazy, cap) == expected, cap


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 47, 48, 49, 300, 1001])
def test_bytes_data_reads_as_its_encoding(size: int) -> None:
    rng = random.Random(size)
    data = rng.randbytes(size)
    whole = base64.b64encode(data).decode("ascii")
    lazy = BytesData(data)
    assert len(lazy) == len(whole) and str(lazy) == whole and lazy == whole and whole == lazy
    for _ in range(200):
        start, stop = rng.randint(-len(whole) - 2, len(whole) + 2), rng.randint(-len(whole) - 2, len(whole) + 2)
        assert lazy[start:stop] == whole[start:stop]
        assert lazy[start:] == whole[start:] and lazy[:stop] == whole[:stop]
    for index in range(-len(whole), len(whole)):
        assert lazy[index] == whole[index]
    assert lazy[::2] == whole[::2]
    with pytest.raises(IndexError):
        lazy[len(whole)]


def test_url_data_reads_as_the_data_of_its_url() -> None:
    data = base64.b64encode(random.Random(1).randbytes(3000)).decode("ascii")
    url = "data:image/png;base64," + data
    lazy = UrlData(url, url.index(",") + 1)
    assert len(lazy) == len(data) and str(lazy) == data and lazy == data
    assert lazy[:4000] == data and lazy[100:200] == data[100:200] and lazy[-1] == data[-1]
    assert lazy != data[:-4] and lazy != 5 and "characters" in repr(lazy)


def test_short_base64_is_made_at_once() -> None:
    assert type(data_of_url("data:,abc", 6)) is str
    assert type(base64_of(b"abc")) is str and type(base64_of(bytearray(200_000))) is str  # a bytearray may change
    assert type(base64_of(bytes(200_000))) is BytesData


def test_a_data_url_image_is_not_copied_and_records_the_same_json(monkeypatch: pytest.MonkeyPatch) -> None:
    data = base64.b64encode(b"\x89PNG" + random.Random(2).randbytes(200_000)).decode("ascii")
    history = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}},
            ],
        }
    ]
    lazy = chat_messages(history)
    blob: Any = lazy[0]["parts"][1]  # type: ignore[index]
    assert type(blob["content"]) is UrlData and blob["content"] == data and blob["type"] == "blob"

    monkeypatch.setattr(_base64, "LAZY_FROM", 10**9)  # the mapping as it was: the data copied out of the URL
    before = chat_messages(history)
    assert type(before[0]["parts"][1]["content"]) is str  # type: ignore[index]
    assert before == _eager(lazy)
    _assert_same_json(lazy, before)


def test_bytes_from_gemini_and_bedrock_record_the_same_json(monkeypatch: pytest.MonkeyPatch) -> None:
    image = b"\x89PNG" + random.Random(3).randbytes(100_000)
    gemini = [
        {"role": "user", "parts": [{"text": "Describe"}, {"inline_data": {"mime_type": "image/png", "data": image}}]}
    ]
    bedrock = [{"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": image}}}]}]
    for mapper, request in ((gemini_messages, gemini), (bedrock_messages, bedrock)):
        lazy = mapper(request)
        blobs = [part for message in lazy for part in message["parts"] if part["type"] == "blob"]
        assert len(blobs) == 1 and type(blobs[0]["content"]) is BytesData
        assert blobs[0]["content"] == base64.b64encode(image).decode("ascii")
        _assert_same_json(lazy, _eager(lazy))


def _blob(rng: random.Random) -> dict[str, Any]:
    data = rng.randbytes(rng.choice([10, 200, 299, 300, 301, 1000, 4000]))
    if rng.random() < 0.5:
        content: Any = BytesData(data)
    else:
        url = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        content = UrlData(url, url.index(",") + 1)
    return {"mime_type": "image/png", "modality": "image", "content": content, "type": "blob"}


def test_lazy_blobs_encode_byte_identical_in_one_call_and_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_pieces, "SLICE", 300)  # small slices: the lazy texts are measured and quoted by slices
    for seed in range(150):
        rng = random.Random(seed)
        value = [
            {
                "role": "user",
                "parts": [
                    _blob(rng) if rng.random() < 0.6 else {"content": "x" * rng.randint(0, 900), "type": "text"}
                    for _ in range(rng.randint(1, 4))
                ],
                "name": None,
            }
            for _ in range(rng.randint(1, 5))
        ]
        _assert_same_json(value, _eager(value))
