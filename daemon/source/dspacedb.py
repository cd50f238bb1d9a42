"""DSpace's own database, read-only: where its withdrawn items and its list of objects are.

Owns: finding the connection (``find_database``: ``repository.dspace_db_url`` when set, else
DSpace's ``db.url``, ``db.username``, ``db.password`` and ``db.schema`` from
``[dspace]/config/local.cfg`` over ``dspace.cfg``, read as DSpace reads them: local.cfg wins
key by key from 6.x on (5.x has only dspace.cfg), ``${key}`` references expanded), turning a
PostgreSQL JDBC URL into libpq's keywords (``jdbc_to_libpq``), and ``DSpaceDatabase``: the few
read-only queries the driver needs, per generation (5.x keys objects by integer ids, 6.x and
later by UUIDs; the tables and columns are those of DSpace's Flyway migrations, listed in
``tests/fixtures/dspace-standin/README.md``):

- ``withdrawn(after)``: the handles of withdrawn items (``item.withdrawn``), optionally only
  those modified after a time (``item.last_modified``);
- ``objects()``: the handles of every community, collection and archived or withdrawn item
  (what a complete backup holds, besides the SITE);
- ``existing(handles)``: which handles are bound to a live object, and each item's owning
  collection.  A deleted object's handle row stays in DSpace with ``resource_id`` NULL, so
  existence is a join on the object's own table, never the handle row alone.

Every query runs in a read-only transaction (``default_transaction_read_only``) with a
statement timeout, on a connection opened for the call and closed after it.  psycopg is an
optional dependency (the ``postgres`` extra); without it the database is reported as
unavailable, with the reason.

Must not: write to DSpace's database, log or put into a message the password (``display``
is the URL without it), or hold a connection open between calls.
"""

from __future__ import annotations

import itertools
import re
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from aip import constants as C
from aip.model import package_file_name
from aip.spill import SpillMap
from daemon.core.errors import SourceError
from daemon.source.base import name_set

__all__ = [
    "DSpaceDatabase",
    "DatabaseSettings",
    "NoDatabase",
    "find_database",
    "jdbc_to_libpq",
    "read_properties",
]

log = structlog.get_logger(__name__)

#: Seconds to wait for DSpace's database to answer a connection.
CONNECT_TIMEOUT = 10
#: Milliseconds one query may run (the object list of a large site takes seconds).
STATEMENT_TIMEOUT_MS = 600_000
#: Rows a server-side cursor fetches at a time.
_STREAM_ROWS = 10_000
#: DSpace's ``Constants`` type ids (identical in every generation).
_TYPE_IDS = {C.TYPE_ITEM: 2, C.TYPE_COLLECTION: 3, C.TYPE_COMMUNITY: 4, C.TYPE_SITE: 5}
_TYPE_OF_ID = {v: k for k, v in _TYPE_IDS.items()}
_REFERENCE = re.compile(r"\$\{([^}:]+)\}")
#: pgJDBC connection parameters with a libpq equivalent; every other one is ignored.
_JDBC_PARAMS = {"user": "user", "password": "password", "sslmode": "sslmode",
                "ApplicationName": "application_name", "connectTimeout": "connect_timeout",
                "sslrootcert": "sslrootcert", "sslcert": "sslcert", "sslkey": "sslkey"}


# --- DSpace's configuration files -------------------------------------------------------------
def read_properties(text: str) -> dict[str, str]:
    """A DSpace ``.cfg`` file's keys and values.  Pure.

    What commons-configuration's properties format does with the keys DSpace's ``db.*``
    settings use: ``key = value``, ``key: value`` or ``key value``; ``#`` and ``!`` start a
    comment line; a line ending in an odd number of backslashes continues on the next; the
    first definition of a key wins (DSpace's ``getProperty`` of a repeated key returns a
    list whose first element ``getString`` answers).
    """
    values: dict[str, str] = {}
    pending = ""
    for raw in text.splitlines():
        line = raw.lstrip() if pending else raw.strip()
        if not pending and (not line or line[0] in "#!"):
            continue
        line = line.rstrip()
        if (len(line) - len(line.rstrip("\\"))) % 2 == 1:
            pending += line[:-1]
            continue
        line, pending = pending + line, ""
        match = re.match(r"^((?:\\.|[^=:\s])+)\s*[=:\s]\s*(.*)$", line)
        key, value = (match.group(1), match.group(2)) if match else (line, "")
        values.setdefault(key.replace("\\", ""), value.strip())
    if pending:
        values.setdefault(pending, "")
    return values


