"""Shared names of the DSpace stand-in's tests (fixtures are in ``conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from helpers import SITE
from helpers.dspace_standin import Standin
from helpers.packager import DSpaceTree

#: The generations the stand-in models, one version string each.
VERSIONS = ["5.10", "6.3", "7.6.2", "8.1", "9.1", "10.0"]

#: The ``standin`` fixture's factory.
Make = Callable[..., Standin]


@dataclass(frozen=True)
class Tree:
    """The template's handles: DSpace's ITDSpaceAIP tree; ``withdrawn`` is its item4."""

    dspace: DSpaceTree
    withdrawn: str

    @property
    def site(self) -> str:
        return SITE
