"""Which providers rollout-otel already set up, so a second set-up adds no second processor or exporter."""

from __future__ import annotations

import contextlib
import weakref
from typing import Any

from ._processor import StreamingSpanProcessor

_configured: weakref.WeakKeyDictionary[Any, StreamingSpanProcessor] = weakref.WeakKeyDictionary()


def claim(provider: Any, processor: StreamingSpanProcessor) -> None:
    """Record that `provider` exports through rollout-otel with `processor`."""
    with contextlib.suppress(TypeError):  # not weakly referenceable: nothing to remember it by
        _configured[provider] = processor


def configured(provider: Any) -> StreamingSpanProcessor | None:
    """The processor rollout-otel already added to `provider`, if any."""
    try:
        return _configured.get(provider)
    except TypeError:
        return None


def forget(provider: Any) -> None:
    """Forget `provider` (its Rollout shut down)."""
    with contextlib.suppress(TypeError):
        _configured.pop(provider, None)
