"""The curated public API: every name in ``__all__`` exists and is exported (docs/style.md Y2)."""

from __future__ import annotations

import importlib
import inspect
from types import ModuleType

import pytest

import aip
import aip.model

MODEL_SUBMODULES = ("aip.model.auth", "aip.model.content", "aip.model.entities",
                    "aip.model.handles")


@pytest.mark.parametrize("module", [aip, aip.model], ids=lambda m: m.__name__)
def test_all_names_exist_once(module: ModuleType) -> None:
    names = module.__all__
    assert names, f"{module.__name__}.__all__ is empty"
    assert len(names) == len(set(names)), "duplicates in __all__"
    missing = [n for n in names if not hasattr(module, n)]
    assert missing == [], f"{module.__name__}.__all__ names what it does not define: {missing}"


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from aip.model import *", namespace)
    exported = {n for n in namespace if n != "__builtins__"}
    assert exported == set(aip.model.__all__)


@pytest.mark.parametrize("name", MODEL_SUBMODULES)
def test_every_public_model_class_and_function_is_exported(name: str) -> None:
    """A class or function defined in a model module but missing from ``__all__`` would
    be public by accident (or forgotten)."""
    module = importlib.import_module(name)
    defined = {n for n, obj in vars(module).items()
               if not n.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
               and obj.__module__ == name}
    assert defined, f"{name} defines nothing public?"
    assert defined <= set(aip.model.__all__), sorted(defined - set(aip.model.__all__))


def test_exported_objects_are_the_submodules_objects() -> None:
    """``aip.model.X`` is the very object its submodule defines (no shadowing copies)."""
    for name in aip.model.__all__:
        obj = getattr(aip.model, name)
        owners = [importlib.import_module(m) for m in MODEL_SUBMODULES]
        assert any(getattr(mod, name, None) is obj for mod in owners), name
