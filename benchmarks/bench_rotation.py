"""How much of a digit's turn does a trained ST-CNN undo? Lesson 05's network on RTS, for longer and longer runs.

Lesson 05 trains an ST-CNN (Lesson 04's small localization network in front of the course CNN with 16 and 32
filters) on RTS and measures three things its transformer learns: zooming in, centring the digit, and turning it
upright. The first two appear within the ``cpu`` budget; the third hardly starts. This benchmark measures how the
**share of the turn undone** grows with the length of the run and with the localization network's learning rate
and size, so that the lesson's statements about longer runs rest on a measurement.

The share is measured as in the lesson: upright test digits, padded to the 42x42 canvas and turned by known angles
``alpha`` uniform in ±45° (``affine_theta``, counter-clockwise on screen), go through the trained transformer; the
angle it turns the canvas back is minus the angle of the rotation closest to θ's 2x2 part,
``atan2(a21 - a12, a11 + a22)``; the share is the slope of the least-squares line of turn back against ``alpha``
(0: rotation ignored, 1: every digit upright). The table also gives the test error on the budget's RTS test digits.

Each configuration trains with AdamW (one-cycle, no weight decay, as in the lesson) at a peak learning rate ``lr``
for the classifier and ``lr * multiplier`` for the localization network, on the budget's training digits for
``epochs`` epochs. Seeded; accuracy is reproducible, timings on a shared machine are not.

Run from the repository root (about 17 minutes on one core of a laptop for the default grid)::

    python -m benchmarks.bench_rotation
    python -m benchmarks.bench_rotation --lesson-seeds 2 3      # the lesson's setting with other initial weights
    python -m benchmarks.bench_rotation --budget smoke          # a few seconds: does it run?
    python -m benchmarks.bench_rotation --experiment-checkpoints runs/paper-rts/paper/RTS/ST-CNN-Aff/seed-0/checkpoints/epoch-0038.pt

The last form measures, instead of training, the share for ST-CNN-Aff networks that ``python -m stnlib.experiments``
trained on RTS (any checkpoint it saved).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from stnlib import probes
from stnlib.budget import BUDGETS, Budget, get_budget
from stnlib.data import DistortedMNIST
from stnlib.experiments import build_experiment_model
from stnlib.models import CNN, LocalizationNet, SpatialTransformer, STClassifier, parameter_groups
from stnlib.train import evaluate, fit, load_checkpoint, seed_everything

PROBE_DIGITS = 2000
# (localization network, classifier lr, localization lr multiplier, epochs): the paper's m = 0.1 at the course's
# lr, a faster localization network, longer runs, then a calmer classifier with a 3x and a 10x localization net.
DEFAULT_GRID = [
    ("small", 3e-3, 0.1, 4),
    ("small", 3e-3, 1.0, 4),
    ("small", 3e-3, 1.0, 8),
    ("paper", 3e-3, 1.0, 16),
    ("small", 1e-3, 3.0, 4),
    ("small", 1e-3, 3.0, 8),
    ("small", 1e-3, 10.0, 4),
]
LESSON_SETTING = ("small", 1e-3, 3.0, 4)  # what Lesson 05 trains with
SMOKE_GRID = [("small", 3e-3, 0.1, 1), ("paper", 1e-3, 3.0, 1)]


LOCALIZATION_NETS: dict[str, Callable[[], nn.Module]] = {
    "small": lambda: LocalizationNet((1, 42, 42), kind="small"),  # the lessons' network (Lessons 04 and 05)
    "paper": lambda: LocalizationNet((1, 42, 42)),  # the appendix's two conv layers of 20 filters
    "half_res": lambda: nn.Sequential(
        nn.AvgPool2d(2), LocalizationNet((1, 21, 21), kind="small")
    ),  # sees 21x21
}


def build_st_cnn(localization: str, init_seed: int = 1) -> STClassifier:
    """Lesson 05's ST-CNN (initial weights from ``init_seed``; the lesson uses 1) with one of
    ``LOCALIZATION_NETS``.

    Built from stnlib's classes with the course's own grid generator and sampler (``sampler="stnlib"``), which
    compute exactly what the lesson's ``SpatialTransformer`` and ``STCNN`` compute, with the same parameter names.
    """
    torch.manual_seed(init_seed)
    transformer = SpatialTransformer(
        (1, 42, 42), localization=LOCALIZATION_NETS[localization](), sampler="stnlib"
    )
    return STClassifier(transformer, CNN((1, 42, 42), channels=(16, 32)))


def share_of_turn_undone(model: STClassifier, test: DistortedMNIST) -> float:
    """Slope of the transformer's turn back against the digits' turn (1 = upright, 0 = not turned)."""
    digits = test.images[: min(PROBE_DIGITS, test.num_samples)].float().div(255)
    return probes.share_of_turn_undone(model.transformer, digits, canvas=42)[0]


def measure(
    budget: Budget, localization: str, lr: float, multiplier: float, epochs: int, init_seed: int = 1
) -> dict[str, Any]:
    """Train one configuration on the CPU and measure it."""
    seed_everything(0)
    train = DistortedMNIST(
        "RTS", "train", n_samples=budget.train_samples, batch_size=budget.batch_size, seed=0
    )
    test = DistortedMNIST("RTS", "test", n_samples=budget.test_samples, batch_size=500)
    model = build_st_cnn(localization, init_seed)
    optimizer = torch.optim.AdamW(parameter_groups(model, lr, multiplier), lr=lr, weight_decay=0.0)
    start = time.perf_counter()
    fit(model, train, optimizer=optimizer, epochs=epochs, device="cpu", progress=False)
    return {
        "localization": localization,
        "init_seed": init_seed,
        "lr": lr,
        "multiplier": multiplier,
        "epochs": epochs,
        "error": 100 * evaluate(model, test)["error"],
        "turn_undone": share_of_turn_undone(model, test),
        "seconds": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--budget", choices=list(BUDGETS), default="cpu", help="data sizes and batch (default cpu)"
    )
    parser.add_argument(
        "--lesson-seeds",
        type=int,
        nargs="+",
        metavar="SEED",
        help="instead of the grid: Lesson 05's setting (lr 1e-3, x3, 4 epochs) with these initial-weight seeds",
    )
    parser.add_argument(
        "--experiment-checkpoints",
        nargs="+",
        metavar="PATH",
        help="instead of training: the share for these ST-CNN-Aff checkpoints of stnlib.experiments (RTS)",
    )
    args = parser.parse_args(argv)
    budget = get_budget(args.budget)
    if args.experiment_checkpoints:
        test = DistortedMNIST("RTS", "test", n_samples=budget.test_samples, batch_size=500)
        print("| checkpoint | share of the turn undone |\n|---|---|")
        for path in args.experiment_checkpoints:
            model = build_experiment_model("ST-CNN-Aff", "RTS")
            model.load_state_dict(load_checkpoint(path)["model"])
            print(f"| {path} | {share_of_turn_undone(model.eval(), test):.2f} |", flush=True)
        return
    grid = SMOKE_GRID if budget.name == "smoke" else DEFAULT_GRID
    runs = (
        [(*LESSON_SETTING, seed) for seed in args.lesson_seeds]
        if args.lesson_seeds
        else [(*g, 1) for g in grid]
    )
    print(f"RTS, {budget.train_samples:,} training digits per epoch, batch {budget.batch_size}")
    print("| localization net | lr | loc. lr multiplier | epochs | init seed | test error % | share of the turn undone "
          "| train s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for localization, lr, multiplier, epochs, init_seed in runs:
        row = measure(budget, localization, lr, multiplier, epochs, init_seed)
        print(
            f"| {row['localization']} | {row['lr']:g} | {row['multiplier']:g} | {row['epochs']} | {init_seed} "
            f"| {row['error']:.2f} | {row['turn_undone']:.2f} | {row['seconds']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
