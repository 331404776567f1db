"""Build the student notebooks (``lessons/``) from the hand-written solutions (``solutions/``).

How the course machinery works
==============================

* **Solutions are the source.** Authors write ``solutions/NN_name.ipynb`` (run them, so the outputs show
  students the expected results) and run ``make lessons`` (``python tools/build_lessons.py``). The builder
  rewrites each solution's generated parts and writes ``lessons/NN_name.ipynb``. ``--check`` only reports
  what is out of date (exit status 1), and the test suite checks that regenerating gives byte-identical files.
* **Exercises.** In a code cell, the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` become
  ``# YOUR CODE HERE`` and ``raise NotImplementedError()`` at the marker's indentation, and the lesson cell
  is tagged ``raises-exception``. In a markdown cell the region becomes "*Write your answer here.*".
  Unterminated, unopened or nested markers stop the build with the notebook and cell number (counted from 1).
  An exercise cell must *run* the code it asks for (e.g. end with a call on a small example), so that its
  stub raises ``NotImplementedError`` when executed: the test suite fails a lesson stub cell that does not.
* **Check cells.** Every code cell with a marker must be followed, later in the notebook, by a check cell:
  a code cell that calls a function whose name starts with ``check_`` (``checks.lesson01.check_grid(grid)``)
  or is tagged ``check``. Checkers print a report; a wrong answer raises ``CheckFailed`` (so the test suite
  fails a wrong solution), while "not implemented yet" does not raise (so a lesson runs top to bottom with
  its exercises open). ``use_or_fallback`` then picks the student's function or the reference.
* **Generated parts**, from the one setting ``[tool.stn-course] repository/branch`` in ``pyproject.toml``:
  the "Open in Colab" badge in the title cell (first cell, markdown), pointing at the notebook's own path;
  the setup cell (first code cell, tagged ``setup``: in Colab it installs the course without touching
  Colab's torch, enables the widget manager and warns when no GPU is attached; everywhere it prints the
  compute budget; authors may add lines below its last generated line); Colab's GPU runtime metadata and the
  python3 kernelspec. Wording lives in ``tools/notebook_templates.py``.
* **Lessons carry no outputs** and no execution counts; cell ids are copied from the solution, and files
  are written with nbformat's stable JSON, so regenerating gives the same bytes.
* **Every notebook has** a title cell (``# Title``, the word "Goals", an estimated time such as "30 minutes"),
  the badge, the setup cell, exercises with check cells, and a ``## Summary`` section.
* **Tests.** ``make test`` runs pytest over ``tests/``, ``solutions/`` and ``lessons/`` with nbval
  (``--nbval-lax``: every cell must run, outputs are not compared; ``-n 2`` with ``--dist loadfile`` so one
  notebook stays in one kernel) under ``STNLIB_BUDGET=smoke``. A solution cell that raises, e.g. a check that
  fails, fails the suite; a lesson stub cell must raise ``NotImplementedError`` (hook in the root ``conftest.py``).
  ``tests/test_lessons.py`` checks that every lesson is up to date and complete. To run one notebook: ``pytest lessons/01_coordinates.ipynb``
  (the root ``conftest.py`` applies the course's hooks to any selection).
* **Widgets.** The browser test (``tests/test_browser.py``) opens lesson 01 in JupyterLab, runs the cells
  above the cell tagged ``theta-explorer`` and that cell, and drags a slider of ``stnlib.widgets.theta_explorer``.

Usage::

    python tools/build_lessons.py            # rewrite solutions' generated parts, write lessons
    python tools/build_lessons.py --check    # report out-of-date files, write nothing
    python tools/build_lessons.py 03_sampler # rebuild one notebook's solution and lesson
    python tools/build_lessons.py --new 03_sampler "The sampler"   # start a new solution notebook
"""

from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

sys.path.insert(
    0, str(Path(__file__).resolve().parent)
)  # for notebook_templates, also when imported by tests
import notebook_templates as templates

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = "solutions"
LESSONS = "lessons"
NOTEBOOK_NAME = re.compile(r"\d{2}_[A-Za-z0-9_]+\.ipynb")

BEGIN_MARKER = "### BEGIN SOLUTION"
END_MARKER = "### END SOLUTION"
STUB_COMMENT = templates.STUB_COMMENT
STUB_RAISE = "raise NotImplementedError()"
MARKDOWN_STUB = "*Write your answer here.*"
STUB_TAG = templates.STUB_TAG
SETUP_TAG = "setup"
CHECK_TAG = "check"

