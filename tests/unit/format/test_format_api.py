"""The format layer's ``__all__`` lists exist and name every public class and function."""

from __future__ import annotations

import importlib
import inspect

import pytest

MODULES = ("aip.crosswalks", "aip.crosswalks.dim", "aip.crosswalks.mods", "aip.crosswalks.premis",
           "aip.crosswalks.metsrights", "aip.crosswalks.roles", "aip.crosswalks.techmd",
           "aip.crosswalks.extension", "aip.mets", "aip.mets.build", "aip.mets.parse",
           "aip.mets.validate", "aip.packager.manifest")


@pytest.mark.parametrize("name", MODULES)
def test_all_is_complete_and_exists(name: str) -> None:
    module = importlib.import_module(name)
    names = module.__all__
    assert len(names) == len(set(names))
    assert [n for n in names if not hasattr(module, n)] == []
    defined = {n for n, obj in vars(module).items()
               if not n.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
               and obj.__module__ == name}
    assert defined <= set(names), sorted(defined - set(names))
