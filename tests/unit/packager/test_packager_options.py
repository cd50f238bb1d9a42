"""``-o`` option parsing: DSpace's names, defaults by mode, and its error texts (pure)."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import pytest

from aip import constants as C
from aip.errors import BadOptionError, HandleFormatError, UsageError
from aip.packager.config import AipConfig
from aip.packager.options import (
    UPDATED_AFTER_MESSAGE,
    BundleFilter,
    ExportOptions,
    IngestOptions,
    parse_option_strings,
    parse_updated_after,
)


def test_option_strings() -> None:
    assert parse_option_strings(["a=b", "c", "d=", " e = f "]) == {
        "a": "b", "c": "", "d": "", "e": "f"}
    assert parse_option_strings(["x=1=2"]) == {"x": "1=2"}
    with pytest.raises(BadOptionError):
        parse_option_strings(["=value"])


# -- export -------------------------------------------------------------------------------------
def test_export_defaults() -> None:
    opts = ExportOptions.parse({})
    assert opts == ExportOptions()
    assert opts.validate and not opts.passwords and not opts.manifest_only
    assert opts.unauthorized is None and opts.updated_after is None
    assert opts.bundles.is_everything


@pytest.mark.parametrize(("text", "inside", "outside"), [
    ("TEXT,THUMBNAIL", {"ORIGINAL", "LICENSE"}, {"TEXT", "THUMBNAIL"}),
    ("+ORIGINAL", {"ORIGINAL"}, {"TEXT", "LICENSE"}),
    (" + ORIGINAL , LICENSE ", {"ORIGINAL", "LICENSE"}, {"TEXT"}),
    ("+all", {"ORIGINAL", "TEXT", "X"}, set()),
    ("+ALL", {"ORIGINAL", "TEXT", "X"}, set()),
    ("", {"ORIGINAL", "TEXT"}, set()),
])
def test_bundle_filter(text: str, inside: set[str], outside: set[str]) -> None:
    f = BundleFilter.parse(text)
    assert all(f(b) for b in inside)
    assert not any(f(b) for b in outside)


def test_filter_bundles_is_case_sensitive_like_dspace() -> None:
    f = BundleFilter.parse("+ORIGINAL")
    assert f("ORIGINAL") and not f("original")


def test_include_bundles_is_an_include_list() -> None:
    opts = ExportOptions.parse({"includeBundles": "ORIGINAL"})
    assert opts.include_bundle("ORIGINAL") and not opts.include_bundle("TEXT")
    assert ExportOptions.parse({"includeBundles": "all"}).bundles.is_everything
    assert ExportOptions.parse({"includeBundles": "+ORIGINAL"}).bundles == \
        ExportOptions.parse({"filterBundles": "+ORIGINAL"}).bundles


def test_filter_and_include_bundles_together_is_an_error() -> None:
    with pytest.raises(BadOptionError, match=r"filterBundles.*includeBundles"):
        ExportOptions.parse({"filterBundles": "TEXT", "includeBundles": "ORIGINAL"})


@pytest.mark.parametrize(("value", "expected"), [
    ("skip", "skip"), ("zero", "zero"), ("ZERO", "zero"), (" skip ", "skip")])
def test_unauthorized(value: str, expected: str) -> None:
    assert ExportOptions.parse({"unauthorized": value}).unauthorized == expected


@pytest.mark.parametrize("value", ["", "fail", "yes"])
def test_unauthorized_bad_value(value: str) -> None:
    with pytest.raises(BadOptionError, match="unauthorized"):
        ExportOptions.parse({"unauthorized": value})


@pytest.mark.parametrize(("options", "expected"), [
    ({}, False), ({"passwords": ""}, True), ({"passwords": "true"}, True),
    ({"passwords": "yes"}, True), ({"passwords": "false"}, False)])
def test_passwords(options: dict[str, str], expected: bool) -> None:
    assert ExportOptions.parse(options).passwords is expected


@pytest.mark.parametrize(("options", "expected"), [
    ({}, True), ({"validate": "false"}, False), ({"validate": "no"}, False),
    ({"validate": "true"}, True), ({"validate": ""}, True)])
def test_export_validate(options: dict[str, str], expected: bool) -> None:
    assert ExportOptions.parse(options).validate is expected


def test_manifest_only() -> None:
    assert ExportOptions.parse({"manifestOnly": "true"}).manifest_only
    assert not ExportOptions.parse({"manifestOnly": "false"}).manifest_only


def test_bad_boolean() -> None:
    with pytest.raises(BadOptionError, match="manifestOnly"):
        ExportOptions.parse({"manifestOnly": "maybe"})


def test_unknown_export_option() -> None:
    with pytest.raises(BadOptionError, match="unknown export option 'filterBundle'"):
        ExportOptions.parse({"filterBundle": "TEXT"})


def test_ingest_only_options_are_ignored_on_export() -> None:
    opts = ExportOptions.parse({name: "true" for name in C.IGNORED_ON_EXPORT})
    assert opts == ExportOptions()


def test_export_only_options_are_unknown_on_ingest() -> None:
    for name in C.EXPORT_OPTIONS - C.INGEST_OPTIONS:
        with pytest.raises(BadOptionError, match="unknown ingest option"):
            IngestOptions.parse({name: "x"}, restore=True, parent_given=False)


# -- updatedAfter -------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("2010-01-01T00:00:00", dt.datetime(2010, 1, 1, tzinfo=dt.UTC)),
    ("2010-01-01T12:30", dt.datetime(2010, 1, 1, 12, 30, tzinfo=dt.UTC)),
    ("2010-01-01 12:30:05", dt.datetime(2010, 1, 1, 12, 30, 5, tzinfo=dt.UTC)),
    ("2010-01-01T12:30:05Z", dt.datetime(2010, 1, 1, 12, 30, 5, tzinfo=dt.UTC)),
    ("2010-01-01T12:30:05+02:00", dt.datetime(2010, 1, 1, 10, 30, 5, tzinfo=dt.UTC)),
    ("2010-01-01T12:30:05.250-0100", dt.datetime(2010, 1, 1, 13, 30, 5, 250000,
                                                 tzinfo=dt.UTC)),
])
def test_updated_after(text: str, expected: dt.datetime) -> None:
    assert parse_updated_after(text) == expected
    assert ExportOptions.parse({"updatedAfter": text}).updated_after == expected


@pytest.mark.parametrize("text", ["2010-01-01", "2010-01", "", "T12:00:00", "2010-02-30T00:00:00",
                                  "2010-01-01T25:00:00", "01/01/2010 10:00", "now"])
def test_updated_after_needs_day_and_time(text: str) -> None:
    with pytest.raises(BadOptionError) as info:
        ExportOptions.parse({"updatedAfter": text})
    assert str(info.value) == UPDATED_AFTER_MESSAGE
    assert info.value.exit_code == C.EXIT_BAD_OPTION


# -- ingest -------------------------------------------------------------------------------------
def test_ingest_defaults_by_mode() -> None:
    submit = IngestOptions.parse({}, restore=False, parent_given=True)
    assert submit.ignore_handle and submit.ignore_parent
    restore = IngestOptions.parse({}, restore=True, parent_given=False)
    assert not restore.ignore_handle and not restore.ignore_parent
    restore_under = IngestOptions.parse({}, restore=True, parent_given=True)
    assert not restore_under.ignore_handle and restore_under.ignore_parent
    for opts in (submit, restore):
        assert opts.create_metadata_fields and not opts.skip_if_parent_missing
        assert not opts.validate and not opts.manifest_only and opts.dmd is None


def test_ingest_options_override_defaults() -> None:
    opts = IngestOptions.parse({"ignoreHandle": "false", "ignoreParent": "false",
                                "createMetadataFields": "false", "skipIfParentMissing": "true",
                                "validate": "true", "manifestOnly": "true", "dmd": "mods"},
                               restore=False, parent_given=True)
    assert not opts.ignore_handle and not opts.ignore_parent
    assert not opts.create_metadata_fields and opts.skip_if_parent_missing
    assert opts.validate and opts.manifest_only and opts.dmd == "MODS"


def test_ingest_bad_values() -> None:
    with pytest.raises(BadOptionError, match="dmd"):
        IngestOptions.parse({"dmd": "MARC"}, restore=True, parent_given=False)
    with pytest.raises(BadOptionError, match="unknown ingest option 'ignorehandle'"):
        IngestOptions.parse({"ignorehandle": "true"}, restore=True, parent_given=False)
    with pytest.raises(BadOptionError, match="ignoreHandle"):
        IngestOptions.parse({"ignoreHandle": "sometimes"}, restore=True, parent_given=False)


# -- flags -> request (aip.packager.ingester.request_from_args; pure) ----------------------------
def _args(*flags: str, parent: list[str] | None = None, identifier: str | None = None
          ) -> argparse.Namespace:
    return argparse.Namespace(
        restore="-r" in flags, force_replace="-f" in flags, keep_existing="-k" in flags,
        all="-a" in flags, install="-w" in flags, no_user_interaction="-u" in flags,
        parent=parent or [], identifier=identifier, eperson="a@b.org",
        package=Path("x.zip"))


@pytest.mark.parametrize(("flags", "mode"), [
    (("-r",), "restore"), (("-r", "-k"), "keep-existing"), (("-r", "-f"), "replace"),
    (("-r", "-k", "-f"), "replace")])  # with both, -f wins (docs 5.1)
def test_modes(flags: tuple[str, ...], mode: str) -> None:
    from aip.packager.ingester import request_from_args

    request = request_from_args(_args(*flags), {}, AipConfig())
    assert request.mode.value == mode
    assert not request.options.ignore_handle


def test_submit_needs_a_parent_unless_ignore_parent_false() -> None:
    from aip.packager.ingester import request_from_args

    with pytest.raises(UsageError, match="-p"):
        request_from_args(_args(), {}, AipConfig())
    request = request_from_args(_args(), {"ignoreParent": "false"}, AipConfig())
    assert request.mode.value == "submit" and request.options.ignore_handle
    request = request_from_args(_args("-w", parent=["1/2", "1/3"]), {}, AipConfig())
    assert request.parent == "1/2" and request.skip_workflow  # only the first -p is used
    assert request.options.ignore_parent


def test_keep_and_force_need_restore() -> None:
    from aip.packager.ingester import request_from_args

    for flag in ("-k", "-f"):
        with pytest.raises(UsageError, match="-r"):
            request_from_args(_args(flag, parent=["1/2"]), {}, AipConfig())


def test_identifier_only_names_the_object_to_replace() -> None:
    from aip.packager.ingester import request_from_args

    with pytest.raises(UsageError, match="-r -f"):
        request_from_args(_args("-r", identifier="1/2"), {}, AipConfig())
    with pytest.raises(HandleFormatError):
        request_from_args(_args("-r", "-f", identifier="not a handle"), {}, AipConfig())
    with pytest.raises(HandleFormatError):
        request_from_args(_args(parent=["nohandle"]), {}, AipConfig())


# -- the replace confirmation (-u) --------------------------------------------------------------
class _Tty:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(("flags", "tty", "answer", "expected", "asked"), [
    (("-r", "-f"), True, "y", True, True),
    (("-r", "-f"), True, "YES", True, True),
    (("-r", "-f"), True, "", False, True),
    (("-r", "-f"), True, "n", False, True),
    (("-r", "-f", "-u"), True, "n", True, False),   # -u answers yes without asking
    (("-r", "-f"), False, "n", True, False),        # no terminal, no question
    (("-r",), True, "n", True, False),              # only replace asks
])
def test_confirm_replace(flags: tuple[str, ...], tty: bool, answer: str, expected: bool,
                         asked: bool) -> None:
    from aip.packager.ingester import confirm_replace, request_from_args

    questions: list[str] = []

    def ask(question: str) -> str:
        questions.append(question)
        return answer

    args = _args(*flags, identifier="1/2" if "-f" in flags else None)
    request = request_from_args(args, {}, AipConfig())
    assert confirm_replace(request, args, ask=ask, stdin=_Tty(tty)) is expected  # type: ignore[arg-type]
    assert bool(questions) is asked
    if asked:
        assert "1/2" in questions[0]