#: Cell metadata that records how or when a cell last ran, not what it is; dropped so files stay stable.
VOLATILE_CELL_METADATA = ("execution", "ExecuteTime", "collapsed", "scrolled")

_BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")
_TIME_ESTIMATE = re.compile(r"\d+\s*(?:(?:-|–|to)\s*\d+\s*)?(?:min(?:ute)?s?|h(?:ours?)?)\b", re.IGNORECASE)
_SUMMARY_HEADING = re.compile(r"^#{1,3}\s+.*\bSummary\b", re.IGNORECASE | re.MULTILINE)


class BuildError(ValueError):
    """A notebook cannot be built; the message names the notebook and the cell (counted from 1)."""


@dataclass(frozen=True)
class CourseSettings:
    """The ``[tool.stn-course]`` table of ``pyproject.toml``."""

    repository: str
    branch: str


# ------------------------------------------------------------------------------------------- settings


def read_settings(pyproject: Path = ROOT / "pyproject.toml") -> CourseSettings:
    """Read the repository and branch of the course from ``[tool.stn-course]``."""
    text = pyproject.read_text(encoding="utf-8")
    table = tomllib.loads(text).get("tool", {}).get("stn-course", {})
    missing = [k for k in ("repository", "branch") if not table.get(k)]
    if missing:
        raise BuildError(
            f'{pyproject}: [tool.stn-course] needs {" and ".join(missing)} (e.g. repository = "owner/name")'
        )
    return CourseSettings(repository=table["repository"], branch=table["branch"])


# -------------------------------------------------------------------------------------------- markers


def _where(notebook: str, index: int) -> str:
    return f"{notebook}: cell {index + 1}"


# Anything a person might have meant as a marker: any number of hashes, any case, "_" or "-" or no space between the
# words, text after them. A line like this that is not exactly a marker would otherwise leak its region's answer.
_MARKER_LIKE = re.compile(r"#+\s*(begin|end)[\s_-]*solution\b.*", re.IGNORECASE)


def _solution_regions(source: str, where: str) -> list[tuple[int, int, str]]:
    """``(begin_line, end_line, indentation)`` of each marked region; raise on malformed markers."""
    regions: list[tuple[int, int, str]] = []
    open_at: int | None = None
    indent = ""
    for number, line in enumerate(source.splitlines()):
        marker = line.strip()
        if marker not in (BEGIN_MARKER, END_MARKER) and _MARKER_LIKE.fullmatch(marker):
            meant = BEGIN_MARKER if marker.lstrip("#").strip().lower().startswith("begin") else END_MARKER
            raise BuildError(
                f"{where}, line {number + 1}: {marker!r} looks like a solution marker but is not one, so the "
                f"answer would reach the student's lesson; write exactly {meant!r} on a line of its own "
                "(three hashes, upper case, nothing after it)"
            )
        if marker == BEGIN_MARKER:
            if open_at is not None:
                raise BuildError(
                    f"{where}: nested {BEGIN_MARKER!r} on line {number + 1}; the region opened on line "
                    f"{open_at + 1} is still open (close it with {END_MARKER!r} first)"
                )
            open_at, indent = number, line[: len(line) - len(line.lstrip())]
        elif marker == END_MARKER:
            if open_at is None:
                raise BuildError(
                    f"{where}: {END_MARKER!r} on line {number + 1} has no matching {BEGIN_MARKER!r}"
                )
            regions.append((open_at, number, indent))
            open_at = None
    if open_at is not None:
        raise BuildError(
            f"{where}: unterminated {BEGIN_MARKER!r} opened on line {open_at + 1}; add {END_MARKER!r}"
        )
    return regions


def has_solution_markers(source: str) -> bool:
    """Whether a cell's source contains a solution marker."""
    return any(line.strip() in (BEGIN_MARKER, END_MARKER) for line in source.splitlines())


