"""stnlib: the helper library of the Spatial Transformer Networks course.

Submodules, one per concept of the paper (Jaderberg et al., NeurIPS 2015) and of the course:

* :mod:`stnlib.geometry` — transformation families and grid generators (eqs. 1–2, projective, TPS).
* :mod:`stnlib.sampling` — reference samplers with hand-written gradients (eqs. 3–7).
* :mod:`stnlib.models` — localization networks, the spatial transformer module, the paper's classifiers.
* :mod:`stnlib.data` — MNIST and its distorted variants.
* :mod:`stnlib.train` — device-agnostic training with checkpoints and resume.
* :mod:`stnlib.viz` and :mod:`stnlib.widgets` — figures and interactive explorers.
* :mod:`stnlib.checks` — the exercise checkers.
* :mod:`stnlib.pretrained` — the converged models that ship with the course (the model zoo).
* :mod:`stnlib.budget` — named compute budgets (``smoke``, ``cpu``, ``gpu``, ``paper``).

Submodules are imported on first use, so ``import stnlib`` stays fast.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__version__ = "0.1.0"

_SUBMODULES = (
    "budget",
    "checks",
    "data",
    "experiments",
    "geometry",
    "models",
    "pretrained",
    "sampling",
    "train",
    "viz",
    "widgets",
)


def __getattr__(name: str) -> ModuleType:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBMODULES])
