"""aipsync's service half: scheduled export, staging, mirror to S3 or a folder, restore."""

from __future__ import annotations

__all__: list[str] = []