def strip_solutions(source: str, cell_type: str, where: str = "cell") -> str:
    """Replace every marked solution region of a cell's ``source`` with the student's stub.

    Example:
        >>> print(strip_solutions("def f(x):\\n    ### BEGIN SOLUTION\\n    return x\\n    ### END SOLUTION", "code"))
        def f(x):
            # YOUR CODE HERE
            raise NotImplementedError()
    """
    lines = source.splitlines()
    out: list[str] = []
    previous_end = -1
    for begin, end, indent in _solution_regions(source, where):
        out.extend(lines[previous_end + 1 : begin])
        if cell_type == "code":
            out.extend([indent + STUB_COMMENT, indent + STUB_RAISE])
        else:
            out.append(MARKDOWN_STUB)
        previous_end = end
    out.extend(lines[previous_end + 1 :])
    return "\n".join(out)


# ------------------------------------------------------------------------------------- cell recognition


def _tags(cell: NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def is_check_cell(cell: NotebookNode) -> bool:
    """A check cell is a code cell that calls a function whose name starts with ``check_``
    (``check_grid(grid)``, ``checks.lesson01.check_grid(grid)``) or is tagged ``check``."""
    if cell.cell_type != "code":
        return False
    if CHECK_TAG in _tags(cell):
        return True
    code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return re.search(r"(?<!def )\bcheck_\w+\s*\(", code) is not None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            if name.startswith("check_"):
                return True
    return False


def is_stub_cell(cell: NotebookNode) -> bool:
    """Whether a lesson cell is an exercise stub written by this builder."""
    return cell.cell_type == "code" and STUB_TAG in _tags(cell) and STUB_COMMENT in cell.source


def _setup_cell_index(nb: NotebookNode) -> int | None:
    return next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), None)


# ------------------------------------------------------------------------------------------- building


def _stable_id(notebook: str, index: int, taken: set[str]) -> str:
    digest = hashlib.sha1(f"{notebook}:{index}".encode()).hexdigest()
    candidate, n = digest[:8], 8
    while candidate in taken:
        n += 1
        candidate = digest[:n]
    return candidate


def _write_badge(title: str, badge: str) -> str:
    if _BADGE.search(title):
        return _BADGE.sub(lambda _: badge, title, count=1)
    heading, _, rest = title.partition("\n")
    return f"{heading}\n\n{badge}\n" + (f"\n{rest.lstrip(chr(10))}" if rest.strip() else "")


def _setup_source(existing: str, settings: CourseSettings) -> str:
    generated = templates.setup_cell_source(settings.repository, settings.branch)
    if templates.SETUP_END_LINE in existing:
        authors_part = existing.split(templates.SETUP_END_LINE, 1)[1]
    else:
        authors_part = ("\n" + existing) if existing.strip() else ""
    return generated + authors_part


def prepare_solution(nb: NotebookNode, path: str, settings: CourseSettings) -> NotebookNode:
    """Return a copy of a solution notebook with its generated parts written.

    Writes the Colab badge for ``path`` (``solutions/NN_name.ipynb``) into the title cell, the setup cell
    (inserted before the first code cell if that is not tagged ``setup``), the kernelspec and Colab's GPU
    metadata, and stable cell ids; drops cell metadata that only records when a cell ran. Outputs are kept.
    """
    nb = copy.deepcopy(nb)
    if not nb.cells or nb.cells[0].cell_type != "markdown":
        raise BuildError(f"{path}: cell 1 must be the markdown title cell (# Title, Goals, time, badge)")
    nb.cells[0].source = _write_badge(
        nb.cells[0].source, templates.colab_badge(settings.repository, settings.branch, path)
    )
    setup = _setup_cell_index(nb)
    if setup is None or SETUP_TAG not in _tags(nb.cells[setup]):
        cell = nbformat.v4.new_code_cell("", metadata={"tags": [SETUP_TAG]})
        nb.cells.insert(1 if setup is None else setup, cell)
        setup = 1 if setup is None else setup
    nb.cells[setup].source = _setup_source(nb.cells[setup].source, settings)

    nb.nbformat, nb.nbformat_minor = 4, max(5, nb.get("nbformat_minor", 5))
    nb.metadata["kernelspec"] = dict(templates.KERNELSPEC)
    nb.metadata.setdefault("language_info", {"name": "python"})
    nb.metadata["accelerator"] = templates.COLAB_METADATA["accelerator"]
    colab = dict(nb.metadata.get("colab", {}))
    colab.update(
        {k: v for k, v in templates.COLAB_METADATA["colab"].items() if k == "gpuType" or k not in colab}
    )
    nb.metadata["colab"] = colab

    taken: set[str] = set()
    for index, cell in enumerate(nb.cells):
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        cell_id = cell.get("id")
        if not cell_id or cell_id in taken or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", cell_id):
            cell_id = _stable_id(path, index, taken)
        cell["id"] = cell_id
        taken.add(cell_id)
    return nb


