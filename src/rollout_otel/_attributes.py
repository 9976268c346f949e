"""Every attribute, event and logger name that rollout-otel puts on the wire, in one place.

The GenAI, server, error and exception names are the released semantic conventions', imported from
`opentelemetry-semantic-conventions` rather than spelled here; only rollout's own `rollout.*` names are written out.
"""

from __future__ import annotations

from typing import Final

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as _gen_ai
from opentelemetry.semconv.attributes import error_attributes as _error
from opentelemetry.semconv.attributes import exception_attributes as _exception
from opentelemetry.semconv.attributes import server_attributes as _server

INSTRUMENTATION_NAME: Final = "rollout_otel"

# GenAI semantic conventions: the call.
GEN_AI_OPERATION_NAME: Final = _gen_ai.GEN_AI_OPERATION_NAME
GEN_AI_PROVIDER_NAME: Final = _gen_ai.GEN_AI_PROVIDER_NAME
GEN_AI_REQUEST_MODEL: Final = _gen_ai.GEN_AI_REQUEST_MODEL
GEN_AI_REQUEST_STREAM: Final = _gen_ai.GEN_AI_REQUEST_STREAM
GEN_AI_REQUEST_TEMPERATURE: Final = _gen_ai.GEN_AI_REQUEST_TEMPERATURE
GEN_AI_REQUEST_TOP_P: Final = _gen_ai.GEN_AI_REQUEST_TOP_P
GEN_AI_REQUEST_TOP_K: Final = _gen_ai.GEN_AI_REQUEST_TOP_K
GEN_AI_REQUEST_MAX_TOKENS: Final = _gen_ai.GEN_AI_REQUEST_MAX_TOKENS
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = _gen_ai.GEN_AI_REQUEST_FREQUENCY_PENALTY
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = _gen_ai.GEN_AI_REQUEST_PRESENCE_PENALTY
GEN_AI_REQUEST_SEED: Final = _gen_ai.GEN_AI_REQUEST_SEED
GEN_AI_REQUEST_CHOICE_COUNT: Final = _gen_ai.GEN_AI_REQUEST_CHOICE_COUNT
GEN_AI_REQUEST_STOP_SEQUENCES: Final = _gen_ai.GEN_AI_REQUEST_STOP_SEQUENCES
GEN_AI_RESPONSE_MODEL: Final = _gen_ai.GEN_AI_RESPONSE_MODEL
GEN_AI_RESPONSE_ID: Final = _gen_ai.GEN_AI_RESPONSE_ID
GEN_AI_RESPONSE_FINISH_REASONS: Final = _gen_ai.GEN_AI_RESPONSE_FINISH_REASONS
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = _gen_ai.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK
GEN_AI_USAGE_INPUT_TOKENS: Final = _gen_ai.GEN_AI_USAGE_INPUT_TOKENS
GEN_AI_USAGE_OUTPUT_TOKENS: Final = _gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = _gen_ai.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = _gen_ai.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = _gen_ai.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS
GEN_AI_TOKEN_TYPE: Final = _gen_ai.GEN_AI_TOKEN_TYPE
SERVER_ADDRESS: Final = _server.SERVER_ADDRESS
SERVER_PORT: Final = _server.SERVER_PORT
ERROR_TYPE: Final = _error.ERROR_TYPE
ERROR_TYPE_OTHER: Final = _error.ErrorTypeValues.OTHER.value  # an error whose type may not leave the process
EXCEPTION_MESSAGE: Final = _exception.EXCEPTION_MESSAGE
EXCEPTION_STACKTRACE: Final = _exception.EXCEPTION_STACKTRACE

# GenAI semantic conventions: content, recorded only when capture_content is on (JSON strings).
GEN_AI_INPUT_MESSAGES: Final = _gen_ai.GEN_AI_INPUT_MESSAGES
GEN_AI_OUTPUT_MESSAGES: Final = _gen_ai.GEN_AI_OUTPUT_MESSAGES
GEN_AI_SYSTEM_INSTRUCTIONS: Final = _gen_ai.GEN_AI_SYSTEM_INSTRUCTIONS
GEN_AI_TOOL_DEFINITIONS: Final = _gen_ai.GEN_AI_TOOL_DEFINITIONS

# Content that is not message-shaped (manual API only), recorded only when capture_content is on.
ROLLOUT_INPUT: Final = "rollout.input"
ROLLOUT_OUTPUT: Final = "rollout.output"
CONTENT_TRUNCATED: Final = "rollout.content.truncated"

# Stream summary, on streamed spans only.
STREAM_PREVIEW: Final = "rollout.stream.preview"
STREAM_CHUNKS: Final = "rollout.stream.chunks"
STREAM_CHARS: Final = "rollout.stream.chars"
STREAM_UPDATES: Final = "rollout.stream.updates"
STREAM_END_REASON: Final = "rollout.stream.end_reason"
STREAM_CHUNK_EVENTS_DROPPED: Final = "rollout.stream.chunk_events_dropped"
STREAM_TIME_TO_FIRST_TEXT: Final = "rollout.stream.time_to_first_text"  # s; answer text or tool-call delta
STREAM_MAX_GAP: Final = "rollout.stream.max_gap"  # s; the longest wait for a chunk, the first one's included
STREAM_STALLS: Final = "rollout.stream.stalls"  # stall events the stream had

# Per-chunk span events (capture_stream_chunks only).
CHUNK_EVENT: Final = "rollout.stream.chunk"
CHUNK_INDEX: Final = "rollout.chunk.index"
CHUNK_TEXT: Final = "rollout.chunk.text"

# Update events: log records emitted while a stream is open.
UPDATE_EVENT: Final = "rollout.stream.update"
UPDATE_SEQ: Final = "rollout.stream.update.seq"
UPDATE_ELAPSED: Final = "rollout.stream.elapsed"
STREAM_NAME: Final = "rollout.stream.name"  # the LLM span's name, on update events

# Start and stall events: log records too, with the update events' ids and naming attributes.
START_EVENT: Final = "rollout.stream.start"
STALL_EVENT: Final = "rollout.stream.stall"
STALL_GAP: Final = "rollout.stream.gap"  # s without a chunk so far

# Live spans: an open stream as spans of its own, for backends that take no logs.
LIVE: Final = "rollout.live"
LIVE_SEQ: Final = "rollout.live.seq"

# Values of rollout.stream.end_reason.
END_COMPLETED: Final = "completed"
END_CLOSED: Final = "closed"
END_ABANDONED: Final = "abandoned"
END_CANCELLED: Final = "cancelled"
END_ERROR: Final = "error"
