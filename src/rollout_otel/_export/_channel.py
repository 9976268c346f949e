"""A gRPC exporter's channel that connects again as soon as the receiver is back.

A gRPC connection attempt that failed is followed by a wait (the reconnect back-off: a second, growing to two
minutes), and an export made meanwhile fails at once without trying: spans sent in the second after a collector
restarted were lost. A new channel alone does not help, because channels to one address share their connection and
its back-off (gRPC's global subchannel pool) while any of them is open: the old channel left open after a refusal,
or another signal's exporter to the same collector. So each channel here owns its connection, and a refused export
is followed by a fresh channel with the old one closed: the next export tries the receiver at once. Nothing of this
runs on the user's thread, and a dead collector costs one refused connection per export, as before.
"""

from __future__ import annotations

import contextlib
from typing import Any, Final

# Channel options rollout-otel sets where the user did not: a connection of its own per channel, and a back-off of a
# second at most for a channel's own reconnects (a connection lost between two exports).
CHANNEL_OPTIONS: Final = (
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
)


def connect_promptly(inner: Any) -> None:
    """Give a gRPC exporter (`inner`) the channel options above, keeping the user's own, and a channel made with them.

    The OTLP gRPC exporters keep their options in `_channel_options` and make their channel in
    `_initialize_channel_and_stub`; other exporters are left as they are.
    """
    options = getattr(inner, "_channel_options", None)
    if not isinstance(options, tuple) or not callable(getattr(inner, "_initialize_channel_and_stub", None)):
        return
    given = {name for name, _ in options}
    inner._channel_options = options + tuple(option for option in CHANNEL_OPTIONS if option[0] not in given)
    new_channel(inner)


def new_channel(inner: Any) -> None:
    """Replace a gRPC exporter's channel with a new one, closing the old: the next export connects afresh. An
    exporter shut down (before or while this runs) keeps no channel open: its shutdown closed only the one it saw."""
    if getattr(inner, "_shutdown", False) is True:
        return
    old = getattr(inner, "_channel", None)
    inner._initialize_channel_and_stub()
    new = getattr(inner, "_channel", None)
    if old is not None and old is not new:
        with contextlib.suppress(Exception):
            old.close()
    if getattr(inner, "_shutdown", False) is True and new is not None:
        with contextlib.suppress(Exception):
            new.close()
