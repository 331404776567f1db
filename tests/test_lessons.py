"""The lesson builder (tools/build_lessons.py), the course notebooks it maintains, and the stub-cell hook.

Unit tests run the builder on small in-memory notebooks; the parametrised tests check every notebook in
solutions/ and lessons/ (none yet is fine); one test runs a tiny notebook through nbval in a subprocess to
check that the root conftest.py fails lesson stub cells that do not raise NotImplementedError.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import nbformat
import pytest
from nbformat import NotebookNode

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
import notebook_templates as templates  # noqa: E402

SOLUTION_FILES = sorted(p.name for p in (REPO / "solutions").glob("[0-9][0-9]_*.ipynb"))
LESSON_FILES = sorted(p.name for p in (REPO / "lessons").glob("[0-9][0-9]_*.ipynb"))
ALL_NOTEBOOKS = [f"solutions/{n}" for n in SOLUTION_FILES] + [f"lessons/{n}" for n in LESSON_FILES]

SETTINGS_REPO, SETTINGS_BRANCH = "someone/stn-course", "dev"


@pytest.fixture
def settings(build_lessons: ModuleType):
    return build_lessons.CourseSettings(SETTINGS_REPO, SETTINGS_BRANCH)


def notebook(*cells: tuple[str, str] | tuple[str, str, list[str]]) -> NotebookNode:
    """A notebook from ``(cell_type, source[, tags])`` tuples; code cells get an output and a count."""
    nb = nbformat.v4.new_notebook()
    for cell_type, source, *rest in cells:
        metadata = {"tags": rest[0]} if rest else {}
        if cell_type == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(source, metadata=metadata))
        else:
            cell = nbformat.v4.new_code_cell(source, metadata=metadata, execution_count=7)
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="expected output\n")]
            nb.cells.append(cell)
    return nb


TITLE = "# Coordinates\n\n**Goals:** read a grid.\n\n**Time:** about 30 minutes."
EXERCISE = (
    "def double(x):\n    ### BEGIN SOLUTION\n    y = 2 * x\n    return y\n    ### END SOLUTION\n\n\ndouble(3)"
)
CHECK = "checks.lesson01.check_double(double)"


def full_notebook() -> NotebookNode:
    return notebook(
        ("markdown", TITLE),
        ("code", 'print("hi")', ["setup"]),
        ("markdown", "Explain why:\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION"),
        ("code", EXERCISE),
        ("code", CHECK),
        ("markdown", "## Summary\n\n- grids"),
    )


# ----------------------------------------------------------------------------------- stripping solutions


def test_code_solution_becomes_stub_at_marker_indentation(build_lessons: ModuleType) -> None:
    stub = build_lessons.strip_solutions(EXERCISE, "code")
    assert stub == ("def double(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\n\ndouble(3)")
    compile(stub, "stub", "exec")  # still valid Python


def test_several_regions_and_top_level_region(build_lessons: ModuleType) -> None:
    source = "a = 1\n### BEGIN SOLUTION\nb = 2\n### END SOLUTION\nif a:\n        ### BEGIN SOLUTION\n        c = 3\n        ### END SOLUTION\nd = 4"
    assert build_lessons.strip_solutions(source, "code").splitlines() == [
        "a = 1",
        "# YOUR CODE HERE",
        "raise NotImplementedError()",
        "if a:",
        "        # YOUR CODE HERE",
        "        raise NotImplementedError()",
        "d = 4",
    ]


def test_markdown_solution_becomes_answer_placeholder(build_lessons: ModuleType) -> None:
    source = "Why?\n### BEGIN SOLUTION\nBecause\nof this.\n### END SOLUTION\nNext."
    assert build_lessons.strip_solutions(source, "markdown") == "Why?\n*Write your answer here.*\nNext."


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("x = 1\n### BEGIN SOLUTION\ny = 2", "unterminated '### BEGIN SOLUTION' opened on line 2"),
        (
            "### BEGIN SOLUTION\n  ### BEGIN SOLUTION\n### END SOLUTION",
            "nested '### BEGIN SOLUTION' on line 2",
        ),
        ("y = 2\n### END SOLUTION", "'### END SOLUTION' on line 2 has no matching"),
        (
            "#### BEGIN SOLUTION\ny = 2\n### END SOLUTION",
            "line 1: '#### BEGIN SOLUTION' looks like a solution",
        ),
        (
            "### BEGIN SOLUTION (hint)\ny = 2\n### END SOLUTION",
            "line 1: '### BEGIN SOLUTION (hint)' looks like",
        ),
        ("### BEGIN SOLUTION\ny = 2\n### end solution", "line 3: '### end solution' looks like"),
        ("  #BEGIN SOLUTION\ny = 2\n### END SOLUTION", "write exactly '### BEGIN SOLUTION'"),
        ("### BEGIN SOLUTION\ny = 2\n## END_SOLUTION", "write exactly '### END SOLUTION'"),
        ("###BEGIN SOLUTION\ny = 2\n### END SOLUTION", "line 1: '###BEGIN SOLUTION' looks like"),
    ],
)
def test_marker_errors_name_notebook_and_cell(
    build_lessons: ModuleType, settings, source: str, message: str
) -> None:
    nb = notebook(("markdown", TITLE), ("code", "", ["setup"]), ("markdown", "text"), ("code", source))
    solution = build_lessons.prepare_solution(nb, "solutions/07_broken.ipynb", settings)
    with pytest.raises(build_lessons.BuildError) as error:
        build_lessons.make_lesson(solution, "solutions/07_broken.ipynb", settings)
    assert "solutions/07_broken.ipynb: cell 4" in str(error.value)
    assert message in str(error.value)


def test_text_that_mentions_a_marker_is_not_mistaken_for_one(build_lessons: ModuleType) -> None:
    source = "Answers sit between `### BEGIN SOLUTION` and `### END SOLUTION`.\nx = 1  # see ### END SOLUTION"
    assert build_lessons.strip_solutions(source, "markdown") == source


def _region_and_outside_lines(build_lessons: ModuleType, nb: NotebookNode) -> tuple[set[str], set[str]]:
    inside: set[str] = set()
    outside: set[str] = set()
    for cell in nb.cells:
        lines = cell.source.splitlines()
        regions = build_lessons._solution_regions(cell.source, "cell")
        hidden = {k for begin, end, _ in regions for k in range(begin + 1, end)}
        for k, line in enumerate(lines):
            (inside if k in hidden else outside).add(line.strip())
    return inside, outside


@pytest.mark.parametrize("name", SOLUTION_FILES)
def test_no_line_of_a_solution_region_reaches_the_lesson(build_lessons: ModuleType, name: str) -> None:
    solution = nbformat.read(REPO / "solutions" / name, as_version=4)
    inside, outside = _region_and_outside_lines(build_lessons, solution)
    lesson = nbformat.read(REPO / "lessons" / name, as_version=4)
    lesson_lines = {line.strip() for cell in lesson.cells for line in cell.source.splitlines()}
    # A line that also appears outside every region (a blank line, "return x" used elsewhere) proves nothing.
    leaked = {line for line in inside - outside if line} & lesson_lines
    assert not leaked, f"lines of solution regions in lessons/{name}: {sorted(leaked)[:5]}"


# ---------------------------------------------------------------------------------- building notebooks


def test_lesson_has_stubs_tags_and_no_outputs(build_lessons: ModuleType, settings) -> None:
    solution = build_lessons.prepare_solution(full_notebook(), "solutions/01_coordinates.ipynb", settings)
    lesson = build_lessons.make_lesson(solution, "solutions/01_coordinates.ipynb", settings)
    cells = lesson.cells
    assert all(c.outputs == [] and c.execution_count is None for c in cells if c.cell_type == "code")
    assert "raise NotImplementedError()" in cells[3].source and "y = 2 * x" not in cells[3].source
    assert cells[3].metadata["tags"] == ["raises-exception"]
    assert cells[2].source == "Explain why:\n*Write your answer here.*"
    assert "tags" not in cells[2].metadata and "tags" not in cells[4].metadata
    assert [c.id for c in cells] == [c.id for c in solution.cells]
    # the solution keeps its answers and outputs
    assert "y = 2 * x" in solution.cells[3].source
    assert solution.cells[3].outputs[0].text == "expected output\n"
    assert solution.cells[3].execution_count == 7


def test_badges_point_at_each_notebooks_own_path(build_lessons: ModuleType, settings) -> None:
    solution = build_lessons.prepare_solution(full_notebook(), "solutions/01_coordinates.ipynb", settings)
    lesson = build_lessons.make_lesson(solution, "solutions/01_coordinates.ipynb", settings)
    colab = f"https://colab.research.google.com/github/{SETTINGS_REPO}/blob/{SETTINGS_BRANCH}"
    assert f"]({colab}/solutions/01_coordinates.ipynb)" in solution.cells[0].source
    assert f"]({colab}/lessons/01_coordinates.ipynb)" in lesson.cells[0].source
    assert lesson.cells[0].source.count("colab-badge.svg") == 1
    assert lesson.cells[0].source.startswith("# Coordinates\n\n[![Open In Colab]")


def test_setup_cell_is_generated_and_keeps_authors_lines(build_lessons: ModuleType, settings) -> None:
    nb = full_notebook()
    nb.cells[1].source = f"{templates.SETUP_END_LINE}\nimport torch"
    solution = build_lessons.prepare_solution(nb, "solutions/01_coordinates.ipynb", settings)
    source = solution.cells[1].source
    assert source == templates.setup_cell_source(SETTINGS_REPO, SETTINGS_BRANCH) + "\nimport torch"
    assert f'"git+https://github.com/{SETTINGS_REPO}@{SETTINGS_BRANCH}"' in source
    assert '"--no-deps"' in source and "enable_custom_widget_manager()" in source
    assert "torch.cuda.is_available()" in source and "get_budget()" in source
    compile(source, "setup", "exec")


def test_setup_cell_is_inserted_when_missing(build_lessons: ModuleType, settings) -> None:
    nb = notebook(("markdown", TITLE), ("code", "x = 1"))
    solution = build_lessons.prepare_solution(nb, "solutions/02_x.ipynb", settings)
    assert [c.cell_type for c in solution.cells] == ["markdown", "code", "code"]
    assert solution.cells[1].metadata["tags"] == ["setup"] and solution.cells[2].source == "x = 1"


def _run_setup_cell(monkeypatch: pytest.MonkeyPatch, *, colab: bool, gpu: bool) -> tuple[list, list]:
    """Execute the generated setup cell; in "Colab" record pip calls and widget-manager calls."""
    pip_calls: list = []
    widget_calls: list = []
    monkeypatch.setenv("STNLIB_BUDGET", "smoke")
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: pip_calls.append((args, kwargs)))
    monkeypatch.setattr("torch.cuda.is_available", lambda: gpu)
    if colab:
        output = ModuleType("google.colab.output")
        output.enable_custom_widget_manager = lambda: widget_calls.append(True)  # type: ignore[attr-defined]
        colab_module = ModuleType("google.colab")
        colab_module.output = output  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "google", ModuleType("google"))
        monkeypatch.setitem(sys.modules, "google.colab", colab_module)
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(templates.setup_cell_source(SETTINGS_REPO, SETTINGS_BRANCH), {})
    return pip_calls, widget_calls


def test_setup_cell_locally_only_prints_the_budget(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    pip_calls, widget_calls = _run_setup_cell(monkeypatch, colab=False, gpu=False)
    assert pip_calls == [] and widget_calls == []
    assert capsys.readouterr().out == (
        "Compute budget: smoke (seconds: proves the code runs (CI)); set STNLIB_BUDGET to change it.\n"
    )


@pytest.mark.parametrize("gpu", [True, False])
def test_setup_cell_in_colab_installs_without_deps_and_warns_without_gpu(
    monkeypatch: pytest.MonkeyPatch, capsys, gpu: bool
) -> None:
    pip_calls, widget_calls = _run_setup_cell(monkeypatch, colab=True, gpu=gpu)
    assert widget_calls == [True]
    (command,), options = pip_calls[0]
    target = f"git+https://github.com/{SETTINGS_REPO}@{SETTINGS_BRANCH}"
    assert command[1:] == ["-m", "pip", "install", "-q", "--no-deps", target]
    assert options == {"check": True}
    assert all("torch" not in str(call) for call in pip_calls)  # Colab's CUDA build of torch stays
    out = capsys.readouterr().out
    assert ("NO GPU IS ATTACHED" in out) is (not gpu)
    assert "Compute budget: smoke" in out


def test_colab_metadata_and_kernelspec(build_lessons: ModuleType, settings) -> None:
    nb = full_notebook()
    nb.metadata["colab"] = {"name": "keep me"}
    nb.metadata["widgets"] = {"state": {}}
    solution = build_lessons.prepare_solution(nb, "solutions/01_coordinates.ipynb", settings)
    lesson = build_lessons.make_lesson(solution, "solutions/01_coordinates.ipynb", settings)
    for built in (solution, lesson):
        assert built.metadata["accelerator"] == "GPU"
        assert built.metadata["colab"]["gpuType"] == "T4" and built.metadata["colab"]["name"] == "keep me"
        assert built.metadata["kernelspec"]["name"] == "python3"
    assert "widgets" in solution.metadata and "widgets" not in lesson.metadata


def test_building_is_deterministic_and_idempotent(build_lessons: ModuleType, settings) -> None:
    nb = full_notebook()
    for cell in nb.cells:  # cells without ids get stable ones; volatile metadata is dropped
        del cell["id"]
    nb.cells[3].metadata["execution"] = {"iopub.execute_input": "2025-01-01T00:00:00Z"}
    nb.nbformat_minor = 4
    path = "solutions/01_coordinates.ipynb"
    first = build_lessons.prepare_solution(nb, path, settings)
    second = build_lessons.prepare_solution(first, path, settings)
    again = build_lessons.prepare_solution(nb, path, settings)
    assert build_lessons.render(first) == build_lessons.render(second) == build_lessons.render(again)
    assert "execution" not in first.cells[3].metadata
    lesson_bytes = build_lessons.render(build_lessons.make_lesson(first, path, settings))
    assert lesson_bytes == build_lessons.render(build_lessons.make_lesson(second, path, settings))
    assert lesson_bytes.endswith(b"}\n") and json.loads(lesson_bytes)["nbformat_minor"] == 5


def test_title_cell_must_be_markdown(build_lessons: ModuleType, settings) -> None:
    with pytest.raises(
        build_lessons.BuildError, match=r"solutions/03_x\.ipynb: cell 1 must be the markdown title"
    ):
        build_lessons.prepare_solution(notebook(("code", "x = 1")), "solutions/03_x.ipynb", settings)


# ------------------------------------------------------------------------------ recognising cells, lint


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("checks.lesson01.check_affine_grid(affine_grid)", True),
        ("from stnlib.checks.lesson02 import check_sampler\n\ncheck_sampler(bilinear);", True),
        ("result = check_grid(grid)\ngrid = use_or_fallback(grid, reference)", True),
        ("def check_grid(fn):\n    pass", False),
        ("print('check_grid(grid) is next')", False),
        ("%matplotlib inline\ncheck_x(x)", True),
        ("x = (", False),
    ],
)
def test_is_check_cell(build_lessons: ModuleType, source: str, expected: bool) -> None:
    assert build_lessons.is_check_cell(nbformat.v4.new_code_cell(source)) is expected


def test_check_tag_marks_a_check_cell(build_lessons: ModuleType) -> None:
    cell = nbformat.v4.new_code_cell("assert grid.shape == (1, 2, 3, 2)", metadata={"tags": ["check"]})
    assert build_lessons.is_check_cell(cell)


def test_exercise_without_later_check_cell_is_reported(build_lessons: ModuleType) -> None:
    nb = notebook(("markdown", TITLE), ("code", CHECK), ("code", EXERCISE), ("code", "double(2)"))
    problems = build_lessons.exercise_problems(nb, "solutions/04_x.ipynb")
    assert problems == [
        "solutions/04_x.ipynb: cell 3: exercise cell has no check cell after it (a cell calling check_...(...))"
    ]
    nb.cells.append(nbformat.v4.new_code_cell(CHECK))
    assert build_lessons.exercise_problems(nb, "solutions/04_x.ipynb") == []


def test_structure_of_a_complete_notebook_passes(build_lessons: ModuleType, settings) -> None:
    solution = build_lessons.prepare_solution(full_notebook(), "solutions/01_coordinates.ipynb", settings)
    lesson = build_lessons.make_lesson(solution, "solutions/01_coordinates.ipynb", settings)
    assert build_lessons.structure_problems(solution, "solutions/01_coordinates.ipynb", settings) == []
    assert build_lessons.structure_problems(lesson, "lessons/01_coordinates.ipynb", settings) == []


@pytest.mark.parametrize(
    ("title", "last", "missing"),
    [
        ("# Coordinates\n\n**Time:** 30 min", "## Summary", "Goals"),
        ("# Coordinates\n\nGoals: grids.", "## Summary", "estimated time"),
        ("Coordinates\n\nGoals: grids. 1 hour", "## Summary", "starting with '# '"),
        (TITLE, "## Next steps", "Summary"),
    ],
)
def test_structure_problems_name_what_is_missing(
    build_lessons: ModuleType, settings, title: str, last: str, missing: str
) -> None:
    nb = notebook(("markdown", title), ("code", "", ["setup"]), ("markdown", last))
    solution = build_lessons.prepare_solution(nb, "solutions/05_x.ipynb", settings)
    problems = build_lessons.structure_problems(solution, "solutions/05_x.ipynb", settings)
    assert len(problems) == 1 and missing in problems[0]
    # a badge for another path is reported too
    assert any(
        "Colab badge" in p for p in build_lessons.structure_problems(solution, "lessons/05_x.ipynb", settings)
    )


# ----------------------------------------------------------------------------------- settings and CLI


def test_settings_from_pyproject(build_lessons: ModuleType) -> None:
    settings = build_lessons.read_settings(REPO / "pyproject.toml")
    assert "/" in settings.repository and settings.branch


def test_missing_settings_are_an_error(build_lessons: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.stn-course]\nbranch = "main"\n')
    with pytest.raises(build_lessons.BuildError, match=r"\[tool.stn-course\] needs repository"):
        build_lessons.read_settings(tmp_path / "pyproject.toml")


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A tiny course checkout: pyproject with the settings, one solution."""
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.other]\nrepository = "wrong/one"\n\n[tool.stn-course]\n'
        f'repository = "{SETTINGS_REPO}"  # comment\nbranch = "{SETTINGS_BRANCH}"\n'
    )
    (tmp_path / "solutions").mkdir()
    nbformat.write(full_notebook(), tmp_path / "solutions" / "01_coordinates.ipynb")
    return tmp_path


