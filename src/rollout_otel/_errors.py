"""The two error policies: bad configuration fails loudly, failures inside telemetry never reach user code."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

logger = logging.getLogger("rollout_otel")

_F = TypeVar("_F", bound=Callable[..., Any])

# The test suite flips this so that a bug inside tracing fails the test instead of being logged.
_raise_internal_errors = False


class RolloutConfigError(ValueError):
    """A setting has a value rollout-otel cannot use; the message names the setting, the value and the fix."""


def set_raise_internal_errors(enabled: bool) -> None:
    """Re-raise internal errors instead of logging them (for rollout-otel's own tests)."""
    global _raise_internal_errors
    _raise_internal_errors = enabled


def log_internal_error(where: str) -> None:
    """Log the exception being handled as a rollout-otel bug; re-raise it under the test suite."""
    if _raise_internal_errors:
        raise
    logger.warning("Internal error in rollout-otel (%s); tracing continues without it", where, exc_info=True)


def never_raises(func: _F) -> _F:
    """Decorate telemetry code whose failure must not break the traced program."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception:
            log_internal_error(func.__qualname__)
            return None

    return cast(_F, wrapper)
