"""Stream proxies: the caller iterates the provider's own stream object and items; the span follows along.

The proxy is a `wrapt.ObjectProxy`, so `isinstance`, `.response` and every other attribute behave as the
provider's stream. Iteration goes through a fresh generator per `for` loop, so a bare `break` closes it at
once and the span ends right there. The span's context is never attached, so nothing started by the caller
while a stream is open becomes its child.
"""

from __future__ import annotations

import asyncio
import inspect
import types
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import wrapt

from .. import _attributes as attr
from .._errors import log_internal_error
from ..trace import LLMSpan
from ._outcome import Accumulator


def _running(gen: Any) -> bool:
    """Whether a provider's own stream generator (sync or async) is executing right now."""
    return bool(getattr(gen, "gi_running", False) or getattr(gen, "ag_running", False))


def finish(span: LLMSpan, acc: Accumulator, end_reason: str, error: BaseException | None = None) -> None:
    """End `span` once with what `acc` gathered; a stream that delivered its terminal event is `completed`."""
    if span._ended:  # `is_recording`, read as the field: a stream's end is often asked for twice
        return
    try:
        outcome = acc.outcome(span._end_text())  # the text joined once, or where a long one will go
    except Exception:
        log_internal_error("assembling a stream's output")
        outcome = {}
    if error is not None:
        outcome["error"] = error
        end_reason = attr.END_ERROR
    elif outcome.get("error") is not None:
        end_reason = attr.END_ERROR
    elif end_reason == attr.END_CLOSED and acc.terminal_seen:
        end_reason = attr.END_COMPLETED
    span._finish(end_reason=end_reason, caller=None, **outcome)


def after_close(target: Any, method: str, callback: Callable[[], None]) -> None:
    """Run `callback` after `target.<method>()` (sync or async), through an instance attribute on `target`.

    Hooking the object itself, not a proxy of it, keeps the proxy's attributes exactly the original's and
    catches closes made by the SDK's own helpers, which hold the original. The hook is one frame: an SDK closes
    a response more than once at a stream's end.
    """
    original: Callable[..., Any] | None = getattr(target, method, None)
    if original is None:
        return
    function, owner_ref = _unbound(target, original)

    if _is_async(function):

        async def aclose_hook(*args: Any, **kwargs: Any) -> Any:
            try:
                if owner_ref is None:
                    return await function(*args, **kwargs)
                owner = owner_ref()
                return None if owner is None else await function(owner, *args, **kwargs)
            finally:
                try:
                    callback()
                except Exception:
                    log_internal_error("ending a span when its response closed")

        setattr(target, method, aclose_hook)
    else:

        def close_hook(*args: Any, **kwargs: Any) -> Any:
            try:
                if owner_ref is None:
                    return function(*args, **kwargs)
                owner = owner_ref()
                # None: called through a reference kept after the object was collected, nothing to close
                return None if owner is None else function(owner, *args, **kwargs)
            finally:
                try:
                    callback()
                except Exception:
                    log_internal_error("ending a span when its response closed")

        setattr(target, method, close_hook)


def _unbound(target: Any, original: Callable[..., Any]) -> tuple[Callable[..., Any], weakref.ref[Any] | None]:
    """`original` (`target`'s own method) for a hook that lives on `target`, without a strong reference back to it:
    its function, and a weak reference to `target` to call it with. A bound method would make a cycle, and the
    response and all it holds would wait for the cyclic garbage collector instead of going when its last user lets
    it go. Anything else (a hook already there, another library's wrapper, an object without weak references) is
    called as it is, with no reference: (original, None)."""
    if type(original) is not types.MethodType or original.__self__ is not target:
        return original, None  # a wrapper (another instrumentation's) is called as it is: it may do more
    try:
        return original.__func__, weakref.ref(target)
    except TypeError:
        return original, None


def _is_async(function: Callable[..., Any]) -> bool:
    """`asyncio.iscoroutinefunction`, read from the code's flags for a plain function or method that carries no
    attribute (the SDKs' own `close` and `aclose`, and rollout's hooks): no call. Anything else (a function marked
    a coroutine function, a wrapper, a partial, a mock) asks asyncio."""
    plain = function.__func__ if function.__class__ is types.MethodType else function
    if plain.__class__ is types.FunctionType and not plain.__dict__:
        return bool(plain.__code__.co_flags & inspect.CO_COROUTINE)
    return asyncio.iscoroutinefunction(function)


