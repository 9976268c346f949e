"""Every attribute, event and logger name that rollout-otel puts on the wire, in one place."""

from __future__ import annotations

from typing import Final

INSTRUMENTATION_NAME: Final = "rollout_otel"

# GenAI semantic conventions.
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
ERROR_TYPE: Final = "error.type"

# Content, recorded only when capture_content is on.
ROLLOUT_INPUT: Final = "rollout.input"
ROLLOUT_OUTPUT: Final = "rollout.output"

# Stream summary, on streamed spans only.
STREAM_PREVIEW: Final = "rollout.stream.preview"
STREAM_CHUNKS: Final = "rollout.stream.chunks"
STREAM_CHARS: Final = "rollout.stream.chars"
STREAM_UPDATES: Final = "rollout.stream.updates"
STREAM_END_REASON: Final = "rollout.stream.end_reason"
STREAM_CHUNK_EVENTS_DROPPED: Final = "rollout.stream.chunk_events_dropped"

# Per-chunk span events (capture_stream_chunks only).
CHUNK_EVENT: Final = "rollout.stream.chunk"
CHUNK_INDEX: Final = "rollout.chunk.index"
CHUNK_TEXT: Final = "rollout.chunk.text"

# Update events: log records emitted while a stream is open.
UPDATE_EVENT: Final = "rollout.stream.update"
UPDATE_SEQ: Final = "rollout.stream.update.seq"
UPDATE_ELAPSED: Final = "rollout.stream.elapsed"

# Values of rollout.stream.end_reason.
END_COMPLETED: Final = "completed"
END_CLOSED: Final = "closed"
END_ABANDONED: Final = "abandoned"
END_CANCELLED: Final = "cancelled"
END_ERROR: Final = "error"