def test_build_then_check_on_a_course(build_lessons: ModuleType, course: Path, capsys) -> None:
    assert build_lessons.main(["--root", str(course), "--check"]) == 1
    assert "lessons/01_coordinates.ipynb is out of date" in capsys.readouterr().err
    assert build_lessons.main(["--root", str(course)]) == 0
    assert "wrote lessons/01_coordinates.ipynb" in capsys.readouterr().out
    lesson = (course / "lessons" / "01_coordinates.ipynb").read_bytes()
    assert f"github/{SETTINGS_REPO}/blob/{SETTINGS_BRANCH}/lessons/01_coordinates.ipynb".encode() in lesson
    assert build_lessons.main(["--root", str(course), "--check"]) == 0
    assert build_lessons.main(["--root", str(course)]) == 0
    assert (course / "lessons" / "01_coordinates.ipynb").read_bytes() == lesson  # byte-identical rebuild
    shutil.copy(course / "lessons" / "01_coordinates.ipynb", course / "lessons" / "09_orphan.ipynb")
    assert build_lessons.main(["--root", str(course), "--check"]) == 1
    assert "lessons/09_orphan.ipynb has no solution" in capsys.readouterr().err


def test_build_selected_notebooks_only(build_lessons: ModuleType, course: Path, capsys) -> None:
    shutil.copy(course / "solutions" / "01_coordinates.ipynb", course / "solutions" / "02_grid.ipynb")
    assert build_lessons.main(["--root", str(course), "solutions/02_grid.ipynb"]) == 0
    assert "wrote lessons/02_grid.ipynb" in capsys.readouterr().out
    assert not (course / "lessons" / "01_coordinates.ipynb").exists()
    assert build_lessons.main(["--root", str(course), "01_coordinates"]) == 0
    assert (course / "lessons" / "01_coordinates.ipynb").exists()
    assert build_lessons.main(["--root", str(course), "07_missing"]) == 2
    assert "no solution notebook named 07_missing.ipynb" in capsys.readouterr().err