def _expand(values: Mapping[str, str], value: str) -> str:
    """``${key}`` references replaced by those keys' values (ten levels deep at most);
    ``${env:...}``/``${sys:...}`` and unknown keys stay as written."""
    for _ in range(10):
        expanded = _REFERENCE.sub(lambda m: values.get(m.group(1), m.group(0)), value)
        if expanded == value:
            break
        value = expanded
    return value


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """How to reach DSpace's database: libpq keywords (the password among them, never shown)
    and where they came from."""

    params: Mapping[str, str] = field(repr=False)
    origin: str
    schema: str | None = None

    @property
    def display(self) -> str:
        """``postgresql://user@host:port/database``, no password."""
        user = self.params.get("user", "")
        host = self.params.get("host", "localhost")
        port = self.params.get("port", "5432")
        hosts = ",".join(f"{h}:{p}" for h, p in zip(host.split(","), port.split(","),
                                                        strict=False))
        return f"postgresql://{user + '@' if user else ''}{hosts}/{self.params.get('dbname', '')}"


@dataclass(frozen=True, slots=True)
class NoDatabase:
    """Why DSpace's database cannot be read (a sentence for logs, ``status`` and ``verify``)."""

    reason: str


def jdbc_to_libpq(url: str) -> dict[str, str]:
    """libpq keywords for a PostgreSQL JDBC URL (pgJDBC's forms).  Pure.

    ``jdbc:postgresql:DB``, ``jdbc:postgresql:/``, ``jdbc:postgresql://HOST[:PORT][,HOST2[:PORT2]]
    /[DB][?k=v&...]`` (IPv6 hosts in brackets); ``user``, ``password``, ``sslmode``,
    ``ApplicationName``, ``connectTimeout`` and the SSL file parameters carry over, ``ssl=true``
    without ``sslmode`` is ``verify-full`` (pgJDBC's default for it), ``currentSchema`` sets
    the search path; other parameters are ignored.

    Raises:
        ValueError: not a ``jdbc:postgresql:`` URL.
    """
    prefix = "jdbc:postgresql:"
    if not url.startswith(prefix):
        raise ValueError("not a PostgreSQL JDBC URL (jdbc:postgresql:...)")
    rest = url[len(prefix):]
    rest, _, query = rest.partition("?")
    out: dict[str, str] = {}
    if rest.startswith("//"):
        netloc, _, database = rest[2:].partition("/")
        hosts, ports = [], []
        for part in filter(None, netloc.split(",")):
            if part.startswith("["):
                host, _, tail = part[1:].partition("]")
                port = tail.removeprefix(":")
            else:
                host, _, port = part.partition(":")
            if port and not port.isdigit():
                raise ValueError(f"bad port {port!r}")
            hosts.append(host or "localhost")
            ports.append(port or "5432")
        out["host"] = ",".join(hosts) or "localhost"
        out["port"] = ",".join(ports) or "5432"
    else:
        database = rest.lstrip("/")
        out.update(host="localhost", port="5432")
    if database:
        out["dbname"] = urllib.parse.unquote(database)
    params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    for name, value in params.items():
        if name in _JDBC_PARAMS:
            out[_JDBC_PARAMS[name]] = value
    if params.get("ssl", "").lower() == "true" and "sslmode" not in out:
        out["sslmode"] = "verify-full"
    if params.get("currentSchema"):
        out["options"] = f"-c search_path={params['currentSchema']}"
    return out


def dspace_home(dspace_bin: Path) -> Path:
    """``[dspace]``: the folder above the launcher's ``bin/`` (symbolic links followed)."""
    return dspace_bin.resolve().parent.parent


def _read_cfg(path: Path) -> tuple[dict[str, str] | None, str | None]:
    """(the file's keys, or None when absent; a reason when it exists but cannot be read)."""
    try:
        return read_properties(path.read_text(encoding="utf-8", errors="replace")), None
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"{path} cannot be read ({exc.strerror or exc})"


