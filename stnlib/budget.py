"""Named compute budgets, so one notebook serves CI, a laptop and a GPU.

The test command sets ``STNLIB_BUDGET=smoke`` and every notebook finishes in seconds; a student on a laptop gets
``cpu`` (minutes); on a machine with a CUDA GPU the default is ``gpu`` (Colab: minutes), and ``paper`` runs the
full protocol of the paper's appendix. Set the environment variable ``STNLIB_BUDGET`` to choose explicitly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import torch

__all__ = ["BUDGETS", "ENV_VAR", "Budget", "get_budget", "training_steps"]

ENV_VAR = "STNLIB_BUDGET"


def training_steps(epochs: int, train_samples: int, batch_size: int) -> int:
    """Optimisation steps of ``epochs`` passes over ``train_samples`` digits (the last batch of a pass may be short).

    Example:
        >>> training_steps(4, 10_000, 128)
        316
    """
    return epochs * -(-train_samples // batch_size)


@dataclass(frozen=True)
class Budget:
    """How much data and training a run may use.

    Attributes:
        name: the budget's name.
        train_samples: training digits per epoch (at most the 50k MNIST training split).
        test_samples: test digits used for evaluation (at most 10k).
        epochs: passes over ``train_samples``.
        batch_size: digits per optimisation step.
        description: one line for people.
    """

    name: str
    train_samples: int
    test_samples: int
    epochs: int
    batch_size: int
    description: str

    @property
    def steps(self) -> int:
        """Optimisation steps in the whole run."""
        return training_steps(self.epochs, self.train_samples, self.batch_size)

    @property
    def base_name(self) -> str:
        """The named budget this one comes from: ``"cpu"`` for ``cpu`` and for ``cpu-16ep`` (:meth:`with_epochs`)."""
        return self.name.removesuffix(f"-{self.epochs}ep")

    def with_epochs(self, epochs: int) -> Budget:
        """The same budget trained for ``epochs`` passes, named ``<base_name>-<epochs>ep`` so its results stay apart.

        Example:
            >>> BUDGETS["cpu"].with_epochs(16).name, BUDGETS["cpu"].with_epochs(16).steps
            ('cpu-16ep', 1264)
        """
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs must be a positive whole number; got {epochs!r}")
        if epochs == self.epochs:
            return self
        return replace(
            self,
            name=f"{self.base_name}-{epochs}ep",
            epochs=epochs,
            description=f"{self.name} with {epochs} epochs instead of {self.epochs}",
        )


BUDGETS: dict[str, Budget] = {
    b.name: b
    for b in (
        Budget("smoke", 512, 256, 1, 128, "seconds: proves the code runs (CI)"),
        Budget("cpu", 10_000, 5_000, 4, 128, "minutes on a laptop CPU: the effect is visible"),
        Budget("gpu", 50_000, 10_000, 20, 256, "minutes on a Colab GPU: close to the paper"),
        Budget("paper", 50_000, 10_000, 38, 256, "the paper's protocol in 1/20 of its iterations (GPU)"),
    )
}


def get_budget(name: str | None = None) -> Budget:
    """Return the budget named ``name``, else ``$STNLIB_BUDGET``, else ``gpu`` with CUDA and ``cpu`` without.

    Raises:
        ValueError: the name is not one of :data:`BUDGETS`.
    """
    if name is not None and not isinstance(name, str):
        raise TypeError(f"budget must be a budget name such as 'cpu' or a Budget; got {type(name).__name__}")
    chosen = name or os.environ.get(ENV_VAR) or ("gpu" if torch.cuda.is_available() else "cpu")
    try:
        return BUDGETS[chosen.strip().lower()]
    except KeyError:
        raise ValueError(
            f"unknown budget {chosen!r}; choose one of {', '.join(BUDGETS)} "
            f"(set it with the environment variable {ENV_VAR})"
        ) from None
