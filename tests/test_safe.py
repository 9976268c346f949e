"""Attribute keys and values made safe for export: the conventions' ASCII keys pass as they are (checked once per
process), anything else is made encodable, every time."""

from __future__ import annotations

import pytest

from rollout_otel import _safe
from rollout_otel._safe import clean_attributes


class Key(str):
    """A str subclass key: exported as the plain str it equals."""


def test_keys_and_values_come_out_plain_and_encodable() -> None:
    attributes = {
        "gen_ai.request.model": "gpt-test",
        "gen_ai.request.max_tokens": 5,
        "model\ud800": "bad\ud800value",  # a lone surrogate in a key and in a value
        Key("gen_ai.request.model"): "again",
        7: "a key that is not a str",
        "stop": ["a", "b\ud800"],
        "long": "x" * (_safe._SHORT + 10) + "\udfff",
    }
    for _ in range(2):  # the second time the ASCII keys are known: the same result
        found = clean_attributes(attributes)
        assert all(type(key) is str for key in found)
        assert found["gen_ai.request.max_tokens"] == 5
        assert found["model\ufffd"] == "bad\ufffdvalue"
        assert found["7"] == "a key that is not a str"
        assert found["stop"] == ["a", "b\ufffd"]
        assert found["long"].endswith("\ufffd") and found["long"].encode("utf-8")
        assert found["gen_ai.request.model"] == "again"  # the subclass key, as the plain str, set last
    assert "gen_ai.request.model" in _safe._ASCII_KEYS


def test_the_known_keys_and_texts_stay_bounded() -> None:
    for n in range(_safe._MAX_SEEN + 50):
        clean_attributes({f"per.call.key.{n}": n, "per.call.value": f"value-{n}"})
    assert len(_safe._ASCII_KEYS) <= _safe._MAX_SEEN
    assert len(_safe._CLEAN_TEXTS) <= _safe._MAX_SEEN
    assert clean_attributes({"per.call.key.after": 1}) == {"per.call.key.after": 1}
    assert clean_attributes({"k": "value-after"}) == {"k": "value-after"}  # not kept, still passed as it is


def test_only_short_ascii_texts_are_known(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_safe, "_CLEAN_TEXTS", set())  # whatever other tests filled it with
    longer = "y" * (_safe._KNOWN_TEXT_CHARS + 1)  # clean, but kept only if short: the set stays small in bytes
    clean_attributes({"k": "gpt-known", "bad": "b\ud800", "long": longer})
    assert "gpt-known" in _safe._CLEAN_TEXTS
    assert "b\ud800" not in _safe._CLEAN_TEXTS and longer not in _safe._CLEAN_TEXTS
    assert clean_attributes({"long": longer}) == {"long": longer}
    for _ in range(2):  # known or not, the same result
        assert clean_attributes({"bad": "b\ud800"}) == {"bad": "b\ufffd"}
        assert clean_attributes({"k": "gpt-known"}) == {"k": "gpt-known"}
