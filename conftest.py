"""Wiring shared by the whole test suite: notebook kernels, xdist scheduling, and lesson stub cells.

* Notebooks (``solutions/``, ``lessons/``) are collected by nbval (options in ``pyproject.toml``). With
  ``-n N`` (pytest-xdist) every cell of a notebook must run on the same worker, in the same kernel, so the
  scheduling is switched to ``--dist loadfile`` here (not in ``addopts``, where it would break runs with
  ``-p no:xdist``).
* Kernels inherit this process's environment: ``STNLIB_BUDGET`` defaults to ``smoke`` (every notebook then
  finishes in seconds), and a GUI matplotlib backend requested through ``MPLBACKEND`` is replaced by ``Agg``
  so notebooks run headless. Without ``MPLBACKEND`` kernels use ipykernel's inline backend, which needs no
  display.
* Tests marked ``slow`` (every shipped model on its whole test set) run only with ``--run-slow``.
* Lesson stub cells (the ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` cells written by
  ``tools/build_lessons.py``) carry the ``raises-exception`` tag, and nbval passes such a cell whether or not
  it raises. :func:`pytest_runtest_makereport` makes a stub cell fail unless it raised ``NotImplementedError``
  — so a stub that no longer runs its code, or fails for another reason (a ``NameError`` from a broken cell
  above), is caught.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent

sys.path.insert(0, str(REPO / "tools"))
from notebook_templates import STUB_COMMENT, STUB_TAG  # noqa: E402  (the builder's own markers)

_HEADLESS_BACKENDS = (
    "agg",
    "pdf",
    "ps",
    "svg",
    "cairo",
    "template",
    "module://matplotlib_inline.backend_inline",
)

os.environ.setdefault("STNLIB_BUDGET", "smoke")
if os.environ.get("MPLBACKEND", "agg").lower() not in _HEADLESS_BACKENDS:
    os.environ["MPLBACKEND"] = "Agg"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow",
        action="store_true",
        help="also run tests marked slow (e.g. every shipped model on its full test set)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config.option, "numprocesses", None) and getattr(config.option, "dist", "no") in (
        "no",
        "load",
    ):
        config.option.dist = "loadfile"


def _is_lesson_stub_cell(item: pytest.Item) -> bool:
    cell = getattr(item, "cell", None)
    if cell is None or type(item).__name__ != "IPyNbCell" or cell.get("cell_type") != "code":
        return False
    return STUB_TAG in cell.get("metadata", {}).get("tags", []) and STUB_COMMENT in cell.get("source", "")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    report: pytest.TestReport = yield
    if call.when != "call" or not report.passed or not _is_lesson_stub_cell(item):
        return report
    errors = [o for o in (getattr(item, "test_outputs", None) or []) if o.get("output_type") == "error"]
    if any(error.get("ename") == "NotImplementedError" for error in errors):
        return report
    got = f"{errors[0].get('ename')}: {errors[0].get('evalue')}" if errors else "it ran without raising"
    report.outcome = "failed"
    report.longrepr = (
        f"Lesson stub cell {getattr(item, 'cell_num', '?')} must raise NotImplementedError; {got}.\n"
        "An exercise cell must run the code it asks for (e.g. end with a call on a small example), and the "
        "cells above it must run without errors.\n\n" + item.cell.get("source", "")
    )
    return report


@pytest.fixture(scope="session")
def build_lessons() -> ModuleType:
    """``tools/build_lessons.py`` imported as a module."""
    name = "build_lessons"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "tools" / "build_lessons.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
