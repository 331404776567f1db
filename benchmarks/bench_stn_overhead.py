"""What a spatial transformer costs: ST-CNN (affine) training steps against CNN training steps on RTS batches.

Both models are the experiments' networks (:func:`stnlib.experiments.build_experiment_model`) for 42x42 RTS
digits; the ST-CNN is the same CNN behind an affine spatial transformer (localization net, ``F.affine_grid``,
``F.grid_sample``). One *step* is what training pays per batch: ``zero_grad``, forward, cross-entropy, backward
and an AdamW step with the experiments' parameter groups (:func:`stnlib.train.make_optimizer`, localization lr as
the recipe sets it). A third row times the transformer alone (forward and backward through localization net, grid and sampler).

The models take turns in each of ``--rounds`` rounds (the order alternates), so a busy, shared machine slows all
of them alike; each round runs every model over the same ``--batches`` batches. Times are medians over rounds;
the ratio to the CNN is the median of the per-round ratios. One warm-up round is not counted. ``--clock cpu``
measures the process's CPU time instead of wall-clock time, which other processes disturb much less (CPU only,
with ``--threads 1``).

``--precisions fp32 bf16`` times every step in each precision (mixed precision with ``torch.autocast``, as
:func:`stnlib.train.fit` and ``python -m stnlib.experiments --precision`` train); every ratio is then to the CNN
in the first precision named, so the rows also say what mixed precision gains on this machine.

FLOPs per step are counted with ``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix products,
forward and backward); dividing by the median time gives the throughput the machine sustained. These two numbers
are what the run-time estimates in :mod:`stnlib.experiments.recipes` are built on.

Run from the repository root::

    python -m benchmarks.bench_stn_overhead                          # batch 128, 1 thread, wall clock
    python -m benchmarks.bench_stn_overhead --clock cpu --rounds 9
    python -m benchmarks.bench_stn_overhead --clock cpu --precisions fp32 bf16
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from stnlib.data import DistortedMNIST
from stnlib.experiments import build_experiment_model, recipe_for
from stnlib.train import PRECISIONS, Precision, autocast_context, make_optimizer, select_device

Batches = list[tuple[torch.Tensor, torch.Tensor]]
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def training_step(model: nn.Module, precision: Precision) -> Callable[[torch.Tensor, torch.Tensor], None]:
    recipe = recipe_for("ST-CNN-Aff", "RTS", "cpu")
    optimizer = make_optimizer(
        model, "adamw", recipe.lr, localization_lr_multiplier=recipe.localization_lr_multiplier
    )

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast_context(x.device, precision):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()

    return step


def transformer_step(
    transformer: nn.Module, precision: Precision
) -> Callable[[torch.Tensor, torch.Tensor], None]:
    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        transformer.zero_grad(set_to_none=True)
        with autocast_context(x.device, precision):
            output, _ = transformer(x)
        output.sum().backward()

    return step


def paired_ratio(times: dict[str, list[float]], name: str, reference: str) -> float:
    """Median over rounds of ``name``'s time / ``reference``'s time in the same round."""
    return statistics.median(t / r for t, r in zip(times[name], times[reference], strict=True))


def flops_per_step(
    step: Callable[[torch.Tensor, torch.Tensor], None], x: torch.Tensor, y: torch.Tensor
) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        step(x, y)
    return counter.get_total_flops()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--batches", type=int, default=4, help="batches per model per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--clock", choices=list(CLOCKS), default="wall")
    parser.add_argument("--device", default=None, help="default: CUDA, then MPS, then CPU")
    parser.add_argument(
        "--precisions",
        nargs="+",
        choices=list(PRECISIONS),
        default=["fp32"],
        help="time each step in these precisions (default: fp32); ratios are to the CNN in the first",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = select_device(args.device)
    if args.clock == "cpu" and device.type != "cpu":
        parser.error("--clock cpu measures CPU time; use it with --device cpu")
    clock = CLOCKS[args.clock]

    data = DistortedMNIST(
        "RTS", "train", device=device, n_samples=args.batch_size * args.batches, batch_size=args.batch_size
    )
    batches: Batches = list(data)
    torch.manual_seed(0)
    cnn = build_experiment_model("CNN", "RTS").to(device)
    torch.manual_seed(0)
    st_cnn = build_experiment_model("ST-CNN-Aff", "RTS").to(device)
    precisions = list(dict.fromkeys(args.precisions))
    steps = {}
    for precision in precisions:
        suffix = "" if precisions == ["fp32"] else f" {precision}"
        steps[f"CNN{suffix}"] = training_step(cnn, precision)
        steps[f"ST-CNN-Aff{suffix}"] = training_step(st_cnn, precision)
        steps[f"transformer alone{suffix}"] = transformer_step(st_cnn.transformer, precision)
    reference_cnn, reference_st = list(steps)[:2]
    x0, y0 = batches[0]
    flops = {name: flops_per_step(step, x0, y0) for name, step in steps.items()}

    times: dict[str, list[float]] = {name: [] for name in steps}
    names = list(steps)
    for round_index in range(args.rounds + 1):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            synchronize(device)
            start = clock()
            for x, y in batches:
                steps[name](x, y)
            synchronize(device)
            if round_index > 0:  # round 0 warms up
                times[name].append((clock() - start) / len(batches))

    print(
        f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.clock} clock, "
        f"batch {args.batch_size} of RTS (1x42x42), {args.batches} batches x {args.rounds} rounds"
    )
    print(f"{'step':<25} {'ms/step':>9} {'vs ' + reference_cnn:>12} {'GFLOP/step':>11} {'GFLOP/s':>9}")
    for name in names:
        median = statistics.median(times[name])
        print(
            f"{name:<25} {1000 * median:>9.1f} {paired_ratio(times, name, reference_cnn):>12.2f} "
            f"{flops[name] / 1e9:>11.2f} {flops[name] / median / 1e9:>9.1f}"
        )
    overhead = paired_ratio(times, reference_st, reference_cnn) - 1
    print(
        f"transformer overhead per training step: {100 * overhead:+.0f} % "
        f"(FLOPs: {100 * (flops[reference_st] / flops[reference_cnn] - 1):+.0f} %); "
        f"ST-CNN-Aff: {flops[reference_st] / args.batch_size / 1e6:.0f} MFLOP per digit per step"
    )
    for precision in precisions[1:]:
        speedup = paired_ratio(times, reference_st, f"ST-CNN-Aff {precision}")
        print(f"ST-CNN-Aff step in {precision}: {speedup:.2f}x as fast as in {precisions[0]}")


if __name__ == "__main__":
    main()
