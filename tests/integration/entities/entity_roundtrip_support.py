"""Full-site round trips of entity repositories, judged by dump and bytes.

``round_trip``: export the source site (``-o passwords=true``, so e-people compare), restore it
into a target with ``packager -r -a -f`` (the documented full restore), compare the target's
dump (stored metadata with places, relationships with places and name variants, virtual
values) with the source's, export the target again and compare every file byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers import ADMIN, SITE, CliResult, RepoLocation, repo_cli, run_cli

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "dspace7-aips"


def dump(location: RepoLocation, *extra: str) -> dict[str, Any]:
    return json.loads(repo_cli(location, "dump", "--json", "--virtual", *extra).out)


def export_site(location: RepoLocation, folder: Path, *extra: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    run_cli(*location.argv, "packager", "-d", "-a", "-t", "AIP", "-e", ADMIN, "-i", SITE,
            "-o", "passwords=true", *extra, str(folder / "site.zip"), expect=0)
    return folder / "site.zip"


def restore_site(location: RepoLocation, package: Path, *extra: str,
                 expect: int = 0) -> CliResult:
    return run_cli(*location.argv, "packager", "-r", "-a", "-f", "-u", "-t", "AIP", "-e", ADMIN,
                   "-i", SITE, *extra, str(package), expect=expect)


@dataclass
class RoundTrip:
    source: dict[str, Any]
    target: dict[str, Any]
    restore: CliResult
    first: dict[str, bytes]
    second: dict[str, bytes]
    location: RepoLocation


def round_trip(source: RepoLocation, target: RepoLocation, work: Path, *,
               config: Path | None = None, expect: int = 0,
               prepare: Callable[[RepoLocation], None] | None = None) -> RoundTrip:
    """Export ``source``, restore into ``target`` (``prepare`` runs first), export again."""
    extra = ("--config", str(config)) if config is not None else ()
    package = export_site(source, work / "first", *extra)
    if prepare is not None:
        prepare(target)
    result = restore_site(target, package, expect=expect)
    export_site(target, work / "second", *extra)
    read = {p.name: p.read_bytes() for p in sorted((work / "first").iterdir())}
    again = {p.name: p.read_bytes() for p in sorted((work / "second").iterdir())}
    return RoundTrip(dump(source), dump(target), result, read, again, target)


def assert_same_site(trip: RoundTrip) -> None:
    """The target's dump is the source's, and its export is byte for byte the same."""
    if trip.target != trip.source:
        import difflib

        diff = difflib.unified_diff(json.dumps(trip.source, indent=1, sort_keys=True).split("\n"),
                                    json.dumps(trip.target, indent=1, sort_keys=True).split("\n"),
                                    lineterm="", n=2)
        raise AssertionError("the dumps differ:\n" + "\n".join(list(diff)[:60]))
    assert trip.second.keys() == trip.first.keys()
    changed = sorted(name for name, data in trip.first.items() if trip.second[name] != data)
    assert changed == []


def relationships(data: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(r["left"], r["leftward_type"], r["right"], r["left_place"], r["right_place"],
             r["leftward_value"], r["rightward_value"], r["left_entity_type"],
             r["right_entity_type"]) for r in data["relationships"]]


def item(data: dict[str, Any], handle: str) -> dict[str, Any]:
    return next(i for i in data["items"] if i["handle"] == handle)


def merged_field(data: dict[str, Any], handle: str, field: str) -> list[tuple[str, int, bool]]:
    """An item's values of one field, stored and virtual, in place order: (value, place,
    virtual)."""
    it = item(data, handle)
    plain = [m["value"] for m in it["metadata"] if m["field"] == field]
    places = it["places"].get(field, list(range(len(plain))))
    merged = [(p, 1, v, False) for v, p in zip(plain, places, strict=True)]
    merged += [(v["place"], 0, v["value"], True) for v in it["virtual"] if v["field"] == field]
    return [(v, p, virtual) for p, _, v, virtual in sorted(merged)]


def dspace_restore(target: RepoLocation, folder: str, *, expect: int) -> dict[str, Any]:
    """Restore one of the constructed DSpace 7.6 sets into ``target`` (entities initialised
    first, as DSpace's AIPs carry no registry) and return the dump."""
    repo_cli(target, "initialize-entities")
    restore_site(target, FIXTURES / folder / "SITE@123456789-0.zip", expect=expect)
    return dump(target)
