"""The canonical dump's form: sorted keys, fixed layout, no secrets, stable orders."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from helpers import RepoLocation, dump_text, make_repo

from aip.model import (
    Action,
    Bitstream,
    BitstreamFormat,
    Bundle,
    EPerson,
    Group,
    Item,
    MetadataValue,
    ResourcePolicy,
)
from aip.repository import dump as dumpmod

FMT = BitstreamFormat("Text", "text/plain", "Plain Text")


def test_to_json_is_canonical() -> None:
    one = {"b": 1, "a": {"z": [3, 1], "y": "ümlaut ✓"}}
    two = {"a": {"y": "ümlaut ✓", "z": [3, 1]}, "b": 1}
    text = dumpmod.to_json(one)
    assert text == dumpmod.to_json(two)
    assert text == ('{\n  "a": {\n    "y": "ümlaut ✓",\n    "z": [\n      3,\n      1\n'
                    '    ]\n  },\n  "b": 1\n}\n')
    assert json.loads(text) == one


def test_eperson_dict_never_carries_a_secret() -> None:
    person = EPerson(email="p@example.org", password_hash="deadbeef" * 16, salt="cafe" * 8,
                     digest_algorithm="SHA-512", can_log_in=True)
    text = dumpmod.to_json(dumpmod.eperson_dict(person))
    assert "deadbeef" not in text
    assert "cafe" not in text
    assert json.loads(text)["password"] == {"algorithm": "SHA-512"}
    assert dumpmod.eperson_dict(EPerson(email="q@example.org"))["password"] is None


def test_item_dict_orders_and_formats() -> None:
    policy = ResourcePolicy(Action.READ, group="Anonymous", name="embargo",
                            start_date=dt.date(2030, 1, 2), end_date=dt.date(2031, 2, 3))
    bitstream = Bitstream(sequence_id=1, name="a.txt", size=3, md5="m", format=FMT,
                          sha256="s", policies=(policy,))
    item = Item(
        handle="123456789/5", owning_collection="123456789/2",
        last_modified=dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        metadata=(MetadataValue("dc", "title", None, "T", "en", "auth:1", 600),),
        bundles=(Bundle(name="ORIGINAL", bitstreams=(bitstream,), primary_sequence_id=1),),
        mapped_collections=("123456789/10", "123456789/9"))
    data = dumpmod.item_dict(item)
    assert data["mapped_collections"] == ["123456789/9", "123456789/10"]
    assert data["last_modified"] == "2024-01-02T03:04:05Z"
    assert data["metadata"] == [{"field": "dc.title", "value": "T", "language": "en",
                                 "authority": "auth:1", "confidence": 600}]
    dumped_policy = data["bundles"][0]["bitstreams"][0]["policies"][0]
    assert dumped_policy["action"] == "READ"
    assert (dumped_policy["start_date"], dumped_policy["end_date"]) == ("2030-01-02",
                                                                        "2031-02-03")
    assert "key" not in data["bundles"][0]["bitstreams"][0]


def test_group_dict_sorts_members() -> None:
    group = Group(name="G", id=7, members=("b@x.org", "a@x.org"), member_groups=("Z", "A"))
    assert dumpmod.group_dict(group) == {"name": "G", "members": ["a@x.org", "b@x.org"],
                                         "member_groups": ["A", "Z"]}


def test_empty_repository_dump(tmp_path: Path) -> None:
    location = make_repo(RepoLocation(tmp_path / "repo"), admin="Admin@Example.org")
    text = dump_text(location)
    data = json.loads(text)
    assert text == dumpmod.to_json(data)  # already canonical
    assert data["format"] == dumpmod.DUMP_FORMAT
    assert data["site"]["handle"] == "123456789/0"
    assert [g["name"] for g in data["groups"]] == ["Administrator", "Anonymous"]
    assert data["groups"][0]["members"] == ["admin@example.org"]
    assert [p["email"] for p in data["epeople"]] == ["admin@example.org"]
    assert data["communities"] == data["collections"] == data["items"] == []
    assert '"id"' not in text
