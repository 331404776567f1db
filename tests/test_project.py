"""The project's set-up files agree with each other: pyproject, environment.yml, constraints, CI, README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch"}  # PyPI name -> conda-forge name where they differ


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement, maxsplit=1)[0].strip().lower()


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_names_the_same_packages_as_pyproject(pyproject: dict) -> None:
    project = pyproject["project"]
    wanted = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    wanted = {CONDA_NAMES.get(n, n) for n in wanted}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    assert conda == wanted
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section, "environment.yml must install the course package itself"


def test_pyproject_keeps_ranges_and_constraints_pin_torch(pyproject: dict) -> None:
    for requirement in pyproject["project"]["dependencies"]:
        assert "==" not in requirement, f"pin {requirement!r} belongs in constraints-ci.txt, not pyproject"
    pins = dict(
        line.split("==")
        for line in (ROOT / "constraints-ci.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert pins == {
        "torch": "2.14.1",
        "torchvision": "0.29.1",
        "mypy": "2.4.1",
    }


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"^exec make test$", ci, re.M)
    assert "make test" in readme and "make lab" in readme


def test_installed_version_matches_pyproject(pyproject: dict) -> None:
    import stnlib

    assert stnlib.__version__ == pyproject["project"]["version"]


def test_readme_lesson_table_lists_every_lesson_with_its_own_badge(pyproject: dict) -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- lesson-table:start -->")[1].split("<!-- lesson-table:end -->")[0]
    rows = [line for line in table.splitlines() if re.match(r"^\| \d\d \|", line)]
    listed = [re.search(r"\]\(lessons/(\d\d_\w+\.ipynb)\)", row).group(1) for row in rows]
    assert sorted(listed) == sorted(p.name for p in (ROOT / "lessons").glob("*.ipynb"))
    settings = pyproject["tool"]["stn-course"]
    for row, name in zip(rows, listed, strict=True):
        assert row.startswith(f"| {name[:2]} |")
        badge = f"colab.research.google.com/github/{settings['repository']}/blob/{settings['branch']}/lessons/{name}"
        assert badge in row
        assert f"(solutions/{name})" in row and (ROOT / "solutions" / name).exists()


def _readme_lessons() -> dict[str, tuple[str, int]]:
    """``{"05": (paper sections, minutes)}`` from the README's lesson table."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- lesson-table:start -->")[1].split("<!-- lesson-table:end -->")[0]
    lessons = {}
    for row in table.splitlines():
        if re.match(r"^\| \d\d \|", row):
            cells = [c.strip() for c in row.strip("|").split(" | ")]
            lessons[cells[0]] = (cells[2], int(re.fullmatch(r"(\d+) min", cells[4]).group(1)))
    return lessons


def test_each_lesson_states_the_readmes_paper_sections_and_time() -> None:
    import nbformat

    readme = _readme_lessons()
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        paper, minutes = readme[path.name[:2]]
        title = nbformat.read(path, as_version=4).cells[0].source
        assert f"**Paper:** {paper}." in title, path.name
        stated = re.search(r"\*\*Estimated time:\*\*\D*(\d+) minutes", title)
        assert stated and int(stated.group(1)) == minutes, (path.name, stated and stated.group(0), minutes)


def test_the_course_map_of_lesson_00_agrees_with_the_readme() -> None:
    import nbformat

    readme = _readme_lessons()
    cells = nbformat.read(ROOT / "solutions" / "00_welcome.ipynb", as_version=4).cells
    course_map = next(c.source for c in cells if "## 8. The course map" in c.source)
    rows = re.findall(r"^\| (\d\d) \| [^|]+\| ([^|]+) \|", course_map, re.M)
    assert {num: paper.strip() for num, paper in rows} == {num: paper for num, (paper, _) in readme.items()}