def make_lesson(solution: NotebookNode, solution_path: str, settings: CourseSettings) -> NotebookNode:
    """Return the lesson for a prepared solution notebook: solutions stripped, outputs cleared, badge
    pointing at the lesson's own path."""
    name = Path(solution_path).name
    nb = copy.deepcopy(solution)
    nb.metadata.pop("widgets", None)  # saved widget state belongs to outputs, which lessons do not carry
    nb.cells[0].source = _write_badge(
        nb.cells[0].source, templates.colab_badge(settings.repository, settings.branch, f"{LESSONS}/{name}")
    )
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        if cell.cell_type in ("code", "markdown") and has_solution_markers(cell.source):
            cell.source = strip_solutions(cell.source, cell.cell_type, _where(f"{SOLUTIONS}/{name}", index))
            if cell.cell_type == "code":
                tags = _tags(cell)
                cell.metadata["tags"] = tags if STUB_TAG in tags else [*tags, STUB_TAG]
    return nb


def render(nb: NotebookNode) -> bytes:
    """The notebook as the bytes written to disk (nbformat's stable JSON plus a final newline)."""
    nbformat.validate(nb)
    return (nbformat.writes(nb, version=4) + "\n").encode("utf-8")


def read_notebook(path: Path) -> NotebookNode:
    return nbformat.read(path, as_version=4)


def build_pair(solution_file: Path, settings: CourseSettings, root: Path = ROOT) -> tuple[bytes, bytes]:
    """Return the bytes of the prepared solution and of its lesson."""
    relative = solution_file.resolve().relative_to(root.resolve()).as_posix()
    solution = prepare_solution(read_notebook(solution_file), relative, settings)
    return render(solution), render(make_lesson(solution, relative, settings))


# ---------------------------------------------------------------------------------------------- checks


def exercise_problems(nb: NotebookNode, path: str) -> list[str]:
    """Exercise cells (code cells with solution markers) that no later check cell follows."""
    problems = []
    checks = [i for i, cell in enumerate(nb.cells) if is_check_cell(cell)]
    for index, cell in enumerate(nb.cells):
        if (
            cell.cell_type == "code"
            and has_solution_markers(cell.source)
            and not any(c > index for c in checks)
        ):
            problems.append(
                f"{_where(path, index)}: exercise cell has no check cell after it (a cell calling check_...(...))"
            )
    return problems


def structure_problems(nb: NotebookNode, path: str, settings: CourseSettings) -> list[str]:
    """What a course notebook at ``path`` lacks: title with goals and time, own badge, setup cell, summary."""
    problems = []
    title = nb.cells[0].source if nb.cells and nb.cells[0].cell_type == "markdown" else ""
    if not title.lstrip().startswith("# "):
        problems.append(f"{path}: cell 1 must be a markdown title cell starting with '# '")
    if "goals" not in title.lower():
        problems.append(f"{path}: the title cell must list the lesson's Goals")
    if not _TIME_ESTIMATE.search(title):
        problems.append(f"{path}: the title cell must give an estimated time, e.g. 'about 30 minutes'")
    badge = templates.colab_badge(settings.repository, settings.branch, path)
    if badge not in title:
        problems.append(f"{path}: the title cell must carry the Colab badge {badge}")
    setup = _setup_cell_index(nb)
    if setup is None or SETUP_TAG not in _tags(nb.cells[setup]):
        problems.append(f"{path}: the first code cell must be the setup cell (tagged '{SETUP_TAG}')")
    elif not nb.cells[setup].source.startswith(
        templates.setup_cell_source(settings.repository, settings.branch)
    ):
        problems.append(f"{path}: the setup cell is not the generated one; run `make lessons`")
    if not any(c.cell_type == "markdown" and _SUMMARY_HEADING.search(c.source) for c in nb.cells[1:]):
        problems.append(f"{path}: the notebook needs a '## Summary' section")
    if nb.metadata.get("accelerator") != "GPU" or nb.metadata.get("colab", {}).get("gpuType") != "T4":
        problems.append(f"{path}: Colab GPU metadata missing; run `make lessons`")
    return problems


# ------------------------------------------------------------------------------------------------- CLI


