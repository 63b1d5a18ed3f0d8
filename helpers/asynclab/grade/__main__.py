"""``python -m asynclab.grade DIR [--cell-timeout S] [--notebook-timeout S] [--memory-mb N] [--lesson NN]``."""

from __future__ import annotations

import argparse
import sys

from .folder import grade_folder
from .options import CELL_TIMEOUT, MEMORY_MB, NOTEBOOK_TIMEOUT, Limits

__all__ = ["main", "parser"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m asynclab.grade",
        description="Grade the learners' notebooks in DIR: each runs in a fresh kernel, in a "
                    "temporary copy; writes DIR/grades.csv and DIR/grades.html. This runs "
                    "the learners' code on this machine: see the instructor guide, Grading.")
    p.add_argument("folder", metavar="DIR", help="the folder of collected notebooks")
    p.add_argument("--cell-timeout", default=str(CELL_TIMEOUT), metavar="S",
                   help=f"seconds one cell may run before it is interrupted (default {CELL_TIMEOUT:g})")
    p.add_argument("--notebook-timeout", default=str(NOTEBOOK_TIMEOUT), metavar="S",
                   help=f"seconds one whole submission may run (default {NOTEBOOK_TIMEOUT:g})")
    p.add_argument("--memory-mb", default=str(MEMORY_MB), metavar="N",
                   help=f"the kernel's address-space limit in MiB, 0 for none (default {MEMORY_MB})")
    p.add_argument("--lesson", default=None, metavar="NN",
                   help="the class's lesson, such as 04 or 08b (default: the one most submissions are)")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        limits = Limits(args.cell_timeout, args.notebook_timeout, args.memory_mb)
        grades = grade_folder(args.folder, limits, args.lesson, progress=print)
    except ValueError as exc:
        p.error(str(exc))  # exits with status 2
    except KeyboardInterrupt:  # every kernel is already shut down by its with block
        print("\ninterrupted: no grades written", file=sys.stderr)
        return 130
    print(f"\n{'exercise':<22}{'passed':>10}  most common hint")
    for s in grades.summaries:
        hint = f"{s.top_hint} ({s.top_hint_count})" if s.top_hint else ""
        print(f"{s.check:<22}{f'{s.passed} of {s.graded}':>10}  {hint}")
    print(f"\nwrote {grades.csv_path} and {grades.html_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
