"""tools/time_lessons.py: the lesson times are measured, and the README and the title cells state the measurement."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
MEASUREMENT = ROOT / "benchmarks" / "lesson_times_cpu.json"


@pytest.fixture(scope="module")
def timer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("time_lessons", ROOT / "tools" / "time_lessons.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["time_lessons"] = module
    spec.loader.exec_module(module)
    return module


def _notebook(title: str, *cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(title), *cells])


def test_reading_time_counts_words_and_exercises_but_not_the_stated_time(timer: ModuleType) -> None:
    nb = _notebook(
        " ".join(["word"] * 149) + "\n\n**Estimated time:** about 9 minutes on a laptop CPU.\n\nEnd",
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 2\n### END SOLUTION"),
    )
    assert timer.reading_minutes(nb) == pytest.approx(150 / 150 + 5)


def test_measuring_runs_every_cell_in_a_fresh_folder(timer: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "03_tiny.ipynb"
    nbformat.write(
        _notebook(
            "# Tiny",
            nbformat.v4.new_code_cell("import os, time\nassert not os.path.exists('runs')\nos.mkdir('runs')"),
            nbformat.v4.new_code_cell("time.sleep(0.3)\nassert os.environ['STNLIB_BUDGET'] == 'smoke'"),
        ),
        path,
    )
    lesson = timer.measure(path, "smoke", timeout=60)
    assert lesson.name == "03_tiny" and lesson.longest_cell == "time.sleep(0.3)"
    assert 0.3 / 60 <= lesson.longest <= lesson.run
    assert not (tmp_path / "runs").exists()  # the solution's own folder is left alone


def _course(tmp_path: Path) -> Path:
    (tmp_path / "solutions").mkdir()
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    for path in (ROOT / "solutions").glob("0[05]_*.ipynb"):
        shutil.copy(path, tmp_path / "solutions" / path.name)
    return tmp_path


def test_apply_states_the_times_in_the_readme_and_the_title_cells(timer: ModuleType, tmp_path: Path) -> None:
    course = _course(tmp_path)
    times = {  # reading times are taken from the lessons' current text, not from the measurement
        "00": timer.LessonTime("00_welcome", run=0.4, longest=0.2, longest_cell="x", reading=0.0),
        "05": timer.LessonTime("05_assembling_stn", run=12.6, longest=7.1, longest_cell="fit(", reading=0.0),
    }
    reading = {
        n: timer.reading_minutes(nbformat.read(course / "solutions" / f"{t.name}.ipynb", as_version=4))
        for n, t in times.items()
    }
    changed = timer.apply(times, "cpu", "Intel(R) Test CPU, 1 thread", course)
    assert set(changed) == {"README.md", "00_welcome.ipynb", "05_assembling_stn.ipynb"}
    readme = (course / "README.md").read_text()
    assert f"| {round(0.4 + reading['00'])} min |" in readme.split("| 00 |")[1].splitlines()[0]
    assert f"| {round(12.6 + reading['05'])} min |" in readme.split("| 05 |")[1].splitlines()[0]
    title = nbformat.read(course / "solutions" / "05_assembling_stn.ipynb", as_version=4).cells[0].source
    flat = " ".join(title.split())
    assert (
        f"**Estimated time:** about {round(12.6 + reading['05'])} minutes on a laptop CPU: "
        f"{reading['05']:.0f} minutes of reading and exercises and 13 minutes of running cells with the `cpu` budget, "
        "the longest cell 7.1 minutes (measured with `tools/time_lessons.py` on an Intel(R) Test CPU, 1 thread)."
    ) in flat
    welcome = nbformat.read(course / "solutions" / "00_welcome.ipynb", as_version=4).cells[0].source
    assert "the cells run in under a minute with the `cpu` budget" in " ".join(welcome.split())
    assert "not measured yet" in title  # a training lesson does not pretend to know its GPU time
    assert title.count("**Estimated time:**") == 1 and "**Paper:**" in title
    assert timer.apply(times, "cpu", "Intel(R) Test CPU, 1 thread", course) == []  # idempotent


def test_apply_refuses_a_lesson_without_a_time_paragraph(timer: ModuleType, tmp_path: Path) -> None:
    course = _course(tmp_path)
    path = course / "solutions" / "00_welcome.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source = nb.cells[0].source.replace("**Estimated time:**", "Time:")
    nbformat.write(nb, path)
    lesson = timer.LessonTime("00_welcome", run=1.0, longest=0.5, longest_cell="x", reading=38.0)
    with pytest.raises(SystemExit, match=r"00_welcome\.ipynb: its title cell has no"):
        timer.apply({"00": lesson}, "cpu", "cpu", course)


def test_the_stated_times_are_the_measured_ones(timer: ModuleType) -> None:
    """README and title cells say what benchmarks/lesson_times_cpu.json measured (rerun --apply after measuring)."""
    times, budget, hardware = timer.load(MEASUREMENT)
    assert budget == "cpu"
    assert sorted(times) == sorted(p.name[:2] for p in (ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
    readme = (ROOT / "README.md").read_text()
    for number, measured in times.items():
        nb = nbformat.read(ROOT / "solutions" / f"{measured.name}.ipynb", as_version=4)
        lesson = timer.with_current_reading(measured, nb)
        assert f"| {lesson.total} min |" in readme.split(f"| {number} |")[1].splitlines()[0], number
        assert timer.time_paragraph(lesson, budget, hardware) in nb.cells[0].source, lesson.name
    assert json.loads(MEASUREMENT.read_text())["date"]


@pytest.mark.parametrize(
    "path", sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem
)
def test_a_reader_reaches_the_first_exercise_within_ten_minutes(timer: ModuleType, path: Path) -> None:
    """The markdown before the first exercise reads in at most nine minutes, leaving one for the cells above it."""
    words = 0
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            before, heading, _ = cell.source.partition("### Exercise")
            words += timer.count_words(before)
            if heading:
                break
    else:
        pytest.fail(f"{path.name} has no '### Exercise' heading")
    assert words / timer.WORDS_PER_MINUTE <= 9, f"{path.name}: {words} words before the first exercise"
