"""Which providers rollout-otel already set up, so a second set-up adds no second processor or exporter.

A set-up can be shared: a `Rollout()` made where one already exports (an earlier `Rollout()`, a library's, or
`opentelemetry-instrument`) joins it. The set-up is shut down when its last user shuts down, never before: a
library shutting down its `Rollout` must not silently stop the application's.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable
from typing import Any

from ._processor import StreamingSpanProcessor


class SharedSetup:
    """One provider's rollout-otel set-up: its processor, how many users it has, and how to shut it down."""

    def __init__(
        self, processor: StreamingSpanProcessor, shutdown: Callable[[], None] | None, failures: Any = None
    ) -> None:
        self.processor = processor
        self.failures = failures  # the failed-export count its exporters keep, for every user's flush()
        self.users = 1
        self._shutdown = shutdown  # None where someone else (the SDK, for the distro) shuts it down

    def join(self) -> None:
        with _lock:
            self.users += 1

    def leave(self) -> Callable[[], None] | None:
        """One user is done; returns the shutdown to run when it was the last, else None."""
        with _lock:
            self.users -= 1
            return self._shutdown if self.users == 0 else None


_lock = threading.Lock()
_configured: weakref.WeakKeyDictionary[Any, SharedSetup] = weakref.WeakKeyDictionary()


def claim(
    provider: Any,
    processor: StreamingSpanProcessor,
    shutdown: Callable[[], None] | None = None,
    *,
    failures: Any = None,
) -> SharedSetup | None:
    """Record that `provider` exports through rollout-otel with `processor`."""
    setup = SharedSetup(processor, shutdown, failures)
    refused = getattr(failures, "refused", None)
    if refused is not None:  # live_spans=auto: live spans once this set-up's endpoint refuses logs
        processor.follow_refusals(refused)
    with contextlib.suppress(TypeError):  # not weakly referenceable: nothing to remember it by
        _configured[provider] = setup
        return setup
    return None


def configured(provider: Any) -> SharedSetup | None:
    """The set-up rollout-otel already made on `provider`, if any."""
    try:
        return _configured.get(provider)
    except TypeError:
        return None


def forget(provider: Any) -> None:
    """Forget `provider` (its set-up shut down)."""
    with contextlib.suppress(TypeError):
        _configured.pop(provider, None)
