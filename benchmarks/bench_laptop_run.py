"""Time to Figure 1 on a laptop: minutes of Lesson 05's own training against the share of the turn undone.

Lesson 05 trains its ST-CNN (Lesson 04's small localization network in front of the course CNN with 16 and 32
filters) on RTS with the student's ``training_step`` and ``train_and_watch`` (the references in
:mod:`stnlib.checks.lesson05`), AdamW with the one-cycle schedule, no weight decay. This benchmark trains that
recipe and variants of it side by side in one process and prints, after every epoch of every run, the minutes of
training so far (measurement excluded), the **share of the turn undone** (:func:`stnlib.probes.share_of_turn_undone`
on 2,000 upright test digits turned by known angles in ±45°) and the test error on the budget's RTS test digits —
the curve from which the lesson's recipe is chosen. The CNN baseline of the lesson is trained once, for the
ratio "ST-CNN error / CNN error".

The levers (``--levers``, default all but ``bf16`` where the CPU has no bf16 units):

* ``lesson`` — the lesson's recipe: lr 1e-3 for the classifier, x3 for the localization network, batch 128.
* ``loc5`` — the localization network at x5.
* ``batch64`` — batches of 64 (twice the steps over the same digits).
* ``loc_half_res`` — the localization network sees the canvas average-pooled to 21x21 (a quarter of the work).
* ``curriculum`` — rotations up to 15° in the first epoch, 30° in the second, the full 45° from the third.
* ``half_res_curriculum`` — ``loc_half_res`` and ``curriculum`` together.
* ``two_threads`` — the lesson's recipe with two threads instead of one.
* ``bf16`` — the lesson's recipe under ``torch.autocast("cpu", torch.bfloat16)``.

Run from the repository root on an otherwise idle machine (times are the point; about 2 minutes per lever at 8
epochs and 6–7 at 24 on one core of a 2.8 GHz Xeon; results in benchmarks/README.md, "Time to Figure 1")::

    OMP_NUM_THREADS=1 python -m benchmarks.bench_laptop_run --epochs 8
    python -m benchmarks.bench_laptop_run --budget smoke --epochs 1 --levers lesson   # seconds: does it run?
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from benchmarks.bench_rotation import build_st_cnn, share_of_turn_undone
from stnlib.budget import BUDGETS, Budget, get_budget
from stnlib.checks.lesson05 import train_and_watch, training_step  # the answers to the lesson's exercises
from stnlib.data import DistortedMNIST
from stnlib.data.distortions import rotate_translate_scale
from stnlib.models import CNN, parameter_groups
from stnlib.train import evaluate, make_scheduler, seed_everything

CURRICULUM_DEGREES = (15.0, 30.0, 45.0)


@dataclass(frozen=True)
class Lever:
    """One variant of the lesson's recipe."""

    lr: float = 1e-3
    multiplier: float = 3.0
    batch_size: int = 128
    localization: str = "small"
    curriculum: bool = False
    threads: int = 1
    bf16: bool = False


LEVERS: dict[str, Lever] = {
    "lesson": Lever(),
    "loc5": Lever(multiplier=5.0),
    "batch64": Lever(batch_size=64),
    "loc_half_res": Lever(localization="half_res"),
    "curriculum": Lever(curriculum=True),
    "half_res_curriculum": Lever(localization="half_res", curriculum=True),
    "two_threads": Lever(threads=2),
    "bf16": Lever(bf16=True),
}


