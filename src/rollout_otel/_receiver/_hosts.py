"""Which `Host` headers a receiver answers: a DNS-rebinding page names its own domain there, never this address."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Final

_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
# The name Docker gives the host machine inside containers (Docker Desktop, and Linux with `host-gateway`): a
# collector in a container copying to tail sends it.
_DOCKER_HOST: Final = "host.docker.internal"
_WILDCARDS: Final = frozenset({"0.0.0.0", "::", ""})


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    """True for loopback addresses and names (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    address = _ip(name)
    return name in _LOOPBACK_NAMES or (address is not None and address.is_loopback)


def split_host(value: str) -> str:
    """The host part of a Host header (`name:port`, `[v6]:port`), lower case; "" for a malformed one."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else ""
    if value.count(":") > 1:
        return value  # a bare IPv6 address, as some clients send it
    return value.rsplit(":", 1)[0] if ":" in value else value


class HostCheck:
    """Loopback names always; the bound address when it is another; on another interface also Docker's host name,
    and on a wildcard bind any IP literal (a rebinding page always sends a domain name)."""

    def __init__(self, bind_host: str) -> None:
        self.bind_host = bind_host.strip().strip("[]").lower()
        self.loopback = is_loopback(self.bind_host)
        self.wildcard = self.bind_host in _WILDCARDS

    @property
    def url_host(self) -> str:
        """The host to write in a URL for this receiver (a wildcard bind is reached through loopback here)."""
        if self.wildcard:
            return "127.0.0.1"
        return f"[{self.bind_host}]" if ":" in self.bind_host else self.bind_host

    def allows(self, headers: Iterable[str]) -> bool:
        """Exactly one Host header (HTTP/1.1 requires it), naming this receiver."""
        values = list(headers)
        if len(values) != 1:
            return False
        name = split_host(values[0])
        if not name:
            return False
        if is_loopback(name) or name == self.bind_host:
            return True
        if self.loopback:
            return False
        return name == _DOCKER_HOST or (self.wildcard and _ip(name) is not None)
