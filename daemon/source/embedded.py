"""aipsync's own repository as the source: its packager run in-process.

Owns: ``EmbeddedSource``: exports with ``aip.packager.disseminator`` and ingests with
``aip.packager.ingester`` on the ``[repository]`` folder (or database URL), as the configured
e-person, with the ``[aip]`` tables and the extra ``-o`` options; answers which handles exist
and what a full export would write from the repository itself.

This module imports the packager and SQLAlchemy; ``daemon.source`` imports it only when the
configured repository is embedded (``open_source``), so a DSpace-backed daemon never pays for
them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from pathlib import Path

import structlog

from aip import constants as C
from aip.packager import ingester
from aip.packager.disseminator import ExportRequest, Progress, export, iter_plan
from aip.packager.modes import IngestMode
from aip.packager.options import ExportOptions, IngestOptions, parse_option_strings
from aip.repository import handles, objects
from aip.repository.store import Repository
from daemon.core import faultpoints
from daemon.core.config import Config
from daemon.core.errors import SourceError, StopRequestedError
from daemon.core.state import open_state
from daemon.core.stop import StopFlag
from daemon.source.base import (
    Existing,
    ExportOutcome,
    Extent,
    IngestOutcome,
    IngestSpec,
    explicit_packages,
    export_options,
    name_set,
    packages_in,
    site_package_name,
)

__all__ = ["EmbeddedSource"]

log = structlog.get_logger(__name__)


# --- the embedded repository ------------------------------------------------------------------
class EmbeddedSource:
    """aipsync's own repository, exported and ingested in-process."""

    def __init__(self, config: Config) -> None:
        repo = config.repository
        if repo.kind != "embedded":
            raise ValueError("EmbeddedSource needs repository.kind = \"embedded\"")
        self._config = config
        self._folder = repo.path
        self._db_url = repo.db_url
        self._assetstore = repo.assetstore
        self._eperson = repo.eperson
        self._site = repo.site_handle
        self._options = repo.dspace_options

    #: The packager's keep-existing skips an existing object's children, as DSpace's -k.
    keep_below_existing = False

    @property
    def name(self) -> str:
        return f"embedded repository {self._folder or '(database URL)'}"

    def _open(self) -> Repository:
        return Repository.open(self._folder, db_url=self._db_url, assetstore=self._assetstore)

    def describe(self) -> Mapping[str, str]:
        # Nothing to check at start-up: the packager is aipsync's own, of this version.
        return {"repository": self.name}

    def export(self, out_dir: Path, *, updated_after: datetime | None,
               stop: StopFlag | None = None, staged: Collection[str] = ()) -> ExportOutcome:
        del staged  # the packager's export of the site is the whole site, withdrawn items too
        options = ExportOptions.parse(parse_option_strings(
            export_options(self._options, updated_after)))
        request = ExportRequest(handle=self._site, eperson=self._eperson,
                                output=out_dir / site_package_name(self._site),
                                recursive=True, options=options,
                                config=self._config.aip.disseminate)

        def check_stop(_: Progress) -> None:
            # The packager reports after each package: the safe point to abandon the export.
            faultpoints.checkpoint("export.package")
            if stop is not None and stop.is_set():
                raise StopRequestedError(what="the export finished")

        watched = stop is not None or faultpoints.armed("export.package")
        repo = self._open()
        try:
            # Read before the export: a change committed while it runs moves the counter on,
            # so the next export looks again (never the other way round).
            generation = f"{repo.location or self.name}|{repo.generation()}"
            if updated_after is not None and generation == self._exported_generation():
                log.info("source.export.unchanged", generation=generation,
                         detail="nothing in the repository changed since the last export")
                return ExportOutcome(written=(), full=False)
            result = export(repo, request, progress=check_stop if watched else None)
        finally:
            repo.close()
        self._remember_generation(generation)
        written = packages_in(out_dir)
        if len(written) != result.written:
            raise SourceError(source=self.name,
                              detail=f"the packager wrote {result.written} package(s) but "
                                     f"{out_dir} holds {len(written)}")
        full = updated_after is None
        expected = name_set(written) if full and not result.skipped else None
        if full and result.skipped:
            log.warning("source.export.incomplete", skipped=len(result.skipped),
                        detail="objects skipped as unauthorised: no staged AIP is removed")
        return ExportOutcome(written=written, full=full, unchanged=result.unchanged,
                             expected=expected, bytes=result.bytes_out, seconds=result.seconds)

    def _exported_generation(self) -> str | None:
        with open_state(self._config.state.dir) as state:
            return state.export_token

    def _remember_generation(self, generation: str) -> None:
        """The repository's change counter as the last export saw it: staging holds what it
        held then, so an incremental export with the counter unchanged has nothing to do.
        (The backup cycle forgets it if the export does not reach staging.)"""
        with open_state(self._config.state.dir) as state:
            state.set_export_token(generation)

    def ingest(self, spec: IngestSpec, *, stop: StopFlag | None = None) -> IngestOutcome:
        mode = spec.mode
        opts = IngestOptions.parse(parse_option_strings(spec.options),
                                   restore=mode != IngestMode.SUBMIT,
                                   parent_given=spec.parent is not None)
        request = ingester.IngestRequest(
            package=spec.package, eperson=self._eperson, mode=mode, options=opts,
            recursive=spec.recursive, parent=spec.parent, identifier=spec.identifier,
            config=self._config.aip.ingest)
        extra, note = explicit_packages(spec)
        repo = self._open()
        faultpoints.watch_inserts(repo.engine, "restore.ingest")
        try:
            report = ingester.ingest(repo, request)
            # Items the tree's manifests do not point at: each its own run (and transaction),
            # after the tree that holds their collection.
            code = report.exit_code
            for node in extra:
                more = ingester.ingest(repo, dataclasses.replace(
                    request, package=spec.package.parent / node.key, recursive=False,
                    parent=None, identifier=None))
                report.extend(more)
                code = max(code, more.exit_code)
        finally:
            repo.close()
        warnings = [str(w) for w in report.warnings] + ([note] if note else [])
        return IngestOutcome(max(code, C.EXIT_WARNING if note else C.EXIT_OK),
                             objects=report.outcomes, warnings=tuple(warnings))

    def preflight(self) -> None:
        self._open().close()

    def existing(self, handles_: Sequence[str], *, owners: bool = False) -> Existing:
        repo = self._open()
        try:
            with repo.transaction(write=False) as tx:
                live = handles.resolve_many(tx, handles_)
                owning: dict[str, str | None] = {}
                for handle, (obj_type, obj_id) in live.items():
                    if owners and obj_type == C.TYPE_ITEM:
                        owner = objects.item_row(tx, obj_id).owning_collection_id
                        owning[handle] = (handles.handle_of(tx, C.TYPE_COLLECTION, owner)
                                          if owner is not None else None)
        finally:
            repo.close()
        return Existing({h: h in live for h in handles_}, owning)

    def expected_packages(self) -> Extent:
        # The packager's own export plan of the site: no package is built.
        repo = self._open()
        try:
            with repo.transaction(write=False) as tx:
                request = ExportRequest(handle=self._site, eperson=self._eperson,
                                        output=Path("/") / site_package_name(self._site),
                                        recursive=True)
                # Streamed into a temp database past a few thousand, which gives them back
                # in order for the audit's merge with the inventory.
                names = name_set(p.path.name for p in iter_plan(tx, request))
        finally:
            repo.close()
        return Extent(names, "the embedded repository's export plan")
