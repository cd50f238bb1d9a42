"""The stop flag every long-running step checks between two units of work.

Owns: the ``StopFlag`` protocol: anything with ``is_set()``, in practice the
``threading.Event`` that SIGTERM/SIGINT set (the one-shot commands and the service).
Must not: set itself, or sleep.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["StopFlag"]


# --- protocols --------------------------------------------------------------------------------
class StopFlag(Protocol):
    """Anything with ``is_set()`` (a ``threading.Event``, or a flag combining several)."""

    def is_set(self) -> bool:
        """True when work should stop at the next safe point."""
