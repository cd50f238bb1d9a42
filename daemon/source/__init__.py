"""Where AIPs come from and go back to: the embedded repository or a real DSpace.

Owns: ``open_source``, the one place that turns ``[repository]`` into a ``Source``
(``daemon.source.base``): ``EmbeddedSource`` (``daemon.source.embedded``) or ``DSpaceSource``
(``daemon.source.dspace``).  Only the sources know which kind of repository is behind them.
"""

from __future__ import annotations

from daemon.core.config import Config
from daemon.source.base import Source

__all__ = ["Source", "open_source"]


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