def test_marker_error_stops_the_build(build_lessons: ModuleType, course: Path, capsys) -> None:
    nb = full_notebook()
    nb.cells[3].source = "### BEGIN SOLUTION\nx = 1"
    nbformat.write(nb, course / "solutions" / "01_coordinates.ipynb")
    assert build_lessons.main(["--root", str(course)]) == 2
    assert "solutions/01_coordinates.ipynb: cell 4: unterminated" in capsys.readouterr().err


def test_new_skeleton_is_complete_and_ruff_clean(build_lessons: ModuleType, course: Path) -> None:
    assert build_lessons.main(["--root", str(course), "--new", "02_sampler", "The sampler"]) == 0
    assert build_lessons.main(["--root", str(course)]) == 0
    assert build_lessons.build(course, check=True) == []
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed next to this Python")
    config = ["--config", str(REPO / "pyproject.toml")]
    target = str(course / "solutions" / "02_sampler.ipynb")
    formatted = subprocess.run([ruff, "format", "--check", *config, target], capture_output=True, text=True)
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr  # `make test` runs this check
    linted = subprocess.run([ruff, "check", *config, target], capture_output=True, text=True)
    assert linted.returncode == 0, linted.stdout + linted.stderr


# ------------------------------------------------------------------------------- the course's notebooks


