"""Deterministic synthetic content that exercises the whole model (``aipsync repo seed``).

Owns: building communities (nested), collections (logos, templates, licences, role groups,
default-read and restricted policies, harvesting settings), e-people, groups in groups, a
custom metadata schema, and items with several bundles (ORIGINAL, LICENSE, TEXT, THUMBNAIL,
CC-LICENSE), multi-valued multi-language metadata with authorities, primary bitstreams,
embargoed and policy-less items, mapped and withdrawn items, plus in-progress submissions.

Same arguments, same repository: every choice comes from ``random.Random(seed)`` and every
time from a fixed base.  Items are written in bulk (executemany per table, ids allocated
here) so 100,000 items take minutes, not hours.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from aip import constants as C
from aip.model import (
    Action,
    EPerson,
    HarvestSettings,
    MetadataField,
    MetadataSchema,
    MetadataValue,
    ResourcePolicy,
)
from aip.progress import Meter
from aip.repository import auth, handles, objects, registry
from aip.repository import tables as T
from aip.repository.seed_entities import EntityGraph
from aip.repository.store import Repository, Tx

BASE_TIME = dt.datetime(2024, 1, 1, 9, 0, 0)
#: Seeded items' last-modified times wrap after this many hours (about 2.3 years).
SEED_SPAN_HOURS = 20_000


def item_time(n: int) -> dt.datetime:
    """The last-modified time of the n-th seeded item.  Pure.

    One hour apart from ``BASE_TIME``, wrapping after ``SEED_SPAN_HOURS``: always in the past,
    so that ``updatedAfter`` sees seeded items as old (unwrapped, a 100,000-item seed ran
    into 2035 and every incremental export re-wrote three quarters of it).
    """
    return BASE_TIME + dt.timedelta(hours=n % SEED_SPAN_HOURS, seconds=n % 60)


def item_uuid(seed: int, handle: str) -> str:
    """The UUID of a seeded item: derived from the seed and the handle, so that the same
    arguments give the same repository without drawing from the seed's random sequence
    (which would change every other choice).  Pure."""
    digest = hashlib.sha256(f"aipsync-seed:{seed}:{handle}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


FLUSH_EVERY = 500
SEED_SCHEMA = MetadataSchema("seed", "http://aipsync.org/ns/seed/")
SEED_FIELDS = (
    MetadataField("seed", "note", None, "A free-text note used by the seed."),
    MetadataField("seed", "project", "code", "A project code."),
)

_WORDS = (
    'archive', 'climate', 'river', 'glacier', 'memory', 'protocol', 'lattice', 'harvest',
    'signal', 'ocean', 'ledger', 'atlas', 'census', 'lexicon', 'orbit', 'meadow',
    'quartz', 'canyon', 'tundra', 'delta', 'estuary', 'ember', 'vector', 'mosaic',
    'fjord', 'prairie', 'beacon', 'cipher', 'harbor', 'summit',
)
_FIRST = (
    'Ada', 'Grace', 'Alan', 'Mary', 'Rosalind', 'Claude', 'Hedy', 'Katherine', 'Tim',
    'Barbara', 'Niklaus', 'Edsger',
)
_LAST = (
    'Lovelace', 'Hopper', 'Turing', 'Somerville', 'Franklin', 'Shannon', 'Lamarr',
    'Johnson', 'Berners-Lee', 'Liskov', 'Wirth', 'Dijkstra',
)
_SUBJECTS_DE = ("Klimawandel", "Gletscher", "Flusslandschaft", "Erinnerungskultur")
_TYPES = ("Article", "Thesis", "Dataset", "Technical Report", "Book chapter")
_LANGS = ("en", "en_US", None, "de")
_ORIGINAL_KINDS = (("pdf", "Adobe PDF"), ("txt", "Text"), ("docx", "Microsoft Word XML"),
                   ("jpg", "JPEG"), ("csv", "CSV"))
LICENSE_TEXT = (
    "NOTE: PLACE YOUR OWN LICENSE HERE\nThis sample license is provided for informational "
    "purposes only.\n\nNON-EXCLUSIVE DISTRIBUTION LICENSE\n\nBy signing and submitting this "
    "license, you (the author(s) or copyright owner) grant to the repository the "
    "non-exclusive right to reproduce, translate and distribute your submission worldwide.\n"
)
CC_RDF = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
    '22-rdf-syntax-ns#" xmlns:cc="http://creativecommons.org/ns#">\n  <cc:License rdf:about='
    '"http://creativecommons.org/licenses/by/4.0/"/>\n</rdf:RDF>\n'
)


@dataclass(frozen=True, slots=True)
class SeedOptions:
    """Arguments of ``repo seed``."""

    communities: int = 2
    depth: int = 2
    collections: int = 4
    items: int = 20
    bitstreams: int = 1
    bitstream_size: int = 2048
    seed: int = 1
    entities: bool = False


@dataclass
class SeedResult:
    communities: int = 0
    collections: int = 0
    items: int = 0
    withdrawn: int = 0
    mapped: int = 0
    submissions: int = 0
    bitstreams: int = 0
    epeople: int = 0
    groups: int = 0
    relationships: int = 0


@dataclass
class _Ids:
    """Next free id per table, allocated here for bulk inserts."""

    next: dict[str, int] = field(default_factory=dict)

    def take(self, tx: Tx, table: sa.Table) -> int:
        if table.name not in self.next:
            current = tx.scalar(sa.select(sa.func.max(table.c.id)))
            self.next[table.name] = int(current or 0) + 1
        value = self.next[table.name]
        self.next[table.name] = value + 1
        return value


@dataclass
class _Batch:
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, table: sa.Table, **row: Any) -> None:
        self.rows.setdefault(table.name, []).append(row)

    def flush(self, tx: Tx) -> None:
        order = [T.item, T.handle, T.collection_item, T.metadata_value, T.bundle,
                 T.bitstream, T.resource_policy, T.workspace_item, T.relationship]
        for table in order:
            rows = self.rows.pop(table.name, [])
            if rows:
                tx.execute(sa.insert(table), rows)
        assert not self.rows, f"unflushed tables: {list(self.rows)}"


class _Seeder:
    def __init__(self, tx: Tx, opts: SeedOptions, rng: random.Random) -> None:
        self.tx = tx
        self.opts = opts
        self.rng = rng
        self.ids = _Ids()
        self.batch = _Batch()
        self.result = SeedResult()
        self.prefix = str(tx.scalar(sa.select(T.site.c.handle_prefix)))
        self.next_suffix = int(tx.scalar(
            sa.select(T.handle_sequence.c.next_suffix)
            .where(T.handle_sequence.c.prefix == self.prefix)) or 1)
        self.fields: dict[tuple[str, str, str | None], int] = {}
        self.formats: dict[str, int] = {}
        self.graph: EntityGraph | None = None

    # -- what seed_entities uses ------------------------------------------------------------
    @property
    def metadata_rows(self) -> list[dict[str, Any]]:
        return self.batch.rows.setdefault(T.metadata_value.name, [])

    def add_row(self, table: sa.Table, **row: Any) -> None:
        self.batch.add(table, **row)

    def take_id(self, table: sa.Table) -> int:
        return self.ids.take(self.tx, table)

    # -- helpers --------------------------------------------------------------------------
    def words(self, n: int) -> str:
        return " ".join(self.rng.choice(_WORDS) for _ in range(n))

    def person_name(self) -> str:
        return f"{self.rng.choice(_LAST)}, {self.rng.choice(_FIRST)}"

    def fid(self, schema: str, element: str, qualifier: str | None = None) -> int:
        key = (schema, element, qualifier)
        if key not in self.fields:
            self.fields[key] = registry.field_id(self.tx, schema, element, qualifier,
                                                 create=True)
        return self.fields[key]

    def format_id(self, short: str) -> int:
        if short not in self.formats:
            fid = registry.format_id_by_name(self.tx, short)
            if fid is None:
                fid = registry.guess_format_id(self.tx, None)
            self.formats[short] = fid
        return self.formats[short]

    def mint_handle(self, resource_type: str, resource_id: int) -> str:
        handle = f"{self.prefix}/{self.next_suffix}"
        self.next_suffix += 1
        self.batch.add(T.handle, handle=handle, prefix=self.prefix,
                       resource_type=resource_type, resource_id=resource_id)
        return handle

    def store(self, data: bytes) -> dict[str, Any]:
        stored = self.tx.assetstore.write(io.BytesIO(data), self.tx.journal)
        return dict(size=stored.size, md5=stored.md5, sha256=stored.sha256,
                    store_key=stored.key)

    def content(self, kind: str, size: int) -> bytes:
        if kind in ("txt", "csv"):
            text = " ".join(self.rng.choice(_WORDS) for _ in range(max(1, size // 7)))
            return text.encode()[:size] or b"."
        return self.rng.randbytes(size)

    # -- people and groups ----------------------------------------------------------------
    def people_and_groups(self) -> dict[str, Any]:
        tx = self.tx
        n_people = max(4, min(200, self.opts.items // 50 + 4))
        emails = []
        for i in range(n_people):
            first, last = _FIRST[i % len(_FIRST)], _LAST[(i * 7) % len(_LAST)]
            email = f"{first.lower()}.{last.lower()}{i}@example.org"
            pw_hash = salt = digest = None
            if i % 2 == 0:
                pw_hash, salt, digest = auth.hash_password(
                    f"pw-{self.opts.seed}-{i}", salt=f"{self.rng.getrandbits(128):032x}")
            auth.create_eperson(tx, EPerson(
                email=email, netid=f"netid{i}" if i % 5 == 1 else None, first_name=first,
                last_name=last, language=("en", "de", "fr")[i % 3], can_log_in=i % 4 != 3,
                require_certificate=i % 9 == 8, self_registered=i % 6 == 5,
                password_hash=pw_hash, salt=salt, digest_algorithm=digest))
            emails.append(email)
        editors = auth.create_group(tx, "Editors")
        reviewers = auth.create_group(tx, "Reviewers")
        curators = auth.create_group(tx, "Curators")
        for email in emails[: max(2, n_people // 3)]:
            auth.add_member(tx, editors, auth.require_eperson(tx, email).id)
        for email in emails[n_people // 3: n_people // 2 + 1]:
            auth.add_member(tx, reviewers, auth.require_eperson(tx, email).id)
        auth.add_subgroup(tx, reviewers, editors)   # editors are reviewers too
        auth.add_subgroup(tx, curators, reviewers)  # groups in groups, two levels
        auth.add_member(tx, curators, auth.require_eperson(tx, emails[-1]).id)
        self.result.epeople = n_people
        self.result.groups = 3
        return {"emails": emails, "editors": editors, "reviewers": reviewers,
                "curators": curators}

    # -- containers -----------------------------------------------------------------------
    def containers(self, people: dict[str, Any]) -> list[tuple[int, str]]:
        tx = self.tx
        communities: list[int] = []

        def make(parent: int | None, level: int, index: str) -> None:
            values = [MetadataValue("dc", "title", None, f"Community {index}: {self.words(2)}"),
                      MetadataValue("dc", "description", "abstract", self.words(8))]
            if self.rng.random() < 0.5:
                values.append(MetadataValue("dc", "description", None,
                                            f"<p>Introduction to {self.words(3)}</p>"))
            if self.rng.random() < 0.5:
                values.append(MetadataValue("dc", "rights", None, "Copyright the authors"))
            cid, _ = objects.create_community(tx, parent_id=parent, metadata_values=values)
            communities.append(cid)
            self.result.communities += 1
            if level % 2 == 1:
                admin = objects.ensure_role_group(tx, C.TYPE_COMMUNITY, cid, C.ROLE_ADMIN)
                auth.add_member(tx, admin, auth.require_eperson(tx, people["emails"][0]).id)
            if level == 1:
                auth.add_policy(tx, C.TYPE_COMMUNITY, cid,
                                ResourcePolicy(Action.READ, group=C.GROUP_ANONYMOUS))
            if len(communities) % 3 == 0:
                objects.set_logo(tx, C.TYPE_COMMUNITY, cid,
                                 io.BytesIO(b"\x89PNG\r\n\x1a\n" + self.rng.randbytes(300)),
                                 name="logo.png")
            if level < self.opts.depth:
                for j in range(1 if level > 1 else 2):
                    make(cid, level + 1, f"{index}.{j + 1}")

        for i in range(max(1, self.opts.communities)):
            make(None, 1, str(i + 1))

        collections: list[tuple[int, str]] = []
        for k in range(max(1, self.opts.collections)):
            parent = communities[k % len(communities)]
            parents = [parent]
            if k % 7 == 6 and len(communities) > 1:  # a collection in two communities
                parents.append(communities[(k + 1) % len(communities)])
            values = [
                MetadataValue("dc", "title", None, f"Collection {k + 1}: {self.words(2)}"),
                MetadataValue("dc", "description", "abstract", self.words(6)),
                MetadataValue("dc", "description", "tableofcontents", f"News {self.words(3)}"),
                MetadataValue("dc", "rights", "license",
                              f"Deposit licence of collection {k + 1}.\n{LICENSE_TEXT}"),
                MetadataValue("dc", "provenance", None, "Created by the seed"),
            ]
            coll_id, handle = objects.create_collection(tx, parent_ids=parents,
                                                        metadata_values=values)
            collections.append((coll_id, handle))
            self.result.collections += 1
            anon = C.GROUP_ANONYMOUS
            if k % 4 == 3:  # a restricted collection: only Editors read new items
                reads = [ResourcePolicy(Action.READ, group="Editors"),
                         ResourcePolicy(Action.DEFAULT_ITEM_READ, group="Editors"),
                         ResourcePolicy(Action.DEFAULT_BITSTREAM_READ, group="Editors")]
            else:
                reads = [ResourcePolicy(Action.READ, group=anon),
                         ResourcePolicy(Action.DEFAULT_ITEM_READ, group=anon),
                         ResourcePolicy(Action.DEFAULT_BITSTREAM_READ, group=anon)]
            for policy in reads:
                auth.add_policy(tx, C.TYPE_COLLECTION, coll_id, policy)
            if k % 2 == 0:
                admin = objects.ensure_role_group(tx, C.TYPE_COLLECTION, coll_id, C.ROLE_ADMIN)
                auth.add_member(tx, admin, auth.require_eperson(tx, people["emails"][1]).id)
                submit = objects.ensure_role_group(tx, C.TYPE_COLLECTION, coll_id,
                                                   C.ROLE_SUBMIT)
                auth.add_subgroup(tx, submit, people["editors"])
                auth.add_policy(tx, C.TYPE_COLLECTION, coll_id,
                                ResourcePolicy(Action.ADMIN, group=auth.export_group_name(
                                    tx, auth.group_names(tx)[admin])))
                auth.add_policy(tx, C.TYPE_COLLECTION, coll_id,
                                ResourcePolicy(Action.ADD, group=auth.export_group_name(
                                    tx, auth.group_names(tx)[submit]),
                                    name="submitters", description="may submit"))
            if k % 3 == 1:
                step = objects.ensure_role_group(tx, C.TYPE_COLLECTION, coll_id,
                                                 C.ROLE_WORKFLOW_2)
                auth.add_subgroup(tx, step, people["reviewers"])
            if k % 2 == 1:
                objects.set_logo(tx, C.TYPE_COLLECTION, coll_id,
                                 io.BytesIO(b"\xff\xd8\xff\xe0" + self.rng.randbytes(500)),
                                 name="logo.jpg")
            if k % 3 == 0:
                objects.set_template(tx, coll_id, [
                    MetadataValue("dc", "publisher", None, "aipsync University Press"),
                    MetadataValue("dc", "relation", "ispartofseries", f"Series {k + 1}"),
                ])
            if k == 1:
                objects.set_harvest(tx, coll_id, HarvestSettings(
                    harvest_type=3, oai_source="https://oai.example.org/request",
                    oai_set_id="col_1234_5", metadata_config_id="dc", harvest_status=0))
        return collections

    # -- items ----------------------------------------------------------------------------
    def item_metadata(self, iid: int, n: int, when: dt.datetime, handle: str) -> None:
        rng = self.rng
        lang = _LANGS[n % len(_LANGS)]
        stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        values: list[tuple[tuple[str, str, str | None], str, str | None, str | None, int]] = [
            (("dc", "title", None), f"{self.words(4).capitalize()} ({n})", lang, None, -1),
        ]
        for a in range(1 + n % 3):
            authority = f"orcid:0000-0002-{n % 10000:04d}-{a:04d}" if a == 0 and n % 2 else None
            confidence = 600 if authority else -1
            values.append((("dc", "contributor", "author"), self.person_name(), None,
                           authority, confidence))
        values += [
            (("dc", "date", "issued"), f"{2000 + n % 24}-{1 + n % 12:02d}", None, None, -1),
            (("dc", "date", "accessioned"), stamp, None, None, -1),
            (("dc", "date", "available"), stamp, None, None, -1),
            (("dc", "identifier", "uri"), f"http://hdl.handle.net/{handle}", None, None, -1),
            (("dc", "description", "abstract"), self.words(12 + n % 9), "en", None, -1),
            (("dc", "type", None), rng.choice(_TYPES), "en", None, -1),
            (("dc", "description", "provenance"),
             f"Made available in DSpace on {stamp} (GMT).", "en", None, -1),
        ]
        for _ in range(n % 4):
            values.append((("dc", "subject", None), rng.choice(_WORDS), "en", None, -1))
        if n % 3 == 0:
            values.append((("dc", "subject", None), rng.choice(_SUBJECTS_DE), "de", None, -1))
            values.append((("dc", "title", "alternative"), f"Titel {self.words(2)}", "de",
                           None, -1))
        if n % 5 == 0:
            values.append((("seed", "note", None), f"note {n}: ümlaut & <markup>", "", None, -1))
            values.append((("seed", "project", "code"), f"P-{n % 97:03d}", None, None, -1))
        if n % 11 == 0:
            values.append((("dc", "description", None), "  spaced value with\ttab  ", None,
                           None, -1))
        places: dict[int, int] = {}
        for key, text, language, authority, confidence in values:
            fid = self.fid(*key)
            place = places.get(fid, 0)
            places[fid] = place + 1
            self.batch.add(T.metadata_value, resource_type=C.TYPE_ITEM, resource_id=iid,
                           field_id=fid, value=text, language=language, authority=authority,
                           confidence=confidence, place=place)

    def policy(self, rtype: str, rid: int, position: int, action: Action, group: int | None,
               eperson: int | None = None, start: dt.date | None = None,
               name: str | None = None) -> None:
        self.batch.add(T.resource_policy, id=self.ids.take(self.tx, T.resource_policy),
                       resource_type=rtype, resource_id=rid, position=position,
                       action=int(action), group_id=group, eperson_id=eperson, name=name,
                       description=None, policy_type=None, start_date=start, end_date=None)

    def bitstream(self, bundle: int, position: int, seq: int, name: str, fmt: str,
                  data: bytes, read_group: int | None, source: str | None = None,
                  description: str | None = None, read_action: Action = Action.READ) -> int:
        bid = self.ids.take(self.tx, T.bitstream)
        self.batch.add(T.bitstream, id=bid, bundle_id=bundle, position=position,
                       sequence_id=seq, name=name, source=source or name,
                       description=description, user_format_description=None,
                       format_id=self.format_id(fmt), **self.store(data))
        if read_group is not None:
            self.policy(C.TYPE_BITSTREAM, bid, 0, read_action, read_group)
        self.result.bitstreams += 1
        return bid

    def items(self, collections: list[tuple[int, str]], people: dict[str, Any]) -> None:
        tx = self.tx
        opts = self.opts
        person_ids = [auth.require_eperson(tx, e).id for e in people["emails"]]
        restricted = {cid for k, (cid, _) in enumerate(collections) if k % 4 == 3}
        editors = people["editors"]
        meter = Meter("seed", label="seeding", unit="items", objects_total=opts.items)
        for n in range(opts.items):
            coll_id, _ = collections[n % len(collections)]
            when = item_time(n)
            iid = self.ids.take(tx, T.item)
            handle = self.mint_handle(C.TYPE_ITEM, iid)
            meter.advance(current=handle)
            withdrawn = n % 25 == 24
            self.batch.add(T.item, id=iid, handle=handle, owning_collection_id=coll_id,
                           submitter_id=person_ids[n % len(person_ids)],
                           in_archive=not withdrawn, withdrawn=withdrawn,
                           discoverable=n % 30 != 29, is_template=False, last_modified=when,
                           uuid=item_uuid(opts.seed, handle))
            self.batch.add(T.collection_item, collection_id=coll_id, item_id=iid)
            if n % 10 == 9 and len(collections) > 1:
                other = collections[(n + 1) % len(collections)][0]
                self.batch.add(T.collection_item, collection_id=other, item_id=iid)
                self.result.mapped += 1
            self.result.items += 1
            self.result.withdrawn += withdrawn
            self.item_metadata(iid, n, when, handle)
            if self.graph is not None:
                self.graph.item(self, n, iid)
            read = editors if coll_id in restricted else auth.ANONYMOUS_ID
            # A withdrawn item has WITHDRAWN_READ wherever a live one has READ: on itself,
            # its bundles and bitstreams (DSpace's withdraw; objects.withdraw_item).
            read_action = Action.WITHDRAWN_READ if withdrawn else Action.READ
            no_policies = n % 17 == 16
            embargo = BASE_TIME.date() + dt.timedelta(days=3650) if n % 13 == 12 else None
            if not no_policies:
                self.policy(C.TYPE_ITEM, iid, 0, read_action, read)
                if n % 8 == 0:
                    self.policy(C.TYPE_ITEM, iid, 1, Action.WRITE, None,
                                eperson=person_ids[0], name="owner edits")
            seq = 0
            position = 0
            # ORIGINAL
            bundle = self.ids.take(tx, T.bundle)
            self.batch.add(T.bundle, id=bundle, item_id=iid, name=C.BUNDLE_ORIGINAL,
                           position=position, primary_bitstream_id=None)
            position += 1
            if not no_policies:
                self.policy(C.TYPE_BUNDLE, bundle, 0, read_action, read)
            originals: list[tuple[str, int]] = []
            for b in range(opts.bitstreams):
                ext, fmt = _ORIGINAL_KINDS[(n + b) % len(_ORIGINAL_KINDS)]
                seq += 1
                name = f"file-{n}-{b}.{ext}"
                size = max(1, opts.bitstream_size + self.rng.randint(-16, 16))
                bs_id = self.bitstream(bundle, b, seq, name, fmt, self.content(ext, size),
                                       None if no_policies else read,
                                       description="main file" if b == 0 else None,
                                       read_action=read_action)
                if embargo is not None and b == 0:
                    self.policy(C.TYPE_BITSTREAM, bs_id, 1, read_action, auth.ANONYMOUS_ID,
                                start=embargo, name="embargo")
                originals.append((name, bs_id))
            if originals and n % 2 == 0:
                self.batch.rows[T.bundle.name][-1]["primary_bitstream_id"] = originals[0][1]
            # TEXT and THUMBNAIL derivatives of the first original
            if originals and n % 4 == 1:
                for bname, ext, fmt in ((C.BUNDLE_TEXT, "txt", "Text"),
                                        (C.BUNDLE_THUMBNAIL, "jpg", "JPEG")):
                    derived = self.ids.take(tx, T.bundle)
                    self.batch.add(T.bundle, id=derived, item_id=iid, name=bname,
                                   position=position, primary_bitstream_id=None)
                    position += 1
                    seq += 1
                    self.bitstream(derived, 0, seq, f"{originals[0][0]}.{ext}", fmt,
                                   self.content(ext, 256), None if no_policies else read,
                                   read_action=read_action)
            # LICENSE
            lic = self.ids.take(tx, T.bundle)
            self.batch.add(T.bundle, id=lic, item_id=iid, name=C.BUNDLE_LICENSE,
                           position=position, primary_bitstream_id=None)
            position += 1
            seq += 1
            self.bitstream(lic, 0, seq, C.DEPOSIT_LICENSE_NAME, "License",
                           LICENSE_TEXT.encode(), None if no_policies else read,
                           source="Written by org.dspace.content.LicenseUtils",
                           read_action=read_action)
            if n % 20 == 7:
                cc = self.ids.take(tx, T.bundle)
                self.batch.add(T.bundle, id=cc, item_id=iid, name=C.BUNDLE_CC_LICENSE,
                               position=position, primary_bitstream_id=None)
                position += 1
                seq += 1
                self.bitstream(cc, 0, seq, C.CC_RDF_NAME, "RDF XML", CC_RDF.encode(),
                               None if no_policies else read, read_action=read_action)
            if (n + 1) % FLUSH_EVERY == 0:
                self.batch.flush(tx)
        self.batch.flush(tx)
        meter.finish()
        if self.graph is not None:
            self.result.relationships = self.graph.relate(self)
            self.batch.flush(tx)

    def submissions(self, collections: list[tuple[int, str]], people: dict[str, Any]) -> None:
        count = self.opts.items // 20 + 1
        for n in range(count):
            coll_id, _ = collections[n % len(collections)]
            submitter = auth.require_eperson(self.tx, people["emails"][n % len(people["emails"])])
            stage = "workflow" if n % 2 else "workspace"
            iid = objects.create_submission(self.tx, coll_id, submitter.id, stage=stage,
                                            step=2 if n % 2 else 0)
            objects.add_metadata(self.tx, C.TYPE_ITEM, iid, [
                MetadataValue("dc", "title", None, f"Draft {n}: {self.words(3)}")])
            self.result.submissions += 1

    def finish(self) -> None:
        seq = T.handle_sequence
        self.tx.execute(sa.update(seq).where(seq.c.prefix == self.prefix)
                        .values(next_suffix=self.next_suffix))
        handles.forget(self.tx)  # handles and the counter written here, not through it
        self.tx.sync_sequences(T.item, T.bundle, T.bitstream, T.resource_policy,
                               T.relationship)


def seed(repo: Repository, opts: SeedOptions,
         progress: Callable[[str], None] | None = None) -> SeedResult:
    """Fill a repository with deterministic synthetic content, in one transaction.

    ``opts.entities``: also the Entities registry and relationship types, every item typed
    and related (``seed_entities``); the plain content is the same as without it.
    """
    rng = random.Random(opts.seed)
    with repo.transaction() as tx:
        registry.create_schema(tx, SEED_SCHEMA)
        for fld in SEED_FIELDS:
            registry.create_field(tx, fld)
        if opts.entities:
            EntityGraph.initialize(tx)
        seeder = _Seeder(tx, opts, rng)
        people = seeder.people_and_groups()
        collections = seeder.containers(people)
        if opts.entities:
            seeder.graph = EntityGraph(opts.seed)
            seeder.graph.type_collections(tx, [cid for cid, _ in collections])
        # Containers minted handles through the API; continue after them.
        seeder.next_suffix = int(tx.scalar(
            sa.select(T.handle_sequence.c.next_suffix)
            .where(T.handle_sequence.c.prefix == seeder.prefix)))
        if progress:
            progress(f"containers done: {seeder.result.communities} communities, "
                     f"{seeder.result.collections} collections")
        seeder.items(collections, people)
        seeder.finish()
        seeder.submissions(collections, people)
        return seeder.result
