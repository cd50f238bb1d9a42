"""The ``aipsync`` entry point: aip's command groups plus the daemon's commands."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from aip import cli as aip_cli


def main(argv: Sequence[str] | None = None) -> int:
    return aip_cli.run(argv)


if __name__ == "__main__":
    sys.exit(main())