def test_every_solution_has_a_lesson_and_vice_versa() -> None:
    assert SOLUTION_FILES == LESSON_FILES


@pytest.mark.parametrize("name", SOLUTION_FILES)
def test_lesson_and_solution_are_up_to_date(build_lessons: ModuleType, name: str) -> None:
    settings = build_lessons.read_settings(REPO / "pyproject.toml")
    solution_bytes, lesson_bytes = build_lessons.build_pair(REPO / "solutions" / name, settings, REPO)
    assert (REPO / "solutions" / name).read_bytes() == solution_bytes, "run `make lessons`"
    assert (REPO / "lessons" / name).read_bytes() == lesson_bytes, "run `make lessons`"


@pytest.mark.parametrize("path", ALL_NOTEBOOKS)
def test_badge_points_at_the_notebooks_own_path(build_lessons: ModuleType, path: str) -> None:
    settings = build_lessons.read_settings(REPO / "pyproject.toml")
    title = nbformat.read(REPO / path, as_version=4).cells[0].source
    assert templates.colab_badge(settings.repository, settings.branch, path) in title


@pytest.mark.parametrize("path", ALL_NOTEBOOKS)
def test_notebook_has_title_goals_time_badge_setup_summary(build_lessons: ModuleType, path: str) -> None:
    settings = build_lessons.read_settings(REPO / "pyproject.toml")
    nb = nbformat.read(REPO / path, as_version=4)
    assert build_lessons.structure_problems(nb, path, settings) == []


