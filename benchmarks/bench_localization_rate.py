"""The localization network's learning-rate multiplier, side by side: the experiments' models, one recipe.

Trains each model (``ST-CNN-Aff`` by default) with the course's recipe for the budget
(``stnlib.experiments.recipe_for``), changing only ``localization_lr_multiplier``, for each dataset and multiplier,
and prints the test errors in one table. Nothing is saved: every run trains from scratch. Seeded; errors reproduce
on one thread, times do not.

Run from the repository root (ST-CNN-Aff: about 2 minutes of one core per run on R, 5–8 on RTS at the ``cpu``
budget; the ST-FCNs well under a minute)::

    OMP_NUM_THREADS=1 python -m benchmarks.bench_localization_rate --datasets RTS R --multipliers 0.1 1
    OMP_NUM_THREADS=1 python -m benchmarks.bench_localization_rate --models ST-FCN-Aff --datasets RTS R P E
"""

from __future__ import annotations

import argparse
import dataclasses

from stnlib.budget import BUDGETS
from stnlib.experiments import recipe_for, run_experiment, runner


def test_error(model: str, dataset: str, multiplier: float, budget: str, seed: int) -> float:
    """Test error (%) of ``model`` on ``dataset`` with the budget's recipe and this multiplier."""
    original = runner.recipe_for
    runner.recipe_for = lambda *a: dataclasses.replace(recipe_for(*a), localization_lr_multiplier=multiplier)
    try:
        result = run_experiment(model, dataset, budget=budget, seed=seed, device="cpu", progress=False)
    finally:
        runner.recipe_for = original
    return result.test_error


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["ST-CNN-Aff"])
    parser.add_argument("--datasets", nargs="+", default=["RTS", "R"])
    parser.add_argument("--multipliers", type=float, nargs="+", default=[0.1, 1.0])
    parser.add_argument("--budget", choices=list(BUDGETS), default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print("| model | dataset | " + " | ".join(f"×{m:g} test error %" for m in args.multipliers) + " |")
    print("|---|---|" + "---:|" * len(args.multipliers))
    for model in args.models:
        for dataset in args.datasets:
            errors = [test_error(model, dataset, m, args.budget, args.seed) for m in args.multipliers]
            print(f"| {model} | {dataset} | " + " | ".join(f"{e:.2f}" for e in errors) + " |", flush=True)


if __name__ == "__main__":
    main()
