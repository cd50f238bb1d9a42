"""systemd's notification protocol (``sd_notify``), in a few lines and without a dependency.

Owns: ``Notifier`` (one datagram per message to the ``AF_UNIX`` socket that systemd names in
``NOTIFY_SOCKET``; an ``@`` prefix means the abstract namespace) and ``watchdog_interval``
(how often to send ``WATCHDOG=1``: half of ``WATCHDOG_USEC``, as sd_watchdog_enabled(3)
recommends, and only when ``WATCHDOG_PID`` is unset or ours).

The environment is read by the caller (the service's entry point) and passed in.  Without a
socket every call is a no-op, so the daemon runs the same outside systemd.  A failed send is
logged at debug level and otherwise ignored: systemd going away must not stop a backup.

Must not: raise from a send, or block (datagram sockets do not wait for a reader).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import structlog

__all__ = ["Notifier", "watchdog_interval"]

log = structlog.get_logger(__name__)


class Notifier:
    """Sends ``READY=1``, ``STATUS=...``, ``WATCHDOG=1``, ``RELOADING=1``, ``STOPPING=1``."""

    def __init__(self, address: str | None) -> None:
        self.address = address or None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Notifier:
        """The notifier for ``NOTIFY_SOCKET`` (none when unset)."""
        return cls(environ.get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """Send one message of ``NAME=value`` lines; True when it was delivered."""
        if self.address is None:
            return False
        address = self.address
        if address.startswith("@"):
            address = "\0" + address[1:]
        message = "\n".join(fields).encode("utf-8", "replace")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(address)
                sock.sendall(message)
        except OSError as exc:
            log.debug("notify.failed", error=str(exc))
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Start-up (or a reload) is complete."""
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        """A one-line status shown by ``systemctl status``."""
        return self.send(f"STATUS={text}")

    def watchdog(self) -> bool:
        """The main loop is alive."""
        return self.send("WATCHDOG=1")

    def reloading(self, monotonic_usec: int) -> bool:
        """A reload started (``READY=1`` follows when it is done)."""
        return self.send("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec}")

    def stopping(self, status: str | None = None) -> bool:
        """Shutdown started."""
        return self.send("STOPPING=1", *([f"STATUS={status}"] if status else []))


def watchdog_interval(environ: Mapping[str, str], pid: int | None = None) -> float | None:
    """Seconds between two ``WATCHDOG=1`` pings, or None when no watchdog is armed.

    Args:
        environ: the process environment.
        pid: our pid (default ``os.getpid()``).

    Returns:
        Half of ``WATCHDOG_USEC`` in seconds, or None.
    """
    usec = environ.get("WATCHDOG_USEC")
    if not usec:
        return None
    owner = environ.get("WATCHDOG_PID")
    if owner and owner.isdigit() and int(owner) != (pid if pid is not None else os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 2_000_000 if value > 0 else None
