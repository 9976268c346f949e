"""What an OpenAI request says about itself: span attributes and the recorded input."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ... import _attributes as attr
from ..._content import Request, openai
from .._calls import given, request_attributes_from, sent

_PARAMETERS = (
    ("temperature", attr.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", attr.GEN_AI_REQUEST_TOP_P),
    ("max_tokens", attr.GEN_AI_REQUEST_MAX_TOKENS),
    ("max_completion_tokens", attr.GEN_AI_REQUEST_MAX_TOKENS),
    ("max_output_tokens", attr.GEN_AI_REQUEST_MAX_TOKENS),
    ("frequency_penalty", attr.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    ("presence_penalty", attr.GEN_AI_REQUEST_PRESENCE_PENALTY),
    ("seed", attr.GEN_AI_REQUEST_SEED),
    ("n", attr.GEN_AI_REQUEST_CHOICE_COUNT),
)


def request_attributes(kwargs: Mapping[str, Any], client: Any) -> dict[str, Any]:
    """Request parameters and the server address, as GenAI attributes."""
    return request_attributes_from(kwargs, client, _PARAMETERS, "stop")


def provider_name(client: Any) -> str:
    """`azure.ai.openai` for Azure clients, else `openai`."""
    return "azure.ai.openai" if type(client).__name__.startswith(("AzureOpenAI", "AsyncAzureOpenAI")) else "openai"


def chat_input(kwargs: Mapping[str, Any]) -> Callable[[], Request]:
    messages, tools = sent(kwargs, "messages"), sent(kwargs, "tools")
    return lambda: Request(messages=openai.chat_messages(messages), tools=openai.tool_definitions(tools))


def responses_input(kwargs: Mapping[str, Any]) -> Callable[[], Request]:
    instructions, value, tools = sent(kwargs, "instructions"), sent(kwargs, "input"), sent(kwargs, "tools")
    return lambda: Request(
        messages=openai.responses_input(value) if value is not None else [],
        system=openai.responses_instructions(instructions),
        tools=openai.tool_definitions(tools),
    )


def adds_usage(span: Any, kwargs: Mapping[str, Any]) -> bool:
    """Whether rollout asks this chat stream for usage (`openai_include_usage`): the caller did not say either way.

    Not when the caller reads the raw body (`with_raw_response` / `with_streaming_response`): it would see the
    extra chunk there, where rollout cannot take it out.
    """
    settings = getattr(span, "_settings", None)
    # arguments read with `in` and `[]`: no call for the many a caller leaves out
    if settings is None or not settings.openai_include_usage or "stream" not in kwargs or kwargs["stream"] is not True:
        return False
    options: Any = kwargs["stream_options"] if "stream_options" in kwargs else None  # noqa: SIM401
    if given(options) and (not _is_mapping(options) or "include_usage" in options):
        return False
    headers: Any = kwargs["extra_headers"] if "extra_headers" in kwargs else None  # noqa: SIM401
    return not (given(headers) and _is_mapping(headers) and _RAW_RESPONSE_HEADER in map(_lower, headers))


def with_usage(span: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arguments to send: the caller's, with `stream_options.include_usage` added when rollout asks for usage."""
    if not adds_usage(span, kwargs):
        return kwargs
    options = kwargs.get("stream_options")
    base = dict(options) if isinstance(options, Mapping) else {}
    return {**kwargs, "stream_options": {**base, "include_usage": True}}


def _lower(key: Any) -> str:
    return str(key).lower()


_RAW_RESPONSE_HEADER = "x-stainless-raw-response"  # the openai SDK's mark on with_raw_response calls


def usage_requested(kwargs: Mapping[str, Any]) -> bool:
    options: Any = kwargs["stream_options"] if "stream_options" in kwargs else None  # noqa: SIM401
    return bool(given(options) and _is_mapping(options) and options.get("include_usage"))


def choice_count(kwargs: Mapping[str, Any]) -> int:
    n = kwargs["n"] if "n" in kwargs else None  # noqa: SIM401
    return n if n is not None and isinstance(n, int) and n > 0 else 1


def _is_mapping(value: Any) -> bool:
    return value.__class__ is dict or isinstance(value, Mapping)  # a dict, most often: no ABC check
