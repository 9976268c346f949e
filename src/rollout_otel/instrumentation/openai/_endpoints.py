"""The OpenAI endpoints rollout traces, described for the shared call wrappers."""

from __future__ import annotations

import functools
from typing import Any

from .._calls import Endpoint, Provider
from . import _request as req
from ._chat import ChatAccumulator, completion_outcome
from ._responses import ResponsesAccumulator, response_outcome


@functools.cache  # imported once: the lookup runs at every call's result
def _stream_types() -> tuple[type, type]:
    from openai import AsyncStream, Stream

    return Stream, AsyncStream


@functools.cache
def _raw_response_types() -> tuple[type, ...]:
    from openai._legacy_response import LegacyAPIResponse
    from openai._response import BaseAPIResponse

    return LegacyAPIResponse, BaseAPIResponse


OPENAI = Provider(
    name_of=req.provider_name,
    request_attributes=req.request_attributes,
    stream_types=_stream_types,
    raw_response_types=_raw_response_types,
)


def _chat_accumulator(span: Any, kwargs: Any) -> ChatAccumulator:
    added = req.adds_usage(span, kwargs)  # the caller's arguments: rollout asked for usage if they did not
    return ChatAccumulator(
        span,
        expected_choices=req.choice_count(kwargs),
        usage_requested=added or req.usage_requested(kwargs),
        usage_added=added,
    )


CHAT = Endpoint(
    "openai.chat.completions", OPENAI, req.chat_input, _chat_accumulator, completion_outcome, prepare=req.with_usage
)
RESPONSES = Endpoint(
    "openai.responses", OPENAI, req.responses_input, lambda span, kwargs: ResponsesAccumulator(span), response_outcome
)
