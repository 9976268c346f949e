"""What the update thread keeps about one open stream: what is due next, and the gaps it has seen between chunks.

Nothing here runs per chunk. The span stamps the arrival of a chunk only when the update thread has asked for it
(`_seen_ns` set back to 0, at the start and once a look finds no new chunk), so the wait for the first chunk and
the end of every longer gap are exact, and the start of a gap is known to within one look (an update interval, or
`stall_after` when that is shorter): gaps are never overstated.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._view import OpenStream

SLACK_NS = 1_000_000  # a timer that fires a millisecond early still finds its work due
FIRST_LIVE_NS = 1_000_000_000  # live spans at the start, then 1, 2, 4, 8... seconds in: a handful whatever the length


class StreamWatch:
    """One open stream, seen from the update thread; guarded by `lock` against the span ending meanwhile."""

    __slots__ = (
        "armed",
        "closed",
        "gap_stalls",
        "identity",
        "in_flight",
        "interval_ns",
        "last_chunks",
        "live_chunks",
        "live_seq",
        "lock",
        "max_gap_ns",
        "next_live_ns",
        "next_update_ns",
        "progress_ns",
        "ref",
        "seen_chunks",
        "seq",
        "stall_ns",
        "stalls",
        "start_ns",
        "started",
    )

    def __init__(self, llm: OpenStream, interval_ns: int, stall_ns: int) -> None:
        self.ref = weakref.ref(llm)
        self.identity: dict[str, Any] | None = None  # `identity_of`: taken off the caller's thread when it can be
        self.lock = threading.Lock()
        self.closed = False
        self.in_flight: threading.Event | None = None  # what is being sent: set, then None, once handed over
        self.interval_ns = interval_ns
        self.stall_ns = stall_ns
        self.start_ns = llm._start_ns
        self.started = False  # the start record was sent
        self.seq = 0  # update events sent
        self.last_chunks = 0  # chunks at the last update
        self.next_update_ns = self.start_ns + interval_ns
        self.seen_chunks = 0  # chunks at the last look
        self.progress_ns = self.start_ns  # the last chunk seen arrived no earlier than this
        self.armed = True  # the span stamps the next chunk's arrival (the first chunk's always)
        self.max_gap_ns = 0
        self.stalls = 0
        self.gap_stalls = 0  # stall events of the gap under way
        self.live_seq = 0  # live spans sent
        self.live_chunks = -1  # chunks at the last live span
        self.next_live_ns = self.start_ns

    def identity_of(self, llm: OpenStream) -> dict[str, Any]:
        """What names the stream in its records, taken when first needed: on the update thread, or at the end of a
        stream that thread never saw (two threads taking it at once take the same)."""
        identity = self.identity
        if identity is None:
            identity = self.identity = llm._identity()
        return identity

    def look(self, llm: OpenStream, now: int) -> int | None:
        """Read the chunk count: close the gap a chunk ended, or start timing one. The gap (ns) if a stall is due."""
        chunks = llm._chunks
        if chunks != self.seen_chunks:
            self._progress(llm, chunks, now)
            return None
        if not self.armed:
            llm._seen_ns = 0  # the next chunk stamps its arrival: the end of this gap
            self.armed = True
            if llm._chunks != chunks:  # a chunk came between the count and the request: no gap after all
                self.armed = False
                self.seen_chunks = llm._chunks
                self.progress_ns = now
                return None
        if self.stall_ns and now + SLACK_NS - self.progress_ns >= self.stall_ns * (self.gap_stalls + 1):
            self.gap_stalls += 1
            self.stalls += 1
            return now - self.progress_ns
        return None

    def _progress(self, llm: OpenStream, chunks: int, now: int) -> None:
        end = now
        if self.armed:
            end = llm._seen_ns or now
            self.max_gap_ns = max(self.max_gap_ns, end - self.progress_ns)
            self.armed = False
        # One chunk since the last look: it is the last one, and its time is known. More: the last came by now.
        self.progress_ns = end if chunks - self.seen_chunks == 1 else now
        self.seen_chunks = chunks
        self.gap_stalls = 0

    def settle(self, llm: OpenStream, now: int) -> None:
        """At the end: the gap a last chunk closed since the last look; a stream with no chunk waited throughout."""
        chunks = llm._chunks
        if chunks != self.seen_chunks and self.armed:
            self.max_gap_ns = max(self.max_gap_ns, (llm._seen_ns or now) - self.progress_ns)
        if chunks == 0:
            self.max_gap_ns = now - self.start_ns

    def update_due(self, chunks: int, now: int, force: bool = False) -> bool:
        """Whether an update goes out now: at most one per interval, none for an interval without chunks."""
        if not force:
            if now + SLACK_NS < self.next_update_ns:
                return False
            following = self.next_update_ns + self.interval_ns
            self.next_update_ns = following if following > now else now + self.interval_ns
        if chunks == self.last_chunks:
            return False
        self.last_chunks = chunks
        return True

    def live_due(self, chunks: int, now: int) -> bool:
        """Whether a live span goes out now: at the start, then at 1, 2, 4, 8... seconds, when there is news."""
        if now + SLACK_NS < self.next_live_ns:
            return False
        step = FIRST_LIVE_NS
        while self.start_ns + step <= now:
            step *= 2
        self.next_live_ns = self.start_ns + step
        if chunks == self.live_chunks:
            return False
        self.live_chunks = chunks
        return True

    def next_due_ns(self, live: bool) -> int:
        """When this stream next needs the update thread."""
        due = self.next_update_ns
        if self.stall_ns:
            due = min(due, self.progress_ns + self.stall_ns * (self.gap_stalls + 1))
        if live:
            due = min(due, self.next_live_ns)
        return due