def solution_files(root: Path = ROOT) -> list[Path]:
    return sorted(p for p in (root / SOLUTIONS).glob("*.ipynb") if NOTEBOOK_NAME.fullmatch(p.name))


def lesson_files(root: Path = ROOT) -> list[Path]:
    return sorted(p for p in (root / LESSONS).glob("*.ipynb") if NOTEBOOK_NAME.fullmatch(p.name))


def build(
    root: Path = ROOT,
    *,
    check: bool = False,
    settings: CourseSettings | None = None,
    only: Sequence[str] = (),
) -> list[str]:
    """Bring every solution and lesson under ``root`` up to date (or, with ``check``, only compare).

    ``only`` restricts the build to the named notebooks (``03_sampler``, ``03_sampler.ipynb`` or a path to
    the solution or the lesson), so an author can rebuild one lesson while others edit theirs.

    Returns:
        Problems found: out-of-date files (with ``check``; otherwise they are rewritten and "wrote ..." is
        printed), lessons without a solution, and notebooks that lack a required part.
    """
    settings = settings or read_settings(root / "pyproject.toml")
    problems: list[str] = []
    solutions = solution_files(root)
    wanted = {Path(name).name if name.endswith(".ipynb") else f"{Path(name).name}.ipynb" for name in only}
    unknown = wanted - {p.name for p in solutions}
    if unknown:
        raise BuildError(f"no solution notebook named {', '.join(sorted(unknown))} in {SOLUTIONS}/")
    for solution_file in solutions:
        if wanted and solution_file.name not in wanted:
            continue
        lesson_file = root / LESSONS / solution_file.name
        solution_bytes, lesson_bytes = build_pair(solution_file, settings, root)
        for target, data in ((solution_file, solution_bytes), (lesson_file, lesson_bytes)):
            relative = target.relative_to(root).as_posix()
            if target.exists() and target.read_bytes() == data:
                continue
            if check:
                problems.append(f"{relative} is out of date; run `make lessons`")
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                print(f"wrote {relative}")
        solution_nb = nbformat.reads(solution_bytes.decode("utf-8"), as_version=4)
        lesson_nb = nbformat.reads(lesson_bytes.decode("utf-8"), as_version=4)
        problems += structure_problems(solution_nb, f"{SOLUTIONS}/{solution_file.name}", settings)
        problems += structure_problems(lesson_nb, f"{LESSONS}/{solution_file.name}", settings)
        problems += exercise_problems(solution_nb, f"{SOLUTIONS}/{solution_file.name}")
    names = {p.name for p in solutions}
    for lesson_file in lesson_files(root):
        if lesson_file.name not in names:
            problems.append(f"{LESSONS}/{lesson_file.name} has no solution {SOLUTIONS}/{lesson_file.name}")
    return problems


def new_solution(root: Path, name: str, title: str, settings: CourseSettings) -> Path:
    """Create ``solutions/<name>.ipynb`` from the skeleton in :mod:`notebook_templates`."""
    path = root / SOLUTIONS / (name if name.endswith(".ipynb") else f"{name}.ipynb")
    if not NOTEBOOK_NAME.fullmatch(path.name):
        raise BuildError(
            f"{path.name}: notebook names look like 03_sampler.ipynb (two digits, underscore, name)"
        )
    if path.exists():
        raise BuildError(f"{path} exists already")
    nb = nbformat.v4.new_notebook()
    for cell_type, source, tags in templates.skeleton_cells(title):
        make = nbformat.v4.new_markdown_cell if cell_type == "markdown" else nbformat.v4.new_code_cell
        nb.cells.append(make(source, metadata={"tags": tags} if tags else {}))
    relative = path.relative_to(root).as_posix()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render(prepare_solution(nb, relative, settings)))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report out-of-date files; write nothing")
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="the repository root (default: this checkout)"
    )
    parser.add_argument("--new", nargs=2, metavar=("NAME", "TITLE"), help="create solutions/NAME.ipynb")
    parser.add_argument(
        "notebooks", nargs="*", help="build only these (e.g. 03_sampler or solutions/03_sampler.ipynb)"
    )
    args = parser.parse_args(argv)
    try:
        settings = read_settings(args.root / "pyproject.toml")
        if args.new:
            print(f"created {new_solution(args.root, args.new[0], args.new[1], settings)}")
            return 0
        problems = build(args.root, check=args.check, settings=settings, only=args.notebooks)
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
