"""One OTLP receiver, for `rollout-otel tail` and the test suite's sink: one decoder to trust."""

from ._records import (
    SIGNALS,
    ReceivedEvent,
    ReceivedLog,
    ReceivedMetric,
    ReceivedPoint,
    ReceivedRequest,
    ReceivedSpan,
    decode_any_value,
    decode_attributes,
)
from ._server import GRPC_METHODS, OtlpReceiver, Unavailable

__all__ = [
    "GRPC_METHODS",
    "SIGNALS",
    "OtlpReceiver",
    "ReceivedEvent",
    "ReceivedLog",
    "ReceivedMetric",
    "ReceivedPoint",
    "ReceivedRequest",
    "ReceivedSpan",
    "Unavailable",
    "decode_any_value",
    "decode_attributes",
]
