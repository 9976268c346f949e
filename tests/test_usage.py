"""Usage read from a provider's pydantic model through its fields: the same counts `getattr` gives, extras included,
and `getattr` itself wherever a class attribute could stand in for a field."""

from __future__ import annotations

from typing import Any

import anthropic.types
import pydantic
from google.genai import types as gemini_types
from openai.types.completion_usage import CompletionUsage
from openai.types.responses import ResponseUsage

from rollout_otel import _usage
from rollout_otel._usage import anthropic_usage, gemini_usage, usage_attributes


def through_getattr(read: Any, usage: Any, monkeypatch: Any) -> Any:
    """What `read(usage)` gives when every value is read with getattr."""
    with monkeypatch.context() as patch:
        patch.setattr(_usage, "_modes", {dict: _usage._MAPPING, type(usage): _usage._ATTRIBUTES})
        patch.setattr(_usage, "_mode_of", lambda source: _usage._ATTRIBUTES)
        return read(usage)


def test_provider_usage_models_read_through_their_fields(monkeypatch: Any) -> None:
    cases = [
        (usage_attributes, CompletionUsage(prompt_tokens=5, completion_tokens=7, total_tokens=12)),
        (
            usage_attributes,
            CompletionUsage.model_validate(
                {
                    "prompt_tokens": 5,
                    "completion_tokens": 7,
                    "total_tokens": 12,
                    "prompt_tokens_details": {"cached_tokens": 2},
                    "completion_tokens_details": {"reasoning_tokens": 3},
                    "input_tokens": 99,  # an extra field a compatible server sent: getattr finds it first
                }
            ),
        ),
        (
            usage_attributes,
            ResponseUsage.model_validate(
                {
                    "input_tokens": 4,
                    "output_tokens": 6,
                    "total_tokens": 10,
                    "input_tokens_details": {"cached_tokens": 1, "cache_write_tokens": 0},
                    "output_tokens_details": {"reasoning_tokens": 2},
                }
            ),
        ),
        (anthropic_usage, anthropic.types.Usage(input_tokens=3, output_tokens=4, cache_read_input_tokens=1)),
        (gemini_usage, gemini_types.GenerateContentResponseUsageMetadata(prompt_token_count=8, thoughts_token_count=2)),
    ]
    for read, usage in cases:
        assert read(usage) == through_getattr(read, usage, monkeypatch)
        assert _usage._mode_of(usage) == _usage._FIELDS
    assert usage_attributes(cases[1][1])["gen_ai.usage.input_tokens"] == 99


class Shadowed(pydantic.BaseModel):
    """A model where a property answers for one of the keys: only getattr sees it."""

    prompt_tokens: int = 1

    @property
    def input_tokens(self) -> int:
        return 42


def test_a_model_with_a_property_for_a_key_is_read_with_getattr() -> None:
    assert _usage._mode_of(Shadowed()) == _usage._ATTRIBUTES
    assert usage_attributes(Shadowed())["gen_ai.usage.input_tokens"] == 42


def test_dicts_mappings_and_plain_objects_give_the_same_counts() -> None:
    from collections import UserDict
    from types import SimpleNamespace

    plain = {
        "prompt_tokens": 5,
        "completion_tokens": 7,
        "cache_creation_input_tokens": None,  # a key that is there with None counts as missing
        "prompt_tokens_details": {"cached_tokens": 2},
        "completion_tokens_details": SimpleNamespace(reasoning_tokens=3),
    }
    expected = {
        "gen_ai.usage.input_tokens": 5,
        "gen_ai.usage.output_tokens": 7,
        "gen_ai.usage.cache_read.input_tokens": 2,
        "gen_ai.usage.reasoning.output_tokens": 3,
    }
    assert usage_attributes(plain) == expected
    assert usage_attributes(UserDict(plain)) == expected
    assert usage_attributes(SimpleNamespace(**plain)) == expected
    assert usage_attributes({"input_tokens": None, "prompt_tokens": 4}) == {"gen_ai.usage.input_tokens": 4}
