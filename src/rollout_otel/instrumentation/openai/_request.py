"""What an OpenAI request says about itself: span attributes and the recorded input."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._calls import given, request_attributes_from

_PARAMETERS = (
    ("temperature", "gen_ai.request.temperature"),
    ("top_p", "gen_ai.request.top_p"),
    ("max_tokens", "gen_ai.request.max_tokens"),
    ("max_completion_tokens", "gen_ai.request.max_tokens"),
    ("max_output_tokens", "gen_ai.request.max_tokens"),
    ("frequency_penalty", "gen_ai.request.frequency_penalty"),
    ("presence_penalty", "gen_ai.request.presence_penalty"),
    ("seed", "gen_ai.request.seed"),
    ("n", "gen_ai.request.choice.count"),
)


def request_attributes(kwargs: Mapping[str, Any], client: Any) -> dict[str, Any]:
    """Request parameters and the server address, as GenAI attributes."""
    return request_attributes_from(kwargs, client, _PARAMETERS, "stop")


def provider_name(client: Any) -> str:
    """`azure.ai.openai` for Azure clients, else `openai`."""
    return "azure.ai.openai" if type(client).__name__.startswith(("AzureOpenAI", "AsyncAzureOpenAI")) else "openai"


def chat_input(kwargs: Mapping[str, Any]) -> Any:
    found = {"messages": kwargs.get("messages")}
    if given(kwargs.get("tools")):
        found["tools"] = kwargs["tools"]
    return found


def responses_input(kwargs: Mapping[str, Any]) -> Any:
    found: dict[str, Any] = {}
    for key in ("instructions", "input", "tools"):
        if given(kwargs.get(key)):
            found[key] = kwargs[key]
    return found


def usage_requested(kwargs: Mapping[str, Any]) -> bool:
    options = kwargs.get("stream_options")
    return bool(given(options) and isinstance(options, Mapping) and options.get("include_usage"))


def choice_count(kwargs: Mapping[str, Any]) -> int:
    n = kwargs.get("n")
    return n if given(n) and isinstance(n, int) and n > 0 else 1