def cpu_has_bf16() -> bool:
    """Whether the CPU has bf16 arithmetic units (AVX512-BF16 or AMX); without them autocast only emulates."""
    try:
        flags = open("/proc/cpuinfo", encoding="utf-8").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class CurriculumRTS:
    """RTS training digits whose largest rotation grows with the epoch (``CURRICULUM_DEGREES``), then stays at 45°.

    Yields ``(x: (B, 1, 42, 42), y: (B,))`` like :class:`DistortedMNIST`; every epoch is seeded by its number.
    """

    def __init__(self, base: DistortedMNIST) -> None:
        self.images, self.labels, self.batch_size = base.images, base.labels, base.batch_size
        self.num_samples, self.epoch = base.num_samples, 0

    def __len__(self) -> int:
        return -(-self.num_samples // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        degrees = CURRICULUM_DEGREES[min(epoch, len(CURRICULUM_DEGREES) - 1)]
        generator = torch.Generator().manual_seed(1000 + epoch)
        order = torch.randperm(self.num_samples, generator=generator)
        for start in range(0, self.num_samples, self.batch_size):
            index = order[start : start + self.batch_size]
            digits = self.images[index].float().div(255)
            yield rotate_translate_scale(digits, generator, max_degrees=degrees), self.labels[index]


def _autocast(enabled: bool) -> contextlib.AbstractContextManager[Any]:
    return torch.autocast("cpu", dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


def train_with_curve(
    name: str, lever: Lever, budget: Budget, epochs: int, report: Callable[[dict[str, Any]], None]
) -> None:
    """Train one lever for ``epochs`` epochs; after each, ``report`` a row of the curve."""
    seed_everything(0)
    torch.set_num_threads(lever.threads)
    base = DistortedMNIST("RTS", "train", n_samples=budget.train_samples, batch_size=lever.batch_size, seed=0)
    data: Any = CurriculumRTS(base) if lever.curriculum else base
    test = DistortedMNIST("RTS", "test", n_samples=budget.test_samples, batch_size=500)
    model = build_st_cnn(lever.localization)
    optimizer = torch.optim.AdamW(
        parameter_groups(model, lever.lr, lever.multiplier), lr=lever.lr, weight_decay=0.0
    )
    scheduler = make_scheduler(optimizer, "onecycle", total_steps=epochs * len(data))
    seconds = 0.0
    for epoch in range(1, epochs + 1):
        model.train()
        start = time.perf_counter()
        with _autocast(lever.bf16):
            for images, labels in data:
                training_step(model, optimizer, images, labels)
                scheduler.step()
        seconds += time.perf_counter() - start
        model.eval()
        with torch.no_grad():
            turn = share_of_turn_undone(model, test)
        report({"lever": name, "epoch": epoch, "minutes": seconds / 60, "turn_undone": turn,
                "error": 100 * evaluate(model, test)["error"]})  # fmt: skip


def cnn_error(budget: Budget, epochs: int) -> tuple[float, float]:
    """The lesson's CNN baseline (lr 3e-3, AdamW, one-cycle): test error % and minutes of training."""
    seed_everything(0)
    torch.set_num_threads(1)
    data = DistortedMNIST("RTS", "train", n_samples=budget.train_samples, batch_size=128, seed=0)
    test = DistortedMNIST("RTS", "test", n_samples=budget.test_samples, batch_size=500)
    torch.manual_seed(1)
    model = CNN((1, 42, 42), channels=(16, 32))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    scheduler = make_scheduler(optimizer, "onecycle", total_steps=epochs * len(data))
    start = time.perf_counter()
    train_and_watch(model, optimizer, scheduler, data, epochs, lambda _: {})
    minutes = (time.perf_counter() - start) / 60
    return 100 * evaluate(model.eval(), test)["error"], minutes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", choices=list(BUDGETS), default="cpu", help="data sizes (default cpu)")
    parser.add_argument(
        "--epochs", type=int, default=8, help="epochs per run; the curve has one point per epoch"
    )
    parser.add_argument("--levers", nargs="+", choices=list(LEVERS), help="which variants (default: all)")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1; got {args.epochs}")
    budget = get_budget(args.budget)
    names = args.levers or [n for n in LEVERS if n != "bf16" or cpu_has_bf16()]
    if "bf16" not in names and not cpu_has_bf16():
        print("bf16 not measured: this CPU has no bf16 units (autocast would only emulate them).")
    error, minutes = cnn_error(budget, args.epochs)
    print(
        f"CNN baseline, {args.epochs} epochs: test error {error:.2f} % after {minutes:.1f} min of training\n"
    )
    print(f"RTS, {budget.train_samples:,} training digits per epoch, {budget.test_samples:,} test digits")
    print("| lever | epoch | minutes of training | share of the turn undone | test error % | error / CNN's |")
    print("|---|---|---|---|---|---|")

    def report(row: dict[str, Any]) -> None:
        print(f"| {row['lever']} | {row['epoch']} | {row['minutes']:.1f} | {row['turn_undone']:.2f} "
              f"| {row['error']:.2f} | {row['error'] / error:.2f} |", flush=True)  # fmt: skip

    for name in names:
        train_with_curve(name, LEVERS[name], budget, args.epochs, report)


if __name__ == "__main__":
    main()
