"""The bad-AIP corpus (docs/style.md P2): every file in ``bad-aips/`` is refused with the error
its name gives, in every ingest mode where it means something, and the repository is left
byte-identical.

For each file and mode (``-r``; ``-r -a``; ``-s -p PARENT``; ``-r -o validate=true``; the loops
with ``-a`` only) the CLI is run in-process against a fresh copy of a seeded repository, and:

* the exception that reached ``aip.cli`` is of the class the code in the file name names
  (``AIP-E021`` ``ZipFormatError``...), or, for a Problem code (``AIP-E040``..``AIP-E048``), a
  ``PackageValidationError`` that lists that code;
* the exit code is the one the exit-code table gives that error (``aip.constants``);
* stderr is one printable ``aipsync: error:`` line naming the package file, stdout is empty;
* ``helpers.snapshot`` (the canonical dump and every assetstore file, temp files included) and
  the repository folder's listing are as before, and nothing appeared beside the package.

``good-aips/`` holds the exports the corpus was made from: they restore, which shows that the
seeded repository fits the corpus (a refused bad AIP is refused for its own fault).  A file
added to ``bad-aips/`` without an expectation here fails ``test_every_file_has_an_expectation``;
``make_bad_aips.py`` must rebuild the committed bytes (``test_generator_...``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import make_bad_aips as gen
import pytest
from helpers import ADMIN, CliResult, RepoLocation, Snapshot, assert_one_line_error, snapshot
from helpers.packager import packager

from aip import constants as C
from aip.errors import (
    AipError,
    ChecksumMismatchError,
    ChildPointerError,
    CrosswalkError,
    DuplicateEntryError,
    HandleFormatError,
    ManifestMissingError,
    ManifestParseError,
    MetadataRegistryError,
    MissingFileError,
    PackageError,
    PackageValidationError,
    ProfileError,
    UnsafePathError,
    ZipBombError,
    ZipFormatError,
)
from aip.packager import ingester

HERE = Path(__file__).resolve().parent
#: Where the zip-slip entries of the corpus aim (``../../../../tmp/aipsync-evil.txt``...).
ESCAPED = Path("/tmp/aipsync-evil.txt")
NAME_RE = re.compile(r"^(?P<code>AIP-E\d{3})-[a-z0-9]+(-[a-z0-9]+)*\.zip$")

#: Error classes by their code, and the exit code the table gives each (aip.constants).
CLASSES: dict[str, tuple[type[AipError], int]] = {
    "AIP-E021": (ZipFormatError, C.EXIT_ZIP_FORMAT),
    "AIP-E022": (UnsafePathError, C.EXIT_UNSAFE_PATH),
    "AIP-E023": (ZipBombError, C.EXIT_ZIP_BOMB),
    "AIP-E024": (ManifestMissingError, C.EXIT_MANIFEST_MISSING),
    "AIP-E025": (ManifestParseError, C.EXIT_MANIFEST_PARSE),
    "AIP-E026": (ProfileError, C.EXIT_PROFILE),
    "AIP-E027": (PackageValidationError, C.EXIT_PACKAGE_INVALID),
    "AIP-E028": (MissingFileError, C.EXIT_MISSING_FILE),
    "AIP-E029": (ChildPointerError, C.EXIT_CHILD_POINTER),
    "AIP-E030": (HandleFormatError, C.EXIT_HANDLE_FORMAT),
    "AIP-E031": (CrosswalkError, C.EXIT_CROSSWALK),
    "AIP-E032": (MetadataRegistryError, C.EXIT_METADATA_REGISTRY),
    "AIP-E034": (DuplicateEntryError, C.EXIT_DUPLICATE_ENTRY),
    "AIP-E080": (ChecksumMismatchError, C.EXIT_CHECKSUM),
}
#: Problem codes: raised inside one PackageValidationError (aip/mets/*.py docstrings).
PROBLEMS = {"AIP-E040", "AIP-E041", "AIP-E042", "AIP-E043", "AIP-E044", "AIP-E045", "AIP-E046",
            "AIP-E047", "AIP-E048"}

# -- modes ---------------------------------------------------------------------------------------
RESTORE, RESTORE_ALL, SUBMIT, VALIDATE, SUBMIT_ALL = (
    "restore", "restore-all", "submit", "validate", "submit-all")
ALL_MODES = (RESTORE, RESTORE_ALL, SUBMIT, VALIDATE)


def flags(mode: str, parent: str) -> list[str]:
    return {RESTORE: ["-r"], RESTORE_ALL: ["-r", "-a"], SUBMIT: ["-s", "-p", parent],
            VALIDATE: ["-r", "-o", "validate=true"],
            SUBMIT_ALL: ["-s", "-a", "-p", parent]}[mode]


@dataclass(frozen=True)
class Expect:
    """What one corpus file must do besides what its name says.

    ``fragment``: text the error line must hold (why it was refused).  ``modes``: where the
    file is bad (default: all four).  ``parent``: the ``-p`` of submit mode.  ``validate``:
    the Problem code ``-o validate=true`` reports instead, when the METS schema speaks first.
    """

    fragment: str
    modes: tuple[str, ...] = ALL_MODES
    parent: str = gen.ITEM_PARENT
    validate: str | None = None


CONTAINER = gen.CONTAINER_PARENT
EXPECTATIONS: dict[str, Expect] = {
    # not a readable zip
    "AIP-E021-truncated.zip": Expect("File is not a zip file"),
    "AIP-E021-not-a-zip.zip": Expect("File is not a zip file"),
    "AIP-E021-empty-file.zip": Expect("File is not a zip file"),
    "AIP-E021-bad-crc.zip": Expect("Bad CRC-32"),
    "AIP-E021-corrupt-deflate-stream.zip": Expect("while decompressing"),
    "AIP-E021-entry-longer-than-declared.zip": Expect("Bad CRC-32"),
    "AIP-E021-entry-shorter-than-declared.zip": Expect("its header declares"),
    "AIP-E021-compressed-size-beyond-archive.zip": Expect("more than there is room for"),
    "AIP-E021-local-header-name-differs.zip": Expect("its local header names"),
    "AIP-E021-encrypted-entry.zip": Expect("is encrypted"),
    "AIP-E021-strong-encryption-flag.zip": Expect("strong encryption"),
    "AIP-E021-patched-data-flag.zip": Expect("patched data"),
    "AIP-E021-unsupported-compression.zip": Expect("compression method 12"),
    "AIP-E021-unsupported-zip-version.zip": Expect("zip file version 9.0"),
    # names
    "AIP-E022-zip-slip-dotdot.zip": Expect("'..' in path"),
    "AIP-E022-zip-slip-inner-dotdot.zip": Expect("'..' in path"),
    "AIP-E022-absolute-path.zip": Expect("absolute path"),
    "AIP-E022-drive-letter.zip": Expect("drive letter"),
    "AIP-E022-backslash-dotdot.zip": Expect("backslash"),
    "AIP-E022-symlink.zip": Expect("symbolic link"),
    "AIP-E022-symlink-as-bitstream.zip": Expect("symbolic link"),
    "AIP-E022-non-utf8-name.zip": Expect("not UTF-8"),
    "AIP-E022-invalid-utf8-flagged-name.zip": Expect("flagged UTF-8 but is not"),
    "AIP-E022-control-character-name.zip": Expect("control character"),
    "AIP-E022-nul-in-name.zip": Expect("NUL"),
    # bombs
    "AIP-E023-bomb-ratio.zip": Expect("'bomb.bin' expands"),
    "AIP-E023-bomb-ratio-as-bitstream.zip": Expect("ratio limit"),
    "AIP-E023-bomb-total-size.zip": Expect("bytes uncompressed"),
    "AIP-E023-overlapping-entries.zip": Expect("overlapping entries"),
    "AIP-E023-manifest-too-large.zip": Expect("mets.xml is 269484032 bytes"),
    # no manifest
    "AIP-E024-missing-mets.zip": Expect("No METS Manifest found"),
    "AIP-E024-nested-zip.zip": Expect("No METS Manifest found"),
    "AIP-E024-mets-in-subfolder.zip": Expect("No METS Manifest found"),
    "AIP-E024-empty-zip.zip": Expect("No METS Manifest found"),
    # hostile XML
    "AIP-E025-billion-laughs.zip": Expect("DOCTYPE"),
    "AIP-E025-xxe-external-entity.zip": Expect("DOCTYPE"),
    "AIP-E025-xxe-network-entity.zip": Expect("DOCTYPE"),
    "AIP-E025-xxe-parameter-entity.zip": Expect("'http://192.0.2.1/evil.dtd' refused"),
    "AIP-E025-doctype.zip": Expect("DOCTYPE"),
    "AIP-E025-external-dtd.zip": Expect("'http://192.0.2.1/mets.dtd' refused"),
    "AIP-E025-undeclared-entity.zip": Expect("Entity 'secret' not defined"),
    "AIP-E025-huge-attribute.zip": Expect("attribute 'LABEL'"),
    "AIP-E025-wrong-namespace.zip": Expect("wrong namespace"),
    "AIP-E025-not-mets-root.zip": Expect("root element is 'rss'"),
    "AIP-E025-not-well-formed.zip": Expect("cannot parse METS manifest"),
    "AIP-E025-deep-nesting.zip": Expect("Excessive depth"),
    "AIP-E025-invalid-utf8.zip": Expect("encoding"),
    # profile
    "AIP-E026-wrong-profile.zip": Expect("unacceptable PROFILE"),
    "AIP-E026-no-profile.zip": Expect("no PROFILE attribute"),
    # METS structure (PackageValidationError, by Problem code)
    "AIP-E040-duplicate-id.zip": Expect("duplicate ID 'struct_11'", validate="AIP-E044"),
    "AIP-E041-idref-dangling.zip": Expect("amd_does_not_exist"),
    "AIP-E041-fptr-dangling.zip": Expect("no_such_file"),
    "AIP-E042-idref-wrong-kind.zip": Expect("points to a amdSec"),
    "AIP-E043-mdsec-without-content.zip": Expect("neither mdRef nor mdWrap"),
    "AIP-E043-file-without-flocat.zip": Expect("no FLocat"),
    "AIP-E044-schema-violation.zip": Expect("bogus", modes=(VALIDATE,)),
    "AIP-E045-size-not-a-number.zip": Expect("SIZE", validate="AIP-E044"),
    "AIP-E045-lastmoddate-not-a-date.zip": Expect("LASTMODDATE", validate="AIP-E044"),
    "AIP-E046-premis-md5-disagrees.zip": Expect("does not match value in PREMIS"),
    "AIP-E047-wrong-mets-type.zip": Expect("not a DSpace object type"),
    "AIP-E048-flocat-dotdot.zip": Expect("not a plain name"),
    "AIP-E048-flocat-absolute.zip": Expect("not a plain name"),
    "AIP-E048-child-pointer-dotdot.zip": Expect("child pointer", parent=CONTAINER),
    "AIP-E048-child-pointer-url.zip": Expect("child pointer", parent=CONTAINER),
    # files, pointers, handles
    "AIP-E028-filesec-names-absent-file.zip": Expect("'bitstream_1.pdf', which is not in"),
    "AIP-E029-child-pointer-to-itself.zip": Expect("makes a loop", parent=CONTAINER),
    "AIP-E029-child-pointer-loop-a.zip": Expect("makes a loop", parent=CONTAINER,
                                                modes=(RESTORE_ALL, SUBMIT_ALL)),
    "AIP-E029-child-pointer-loop-b.zip": Expect("makes a loop", parent=CONTAINER,
                                                modes=(RESTORE_ALL, SUBMIT_ALL)),
    "AIP-E030-handle-wrong-format.zip": Expect("'../../etc/passwd'"),
    "AIP-E030-parent-handle-wrong-format.zip": Expect("'not a handle'"),
    "AIP-E030-child-handle-wrong-format.zip": Expect("'x/../../y'", parent=CONTAINER),
    # crosswalks and registry
    "AIP-E031-unknown-mdtype.zip": Expect("MDTYPE=EVIL-RIGHTS"),
    "AIP-E032-unknown-metadata-schema.zip": Expect("(nosuchschema)"),
    # duplicates, checksums
    "AIP-E034-duplicate-entries.zip": Expect("'bitstream_1.pdf'"),
    "AIP-E034-duplicate-mets.zip": Expect("'mets.xml'"),
    "AIP-E080-checksum-mismatch.zip": Expect("MD5 mismatch"),
    "AIP-E080-size-mismatch.zip": Expect("size mismatch"),
    "AIP-E080-zip-size-disagrees-with-manifest.zip": Expect("size mismatch (expected 1057, "
                                                            "found 2114)"),
}


#: Refused by the zip reader, which ``-o validate=true`` runs the same way first: that mode
#: would only repeat the ``-r`` run.
ZIP_LEVEL = {"AIP-E021", "AIP-E022", "AIP-E023", "AIP-E024", "AIP-E034"}


def _cases() -> Iterator[object]:
    for name, expect in EXPECTATIONS.items():
        for mode in expect.modes:
            if mode == VALIDATE and name[:8] in ZIP_LEVEL and expect.modes == ALL_MODES:
                continue
            yield pytest.param(name, mode, id=f"{name[:-4]}-{mode}")


def expected_code(name: str, mode: str) -> str:
    match = NAME_RE.match(name)
    assert match, name
    code = match.group("code")
    if mode == VALIDATE and EXPECTATIONS[name].validate:
        return EXPECTATIONS[name].validate or code
    return code


def class_for(code: str) -> tuple[type[AipError], int]:
    return CLASSES["AIP-E027"] if code in PROBLEMS else CLASSES[code]


def listing(folder: Path) -> set[str]:
    """Every file under ``folder`` (directories left empty by a rollback are not counted)."""
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir()}


@pytest.fixture
def caught(monkeypatch: pytest.MonkeyPatch) -> list[BaseException]:
    """Every exception ``ingester.ingest`` raised to the CLI during the test."""
    seen: list[BaseException] = []
    real = ingester.ingest

    def spy(*args: object, **kwargs: object) -> object:
        try:
            return real(*args, **kwargs)  # type: ignore[arg-type]
        except BaseException as exc:
            seen.append(exc)
            raise

    monkeypatch.setattr(ingester, "ingest", spy)
    return seen


def refuse(location: RepoLocation, package: Path, mode: str, parent: str, code: int
           ) -> CliResult:
    return packager(location, *flags(mode, parent), "-t", "AIP", "-e", ADMIN, "-u",
                    str(package), expect=code)


# =============================================================================================
# Every file, every mode
# =============================================================================================
@pytest.mark.parametrize(("name", "mode"), list(_cases()))
def test_bad_aip_is_refused_and_nothing_changes(
        name: str, mode: str, seeded: RepoLocation, baseline: Snapshot, corpus: Path,
        caught: list[BaseException]) -> None:
    expect = EXPECTATIONS[name]
    code = expected_code(name, mode)
    cls, exit_code = class_for(code)
    package = corpus / "bad-aips" / name
    folder_before = listing(package.parent)
    repo_before = listing(seeded.folder)

    result = refuse(seeded, package, mode, expect.parent, exit_code)

    # the error: its class and code, its exit code, one printable line naming the file
    [exc] = caught
    assert type(exc) is cls or (cls is MetadataRegistryError and isinstance(exc, cls)), exc
    assert isinstance(exc, PackageError | ChecksumMismatchError)
    assert exc.exit_code == exit_code
    if code in PROBLEMS:
        assert isinstance(exc, PackageValidationError)
        assert code in {p.code for p in exc.problems}, exc.problems
    else:
        assert type(exc).code == code
    fragment = code if mode == VALIDATE and expect.validate else expect.fragment
    line = assert_one_line_error(result, exit_code, name, fragment)
    assert line.isprintable(), line
    # nothing changed, nothing left over, nothing written beside the package
    assert snapshot(seeded) == baseline
    assert listing(seeded.folder) == repo_before
    assert listing(package.parent) == folder_before
    assert not ESCAPED.exists(), f"{ESCAPED} was written"


# =============================================================================================
# The corpus itself
# =============================================================================================
def test_every_file_has_an_expectation() -> None:
    """A file added to bad-aips/ without a line in EXPECTATIONS (or the reverse) fails here."""
    files = {p.name for p in (HERE / "bad-aips").iterdir()}
    assert files == set(EXPECTATIONS), (
        f"no expectation for {sorted(files - set(EXPECTATIONS))}; "
        f"no file for {sorted(set(EXPECTATIONS) - files)}")
    assert set(gen.CASES) == files, "make_bad_aips.CASES and bad-aips/ disagree"
    for name in files:
        match = NAME_RE.match(name)
        assert match, f"{name}: not <AIP-Ennn>-<what>.zip"
        code = match.group("code")
        assert code in CLASSES or code in PROBLEMS, f"{name}: unknown code {code}"
        if code in CLASSES:
            cls, exit_code = CLASSES[code]
            assert cls.code == code and cls.exit_code == exit_code


def test_every_package_error_code_is_in_the_corpus() -> None:
    """Each refusal aipsync can give a package from outside has at least one file."""
    codes = {m.group("code") for n in EXPECTATIONS if (m := NAME_RE.match(n))}
    missing = (set(CLASSES) - {"AIP-E027"}) - codes
    assert not missing, f"no corpus file produces {sorted(missing)}"


def test_every_file_is_listed_in_the_readme() -> None:
    readme = (HERE / "README.md").read_text(encoding="utf-8")
    unlisted = [n for n in EXPECTATIONS if f"`{n}`" not in readme]
    assert not unlisted, f"README.md does not list {unlisted}"


def test_the_corpus_is_small() -> None:
    sizes = {p.name: p.stat().st_size for p in (HERE / "bad-aips").iterdir()}
    assert max(sizes.values()) < 64 * 1024, sizes
    assert sum(sizes.values()) < 1024 * 1024


def test_generator_rebuilds_the_committed_corpus() -> None:
    """``make_bad_aips.py`` gives the committed bytes (if this fails after a deliberate format
    change, run it and commit the result; a different zlib can also change deflate output)."""
    bad, good = gen.generate()
    for folder, files in ((HERE / "bad-aips", bad), (HERE / "good-aips", good)):
        committed = {p.name: p.read_bytes() for p in folder.iterdir()}
        assert set(committed) == set(files)
        changed = [n for n in files if files[n] != committed[n]]
        assert not changed, f"{folder.name}: regenerated bytes differ for {changed}"


# =============================================================================================
# The controls: what the corpus was made from restores
# =============================================================================================
def _children(package: Path) -> list[str]:
    from helpers.packager import child_hrefs, manifest_of

    return child_hrefs(manifest_of(package))


def _good() -> dict[str, tuple[int, str]]:
    """Top packages of good-aips/ (no other one points at them): name -> (objects restored
    with ``-a``, the parent for ``-s``)."""
    folder = HERE / "good-aips"
    pointed = {c for p in folder.iterdir() for c in _children(p)}

    def count(name: str) -> int:
        return 1 + sum(count(c) for c in _children(folder / name))

    return {p.name: (count(p.name), gen.ITEM_PARENT if p.name.startswith("ITEM@")
                     else gen.CONTAINER_PARENT)
            for p in sorted(folder.iterdir()) if p.name not in pointed}


GOOD = _good()


@pytest.mark.parametrize("mode", [RESTORE_ALL, SUBMIT_ALL, VALIDATE])
@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_aip_restores(name: str, mode: str, seeded: RepoLocation, baseline: Snapshot,
                           corpus: Path) -> None:
    objects, parent = GOOD[name]
    result = packager(seeded, *flags(mode, parent), "-t", "AIP", "-e", ADMIN, "-u",
                      str(corpus / "good-aips" / name), expect=C.EXIT_OK)
    if mode == VALIDATE:
        objects = 1  # no -a: the top package only
    if mode == SUBMIT_ALL:
        assert f"{objects} submitted" in result.last or "workflow" in result.out, result.out
    else:
        assert f"{objects} restored" in result.last, result.out
    assert snapshot(seeded) != baseline


def test_the_controls_cover_every_kind_of_corpus_base() -> None:
    kinds = {name.partition("@")[0] for name in GOOD}
    assert kinds == {"ITEM", "COLLECTION", "COMMUNITY"}, GOOD
    assert any(objects == 3 for objects, _ in GOOD.values())  # community > community > coll.


def test_a_zip_inside_a_package_is_a_bitstream(seeded: RepoLocation, corpus: Path) -> None:
    """A zip-in-zip in a valid package (here a zip holding a 1000:1 bomb and a ``../`` name)
    is stored byte for byte and never opened: aipsync reads one zip level."""
    inner = gen.inner_hostile_zip()
    [name] = [p.name for p in (corpus / "good-aips").iterdir()
              if p.name.startswith("ITEM@") and inner in _bitstreams(p)]
    packager(seeded, "-r", "-t", "AIP", "-e", ADMIN, "-u",
             str(corpus / "good-aips" / name), expect=C.EXIT_OK)
    stored = {p.read_bytes() for p in seeded.assetstore.rglob("*") if p.is_file()
              and p.stat().st_size == len(inner)}
    assert inner in stored
    assert max(p.stat().st_size for p in seeded.assetstore.rglob("*") if p.is_file()) \
        < 1024 * 1024
    assert not list(seeded.folder.rglob("evil.txt"))


def _bitstreams(package: Path) -> list[bytes]:
    import zipfile

    with zipfile.ZipFile(package) as zf:
        return [zf.read(n) for n in zf.namelist() if n.startswith("bitstream_")]


def test_the_schema_violation_is_accepted_without_validate(seeded: RepoLocation,
                                                           corpus: Path) -> None:
    """DSpace's default (``validate=false`` on ingest): an element METS does not define is
    ignored; ``-o validate=true`` refuses it (the corpus test above)."""
    packager(seeded, "-r", "-t", "AIP", "-e", ADMIN, "-u",
             str(corpus / "bad-aips" / "AIP-E044-schema-violation.zip"), expect=C.EXIT_OK)


@pytest.mark.parametrize("name", ["AIP-E029-child-pointer-loop-a.zip",
                                  "AIP-E029-child-pointer-loop-b.zip"])
def test_a_loop_is_only_a_loop_when_followed(name: str, seeded: RepoLocation,
                                             corpus: Path) -> None:
    """Without ``-a`` the children are not visited: each half of the loop restores alone."""
    result = packager(seeded, "-r", "-t", "AIP", "-e", ADMIN, "-u",
                      str(corpus / "bad-aips" / name), expect=C.EXIT_OK)
    assert "1 restored" in result.last


# =============================================================================================
# Manifest-only packages (-o manifestOnly=true): the bare METS files of the XML cases
# =============================================================================================
XML_CASES = sorted(n for n in EXPECTATIONS if n.startswith("AIP-E025-")
                   and n != "AIP-E025-not-well-formed.zip")


@pytest.mark.parametrize("name", XML_CASES)
def test_bad_bare_manifest_is_refused(name: str, seeded: RepoLocation, baseline: Snapshot,
                                      corpus: Path, tmp_path: Path) -> None:
    """The manifest of each hostile-XML package, given alone as a manifest-only package."""
    import zipfile

    with zipfile.ZipFile(corpus / "bad-aips" / name) as zf:
        bare = tmp_path / f"{name[:-4]}.xml"
        bare.write_bytes(zf.read(C.MANIFEST_NAME))
    result = packager(seeded, "-r", "-o", "manifestOnly=true", "-t", "AIP", "-e", ADMIN, "-u",
                      str(bare), expect=C.EXIT_MANIFEST_PARSE)
    assert_one_line_error(result, C.EXIT_MANIFEST_PARSE, bare.name,
                          EXPECTATIONS[name].fragment)
    assert snapshot(seeded) == baseline


def test_a_huge_bare_manifest_is_not_read_whole(seeded: RepoLocation, baseline: Snapshot,
                                                tmp_path: Path) -> None:
    """A 1 GiB (sparse) METS file: at most the manifest limit plus one byte is read."""
    huge = tmp_path / "huge.xml"
    with huge.open("wb") as out:
        out.truncate(1024**3)
    result = packager(seeded, "-r", "-o", "manifestOnly=true", "-t", "AIP", "-e", ADMIN, "-u",
                      str(huge), expect=C.EXIT_MANIFEST_PARSE)
    assert_one_line_error(result, C.EXIT_MANIFEST_PARSE, huge.name,
                          f"manifest is more than the limit of {C.MAX_MANIFEST_BYTES} bytes")
    assert snapshot(seeded) == baseline
