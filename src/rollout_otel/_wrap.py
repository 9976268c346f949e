"""`wrap(client)`: trace one provider client instance, whichever provider it is."""

from __future__ import annotations

from typing import TypeVar

from opentelemetry.trace import TracerProvider

_C = TypeVar("_C")
_MARK = "_rollout_otel_wrapped"


def wrap(client: _C, *, tracer_provider: TracerProvider | None = None) -> _C:
    """Trace every LLM call made through `client`, and return the same client.

    Args:
        client: an `openai.OpenAI` / `openai.AsyncOpenAI` (Azure and any compatible `base_url` included), or an
            `anthropic.Anthropic` / `anthropic.AsyncAnthropic` (Bedrock and Vertex clients included), or a boto3
            `bedrock-runtime` client, or a `google.genai.Client` (Gemini API or Vertex AI).
        tracer_provider: the provider to trace with; the global one by default.

    Raises:
        TypeError: `client` is not a client rollout-otel knows how to trace.
    """
    if getattr(client, _MARK, False):
        return client  # wrapping twice must not give two spans per call
    from .instrumentation.anthropic import is_anthropic_client, wrap_anthropic
    from .instrumentation.bedrock import is_bedrock_client, wrap_bedrock
    from .instrumentation.google_genai import is_google_genai_client, wrap_google_genai
    from .instrumentation.openai import is_openai_client, wrap_openai

    if is_openai_client(client):
        wrap_openai(client, tracer_provider)
    elif is_anthropic_client(client):
        wrap_anthropic(client, tracer_provider)
    elif is_bedrock_client(client):
        wrap_bedrock(client, tracer_provider)
    elif is_google_genai_client(client):
        wrap_google_genai(client, tracer_provider)
    else:
        raise TypeError(
            f"rollout_otel.wrap() cannot trace a {type(client).__module__}.{type(client).__qualname__}: "
            "pass an OpenAI client (openai.OpenAI, openai.AsyncOpenAI) or an Anthropic one "
            "(anthropic.Anthropic, anthropic.AsyncAnthropic), a boto3 bedrock-runtime client or a google.genai.Client"
        )
    setattr(client, _MARK, True)
    return client
