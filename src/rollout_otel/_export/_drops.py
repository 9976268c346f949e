"""Every span, event or metric point rollout-otel's pipeline loses is counted here: `flush()` reads the count, and
one WARNING a minute at most says how many were lost and which setting to raise."""

from __future__ import annotations

import threading
import time
from typing import Final

from .._errors import logger

WARN_EVERY_S: Final = 60.0
# What a lost item is called, by signal; why it was lost and what to change, by reason.
_ITEMS: Final = {"traces": "span", "logs": "update event", "metrics": "metric point"}
_WHY: Final = {
    "queue": "the export queue was full",
    "refused": "the endpoint did not take them (unreachable, or it refused the request)",
}
_FIX: Final = {
    ("traces", "queue"): "raise OTEL_BSP_MAX_QUEUE_SIZE to keep them",
    ("logs", "queue"): "raise OTEL_BLRP_MAX_QUEUE_SIZE to keep them",
    ("traces", "refused"): "check the endpoint, or raise its request size limit above ROLLOUT_MAX_EXPORT_BYTES",
    ("logs", "refused"): "check the endpoint, or raise its request size limit above ROLLOUT_MAX_EXPORT_BYTES",
    ("metrics", "refused"): "check the endpoint, or raise its request size limit above ROLLOUT_MAX_EXPORT_BYTES",
}


class DropCount:
    """Items lost so far, only ever growing, shared by the exports of one set-up.

    `flush()` compares `total()` with what it saw at the previous flush, so a loss between two flushes makes the
    second one return False, whichever thread flushes. Warnings are rate limited: the first loss warns at once, and
    later ones are summed into one line a minute.
    """

    def __init__(self, warn_every_s: float = WARN_EVERY_S) -> None:
        self._lock = threading.Lock()
        self._total = 0
        self._pending: dict[tuple[str, str], int] = {}
        self._warn_every_s = warn_every_s
        self._last_warning = -float("inf")
        self.refused: set[str] = set()  # signals the endpoint refuses ("logs"...): live spans stand in for logs

    def add(self, signal: str, reason: str, count: int = 1, *, announced: bool = False) -> None:
        """`count` items of `signal` lost, because of `reason` ("queue" or "refused"). `announced`: the caller has
        just said so in a line of its own; the next count comes a minute later at the earliest."""
        if count <= 0:
            return
        with self._lock:
            self._total += count
            if announced:
                self._last_warning = time.monotonic()
                return
            key = (signal, reason)
            self._pending[key] = self._pending.get(key, 0) + count
            now = time.monotonic()
            if now - self._last_warning < self._warn_every_s:
                return
            self._last_warning = now
            pending, self._pending = self._pending, {}
        _warn(pending)

    def total(self) -> int:
        with self._lock:
            return self._total

    def report_pending(self) -> None:
        """Say now what was lost since the last warning (at shutdown, so no loss goes unsaid)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if pending:
            _warn(pending)


def _warn(pending: dict[tuple[str, str], int]) -> None:
    for (signal, reason), count in sorted(pending.items()):
        logger.warning(
            "rollout-otel dropped %d %s: %s; %s",
            count,
            _ITEMS.get(signal, signal) + ("" if count == 1 else "s"),
            _WHY.get(reason, reason),
            _FIX.get((signal, reason), "check the endpoint"),
        )
