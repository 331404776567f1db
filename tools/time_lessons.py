"""Measure how long each lesson takes: its cells' run time under a compute budget, plus reading time.

Each solution notebook is executed in a fresh temporary folder (its run folders start empty and the stored
outputs in ``solutions/`` are not touched), with ``STNLIB_BUDGET`` set to the budget. The table gives the run time
of all cells, the longest cell, and a reading-and-exercise time from a fixed rule — 150 words of markdown per
minute plus 5 minutes per exercise — so the lesson times in the README and the title cells rest on a measurement
and a stated rule, not on a guess. Run on the machine whose time you want to state (a laptop CPU with ``cpu``; a
Colab GPU with ``gpu``)::

    python tools/time_lessons.py --budget cpu                 # every lesson
    python tools/time_lessons.py --budget smoke 01 03         # some lessons, quickly
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent
WORDS_PER_MINUTE = 150
MINUTES_PER_EXERCISE = 5
SOLUTION_MARKER = "### BEGIN SOLUTION"


def reading_minutes(nb: nbformat.NotebookNode) -> float:
    """Minutes to read the markdown (150 words per minute) and do the exercises (5 minutes each)."""
    words = sum(len(re.findall(r"\w+", c.source)) for c in nb.cells if c.cell_type == "markdown")
    exercises = sum(1 for c in nb.cells if c.cell_type == "code" and SOLUTION_MARKER in c.source)
    return words / WORDS_PER_MINUTE + MINUTES_PER_EXERCISE * exercises


def run_cells(path: Path, budget: str, timeout: int) -> tuple[float, float, str]:
    """Execute a copy of the notebook in a temporary folder; total seconds, longest cell's seconds and its start."""
    nb = nbformat.read(path, as_version=4)
    times: list[tuple[float, str]] = []
    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(path, Path(folder) / path.name)
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": folder}}
        )
        os.environ["STNLIB_BUDGET"] = budget
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                start = time.perf_counter()
                client.execute_cell(cell, index)
                times.append(
                    (time.perf_counter() - start, cell.source.splitlines()[0][:50] if cell.source else "")
                )
    longest = max(times, default=(0.0, ""))
    return sum(t for t, _ in times), longest[0], longest[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lessons", nargs="*", help="lesson numbers (default: all)")
    parser.add_argument("--budget", default="cpu", help="STNLIB_BUDGET for the run (default cpu)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell (default 3600)")
    args = parser.parse_args(argv)
    paths = sorted((REPO / "solutions").glob("[0-9][0-9]_*.ipynb"))
    if args.lessons:
        paths = [p for p in paths if p.name[:2] in {n.zfill(2) for n in args.lessons}]
        if not paths:
            parser.error(f"no solution notebook for lessons {args.lessons}")
    print(
        f"Budget {args.budget}; reading: {WORDS_PER_MINUTE} words/min + {MINUTES_PER_EXERCISE} min per exercise"
    )
    print("| lesson | cells run (min) | longest cell (min) | reading + exercises (min) | total (min) |")
    print("|---|--:|--:|--:|--:|")
    for path in paths:
        run, longest, where = run_cells(path, args.budget, args.timeout)
        reading = reading_minutes(nbformat.read(path, as_version=4))
        print(f"| {path.stem} | {run / 60:.1f} | {longest / 60:.1f} (`{where}`) | {reading:.0f} | "
              f"{run / 60 + reading:.0f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
