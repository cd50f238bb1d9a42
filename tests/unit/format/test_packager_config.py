"""``[aip.disseminate]``/``[aip.ingest]``: defaults and the errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from aip import constants as C
from aip.errors import ConfigError
from aip.packager.config import (
    DISSEMINATION_CROSSWALKS,
    DisseminateConfig,
    SectionEntry,
    load_aip_config,
    parse_aip_config,
)


def test_defaults_are_dspace_cfg_plus_the_extension_amdsec() -> None:
    cfg = DisseminateConfig()
    assert cfg.sourceMD == (SectionEntry("AIP-TECHMD", "AIP-TECHMD"),)
    assert cfg.extension is True
    assert C.DEFAULT_DISSEMINATE_SOURCEMD == ("AIP-TECHMD",)
    assert all(C.MD_AIPSYNC not in names for names in DISSEMINATION_CROSSWALKS.values())
    assert parse_aip_config({}).disseminate == cfg


def test_extension_switch() -> None:
    off = parse_aip_config({"disseminate": {"extension": False}})
    assert off.disseminate == DisseminateConfig(extension=False)
    on = parse_aip_config({"disseminate": {"extension": True, "sourceMD": ["AIP-TECHMD"]}})
    assert on.disseminate.extension is True


@pytest.mark.parametrize("value", ["false", 0, 1, None, ["true"]])
def test_extension_must_be_a_boolean(value: object) -> None:
    with pytest.raises(ConfigError, match=r"^aip\.disseminate\.extension: expected true or "
                                          r"false"):
        parse_aip_config({"disseminate": {"extension": value}})


@pytest.mark.parametrize("kind", ["techMD", "sourceMD", "digiprovMD"])
def test_aipsync_ext_is_no_longer_a_section_type(kind: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_aip_config({"disseminate": {kind: ["AIP-TECHMD", "AIPSYNC-EXT"]}})
    message = str(err.value)
    assert message.startswith(f"aip.disseminate.{kind}: AIPSYNC-EXT is not a section type")
    assert "aip.disseminate.extension = true" in message


def test_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "aipsync.toml"
    path.write_text('[aip.disseminate]\nsourceMD = ["AIP-TECHMD"]\nextension = false\n')
    assert load_aip_config(path).disseminate == DisseminateConfig(extension=False)
    path.write_text('[aip.disseminate]\nextension = "no"\n')
    with pytest.raises(ConfigError, match=r"aip\.disseminate\.extension"):
        load_aip_config(path)