@pytest.mark.parametrize("name", SOLUTION_FILES)
def test_every_exercise_is_followed_by_a_check_cell(build_lessons: ModuleType, name: str) -> None:
    nb = nbformat.read(REPO / "solutions" / name, as_version=4)
    assert build_lessons.exercise_problems(nb, f"solutions/{name}") == []


# ------------------------------------------------------------------ the stub-cell hook, through nbval


def test_nbval_fails_lesson_stub_cells_that_do_not_raise_not_implemented(tmp_path: Path) -> None:
    shutil.copy(REPO / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "tools").mkdir()
    shutil.copy(REPO / "tools" / "notebook_templates.py", tmp_path / "tools")  # the conftest's stub markers
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    stub = "# YOUR CODE HERE\nraise NotImplementedError()"
    nb = nbformat.v4.new_notebook()
    cells = [
        ("x = 1", []),  # 0 pass
        (
            f"def f(x):\n    {stub.replace(chr(10), chr(10) + '    ')}\n\n\nf(1)",
            ["raises-exception"],
        ),  # 1 pass
        (
            f"def g(x):\n    {stub.replace(chr(10), chr(10) + '    ')}",
            ["raises-exception"],
        ),  # 2 fail: no raise
        ("# YOUR CODE HERE\nundefined_name", ["raises-exception"]),  # 3 fail: NameError
        ("raise ValueError('an author demonstrates an error')", ["raises-exception"]),  # 4 pass: not a stub
        (
            "import torch\nfrom stnlib.checks import Case, check_function\n"
            "check_function('f', f, torch.sin, [Case('zeros', (torch.zeros(2),))])",
            [],
        ),  # 5 pass: not implemented does not raise
        ("check_function('g', lambda x: x, torch.sin, [Case('ones', (torch.ones(2),))])", []),  # 6 fail
    ]
    for source, tags in cells:
        nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": tags} if tags else {}))
    nbformat.write(nb, tmp_path / "lesson.ipynb")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:xdist",
         "-p", "no:cacheprovider", "-q", "-rA", "lesson.ipynb"],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    outcomes = {}
    for line in done.stdout.splitlines():
        for word in ("PASSED", "FAILED"):
            if line.startswith(f"{word} lesson.ipynb::Cell "):
                outcomes[int(line.split("::Cell ")[1].split()[0])] = word
    assert outcomes == {
        0: "PASSED",
        1: "PASSED",
        2: "FAILED",
        3: "FAILED",
        4: "PASSED",
        5: "PASSED",
        6: "FAILED",
    }, done.stdout[-3000:]
    assert "must raise NotImplementedError; it ran without raising" in done.stdout
    assert "must raise NotImplementedError; NameError" in done.stdout
    assert "CheckFailed: g did not pass its check" in done.stdout
