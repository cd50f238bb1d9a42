"""Where AIPs come from and go back to: the embedded repository or a real DSpace.

Owns: ``open_source``, the one place that turns ``[repository]`` into a ``Source``
(``daemon.source.base``): ``EmbeddedSource`` (``daemon.source.embedded``) or ``DSpaceSource``
(``daemon.source.dspace``), and ``source_status``, what ``status`` shows about the source
without running it.  Only the sources know which kind of repository is behind them.
"""

from __future__ import annotations

from collections.abc import Callable

from daemon.core.config import Config
from daemon.source.base import Source

__all__ = ["Source", "open_source", "source_status"]


def open_source(config: Config) -> Source:
    """The source ``[repository]`` names.

    Args:
        config: the configuration.

    Returns:
        An ``EmbeddedSource`` or a ``DSpaceSource``.
    """
    # Each implementation is imported only when configured: the embedded one pulls in the
    # packager and SQLAlchemy (about a second), which a DSpace-backed daemon never needs.
    if config.repository.kind == "dspace":
        from daemon.source.dspace import DSpaceSource

        return DSpaceSource(config)
    from daemon.source.embedded import EmbeddedSource

    return EmbeddedSource(config)


def source_status(config: Config, meta: Callable[[str], str | None]) -> dict[str, str]:
    """What ``status`` shows about the source (label -> one line), without running it.

    For DSpace: the version its last start-up read (``meta`` reads the state database's
    ``meta`` table), how withdrawn items are found, worked out now from the configuration
    (no connection is made), and what the last export's look into DSpace's database found.
    Nothing for the embedded repository.
    """
    if config.repository.kind != "dspace" or config.repository.dspace_bin is None:
        return {}
    from daemon.source.dspace import META_VERSION, META_WITHDRAWN, withdrawn_discovery
    from daemon.source.dspacedb import find_database

    version = meta(META_VERSION)
    major = version.partition(".")[0] if version else ""
    found = find_database(config.repository.dspace_bin, config.repository.dspace_db_url,
                          local_cfg=not major.isdigit() or int(major) >= 6)
    facts = {"dspace": version or "not read yet (the daemon reads `dspace version` when it "
                                  "starts, a backup or restore on its first call)",
             "withdrawn items": withdrawn_discovery(found)}
    last = meta(META_WITHDRAWN)
    if last:
        facts["last withdrawn check"] = last
    return facts
