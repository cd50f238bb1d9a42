"""The figures of docs/reliability.md: run the fault, crash, disk-full, corpus, fuzz and
security suites once, collect what each scenario injected and what came of it, print a
Markdown summary.

The suites are the ones ``make test`` runs; here they run with two extra settings:

- ``AIPSYNC_FAULT_FIGURES``: the fault suites (``tests/faults``) append one JSON line per
  scenario (faults injected by type, requests, outcome) to that file;
- ``AIPSYNC_FUZZ_SECONDS``: the fuzz targets run for that many seconds between them
  (``tests/fuzz/README.md``) instead of a short fixed number of examples.

Nothing is timed against a target; the script reports, and exits non-zero if a test failed.

Usage::

    .venv/bin/python bench/reliability.py                 # fuzz for 120 s
    .venv/bin/python bench/reliability.py --fuzz-seconds 900
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SUITES = ["tests/faults", "tests/corpus", "tests/security", "tests/fuzz"]
FUZZ_LINE = re.compile(r"^(?P<name>[\w.-]+): (?P<n>\d+) examples \((?P<ok>\d+) accepted\) in "
                       r"(?P<secs>[\d.]+) s")
SUMMARY = re.compile(r"^=* ?(?P<body>\d+ (?:passed|failed)[^=]*?) in (?P<secs>[\d.]+)s",
                     re.MULTILINE)


def run_suites(fuzz_seconds: float, figures: Path) -> tuple[int, str, float]:
    env = dict(os.environ)
    env["AIPSYNC_FAULT_FIGURES"] = str(figures)
    env["AIPSYNC_FUZZ_SECONDS"] = str(fuzz_seconds)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-s", "-q",
         "-o", f"timeout={max(300, int(fuzz_seconds) + 300)}", *SUITES],
        cwd=REPO, env=env, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started


def faults_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| scenario | requests | faults injected | outcome |", "|---|---:|---|---|"]
    total: Counter[str] = Counter()
    for row in rows:
        if "scenario" not in row:
            continue
        faults = Counter(row.get("faults", {}))
        total.update(faults)
        shown = ", ".join(f"{k} {v}" for k, v in sorted(faults.items())) or "none"
        lines.append(f"| {row['scenario']} | {row.get('requests', '')} | {shown} | "
                     f"{row['outcome']} |")
    lines.append(f"| **all** | | **{sum(total.values())}**: "
                 + ", ".join(f"{k} {v}" for k, v in sorted(total.items())) + " | |")
    return lines


def other_table(rows: list[dict[str, Any]], key: str, title: str) -> list[str]:
    lines = [f"| {title} | outcome | details |", "|---|---|---|"]
    for row in rows:
        if key not in row:
            continue
        extra = {k: v for k, v in row.items() if k not in (key, "outcome")}
        shown = ", ".join(f"{k} {v}" for k, v in extra.items())
        lines.append(f"| `{row[key]}` | {row['outcome']} | {shown} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fuzz-seconds", type=float, default=120.0)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        figures = Path(tmp) / "figures.jsonl"
        figures.touch()
        code, output, seconds = run_suites(args.fuzz_seconds, figures)
        rows = [json.loads(line) for line in figures.read_text().splitlines() if line]
    fuzz = [m.groupdict() for m in map(FUZZ_LINE.match, output.splitlines()) if m]
    summary = SUMMARY.findall(output)
    corpus = sorted(p.name for p in (REPO / "tests" / "corpus" / "bad-aips").iterdir())
    report = {"exit_code": code, "seconds": round(seconds, 1), "rows": rows, "fuzz": fuzz,
              "pytest": summary[-1][0] if summary else "", "bad_aips": len(corpus)}
    (args.out / "reliability.json").write_text(json.dumps(report, indent=1))

    print(f"## Run of {time.strftime('%Y-%m-%d')}: `{' '.join(SUITES)}`, "
          f"{report['pytest']} in {seconds:.0f} s\n")
    print("### S3 faults (through the fault proxy, checked on moto directly)\n")
    print("\n".join(faults_table(rows)) + "\n")
    print("### Crash points (`kill -9`, then a restart)\n")
    print("\n".join(other_table(rows, "crash", "point")) + "\n")
    print("### Disk full\n")
    print("\n".join(other_table(rows, "disk_full", "where")) + "\n")
    print(f"### Hostile input\n\n{len(corpus)} bad AIPs in `tests/corpus/bad-aips/`, every "
          "one refused with its named error, the repository unchanged.\n")
    for f in fuzz:
        print(f"- fuzz `{f['name']}`: {int(f['n']):,} examples ({int(f['ok']):,} accepted) "
              f"in {float(f['secs']):.0f} s, no unexpected exception")
    if code != 0:
        print("\nFAILED: see the pytest output below\n" + output[-6000:], file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
