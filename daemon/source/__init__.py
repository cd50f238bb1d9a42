"""Where AIPs come from and go back to: the embedded repository or a real DSpace.

Owns: ``open_source``, the one place that turns ``[repository]`` into a ``Source``
(``daemon.source.base``): ``EmbeddedSource`` (``daemon.source.embedded``) or ``DSpaceSource``
(``daemon.source.dspace``).  Only the sources know which kind of repository is behind them.
"""

from __future__ import annotations

from daemon.core.config import Config
from daemon.source.base import Source
from daemon.source.dspace import DSpaceSource
from daemon.source.embedded import EmbeddedSource

__all__ = ["DSpaceSource", "EmbeddedSource", "Source", "open_source"]


def open_source(config: Config) -> Source:
    """The source ``[repository]`` names.

    Args:
        config: the configuration.

    Returns:
        An ``EmbeddedSource`` or a ``DSpaceSource``.
    """
    if config.repository.kind == "dspace":
        return DSpaceSource(config)
    return EmbeddedSource(config)