def find_database(dspace_bin: Path, dspace_db_url: str | None, *, local_cfg: bool
                  ) -> DatabaseSettings | NoDatabase:
    """Where DSpace's database is, or why it cannot be known.

    Args:
        dspace_bin: the launcher (``[dspace]/bin/dspace``).
        dspace_db_url: ``repository.dspace_db_url`` (a libpq URL): used when set.
        local_cfg: read ``config/local.cfg`` over ``dspace.cfg`` (6.x and later).
    """
    if dspace_db_url:
        parsed = urllib.parse.urlsplit(dspace_db_url)
        params = {k: v for k, v in {
            "host": parsed.hostname or "localhost", "port": str(parsed.port or 5432),
            "dbname": parsed.path.lstrip("/"),
            "user": urllib.parse.unquote(parsed.username or ""),
            "password": urllib.parse.unquote(parsed.password or ""),
        }.items() if v}
        params.update(urllib.parse.parse_qsl(parsed.query))
        return DatabaseSettings(params, "repository.dspace_db_url")
    config = dspace_home(dspace_bin) / "config"
    files = [config / "local.cfg", config / "dspace.cfg"] if local_cfg else [config / "dspace.cfg"]
    merged: dict[str, str] = {}
    problems = []
    origin = None
    for path in files:
        values, problem = _read_cfg(path)
        if problem:
            problems.append(problem)
        for key, value in (values or {}).items():
            merged.setdefault(key, value)
            if key == "db.url" and origin is None:
                origin = str(path)
    url = _expand(merged, merged.get("db.url", ""))
    if not url:
        where = "; ".join(problems) or f"no db.url in {' or '.join(str(f) for f in files)}"
        return NoDatabase(f"DSpace's database is unknown: {where}, and "
                          "repository.dspace_db_url is not set")
    # Only the URL's scheme is ever shown: some JDBC URLs hold credentials (jdbc:oracle:thin:
    # user/password@host), and a reference may stand for anything
    scheme = ":".join(url.split(":")[:2])
    if "${" in url:
        return NoDatabase(f"db.url in {origin} holds a reference aipsync cannot resolve "
                          f"(${{...}}); set repository.dspace_db_url")
    try:
        params = jdbc_to_libpq(url)
    except ValueError as exc:
        return NoDatabase(f"db.url in {origin} is a {scheme}: URL ({exc}); aipsync reads "
                          "only PostgreSQL (set repository.dspace_db_url)")
    for key, name in (("db.username", "user"), ("db.password", "password")):
        value = _expand(merged, merged.get(key, ""))
        if value:
            params[name] = value
    schema = _expand(merged, merged.get("db.schema", "")) or None
    return DatabaseSettings(params, str(origin), schema if schema and "${" not in schema
                            else None)


# --- the queries --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Schema:
    """The columns that differ between 5.x (integer ids) and 6.x and later (UUIDs)."""

    item: str
    collection: str
    community: str


_SCHEMA_5 = _Schema("item_id", "collection_id", "community_id")
_SCHEMA_6 = _Schema("uuid", "uuid", "uuid")


