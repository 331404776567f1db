"""Measure how long each lesson takes, and state it where students read it.

A lesson's time is its cells' run time under a compute budget plus a reading-and-exercise time from a fixed rule —
150 words of markdown per minute plus 5 minutes per exercise — so the times in the README and in the lessons' title
cells rest on a measurement and a stated rule, not on a guess.

Measuring executes each solution notebook in a fresh temporary folder (its run folders start empty and the stored
outputs in ``solutions/`` are not touched) with ``STNLIB_BUDGET`` set, and writes the measurement to a JSON file.
Applying writes it into the README's lesson table and each solution's ``**Estimated time:**`` paragraph (run
``make lessons`` afterwards). Measure on the machine whose time you want to state (a laptop CPU with ``cpu``)::

    python tools/time_lessons.py --budget cpu --out benchmarks/lesson_times_cpu.json   # every lesson
    python tools/time_lessons.py --budget smoke 01 03                                  # some lessons, quickly
    python tools/time_lessons.py --apply benchmarks/lesson_times_cpu.json              # README + title cells
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import tempfile
import textwrap
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent
WORDS_PER_MINUTE = 150
MINUTES_PER_EXERCISE = 5
SOLUTION_MARKER = "### BEGIN SOLUTION"
TIME_PARAGRAPH = re.compile(r"\*\*Estimated time:\*\*.*?(?=\n\n|\Z)", re.S)
#: A lesson whose cells run longer than this with ``cpu`` trains networks; its GPU time is not the CPU's.
TRAINING_MINUTES = 3.0


@dataclass(frozen=True)
class LessonTime:
    """One lesson's measurement (minutes)."""

    name: str  # e.g. "05_assembling_stn"
    run: float  # all code cells, one after the other
    longest: float  # the longest cell
    longest_cell: str  # the first line of the longest cell
    reading: float  # markdown at WORDS_PER_MINUTE plus MINUTES_PER_EXERCISE per exercise

    @property
    def total(self) -> int:
        return round(self.run + self.reading)


def count_words(markdown: str) -> int:
    """The words a reader reads in ``markdown``; a stated ``**Estimated time:**`` paragraph does not count."""
    return len(re.findall(r"\w+", TIME_PARAGRAPH.sub("", markdown)))


def reading_minutes(nb: nbformat.NotebookNode) -> float:
    """Minutes to read the markdown (150 words per minute) and do the exercises (5 minutes each).

    The ``**Estimated time:**`` paragraph itself is not counted, so stating a time does not change it.
    """
    words = sum(count_words(c.source) for c in nb.cells if c.cell_type == "markdown")
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


def measure(path: Path, budget: str, timeout: int) -> LessonTime:
    run, longest, where = run_cells(path, budget, timeout)
    reading = reading_minutes(nbformat.read(path, as_version=4))
    return LessonTime(path.stem, run / 60, longest / 60, where, reading)


def machine() -> str:
    """The processor and the number of threads the kernels' torch uses (they inherit this environment)."""
    from stnlib.train.device import describe_hardware

    return describe_hardware("cpu")


# ----------------------------------------------------------------------------------------------------------------
# Stating the times


def time_paragraph(lesson: LessonTime, budget: str, hardware: str) -> str:
    """The ``**Estimated time:**`` paragraph of a lesson's title cell (wrapped like the course's markdown)."""
    measured = f"measured with `tools/time_lessons.py` on an {hardware}"
    if lesson.run < 1:
        text = (
            f"**Estimated time:** about {lesson.total} minutes of reading and exercises; the cells run in under a "
            f"minute with the `{budget}` budget ({measured}), on a laptop CPU or a Colab GPU alike."
        )
    else:
        text = (
            f"**Estimated time:** about {lesson.total} minutes on a laptop CPU: {lesson.reading:.0f} minutes of "
            f"reading and exercises and {lesson.run:.0f} minutes of running cells with the `{budget}` budget, the "
            f"longest cell {lesson.longest:.1f} minutes ({measured})."
        )
        if lesson.run > TRAINING_MINUTES:
            text += (
                " On a Colab GPU the reading is the same; the training cells run the larger `gpu` budget there, "
                "whose time is not measured yet."
            )
        else:
            text += " On a Colab GPU it takes about as long."
    return textwrap.fill(text, width=116, break_on_hyphens=False, break_long_words=False)


