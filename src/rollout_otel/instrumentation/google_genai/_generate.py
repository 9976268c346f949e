"""Gemini `generate_content`: the request as GenAI attributes, and streamed chunks (or a whole response) as outcome."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import Any, Final

from ... import _attributes as attr
from ..._content import LazyOutput, OutputMessages, Request, gemini
from ..._errors import log_internal_error
from ..._usage import gemini_usage
from ...trace import LLMSpan
from .._calls import server_attributes_from_url
from .._outcome import Choice, ToolCall, choice_for, lazy_output
from .._stream import AsyncStreamEnd, StreamEnd

_PARAMETERS: Final = (
    ("max_output_tokens", "maxOutputTokens", attr.GEN_AI_REQUEST_MAX_TOKENS),
    ("temperature", "temperature", attr.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", "topP", attr.GEN_AI_REQUEST_TOP_P),
    ("top_k", "topK", attr.GEN_AI_REQUEST_TOP_K),
    ("seed", "seed", attr.GEN_AI_REQUEST_SEED),
    ("presence_penalty", "presencePenalty", attr.GEN_AI_REQUEST_PRESENCE_PENALTY),
    ("frequency_penalty", "frequencyPenalty", attr.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    ("candidate_count", "candidateCount", attr.GEN_AI_REQUEST_CHOICE_COUNT),
)


def provider_name(client: Any) -> str:
    """`gcp.vertex_ai` for a Vertex AI client, `gcp.gemini` for the Gemini Developer API."""
    return "gcp.vertex_ai" if getattr(client, "vertexai", False) else "gcp.gemini"


def request_attributes(kwargs: Mapping[str, Any], client: Any) -> dict[str, Any]:
    """The config's sampling parameters and stop sequences, and the server the client talks to."""
    found: dict[str, Any] = {}
    config = kwargs.get("config")
    if config is not None:
        fields = _fields_of(config)
        for snake, camel, name in _PARAMETERS:
            if fields is not None:  # `in` and `[]`: no call for the parameters the caller did not set
                value = fields[snake] if snake in fields else None  # noqa: SIM401
                if value is None and camel in fields and config.__class__ is dict:
                    value = fields[camel]
            else:
                value = gemini.get(config, snake, camel)
            if value is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
                found[name] = value
        stop = gemini.get(config, "stop_sequences", "stopSequences")
        if isinstance(stop, (list, tuple)) and stop:
            found[attr.GEN_AI_REQUEST_STOP_SEQUENCES] = [str(s) for s in stop]
    found.update(server_attributes_from_url(getattr(getattr(client, "_http_options", None), "base_url", None)))
    return found


def _fields_of(config: Any) -> dict[str, Any] | None:
    """A config's fields as a plain dict to read with `in` and `[]`: the dict itself, or a pydantic config's
    `__dict__` (its declared fields, by their snake_case names); None for anything else (read as before)."""
    if config.__class__ is dict:
        return config
    fields = getattr(config, "__dict__", None)
    return fields if fields.__class__ is dict and hasattr(config, "model_fields_set") else None


def generate_input(kwargs: Mapping[str, Any]) -> Callable[[], Request]:
    """What was sent, mapped when the span ends (a list copied: the caller may change it meanwhile)."""
    contents = kwargs.get("contents")
    if isinstance(contents, list):
        contents = list(contents)
    config = kwargs.get("config")
    system = gemini.get(config, "system_instruction", "systemInstruction") if config is not None else None
    tools = gemini.get(config, "tools") if config is not None else None
    return lambda: Request(
        messages=gemini.messages(contents),
        system=gemini.system_instructions(system),
        tools=gemini.tool_definitions(tools),
    )