class DSpaceDatabase:
    """Read-only queries on DSpace's database (``uuids``: 6.x and later)."""

    def __init__(self, settings: DatabaseSettings, *, uuids: bool, site_handle: str) -> None:
        self.settings = settings
        self._s = _SCHEMA_6 if uuids else _SCHEMA_5
        self._site = site_handle

    @property
    def display(self) -> str:
        return f"{self.settings.display}, found in {self.settings.origin}"

    @contextmanager
    def _cursor(self, *, streamed: bool = False) -> Iterator[Any]:
        """A cursor in a read-only transaction, rolled back and closed afterwards.

        ``streamed``: a server-side cursor, read ``_STREAM_ROWS`` rows at a time (a plain
        cursor holds its whole result in the client: a million handles)."""
        try:
            import psycopg
        except ImportError:
            raise SourceError(source="DSpace's database",
                              detail="psycopg is not installed (pip install "
                                     "'aipsync[postgres]')") from None
        options = ["-c default_transaction_read_only=on",
                   f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"]
        if self.settings.schema:
            options.append(f"-c search_path={self.settings.schema}")
        params = dict(self.settings.params)
        if params.get("options"):
            options.append(params.pop("options"))
        params.setdefault("connect_timeout", str(CONNECT_TIMEOUT))
        params.setdefault("application_name", "aipsync")
        try:
            conn = psycopg.connect(psycopg.conninfo.make_conninfo(
                **params, options=" ".join(options)))
        except psycopg.Error as exc:
            raise SourceError(source=f"DSpace's database {self.settings.display}",
                              detail=_first_line(exc)) from None
        try:
            conn.read_only = True
            if streamed:
                with conn.cursor(name="aipsync_stream") as named:
                    named.itersize = _STREAM_ROWS
                    yield named
            else:
                with conn.cursor() as cur:
                    yield cur
        except psycopg.Error as exc:
            raise SourceError(source=f"DSpace's database {self.settings.display}",
                              detail=_first_line(exc)) from None
        finally:
            conn.rollback()
            conn.close()

    def withdrawn(self, after: datetime | None = None) -> list[str]:
        """Handles of withdrawn items (modified after ``after``, when given), sorted."""
        sql = (f"SELECT h.handle FROM item i JOIN handle h ON h.resource_type_id = 2 "
               f"AND h.resource_id = i.{self._s.item} WHERE i.withdrawn")
        args: dict[str, Any] = {}
        if after is not None:
            sql += " AND i.last_modified > %(after)s"
            args["after"] = after
        with self._cursor() as cur:
            cur.execute(sql, args)
            return sorted(str(row[0]) for row in cur)

    def objects(self) -> SpillMap:
        """The AIP file names of the site, every community and collection, and every
        archived or withdrawn item: what a complete backup holds (in a SpillMap, read from
        a server-side cursor: a million at a large site)."""
        s = self._s
        sql = (f"SELECT h.handle, 4 FROM handle h JOIN community c ON h.resource_type_id = 4 "
               f"AND h.resource_id = c.{s.community} "
               f"UNION ALL SELECT h.handle, 3 FROM handle h JOIN collection c "
               f"ON h.resource_type_id = 3 AND h.resource_id = c.{s.collection} "
               f"UNION ALL SELECT h.handle, 2 FROM handle h JOIN item i "
               f"ON h.resource_type_id = 2 AND h.resource_id = i.{s.item} "
               f"WHERE i.in_archive OR i.withdrawn")
        with self._cursor(streamed=True) as cur:
            cur.execute(sql)
            return name_set(itertools.chain(
                (package_file_name(C.TYPE_SITE, self._site),),
                (package_file_name(_TYPE_OF_ID[int(type_id)], str(handle))
                 for handle, type_id in cur)))

    def existing(self, handles: Sequence[str]) -> tuple[dict[str, bool], dict[str, str | None]]:
        """(handle -> bound to a live object, item handle -> its owning collection's handle).

        The site handle always exists (5.x has no handle row for it).
        """
        s = self._s
        sql = (f"SELECT h.handle, COALESCE(i.{s.item}, col.{s.collection}, com.{s.community}"
               f"{', site.uuid' if s is _SCHEMA_6 else ''}) IS NOT NULL, oh.handle "
               f"FROM handle h "
               f"LEFT JOIN item i ON h.resource_type_id = 2 AND i.{s.item} = h.resource_id "
               f"LEFT JOIN collection col ON h.resource_type_id = 3 "
               f"AND col.{s.collection} = h.resource_id "
               f"LEFT JOIN community com ON h.resource_type_id = 4 "
               f"AND com.{s.community} = h.resource_id "
               + ("LEFT JOIN site ON h.resource_type_id = 5 AND site.uuid = h.resource_id "
                  if s is _SCHEMA_6 else "")
               + "LEFT JOIN handle oh ON oh.resource_type_id = 3 "
               "AND oh.resource_id = i.owning_collection "
               "WHERE h.handle = ANY(%(handles)s)")
        exists = dict.fromkeys(handles, False)
        owners: dict[str, str | None] = {}
        with self._cursor() as cur:
            cur.execute(sql, {"handles": list(handles)})
            for handle, live, owner in cur:
                exists[str(handle)] = bool(live)
                if live and owner is not None:
                    owners[str(handle)] = str(owner)
        if self._site in exists:
            exists[self._site] = True
        return exists, owners


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
