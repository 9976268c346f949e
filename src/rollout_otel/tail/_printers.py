"""`--json` and plain lines: one line per event, for pipes and logs where a live view cannot draw.

The model cleaned every text already; JSON is written ASCII-only as well, so no raw control or C1 byte can reach a
terminal that shows it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, TextIO


def json_printer(out: TextIO) -> Callable[[dict[str, Any]], None]:
    lock = threading.Lock()

    def emit(event: dict[str, Any]) -> None:
        line = json.dumps(event, ensure_ascii=True, allow_nan=False, default=str)
        with lock:
            out.write(line + "\n")
            out.flush()

    return emit


def plain_printer(out: TextIO) -> Callable[[dict[str, Any]], None]:
    lock = threading.Lock()

    def emit(event: dict[str, Any]) -> None:
        line = plain_line(event)
        with lock:
            out.write(line + "\n")
            out.flush()

    return emit


def plain_line(event: dict[str, Any]) -> str:
    """The line of one event (its texts are cleaned already; the preview is quoted with repr)."""
    kind = event["event"]
    who = f"{event['service']} {event['name']} {event['model']}".strip()
    if kind == "call.finished":
        reason = event["end_reason"] or "whole"
        error = f" {event['error_type']}" if event["error_type"] else ""
        finish = f"  finish {event['finish_reasons']}" if event["finish_reasons"] else ""
        return (
            f"finished  {who}  {reason.upper()}{error}{finish}  {event['duration']:.2f}s  "
            f"tokens {event['input_tokens']}/{event['output_tokens']}  {event['output'][:80]!r}"
        )
    if kind == "stream.stalled":
        return f"stalled   {who}  {event['elapsed']:.1f}s  no chunk for {event['stall_gap'] or 0:.1f}s"
    word = "opened  " if kind == "stream.opened" else "update  "
    return (
        f"{word}  {who}  {event['state']}  {event['elapsed']:.1f}s  chunks {event['chunks']}  "
        f"{event['chars_per_second']:.0f} chars/s  {event['preview'][-80:]!r}"
    )