def with_current_reading(lesson: LessonTime, nb: nbformat.NotebookNode) -> LessonTime:
    """The measurement with the reading time of the lesson's text as it is now (the text may change after a run)."""
    return replace(lesson, reading=reading_minutes(nb))


def apply(times: dict[str, LessonTime], budget: str, hardware: str, repo: Path = REPO) -> list[str]:
    """Write the times into the README's lesson table and the solutions' title cells; returns what changed.

    The cells' run times come from the measurement, the reading times from the lessons' current text.
    """
    changed = []
    readme_path = repo / "README.md"
    readme = readme_path.read_text()
    for number, measured in times.items():
        path = repo / "solutions" / f"{measured.name}.ipynb"
        nb = nbformat.read(path, as_version=4)
        lesson = with_current_reading(measured, nb)
        row = re.compile(rf"^(\| {number} \|(?:[^|\n]*\|){{3}}) \d+ min \|", re.M)
        readme, count = row.subn(rf"\g<1> {lesson.total} min |", readme)
        if count != 1:
            raise SystemExit(
                f"README.md: no lesson-table row for lesson {number} with a '<minutes> min' cell"
            )
        title = nb.cells[0]
        new, count = TIME_PARAGRAPH.subn(time_paragraph(lesson, budget, hardware), title.source, count=1)
        if count != 1:
            raise SystemExit(f"{path.name}: its title cell has no '**Estimated time:**' paragraph")
        if new != title.source:
            title.source = new
            nbformat.write(nb, path)
            changed.append(path.name)
    if readme != readme_path.read_text():
        readme_path.write_text(readme)
        changed.append("README.md")
    return changed


def load(path: Path) -> tuple[dict[str, LessonTime], str, str]:
    data = json.loads(path.read_text())
    return {k: LessonTime(**v) for k, v in data["lessons"].items()}, data["budget"], data["hardware"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lessons", nargs="*", help="lesson numbers (default: all)")
    parser.add_argument("--budget", default="cpu", help="STNLIB_BUDGET for the run (default cpu)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell (default 3600)")
    parser.add_argument("--out", type=Path, help="write the measurement to this JSON file")
    parser.add_argument(
        "--apply", type=Path, metavar="JSON", help="state a measurement in README and lessons"
    )
    args = parser.parse_args(argv)
    if args.apply:
        times, budget, hardware = load(args.apply)
        changed = apply(times, budget, hardware)
        print(f"updated: {', '.join(changed) or 'nothing (already up to date)'}; now run `make lessons`")
        return
    paths = sorted((REPO / "solutions").glob("[0-9][0-9]_*.ipynb"))
    if args.lessons:
        paths = [p for p in paths if p.name[:2] in {n.zfill(2) for n in args.lessons}]
        if not paths:
            parser.error(f"no solution notebook for lessons {args.lessons}")
    hardware = machine()
    print(f"Budget {args.budget} on {hardware}; reading: {WORDS_PER_MINUTE} words/min + "
          f"{MINUTES_PER_EXERCISE} min per exercise")  # fmt: skip
    print("| lesson | cells run (min) | longest cell (min) | reading + exercises (min) | total (min) |")
    print("|---|--:|--:|--:|--:|")
    times: dict[str, LessonTime] = {}
    if args.out and args.out.exists():  # measure some lessons again, keep the others' measurement
        kept, budget, kept_hardware = load(args.out)
        if (budget, kept_hardware) == (args.budget, hardware):
            times = kept
    for path in paths:
        lesson = times[path.name[:2]] = measure(path, args.budget, args.timeout)
        print(f"| {lesson.name} | {lesson.run:.1f} | {lesson.longest:.1f} (`{lesson.longest_cell}`) | "
              f"{lesson.reading:.0f} | {lesson.total} |", flush=True)  # fmt: skip
        if args.out:  # after every lesson, so an interrupted run keeps what it measured
            record = {"budget": args.budget, "hardware": hardware, "date": time.strftime("%Y-%m-%d"),
                      "lessons": {k: asdict(v) for k, v in sorted(times.items())}}  # fmt: skip
            args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