def _hook_response_close(proxy: Any, stream: Any, method: str) -> None:
    """End the span when the HTTP response is closed directly, as the SDK's stream helpers do on early exit."""
    response = getattr(stream, "response", None)
    if response is None:
        return
    # Weak references only: the hook lives on the response, which the stream holds; a strong one would make a
    # cycle that keeps the connection open until the cyclic garbage collector runs.
    proxy_ref = weakref.ref(proxy)
    stream_ref = weakref.ref(stream)

    def closed_by_someone() -> None:
        traced, raw = proxy_ref(), stream_ref()
        # after the span's end (the SDK closing at its stream's end) nothing to do; inside iteration the proxy sees it
        if traced is None or raw is None or traced._self_span._ended:
            return
        gen = getattr(raw, "_iterator", None)  # the provider's own stream generator: its `finally` closes the response
        if not (gen.gi_running if gen.__class__ is types.GeneratorType else _running(gen)):
            finish(traced._self_span, traced._self_acc, attr.END_CLOSED)

    after_close(response, method, closed_by_someone)


def _hidden(hide: Callable[[Any], bool], on_item: Callable[[Any], None], item: Any) -> bool:
    """Whether `item` is one only rollout asked for: read here, kept from the caller. Never raises."""
    try:
        if hide(item):
            on_item(item)
            return True
    except Exception:
        log_internal_error("reading a stream item")
    return False


def _ignore(item: Any) -> None:
    """What a stream read on after its span ended does with an item only rollout asked for: drops it."""


def _visible(source: Any, hide: Callable[[Any], bool], on_item: Callable[[Any], None]) -> Iterator[Any]:
    """The items of `source` the caller would have had without rollout's additions."""
    for item in source:
        if not _hidden(hide, on_item, item):
            yield item


async def _visible_async(
    source: Any, hide: Callable[[Any], bool], on_item: Callable[[Any], None]
) -> AsyncIterator[Any]:
    """The async twin of `_visible`."""
    async for item in source:
        if not _hidden(hide, on_item, item):
            yield item


class StreamEnd:
    """Ends a stream's span as the iteration it guards exits: completed, closed (break, close) or failed.

    A provider's own item loop (`Accumulator.items`) runs inside `with end:`, so the end handling is shared and
    the loop's frame is the only Python frame its items pay for.
    """

    __slots__ = ("_acc", "_owner", "_source", "_span", "close_asked", "left")

    def __init__(self, owner: Any, span: LLMSpan, acc: Accumulator, source: Any) -> None:
        # the stream proxy, kept alive while its iteration runs, as a bound generator would; let go at the end, so
        # no cycle (the proxy refers to this guard) waits for the cyclic garbage collector with the span's content
        self._owner = owner
        self._span, self._acc, self._source = span, acc, source
        self.close_asked = False  # close() came from another thread while the loop was inside a plain generator
        self.left = False  # async loops: suspended at their yield, so the caller is not waiting on the stream

    def close_here(self) -> None:
        """Stop where the loop is, for a close() asked from another thread: end closed with what was delivered."""
        try:
            self._source.close()
        finally:
            finish(self._span, self._acc, attr.END_CLOSED)

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        try:
            if exc_type is None:
                finish(self._span, self._acc, attr.END_COMPLETED)
            elif issubclass(exc_type, GeneratorExit):
                finish(self._span, self._acc, attr.END_CLOSED)
                if isinstance(self._source, types.GeneratorType):
                    self._source.close()  # a plain generator (Gemini's) closes its connection now, as unwrapped
            elif issubclass(exc_type, Exception):
                finish(self._span, self._acc, attr.END_ERROR, exc)
            else:  # KeyboardInterrupt, SystemExit: the caller stopped
                finish(self._span, self._acc, attr.END_CLOSED)
        finally:  # the span ended first: letting the proxy go may run its __del__, which ends a span abandoned
            self._owner = None


