"""aipsync's library half: the embedded repository and the DSpace METS AIP packager.

Knows nothing of schedules, threads, S3 or logging set-up (those live in ``daemon``).
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
