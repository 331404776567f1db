"""Exercise checkers: one module per lesson (``stnlib.checks.lesson01``, ...), built on a small core.

The lesson modules are imported on first use (``stnlib.checks.lesson01`` or
``from stnlib.checks import lesson01``), so importing this package is cheap. The core building blocks are
re-exported here; see :mod:`stnlib.checks._core` for how checkers behave (what raises, what only prints).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from types import ModuleType

from stnlib.checks._core import (
    Case,
    CheckFailed,
    CheckResult,
    Comparison,
    Exercise,
    Status,
    check_function,
    compare_gradients,
    compare_tensors,
    tolerance_for,
    use_or_fallback,
)

__all__ = [
    "Case",
    "CheckFailed",
    "CheckResult",
    "Comparison",
    "Exercise",
    "Status",
    "check_function",
    "compare_gradients",
    "compare_tensors",
    "tolerance_for",
    "use_or_fallback",
]

_LESSON_MODULE = re.compile(r"lesson\d{2}")


def _lesson_modules() -> list[str]:
    """Names of the lesson checker modules that exist (``lesson01``, ``lesson02``, ...)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if _LESSON_MODULE.fullmatch(m.name))


def __getattr__(name: str) -> ModuleType:
    if _LESSON_MODULE.fullmatch(name):
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise  # the lesson module exists but one of its own imports is missing
            available = ", ".join(_lesson_modules()) or "none yet"
            raise AttributeError(
                f"stnlib.checks has no checkers for {name} (available: {available}); check the lesson number."
            ) from None
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_lesson_modules()])