class AsyncStreamEnd(StreamEnd):
    """The async twin of `StreamEnd`: cancellation ends the span as `cancelled`."""

    __slots__ = ()

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        try:
            if exc_type is not None and issubclass(exc_type, GeneratorExit):
                finish(self._span, self._acc, attr.END_CLOSED)
                if isinstance(self._source, types.AsyncGeneratorType):
                    await self._source.aclose()  # closed in order, as an unwrapped async generator would be
            elif exc_type is not None and issubclass(exc_type, asyncio.CancelledError):
                # Thrown in at the yield, it is the loop finalizing a stream the caller left (`break` just before
                # `asyncio.run` returns cancels the pending aclose): the caller stopped, nothing was cancelled.
                finish(self._span, self._acc, attr.END_CLOSED if self.left else attr.END_CANCELLED)
            else:
                self.__exit__(exc_type, exc, tb)
        finally:
            self._owner = None


class _TracedProxy(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """What both stream proxies share: the span, the accumulator, and ending as abandoned when collected."""

    _response_close = "close"

    def __init__(self, stream: Any, span: LLMSpan, acc: Accumulator) -> None:
        super().__init__(stream)
        self._self_span = span
        self._self_acc = acc
        self._self_on_item = acc.on_item
        self._self_hide: Callable[[Any], bool] | None = getattr(acc, "hide", None)  # items only rollout asked for
        self._self_close_asked = False  # close() came from another thread while this one was inside the stream
        self._self_end: StreamEnd | None = None  # the end guard of a provider's own item loop, once iterated
        span._finisher = lambda reason: finish(span, acc, reason)  # at shutdown: end with what the stream gave
        _hook_response_close(self, stream, self._response_close)

    def __del__(self) -> None:
        span = getattr(self, "_self_span", None)
        if span is not None and not span._ended:  # `is_recording`, read as the field: run at every call's end
            finish(span, self._self_acc, attr.END_ABANDONED)


class TracedStream(_TracedProxy):
    """A provider's sync stream, traced: same object, same items, one span ending on every exit path."""

    def __iter__(self) -> Iterator[Any]:
        if self._self_span._ended:  # read on after a break or close(): the caller's own reading, not traced
            return _visible(self.__wrapped__, self._self_hide, _ignore) if self._self_hide else iter(self.__wrapped__)
        acc = self._self_acc
        items = getattr(acc, "items", None) if self._self_hide is None else None
        if items is None:
            return self._self_iterate()
        wrapped = self.__wrapped__
        self._self_end = end = StreamEnd(self, self._self_span, acc, wrapped)
        return items(wrapped, end)  # type: ignore[no-any-return]

    def _self_iterate(self) -> Iterator[Any]:
        on_item = self._self_on_item
        hide = self._self_hide
        source = self.__wrapped__ if hide is None else _visible(self.__wrapped__, hide, on_item)
        try:
            for item in source:
                if self._self_close_asked:  # closed from another thread: stop here, as the caller asked
                    self._self_close_here()
                    return
                try:
                    on_item(item)
                except Exception:
                    log_internal_error("reading a stream item")
                yield item
        except GeneratorExit:
            finish(self._self_span, self._self_acc, attr.END_CLOSED)
            if isinstance(self.__wrapped__, types.GeneratorType):
                self.__wrapped__.close()  # a plain generator (Gemini's) closes its connection now, as unwrapped
            raise
        except Exception as exc:
            finish(self._self_span, self._self_acc, attr.END_ERROR, exc)
            raise
        except BaseException:
            finish(self._self_span, self._self_acc, attr.END_CLOSED)
            raise
        finish(self._self_span, self._self_acc, attr.END_COMPLETED)

    def __next__(self) -> Any:
        if self._self_close_asked:
            self._self_close_here()
            raise StopIteration
        try:
            item = self.__wrapped__.__next__()
            while self._self_hide is not None and _hidden(self._self_hide, self._self_on_item, item):
                item = self.__wrapped__.__next__()
        except StopIteration:
            finish(self._self_span, self._self_acc, attr.END_COMPLETED)
            raise
        except Exception as exc:
            finish(self._self_span, self._self_acc, attr.END_ERROR, exc)
            raise
        except BaseException:  # KeyboardInterrupt, SystemExit: the caller stopped; end now, not at collection
            finish(self._self_span, self._self_acc, attr.END_CLOSED)
            raise
        if not self._self_span._ended:  # read on after the span ended: nothing to record
            try:
                self._self_on_item(item)
            except Exception:
                log_internal_error("reading a stream item")
        return item

    def __enter__(self) -> TracedStream:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            finish(self._self_span, self._self_acc, attr.END_CLOSED)

    def close(self) -> None:
        wrapped = self.__wrapped__
        if isinstance(wrapped, types.GeneratorType) and wrapped.gi_running:
            # Another thread is inside the generator, which cannot be closed from here: the iterating thread stops
            # at the next item and ends the span there, with the chunks it really delivered.
            self._self_close_asked = True
            end = getattr(self, "_self_end", None)
            if end is not None:
                end.close_asked = True
            return
        # Ended first: a thread reading the stream fails as soon as it is closed, and that failure is not the
        # provider's; nothing more is delivered after this point anyway.
        finish(self._self_span, self._self_acc, attr.END_CLOSED)
        wrapped.close()

    def _self_close_here(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            finish(self._self_span, self._self_acc, attr.END_CLOSED)


class TracedAsyncStream(_TracedProxy):
    """A provider's async stream, traced like `TracedStream`; cancellation ends it as `cancelled`."""

    _response_close = "aclose"

    def __aiter__(self) -> AsyncIterator[Any]:
        if self._self_span._ended:  # read on after a break or close(): the caller's own reading, not traced
            hide = self._self_hide
            return _visible_async(self.__wrapped__, hide, _ignore) if hide else self.__wrapped__.__aiter__()
        acc = self._self_acc
        items = getattr(acc, "aitems", None) if self._self_hide is None else None
        if items is None:
            return self._self_iterate()
        wrapped = self.__wrapped__
        return items(wrapped, AsyncStreamEnd(self, self._self_span, acc, wrapped))  # type: ignore[no-any-return]

    async def _self_iterate(self) -> AsyncIterator[Any]:
        on_item = self._self_on_item
        hide = self._self_hide
        source = self.__wrapped__ if hide is None else _visible_async(self.__wrapped__, hide, on_item)
        left = False  # suspended at the yield: the caller is not waiting on the stream
        try:
            async for item in source:
                try:
                    on_item(item)
                except Exception:
                    log_internal_error("reading a stream item")
                left = True
                yield item
                left = False
        except GeneratorExit:
            finish(self._self_span, self._self_acc, attr.END_CLOSED)
            if isinstance(self.__wrapped__, types.AsyncGeneratorType):
                await self.__wrapped__.aclose()  # closed in order, as an unwrapped async generator would be
            raise
        except asyncio.CancelledError:
            # Thrown in at the yield, it is the loop finalizing a stream the caller left (`break` just before
            # `asyncio.run` returns cancels the pending aclose): the caller stopped, nothing was cancelled.
            finish(self._self_span, self._self_acc, attr.END_CLOSED if left else attr.END_CANCELLED)
            raise
        except Exception as exc:
            finish(self._self_span, self._self_acc, attr.END_ERROR, exc)
            raise
        except BaseException:
            finish(self._self_span, self._self_acc, attr.END_CLOSED)
            raise
        finish(self._self_span, self._self_acc, attr.END_COMPLETED)

    async def __anext__(self) -> Any:
        try:
            item = await self.__wrapped__.__anext__()
            while self._self_hide is not None and _hidden(self._self_hide, self._self_on_item, item):
                item = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            finish(self._self_span, self._self_acc, attr.END_COMPLETED)
            raise
        except asyncio.CancelledError:
            finish(self._self_span, self._self_acc, attr.END_CANCELLED)
            raise
        except Exception as exc:
            finish(self._self_span, self._self_acc, attr.END_ERROR, exc)
            raise
        except BaseException:  # KeyboardInterrupt, SystemExit: the caller stopped; end now, not at collection
            finish(self._self_span, self._self_acc, attr.END_CLOSED)
            raise
        if not self._self_span._ended:  # read on after the span ended: nothing to record
            try:
                self._self_on_item(item)
            except Exception:
                log_internal_error("reading a stream item")
        return item

    async def __aenter__(self) -> TracedAsyncStream:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            finish(self._self_span, self._self_acc, attr.END_CLOSED)

    async def close(self) -> None:
        wrapped = self.__wrapped__
        finish(self._self_span, self._self_acc, attr.END_CLOSED)  # first, as in `TracedStream.close`
        # SDK streams have close(); a plain async generator (Gemini's) has only aclose()
        await (wrapped.close() if hasattr(wrapped, "close") else wrapped.aclose())

    async def aclose(self) -> None:
        await self.close()
