"""Handles: restored handles move the counter past them; deleted handles are never reused.
Both backends."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from helpers import PREFIX, SITE

from aip import constants as C
from aip.errors import AlreadyExistsError, HandleFormatError
from aip.model import MetadataValue
from aip.repository import handles, objects
from aip.repository import tables as T
from aip.repository.store import Repository, Tx

TITLE = [MetadataValue("dc", "title", None, "T")]


def _community(tx: Tx, handle: str | None = None) -> str:
    return objects.create_community(tx, parent_id=None, handle=handle,
                                    metadata_values=TITLE)[1]


def test_first_handles_follow_the_site(repo: Repository) -> None:
    with repo.transaction() as tx:
        assert handles.resolve(tx, SITE) == (C.TYPE_SITE, 1)
        assert [_community(tx) for _ in range(3)] == [f"{PREFIX}/{n}" for n in (1, 2, 3)]


def test_restored_high_handle_moves_the_counter(repo: Repository) -> None:
    with repo.transaction() as tx:
        assert _community(tx) == f"{PREFIX}/1"
        assert _community(tx, f"{PREFIX}/500") == f"{PREFIX}/500"
    with repo.transaction() as tx:  # the counter is stored, not cached
        com = objects.community_id(tx, f"{PREFIX}/500")
        coll, coll_h = objects.create_collection(tx, parent_ids=[com], metadata_values=TITLE)
        assert coll_h == f"{PREFIX}/501"
        # an item restored far above, then a new item
        objects.create_item(tx, collection_id=coll, submitter_id=None,
                            handle=f"{PREFIX}/9000")
        assert objects.create_item(tx, collection_id=coll, submitter_id=None)[1] == (
            f"{PREFIX}/9001")
        # a restored handle below the counter does not move it back
        assert _community(tx, f"{PREFIX}/7") == f"{PREFIX}/7"
        assert _community(tx) == f"{PREFIX}/9002"


def test_foreign_prefix_and_non_numeric_suffix_leave_the_counter_alone(
        repo: Repository) -> None:
    with repo.transaction() as tx:
        _community(tx, "10.5072/900")
        _community(tx, f"{PREFIX}/special-name")
        assert _community(tx) == f"{PREFIX}/1"
        assert handles.resolve(tx, "10.5072/900") is not None


def test_binding_a_live_handle_is_refused(repo: Repository) -> None:
    with repo.transaction() as tx:
        taken = _community(tx)
    with pytest.raises(AlreadyExistsError) as info, repo.transaction() as tx:
        _community(tx, taken)
    assert info.value.exit_code == C.EXIT_EXISTS
    with pytest.raises(HandleFormatError), repo.transaction() as tx:
        _community(tx, "no-slash")


def test_deleted_handles_are_never_minted_again(repo: Repository) -> None:
    with repo.transaction() as tx:
        first = _community(tx)
        last = _community(tx)
    with repo.transaction() as tx:
        objects.delete_object(tx, last)   # the most recently minted one
        objects.delete_object(tx, first)
    with repo.transaction() as tx:
        for gone in (first, last):
            assert handles.resolve(tx, gone) is None
            assert handles.was_assigned(tx, gone)
        fresh = _community(tx)
        assert fresh not in (first, last)
        assert fresh == f"{PREFIX}/3"


def test_mint_skips_assigned_handles_when_the_counter_is_behind(repo: Repository) -> None:
    """A counter set back (as after a DSpace restore without update-sequences.sql) must
    not hand out a handle that was ever assigned, live or deleted."""
    with repo.transaction() as tx:
        made = [_community(tx) for _ in range(3)]
        objects.delete_object(tx, made[1])
        tx.execute(sa.update(T.handle_sequence).where(T.handle_sequence.c.prefix == PREFIX)
                   .values(next_suffix=1))
    with repo.transaction() as tx:
        assert _community(tx) == f"{PREFIX}/4"


def test_a_deleted_handle_may_be_restored(repo: Repository) -> None:
    """Restore (bind) brings an object back under its old handle; only minting never
    reuses one."""
    with repo.transaction() as tx:
        handle = _community(tx)
    with repo.transaction() as tx:
        objects.delete_object(tx, handle)
    with repo.transaction() as tx:
        assert _community(tx, handle) == handle
        assert handles.resolve(tx, handle) is not None
        assert _community(tx) == f"{PREFIX}/2"


def test_resolve_many_remembers_only_when_asked_and_stays_true(repo: Repository) -> None:
    """``resolve_many(remember=True)`` answers the later ``resolve`` of each handle it looked
    up, live, unbound or never assigned, without a statement; what changes afterwards in
    the transaction (a bind) shows; without ``remember`` every ``resolve`` asks again."""
    with repo.transaction() as tx:
        live = _community(tx)
        gone = _community(tx)
    with repo.transaction() as tx:
        objects.delete_object(tx, gone)
    never = f"{PREFIX}/7777"
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    with repo.transaction() as tx:
        found = handles.resolve_many(tx, [live, gone, never])
        sa.event.listen(tx.conn, "before_cursor_execute", count)
        assert handles.resolve(tx, live) == found[live]
        assert len(statements) == 1  # not remembered: asked again
        statements.clear()
        sa.event.remove(tx.conn, "before_cursor_execute", count)
    with repo.transaction() as tx:
        found = handles.resolve_many(tx, [live, gone, never], remember=True)
        assert set(found) == {live}
        sa.event.listen(tx.conn, "before_cursor_execute", count)
        assert handles.resolve(tx, live) == found[live]
        assert handles.resolve(tx, gone) is None
        assert handles.resolve(tx, never) is None
        assert statements == []
        sa.event.remove(tx.conn, "before_cursor_execute", count)
        assert _community(tx, never) == never  # bound: the cache follows
        assert handles.resolve(tx, never) is not None
        assert _community(tx, gone) == gone  # an unbound handle may be restored
        assert handles.resolve(tx, gone) is not None
