"""The systemd unit files under ``systemd/``, read the way the unit tests need them."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
DAEMON_UNIT = REPO_ROOT / "systemd" / "aipsync.service"
RESTORE_UNIT = REPO_ROOT / "systemd" / "aipsync-restore@.service"
#: The drop-ins for ``kind = "dspace"``, beside each unit as systemd looks for them.
DAEMON_DSPACE_DROPIN = REPO_ROOT / "systemd" / "aipsync.service.d" / "dspace.conf"
RESTORE_DSPACE_DROPIN = REPO_ROOT / "systemd" / "aipsync-restore@.service.d" / "dspace.conf"


def unit_settings(path: Path) -> dict[str, list[str]]:
    """Every ``Key=value`` of the unit file ``path``, by key (keys may repeat)."""
    settings: dict[str, list[str]] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key, []).append(value)
    return settings
