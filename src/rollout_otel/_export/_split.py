"""Send a batch as requests that each fit `max_export_bytes`, and split again when a receiver says "too large".

The SDK's batch processors size batches by count (512 items), which at 50 KB a span is a 25 MB request: a gRPC
receiver (4 MiB by default) or an HTTP one with a body limit refuses it whole. Here the batch is packed by encoded
size first; a refusal for size (gRPC RESOURCE_EXHAUSTED, HTTP 413) halves the request and sends both halves, down
to one item, which then loses content rather than itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, Generic, TypeVar

_T = TypeVar("_T")

# An item a receiver still refuses at this size is refused for something else than its size.
_SMALLEST: Final = 16 * 1024
_MAX_CUTS: Final = 6


class SizedSend(Generic[_T]):
    """Sends items in requests of at most `limit` encoded bytes through `send`.

    `send(items)` returns whether the request succeeded; `too_large()` says whether its last failure was a refusal
    for size. `size(item)` is what one item adds to a request, `framing(items)` what a request of `items` adds
    around them (an upper bound for any part of them); `fit(item, limit)` is the item cut to fit a request of `limit`
    bytes; `bound(items)`, an upper bound of a request's size that costs no encoding. `send_all` returns how many
    items were lost.
    """

    def __init__(
        self,
        limit: int,
        size: Callable[[_T], int],
        framing: Callable[[Sequence[_T]], int],
        fit: Callable[[_T, int], _T],
        send: Callable[[list[_T]], bool],
        too_large: Callable[[], bool],
        bound: Callable[[Sequence[_T]], int] | None = None,
    ) -> None:
        self.limit = limit
        self._bound = bound
        self._size = size
        self._framing = framing
        self._fit = fit
        self._send = send
        self._too_large = too_large

    def send_all(self, items: Sequence[_T]) -> int:
        """Send `items`, packed by size; returns how many were lost."""
        lost = 0
        for part in self.pack(items):
            lost += self._send_part(part, cuts=0)
        return lost

    def pack(self, items: Sequence[_T]) -> list[list[_T]]:
        """`items` in order, as requests of at most `limit` bytes (an item alone over it is cut to fit)."""
        if not items:
            return []
        if self._bound is not None and self._bound(items) <= self.limit:
            return [list(items)]  # far under the limit: known without encoding anything
        framing = self._framing(items)
        sizes = [self._size(item) for item in items]
        if sum(sizes) + framing <= self.limit:
            return [list(items)]
        budget = self.limit - framing
        parts: list[list[_T]] = []
        current: list[_T] = []
        current_size = 0
        for item, size in zip(items, sizes, strict=True):
            if size > budget:
                item = self._fit(item, self.limit)
                size = self._size(item)
            if current and current_size + size > budget:
                parts.append(current)
                current, current_size = [], 0
            current.append(item)
            current_size += size
        if current:
            parts.append(current)
        return parts

    def _send_part(self, part: list[_T], cuts: int) -> int:
        if self._send(part):
            return 0
        if not self._too_large():
            return len(part)
        if len(part) > 1:
            middle = len(part) // 2
            return self._send_part(part[:middle], cuts) + self._send_part(part[middle:], cuts)
        size = self._size(part[0]) + self._framing(part)
        if size <= _SMALLEST or cuts >= _MAX_CUTS:
            return 1
        return self._send_part([self._fit(part[0], size // 2)], cuts + 1)
