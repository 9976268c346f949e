"""rollout-otel: OpenTelemetry tracing for LLM calls, built for streamed completions."""

from . import trace
from ._client import Rollout
from ._errors import RolloutConfigError
from ._processor import StreamingSpanProcessor
from ._wrap import wrap
from .trace import LLMSpan
from .version import __version__

__all__ = [
    "LLMSpan",
    "Rollout",
    "RolloutConfigError",
    "StreamingSpanProcessor",
    "__version__",
    "trace",
    "wrap",
]
