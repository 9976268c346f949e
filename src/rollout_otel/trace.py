"""The manual span API: `trace.llm(...)` opens an LLM span, `LLMSpan` records one call or stream into it."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from time import monotonic_ns
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import _attributes as attr
from ._claim import starting_llm_span
from ._config import SPAN_CONTENT_BUDGET, Settings, settings_from_environment
from ._content import (
    LazyOutput,
    Request,
    content_attributes,
    manual_input,
    preview,
)
from ._content._early import ContentLater, EarlyRequest, early, end_later, is_large
from ._content._encode import Encoder, encode
from ._error_fields import describe, frames_only
from ._error_fields import error_type as error_type_of
from ._errors import log_internal_error, logger
from ._metrics import METRIC_ATTRIBUTES, metrics_for
from ._outputs import finish_reasons, output_messages, stream_summary
from ._per_provider import PerProvider
from ._safe import bounded, bounded_tail, clean_attributes, clean_value, encodable
from ._span_attributes import set_span_attributes
from ._spliced import PLACEHOLDER, SplicedText, holds_placeholder, spliced_content, take_longest
from ._text import CharCounter, FirstText, StreamText
from ._usage import usage_attributes
from .version import __version__

if TYPE_CHECKING:
    from ._processor import StreamingSpanProcessor

__all__ = ["LLMSpan", "llm"]


_tracers: PerProvider[otel_trace.Tracer] = PerProvider(lambda p: p.get_tracer(attr.INSTRUMENTATION_NAME, __version__))


def _tracer(provider: otel_trace.TracerProvider | None) -> otel_trace.Tracer:
    """One tracer per provider; the global provider is looked up each time so it may be installed late."""
    provider = provider or otel_trace.get_tracer_provider()
    provider_ref, value_ref = _tracers.last
    tracer = value_ref() if provider_ref() is provider else None
    return tracer if tracer is not None else _tracers.get(provider)


def llm(
    name: str,
    *,
    model: str | None = None,
    stream: bool = False,
    provider: str | None = None,
    operation: str = "chat",
    attributes: Mapping[str, Any] | None = None,
    tracer_provider: otel_trace.TracerProvider | None = None,
) -> LLMSpan:
    """Start an LLM span; use it as `with trace.llm(...) as span:` (or `async with`).

    Args:
        name: span name, such as "openai.responses"; the part before the first dot is the default provider.
        model: the requested model (`gen_ai.request.model`).
        stream: whether the call streams; streamed spans get the preview, update events and stream summary.
        provider: `gen_ai.provider.name`; defaults from `name`.
        operation: `gen_ai.operation.name`.
        attributes: extra span attributes, such as request parameters.
        tracer_provider: the provider to use instead of the global one.
    """
    return LLMSpan(
        name,
        model=model,
        stream=stream,
        provider=provider,
        operation=operation,
        attributes=attributes,
        tracer_provider=tracer_provider,
    )


class LLMSpan:
    """One LLM call or stream; ends exactly once, with the output and usage it was given or gathered.

    `record_chunk` sits on the token hot path: it adds two calls per chunk (itself and the buffer's C-level write)
    and never exports anything; the streaming processor reads the counters from another thread. It takes the time
    only when asked: at the first chunk, and once after the update thread found a gap (`_seen_ns` set back to 0).

    A provider's stream loop may do `record_chunk`'s common case in its own frame: when
    `span._chunks & 0x3FF and span._seen_ns and span._on_chunk is None and not span._ended`, a str delta is
    recorded by `span._chunks += 1; span._write(delta)`; anything else goes through `record_chunk`.
    """

    __slots__ = (
        "__weakref__",
        "_chunks",
        "_context_token",
        "_end_lock",
        "_ended",
        "_event_bytes",
        "_events_dropped",
        "_finisher",
        "_first_chunk_ns",
        "_first_text_ns",
        "_max_gap_ns",
        "_metric_attributes",
        "_misused",
        "_on_chunk",
        "_processor",
        "_request",
        "_response",
        "_seen_ns",
        "_settings",
        "_span",
        "_span_tracer",
        "_stalls",
        "_start_ns",
        "_stream",
        "_text",
        "_updates",
        "_write",
    )

    def __init__(
        self,
        name: str,
        *,
        model: str | None = None,
        stream: bool = False,
        provider: str | None = None,
        operation: str = "chat",
        attributes: Mapping[str, Any] | None = None,
        tracer_provider: otel_trace.TracerProvider | None = None,
        _context: otel_context.Context | None = None,  # the parent an instrumentation read once; None: the current one
    ) -> None:
        self._ended = True  # until the span exists, so a failed start is never "finished" by __del__
        self._misused: set[str] | None = None
        self._end_lock = threading.Lock()
        self._stream = bool(stream)
        self._chunks = 0
        self._first_chunk_ns = 0
        self._first_text_ns = 0
        self._seen_ns = 0  # when a chunk arrived, stamped only while 0: the update thread resets it to time a gap
        self._max_gap_ns = 0  # settled by the processor at the end
        self._stalls = 0
        self._updates = 0
        self._span_tracer: otel_trace.Tracer | None = None  # for live spans
        self._context_token: object | None = None
        self._processor: StreamingSpanProcessor | None = None
        self._settings: Settings | None = None
        self._on_chunk: Any = None
        self._request: Request | Callable[[], Request] | None = None
        self._finisher: Callable[[str], None] | None = None  # an instrumentation's way to end with what it gathered
        self._event_bytes = 0
        self._events_dropped = 0
        self._response: dict[str, Any] = {}  # its id and model, set on the span at the end (`_set_response`)
        self._start_ns = monotonic_ns()
        self._span: otel_trace.Span = otel_trace.INVALID_SPAN
        try:
            start_attributes = _start_attributes(name, model, self._stream, provider, operation, attributes)
        except Exception:
            log_internal_error("reading trace.llm()'s arguments")
            start_attributes = {attr.GEN_AI_OPERATION_NAME: "chat", attr.GEN_AI_REQUEST_STREAM: self._stream}
        held = _CONTENT_ATTRIBUTES & start_attributes.keys()  # mostly none: no comprehension to run
        held_back = {k: start_attributes.pop(k) for k in held} if held else None
        self._metric_attributes: dict[str, Any] = {}
        for key, value in start_attributes.items():  # a loop in this frame, not a comprehension's
            if key in METRIC_ATTRIBUTES:
                self._metric_attributes[key] = value
        self._start(_span_name(name), tracer_provider, start_attributes, _context)
        settings = self._settings or settings_from_environment()
        self._settings = settings
        self._text: StreamText | CharCounter = StreamText() if settings.capture_content else CharCounter()
        self._write: Callable[[str], object] = FirstText(self)  # becomes the buffer's own write at the first text
        self._ended = False
        if held_back and settings.capture_content:  # user text (stop sequences...): only with content capture
            self._span.set_attributes(held_back)
        if self._stream and self._processor is not None:
            self._processor.watch(self)

    def _start(self, name: str, provider: Any, attributes: dict[str, Any], context: Any) -> None:
        """Start the OpenTelemetry span; if that fails (a span processor that raises...), the call goes on untraced."""
        token = starting_llm_span.set(self)
        try:
            tracer = _tracer(provider)
            self._span = tracer.start_span(name, context, kind=SpanKind.CLIENT, attributes=attributes)
            self._span_tracer = tracer
        except Exception:
            logger.warning("rollout-otel could not start the span %r; the call goes on untraced", name, exc_info=True)
            self._span = otel_trace.INVALID_SPAN
            self._processor = None
        finally:
            starting_llm_span.reset(token)

    # -- the hot path ---------------------------------------------------------------------------------------

    def record_chunk(self, delta: str | None) -> None:
        """Record one streamed text delta; `None` and "" count as empty chunks. Never raises."""
        if self._ended:
            self._misuse("record_chunk")
            return
        try:
            if not self._seen_ns:
                self._seen_ns = now = monotonic_ns()
                if not self._first_chunk_ns:
                    self._first_chunk_ns = now
            index = self._chunks
            self._chunks = index + 1
            if index and not index & 0x3FF:  # every 1,024 chunks: the pending writes become one block
                write = self._text.seal()
                if self._write.__class__ is not FirstText:
                    self._write = write
            if delta:
                if delta.__class__ is not str:
                    delta = self._coerced(delta)
                self._write(delta)
            if self._on_chunk is not None:
                self._on_chunk(self, index, delta)
        except Exception:
            log_internal_error("record_chunk")

    def _mark_text(self) -> None:
        """Output that is no plain text but counts as the answer (a tool-call or refusal delta) has begun.

        Callers test `_first_text_ns` first, so a stream of tool-call deltas pays for this call once.
        """
        if not self._first_text_ns:
            self._first_text_ns = monotonic_ns()

    def _adopt_text(self, text: str) -> None:
        """The provider repeated streamed text in a str it holds: the buffer refers to it (`StreamText.adopt`)."""
        if not self._ended:
            self._text.adopt(text)  # pending writes sealed: the next go to a new array
            if self._write.__class__ is not FirstText:
                self._write = self._text.write

    def _coerced(self, delta: Any) -> str:
        """Slow path for a delta that is not a plain str: a str subclass is kept as its text, bytes are decoded as
        UTF-8, anything else goes through str()."""
        if isinstance(delta, str):
            return str.__str__(delta)
        if isinstance(delta, (bytes, bytearray, memoryview)):
            return bytes(delta).decode("utf-8", errors="replace")
        logger.warning("record_chunk expects a str delta, got %s; recording str() of it", type(delta).__name__)
        return str(delta)

    # -- recording ------------------------------------------------------------------------------------------

    @property
    def otel_span(self) -> otel_trace.Span:
        """The underlying OpenTelemetry span, for anything this API does not cover."""
        return self._span

    @property
    def is_recording(self) -> bool:
        """Whether the span is still open."""
        return not self._ended

    def record_input(self, value: Any) -> None:
        """Record the request input; messages go to `gen_ai.input.messages`, anything else to `rollout.input`.

        A list of messages, or a dict holding `messages` (with optional `system`, `instructions`, `tools`), is
        mapped to the GenAI conventions' shape when the span ends; other values are recorded as JSON (what JSON
        cannot hold becomes its repr). Never raises.
        """
        if self._ended:
            self._misuse("record_input")
            return
        if self._settings is not None and self._settings.capture_content:
            try:
                snapshot = _snapshot(value)  # what was sent, even if the caller appends the reply before the end
                self._record_request(lambda: manual_input(snapshot), snapshot)
            except Exception:
                log_internal_error("record_input")

    def _record_request(self, request: Callable[[], Request], sent: Any = None) -> None:
        """An instrumentation's request content, mapped when the span ends (only with content capture); a large
        one (`sent` is what the call sent) is built meanwhile on the content worker, off the caller's thread."""
        settings = self._settings
        if settings is not None and settings.capture_content:
            self._request = request
            if sent is not None and is_large(sent):
                self._request = early(request, settings.max_content_bytes) or request

    def set_attribute(self, key: str, value: Any) -> None:
        """Set one span attribute (request parameters, response id...)."""
        if self._ended:
            self._misuse("set_attribute")
            return
        try:
            if key in _CONTENT_ATTRIBUTES and not (self._settings is not None and self._settings.capture_content):
                return
            value = clean_value(value)
            if key.__class__ is not str or not key.isascii():
                key = encodable(str(key))
            set_span_attributes(self._span, {key: value})
            if key in METRIC_ATTRIBUTES:
                self._metric_attributes[key] = value
            if self._response:
                self._response.pop(key, None)
        except Exception:
            log_internal_error("set_attribute")

    def _set_response(self, response_id: Any, model: Any) -> None:
        """`gen_ai.response.id` and `.model` as the provider's stream names them (either may be empty): kept here
        and set with the end's one write, so a stream's first chunk makes no SDK call. What `set_attribute` sets
        for either key afterwards wins, as it would over an attribute already set."""
        if self._ended:
            self._misuse("set_attribute")
            return
        pending = self._response
        if response_id:
            pending[attr.GEN_AI_RESPONSE_ID] = response_id
        if model:
            pending[attr.GEN_AI_RESPONSE_MODEL] = model

    def end(
        self,
        output: Any = None,
        usage: Any = None,
        finish_reason: str | Sequence[str] | None = None,
        error: BaseException | str | None = None,
    ) -> None:
        """End the span once, with the final output, token usage, finish reason(s) or error.

        Args:
            output: the final output; a str is recorded as is, anything else as JSON. Defaults to the text
                gathered from `record_chunk`.
            usage: token usage, a dict or a provider's usage object (`input_tokens`/`output_tokens`, or
                `prompt_tokens`/`completion_tokens`, plus cache and reasoning counts).
            finish_reason: one reason or a list of them.
            error: an exception or an error code; the span becomes an error.
        """
        self._finish(output=output, usage=usage, finish_reason=finish_reason, error=error, caller="end")

    # -- context manager ------------------------------------------------------------------------------------

    def __enter__(self) -> LLMSpan:
        try:
            self._context_token = otel_context.attach(otel_trace.set_span_in_context(self._span))
        except Exception:
            log_internal_error("entering trace.llm")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        token, self._context_token = self._context_token, None
        if not self._ended:
            if exc is None:
                self._finish(caller=None)
            else:
                self._end_with_exception(exc)
        if token is not None:
            try:
                otel_context.detach(token)  # type: ignore[arg-type]
            except Exception:
                log_internal_error("leaving trace.llm")

    async def __aenter__(self) -> LLMSpan:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def _end_with_exception(self, exc: BaseException) -> None:
        """End because `exc` interrupted the call: an error, or a cancellation or stop that is not one."""
        if isinstance(exc, asyncio.CancelledError):
            self._finish(end_reason=attr.END_CANCELLED, caller=None)
        elif isinstance(exc, Exception):
            self._finish(error=exc, caller=None)
        else:  # GeneratorExit, KeyboardInterrupt, SystemExit: the caller stopped, nothing failed
            self._finish(end_reason=attr.END_CLOSED, caller=None)

    def _identity(self) -> dict[str, Any]:
        """What a live view needs to name this stream before its span exists: span name, model, provider."""
        found: dict[str, Any] = {attr.STREAM_NAME: self._span_name()}
        for key in (attr.GEN_AI_REQUEST_MODEL, attr.GEN_AI_PROVIDER_NAME, attr.GEN_AI_OPERATION_NAME):
            value = self._metric_attributes.get(key)
            if value is not None:
                found[key] = value
        return found

    def _abandon(self) -> None:
        """End as `abandoned` (at shutdown, for a span still open): with what its instrumentation gathered."""
        if self._finisher is not None:
            self._finisher(attr.END_ABANDONED)
        else:
            self._finish(end_reason=attr.END_ABANDONED, caller=None)

    def _drop_in_child(self) -> None:
        """After a fork, in the child: this open span is the parent's, so it ends here unexported."""
        if not self._ended:
            self._ended = True
            self._misused = {"record_chunk", "record_input", "set_attribute", "end"}  # no warnings in the child

    def __del__(self) -> None:
        try:  # run at every span's end, by reference counting: a field read, no call
            ended = self._ended
        except AttributeError:  # __init__ did not get that far
            return
        if not ended:
            with contextlib.suppress(Exception):  # interpreter shutdown may have torn down what _finish needs
                self._finish(end_reason=attr.END_ABANDONED, caller=None)

    # -- finishing ------------------------------------------------------------------------------------------

    def _misuse(self, call: str) -> None:
        """Warn once per kind of late call: a loop that keeps feeding an ended span must not flood the log."""
        misused = self._misused if self._misused is not None else set()
        if call in misused:
            return
        self._misused = misused | {call}
        logger.warning("%s() called on LLM span %r after it ended; ignored", call, self._span_name())

    def _span_name(self) -> str:
        return str(getattr(self._span, "name", "?"))

    def _finish(
        self,
        *,
        output: Any = None,
        usage: Any = None,
        finish_reason: str | Sequence[str] | None = None,
        error: BaseException | str | None = None,
        end_reason: str | None = None,
        caller: str | None = "end",
    ) -> bool:
        """End the span unless it already ended; returns whether this call ended it.

        Each recording step is guarded on its own, so a bad usage value cannot cost the error status, and the
        span always reaches `end()`. What the steps find is set on the span in one step, just before it ends.
        """
        with self._end_lock:
            if self._ended:
                if caller:
                    self._misuse(caller)
                return False
            self._ended = True
        self._finisher = None  # it refers back to this span through the accumulator: no cycle left behind
        end_ns = monotonic_ns()
        text, chars = "", self._chunks_chars()
        if self._stream and self._processor is not None:
            try:
                self._processor.unwatch(self)
            except Exception:
                log_internal_error("stopping updates")
        try:
            text = self._end_text()
        except Exception:
            log_internal_error("reading a stream's text")
        if end_reason is None:
            end_reason = attr.END_ERROR if error is not None else attr.END_COMPLETED
        settings = self._settings or settings_from_environment()
        found: dict[str, Any] = {}
        for key, value in self._response.items():  # the response's id and model, as the stream named them: first
            try:
                found[key] = clean_value(value)
                if key == attr.GEN_AI_RESPONSE_MODEL:
                    self._metric_attributes[key] = found[key]
            except Exception:
                log_internal_error(f"recording {key}")
        usage_attrs: dict[str, int] = {}
        later: list[ContentLater] = []  # content the worker is still building
        tail = ""
        if self._stream and settings.capture_content and settings.stream_preview_chars:
            try:
                if isinstance(output, str):
                    shown = output
                else:  # the text just joined, or the last blocks of a long one
                    shown = text if text and text is not PLACEHOLDER else self._text.tail(settings.stream_preview_chars)
                tail = preview(shown, settings)
            except Exception:
                log_internal_error("recording the stream's preview")
        try:
            self._record_content(found, settings, output, text, chars, finish_reason, end_reason, later)
        except Exception:
            log_internal_error("recording the content")
        try:
            usage_attrs = usage_attributes(usage)
            found.update(usage_attrs)
        except Exception:
            log_internal_error("recording usage")
        try:
            reasons = finish_reasons(finish_reason)
            if reasons:
                found[attr.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(reasons)
        except Exception:
            log_internal_error("recording the finish reasons")
        if self._first_chunk_ns:
            found[attr.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = (self._first_chunk_ns - self._start_ns) / 1e9
        if error is not None:
            try:
                found[attr.ERROR_TYPE] = self._record_error(settings, error)
            except Exception:
                log_internal_error("recording the error")
        if self._stream:
            try:
                stream_summary(self, found, end_reason, chars, tail)
            except Exception:
                log_internal_error("recording the stream summary")
        self._set_attributes(found)
        if settings.metrics:
            try:
                self._record_metrics(end_ns, end_reason, error, usage_attrs)
            except Exception:
                log_internal_error("recording metrics")
        if self._text.__class__ is not CharCounter:  # the span holds the output now; free the buffer
            self._text = CharCounter(chars)
            self._write = self._text.write
        if later:
            if end_later(self._span, later[0]):  # the worker sets the content, then ends the span
                return True
            try:  # a worker that cannot take it (a multiprocessing child): here, as before
                self._set_attributes(later[0](encode))
            except Exception:
                log_internal_error("recording the content")
        try:
            self._span.end()
        except Exception:
            log_internal_error("ending an LLM span")
        return True

    def _set_attributes(self, found: dict[str, Any]) -> None:
        """Everything the end found, in one step; if that fails, each attribute on its own, so one costs only itself."""
        try:
            set_span_attributes(self._span, found)
        except Exception:
            log_internal_error("recording the span's attributes")
            for key, value in found.items():
                try:
                    self._span.set_attribute(key, value)
                except Exception:
                    log_internal_error(f"recording {key}")

    def _chunks_chars(self) -> int:
        try:
            return self._text.chars
        except Exception:  # a buffer already finalized by the garbage collector
            return 0

    def _record_content(
        self,
        found: dict[str, Any],
        settings: Settings,
        output: Any,
        text: str,
        chars: int,
        finish_reason: str | Sequence[str] | None,
        end_reason: str,
        later: list[ContentLater],
    ) -> None:
        """Input and output under the GenAI conventions' names, built here, once, off the token path; or, when the
        content worker is still building the request's, added to `later` for the worker to finish.

        A long stream's text stays in blocks: the output is encoded around a placeholder and the blocks spliced in
        (`_spliced.py`). Where the output does not hold the text (a final response carries it), the buffer goes
        before the output is encoded, so the two never coexist.
        """
        request, self._request = self._request, None
        if not settings.capture_content:
            return
        messages, other = output_messages(output, text, finish_reason, end_reason)
        spliced: SplicedText | None = None
        if text is PLACEHOLDER and holds_placeholder(messages):
            spliced = SplicedText(blocks=self._text.take_blocks())
        elif isinstance(output, LazyOutput) and (longest := take_longest(messages, _SPLICE_FROM)) is not None:
            spliced = SplicedText(text=longest)  # a final response's text: held by the response, not copied whole
        self._text = CharCounter(chars)  # what the output needs of the text is taken: the buffer goes
        self._write = self._text.write
        preview_reserve = min(settings.stream_preview_chars * 4, settings.max_content_bytes) if self._stream else 0
        budget = SPAN_CONTENT_BUDGET - self._event_bytes - preview_reserve
        max_bytes = settings.max_content_bytes

        def build(encoder: Encoder) -> dict[str, Any]:
            content = content_attributes(request, messages, max_bytes, other, budget, encoder)
            if spliced is not None:
                try:
                    content = spliced_content(content, spliced, request, messages, other, max_bytes, budget, encoder)
                except Exception:  # the output holds the placeholder: it goes, the input stays
                    log_internal_error(f"recording {attr.GEN_AI_OUTPUT_MESSAGES}")
                    content.pop(attr.GEN_AI_OUTPUT_MESSAGES, None)
            return content

        if isinstance(request, EarlyRequest) and not request.ready():
            later.append(build)
            return
        found.update(build(encode))

    def _end_text(self) -> str:
        """The stream's text, joined once; for a long one, the placeholder its blocks go into (`_spliced.py`)."""
        whole = self._text.whole_below(_SPLICE_FROM)
        return PLACEHOLDER if whole is None else whole

    def _record_error(self, settings: Settings, error: BaseException | str) -> str:
        """The exception event and the error status; returns `error.type`."""
        span = self._span
        error_type = error_type_of(error, settings.capture_content)
        description = error_type
        if isinstance(error, BaseException):
            if settings.capture_content:
                message = bounded(describe(error))
                stacktrace = bounded_tail("".join(traceback.format_exception(error)))
                description = f"{error_type}: {message}"
            else:  # messages and source lines often quote the model's or user's text: type and frames only
                message = error_type
                stacktrace = bounded_tail(frames_only(error) + error_type)
            span.record_exception(
                error, attributes={attr.EXCEPTION_MESSAGE: message, attr.EXCEPTION_STACKTRACE: stacktrace}
            )
        span.set_status(Status(StatusCode.ERROR, description))
        return error_type

    def _record_metrics(
        self, end_ns: int, end_reason: str, error: BaseException | str | None, usage: dict[str, int]
    ) -> None:
        """The GenAI client metrics of this call, once, off the per-chunk path."""
        first = self._first_chunk_ns
        streamed = self._stream
        processor = self._processor
        metrics_for(processor.meter_provider if processor is not None else None).record(
            self._metric_attributes,
            duration_s=(end_ns - self._start_ns) / 1e9,
            error_type=error_type_of(error, self._settings is None or self._settings.capture_content)
            if error is not None
            else None,
            end_reason=end_reason if streamed else None,
            first_chunk_s=(first - self._start_ns) / 1e9 if streamed and first else None,
            per_chunk_s=(end_ns - first) / 1e9 / (self._chunks - 1)
            if streamed and first and self._chunks > 1
            else None,
            usage=usage,
            span=self._span,
        )


# From this many characters, a stream's text goes into its output block by block, never whole (`_spliced.py`).
_SPLICE_FROM: Final = 16 * 1024

# Attributes that carry the user's or the model's text: set only with content capture.
_CONTENT_ATTRIBUTES: Final = frozenset(
    {
        attr.GEN_AI_REQUEST_STOP_SEQUENCES,
        attr.GEN_AI_INPUT_MESSAGES,
        attr.GEN_AI_OUTPUT_MESSAGES,
        attr.GEN_AI_SYSTEM_INSTRUCTIONS,
        attr.GEN_AI_TOOL_DEFINITIONS,
        attr.ROLLOUT_INPUT,
        attr.ROLLOUT_OUTPUT,
        attr.STREAM_PREVIEW,
    }
)


def _span_name(name: Any) -> str:
    """The span name, as text an exporter can encode; a name that is not a str is logged and converted."""
    if type(name) is not str:
        logger.warning("trace.llm() expects its name as a str, got %s %r; using str() of it", type(name).__name__, name)
        name = "llm" if name is None else str(name)
    return encodable(name)


def _start_attributes(
    name: Any, model: Any, stream: bool, provider: Any, operation: Any, attributes: Mapping[str, Any] | None
) -> dict[str, Any]:
    found: dict[str, Any] = {
        attr.GEN_AI_OPERATION_NAME: str(operation),
        attr.GEN_AI_PROVIDER_NAME: str(provider or str(name).split(".", 1)[0]),
    }
    if model is not None:
        found[attr.GEN_AI_REQUEST_MODEL] = str(model)
    found[attr.GEN_AI_REQUEST_STREAM] = stream
    if attributes:
        found.update(attributes)
    return clean_attributes(found)


def _snapshot(value: Any) -> Any:
    """A shallow copy of the lists a request holds, so later appends by the caller are not recorded as sent."""
    if isinstance(value, list):
        return list(value)
    if isinstance(value, Mapping):
        return {k: list(v) if isinstance(v, list) else v for k, v in value.items()}
    return value
