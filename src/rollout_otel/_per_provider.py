"""One value per OpenTelemetry provider (rollout's tracer, its metric instruments), made once per provider.

Asked once per LLM call, with the same provider nearly always: `last` lets a caller answer that case itself with two
weak references' calls and an identity check, no Python frame or C function call (`tests/test_per_provider.py`).
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class _Gone:
    pass


_NOBODY: weakref.ref[Any] = weakref.ref(_Gone())  # already dead: calling it gives None, as a provider's ref once gone


class PerProvider(Generic[T]):
    """Values keyed weakly by provider: a provider's value goes when the provider does.

    `last` is `(weak reference to the latest provider asked for, weak reference to its value)`, replaced as one tuple,
    so a reader on another thread sees a pair that belongs together; weak both, so it keeps neither alive. A caller's
    fast path: `provider_ref, value_ref = per.last`, `found = value_ref() if provider_ref() is provider else None`,
    then `get(provider)` if nothing was found.
    """

    __slots__ = ("_by_provider", "_make", "_unkeyed", "last")

    def __init__(self, make: Callable[[Any], T], unkeyed: Callable[[Any], T] | None = None) -> None:
        """`make(provider)` is kept for the provider; `unkeyed(provider)` (`make` by default) serves a provider that
        cannot be weakly referenced, at each call."""
        self._by_provider: weakref.WeakKeyDictionary[Any, T] = weakref.WeakKeyDictionary()
        self._make = make
        self._unkeyed = unkeyed or make
        self.last: tuple[Callable[[], Any], Callable[[], T | None]] = (_NOBODY, _NOBODY)

    def get(self, provider: Any) -> T:
        try:
            found = self._by_provider.get(provider)
            if found is None:
                found = self._by_provider[provider] = self._make(provider)
        except TypeError:  # a provider that cannot be weakly referenced
            return self._unkeyed(provider)
        with contextlib.suppress(TypeError):  # a value that cannot be weakly referenced: always looked up
            self.last = (weakref.ref(provider), weakref.ref(found))
        return found

    def clear(self) -> None:
        """Forget every value (tests start each from fresh providers)."""
        self.last = (_NOBODY, _NOBODY)
        self._by_provider.clear()
