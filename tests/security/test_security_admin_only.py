"""Only a site administrator may export the site, or submit, restore or replace anything.

Each refused call is made by ``DELEGATE`` (ADMIN policies on the community and the collection
involved, no site group) and by an ordinary seeded e-person: exit 45
(``PermissionDeniedError``), one error line naming the e-person and the need for an
administrator, the repository unchanged (``helpers.snapshot``) and nothing written.  The same
call by the administrator succeeds (the control: the refusal is about who asks, nothing else).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import ADMIN, SITE, RepoLocation, assert_one_line_error, dump_text, snapshot
from helpers.packager import delete, export, ingest, packager
from security_support import COLLECTION, COMMUNITY, DELEGATE

from aip import constants as C
from aip.model import package_file_name

ORDINARY = "ada.lovelace0@example.org"
NOT_ADMINS = [DELEGATE, ORDINARY]


@pytest.fixture(scope="session")
def site_export(_secured_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole site exported by the administrator (read-only for the tests)."""
    out = tmp_path_factory.mktemp("site-export")
    export(RepoLocation(_secured_template), out / "site.zip", SITE)
    return out


def _item_of(location: RepoLocation, collection: str) -> str:
    items = json.loads(dump_text(location))["items"]
    return next(i["handle"] for i in items if i["owning_collection"] == collection
                and not i["mapped_collections"])


def _package(folder: Path, obj_type: str, handle: str) -> Path:
    return folder / package_file_name(obj_type, handle)


def _refused(location: RepoLocation, eperson: str, run: object) -> None:
    before = snapshot(location)
    result = run(eperson, C.EXIT_PERMISSION)  # type: ignore[operator]
    assert_one_line_error(result, C.EXIT_PERMISSION, eperson, "an administrator is needed")
    assert snapshot(location) == before


# -- export ------------------------------------------------------------------------------------
@pytest.mark.parametrize("options", [(), ("passwords=true",)], ids=["plain", "passwords"])
@pytest.mark.parametrize("eperson", NOT_ADMINS)
def test_only_an_administrator_exports_the_site(secured: RepoLocation, tmp_path: Path,
                                               eperson: str, options: tuple[str, ...]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    _refused(secured, eperson, lambda who, code: export(
        secured, out / "site.zip", SITE, *options, eperson=who, expect=code))
    assert list(out.iterdir()) == []
    export(secured, out / "site.zip", SITE, *options, eperson=ADMIN)  # the control
    assert (out / "site.zip").is_file()


# -- ingest --------------------------------------------------------------------------------------
@pytest.mark.parametrize("eperson", NOT_ADMINS)
def test_only_an_administrator_restores(secured: RepoLocation, site_export: Path,
                                        eperson: str) -> None:
    item = _item_of(secured, COLLECTION)
    delete(secured, item)
    package = _package(site_export, C.TYPE_ITEM, item)
    for flags in (["-r"], ["-r", "-a"], ["-r", "-k"]):
        _refused(secured, eperson, lambda who, code, f=flags: ingest(
            secured, package, *f, eperson=who, expect=code))
    ingest(secured, package, "-r", eperson=ADMIN)  # the control


@pytest.mark.parametrize("eperson", NOT_ADMINS)
def test_only_an_administrator_restores_a_hierarchy(secured: RepoLocation, site_export: Path,
                                                    eperson: str) -> None:
    delete(secured, COLLECTION)
    package = _package(site_export, C.TYPE_COLLECTION, COLLECTION)
    _refused(secured, eperson, lambda who, code: ingest(
        secured, package, "-r", "-a", eperson=who, expect=code))
    ingest(secured, package, "-r", "-a", eperson=ADMIN)


@pytest.mark.parametrize("eperson", NOT_ADMINS)
def test_only_an_administrator_replaces(secured: RepoLocation, site_export: Path,
                                        eperson: str) -> None:
    item = _item_of(secured, COLLECTION)
    package = _package(site_export, C.TYPE_ITEM, item)
    _refused(secured, eperson, lambda who, code: ingest(
        secured, package, "-r", "-f", eperson=who, expect=code))
    _refused(secured, eperson, lambda who, code: ingest(
        secured, _package(site_export, C.TYPE_COMMUNITY, COMMUNITY), "-r", "-f", "-a",
        eperson=who, expect=code))
    ingest(secured, package, "-r", "-f", eperson=ADMIN)


@pytest.mark.parametrize("eperson", NOT_ADMINS)
def test_only_an_administrator_replaces_the_site(secured: RepoLocation, site_export: Path,
                                                 eperson: str) -> None:
    """The SITE AIP carries the e-people, groups and the Administrator group itself."""
    _refused(secured, eperson, lambda who, code: ingest(
        secured, site_export / "site.zip", "-r", "-a", "-f", "-i", SITE, eperson=who,
        expect=code))
    ingest(secured, site_export / "site.zip", "-r", "-a", "-f", "-i", SITE, eperson=ADMIN)


@pytest.mark.parametrize("eperson", NOT_ADMINS)
def test_only_an_administrator_submits(secured: RepoLocation, site_export: Path,
                                       eperson: str) -> None:
    """Even into a collection the e-person administers."""
    package = _package(site_export, C.TYPE_ITEM, _item_of(secured, COLLECTION))
    _refused(secured, eperson, lambda who, code: ingest(
        secured, package, "-s", "-w", "-p", COLLECTION, eperson=who, expect=code))
    ingest(secured, package, "-s", "-w", "-p", COLLECTION, eperson=ADMIN)


def test_an_unknown_eperson_is_refused_too(secured: RepoLocation, site_export: Path) -> None:
    before = snapshot(secured)
    result = packager(secured, "-r", "-f", "-t", "AIP", "-e", "nobody@example.org", "-u",
                      str(_package(site_export, C.TYPE_COMMUNITY, COMMUNITY)),
                      expect=C.EXIT_NOT_FOUND)
    assert_one_line_error(result, C.EXIT_NOT_FOUND, "nobody@example.org")
    assert snapshot(secured) == before