class GenerateAccumulator:
    """Gathers a stream of GenerateContentResponse chunks: candidate 0's text goes to the span; thoughts, function
    calls, other candidates and usage stay here. Thoughts and calls count as chunks but never enter the preview."""

    def __init__(self, span: LLMSpan) -> None:
        self._span = span
        self._record = span.record_chunk
        self._choices: dict[int, Choice] = {0: choice_for(span, 0)}
        # request of a function-calling loop (0, 1...) -> its latest usage_metadata, which counts its earlier
        # hops' too (automatic continuation); a response of another id is the next request only after a finish
        self._usage: dict[int, Any] = {}
        self._request = 0
        self._response_id: Any = None  # the latest response id seen
        self._finished = False  # a finish reason since then: another response id is the loop's next request
        self._last: Any = None  # the latest chunk with usage `items` took on its fast path: its usage is noted later
        self._blocked: str | None = None
        self._identified = False
        self.terminal_seen = False

    def on_item(self, response: Any) -> None:
        """Per chunk of one text part: attribute reads, one loop and `record_chunk`."""
        if self._last is not None:  # the fast path's latest chunk first: its usage is older than this one's
            self._note_last()
        if not self._identified:
            self._identify(response)
        elif response.response_id != self._response_id:  # before its parts: a finish reason in them ends this request
            self._new_response(response.response_id)
        candidates = response.candidates
        if candidates:
            for candidate in candidates:
                content = candidate.content
                if content is not None and content.parts:
                    for part in content.parts:
                        text = part.text
                        if text and not part.thought and not candidate.index:
                            self._record(text)
                        elif text != "":  # the empty text Gemini closes a stream with is no chunk
                            self._other_part(candidate.index or 0, part)
                if candidate.finish_reason is not None:
                    choice = self._choice(candidate.index or 0)
                    choice.finish_reason = gemini.candidate_finish_reason(
                        candidate.finish_reason, bool(choice.tool_calls)
                    )
                    self.terminal_seen = self._finished = True
        elif self._blocked is None:
            self._blocked = gemini.blocked_reason(response)
        if response.usage_metadata is not None:
            self._usage[self._request] = response.usage_metadata

    def items(self, source: Iterable[Any], end: StreamEnd) -> Iterator[Any]:
        """The caller's chunks; one text part of candidate 0 is recorded in this frame (see `LLMSpan`), the rest by
        `on_item`."""
        span = self._span
        with end:
            for response in source:
                if end.close_asked:  # closed from another thread (a plain generator cannot be): stop here
                    end.close_here()
                    return
                try:
                    try:
                        (candidate,) = response.candidates
                        (part,) = candidate.content.parts
                        text = part.text
                    except (TypeError, ValueError, AttributeError):  # none or several: on_item reads them
                        text = None
                    n = span._chunks
                    if (
                        text
                        and text.__class__ is str
                        and n & 0x3FF
                        and span._seen_ns
                        and span._on_chunk is None
                        and not span._ended
                        and not part.thought
                        and not candidate.index
                        and candidate.finish_reason is None
                        and self._identified
                    ):
                        span._chunks = n + 1
                        span._write(text)
                        if response.usage_metadata is not None:  # a chunk without usage keeps the last one's
                            self._last = response
                    else:
                        self.on_item(response)
                except Exception:
                    log_internal_error("reading a stream item")
                yield response

    async def aitems(self, source: AsyncIterable[Any], end: AsyncStreamEnd) -> AsyncIterator[Any]:
        """The async twin of `items`."""
        span = self._span
        async with end:
            async for response in source:
                try:
                    try:
                        (candidate,) = response.candidates
                        (part,) = candidate.content.parts
                        text = part.text
                    except (TypeError, ValueError, AttributeError):
                        text = None
                    n = span._chunks
                    if (
                        text
                        and text.__class__ is str
                        and n & 0x3FF
                        and span._seen_ns
                        and span._on_chunk is None
                        and not span._ended
                        and not part.thought
                        and not candidate.index
                        and candidate.finish_reason is None
                        and self._identified
                    ):
                        span._chunks = n + 1
                        span._write(text)
                        if response.usage_metadata is not None:  # a chunk without usage keeps the last one's
                            self._last = response
                    else:
                        self.on_item(response)
                except Exception:
                    log_internal_error("reading a stream item")
                end.left = True  # suspended at the yield: a cancellation here is the caller leaving
                yield response
                end.left = False

    def _choice(self, index: int) -> Choice:
        choice = self._choices.get(index)
        if choice is None:
            choice = self._choices[index] = choice_for(self._span, index)
        return choice

    def _other_part(self, index: int, part: Any) -> None:
        choice = self._choice(index)
        if part.text is not None:
            (choice.reasoning if part.thought else choice.text).append(part.text)
            self._record(None)  # a thought, or another candidate's text: output, kept out of the preview
            if not part.thought and not self._span._first_text_ns:
                self._span._mark_text()
        elif part.inline_data is not None or part.executable_code is not None or part.code_execution_result is not None:
            found = gemini.part_of(part)
            if found is not None:
                choice.server_results.append(found)
            self._record(None)
        elif part.function_call is not None:
            call = part.function_call
            tool = ToolCall(id=call.id, name=call.name)
            tool.arguments.append(_json(call.args))
            choice.tool_calls[len(choice.tool_calls)] = tool
            self._record(None)
            if not self._span._first_text_ns:
                self._span._mark_text()

    def _note_last(self) -> None:
        """The usage of the fast path's latest chunk, noted when something reads usage or another chunk comes by
        `on_item`: the fast path keeps one reference, not three reads and a store per chunk. Each request's own
        last chunk (its finish reason or function call) comes by `on_item`, so no request's usage is skipped."""
        last = self._last  # read once: `outcome` may run on another thread (a close, shutdown) meanwhile
        self._last = None
        if last is not None:  # noted twice at worst: the same value, for the same request
            if last.response_id != self._response_id:
                self._new_response(last.response_id)
            self._usage[self._request] = last.usage_metadata

    def _new_response(self, response_id: Any) -> None:
        """Another response id: the next request of a function-calling loop if the last one finished (each round
        ends with a finish reason; the requests' usage adds up), else another hop of the same request. The SDK's
        automatic continuation resumes an answer in new requests, clears the finish reason (`CONTINUATION`) that
        asks for the next, and gives each chunk the earlier hops' usage added to its own: a hop's usage replaces
        its request's."""
        self._response_id = response_id
        if self._finished:
            self._finished = False
            self._request += 1

    def _identify(self, response: Any) -> None:
        self._identified = True
        self._response_id = response_id = getattr(response, "response_id", None)
        self._span._set_response(response_id, getattr(response, "model_version", None))

    def outcome(self, text: str) -> dict[str, Any]:
        if self._last is not None:
            self._note_last()
        if self._blocked is not None:
            self._choices[0].finish_reason = self._blocked
        reasons = [self._choices[i].finish_reason or "error" for i in sorted(self._choices)]
        return {
            "output": lazy_output(self._choices, text),
            "usage": _summed(self._usage.values()),
            "finish_reason": reasons if any(r != "error" for r in reasons) else None,
        }


def _summed(usages: Any) -> dict[str, int] | None:
    """The usage of every request one call made (automatic function calling makes several), added up."""
    total: dict[str, int] = {}
    for usage in usages:
        for key, count in gemini_usage(usage).items():
            total[key] = total.get(key, 0) + count
    return total or None


def _json(value: Any) -> str:
    import json

    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return str(value)


def generate_outcome(span: LLMSpan, response: Any) -> dict[str, Any]:
    """The same outcome for a whole GenerateContentResponse."""
    if response is None or not hasattr(response, "candidates"):
        return {}
    GenerateAccumulator(span)._identify(response)
    reasons = [message["finish_reason"] for message in gemini.output(response)]
    blocked = gemini.blocked_reason(response) if not reasons else None
    usage = response.usage_metadata
    return {
        "output": LazyOutput(lambda: OutputMessages(gemini.output(response))),
        "usage": gemini_usage(usage) if usage is not None else None,
        "finish_reason": reasons or ([blocked] if blocked else None),
    }
