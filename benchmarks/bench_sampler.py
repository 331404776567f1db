"""Time stnlib's bilinear samplers against ``torch.nn.functional.grid_sample``, side by side in one run.

Three implementations of the same bilinear sampling (eq. 5) are timed on the same tensors:

* ``autograd``: :func:`stnlib.sampling.bilinear_sample`, differentiated by autograd;
* ``hand-written``: :func:`stnlib.sampling.grid_sample`, i.e. :class:`~stnlib.sampling.BilinearSampler` with the
  backward of eqs. (6)–(7) written by hand;
* ``F.grid_sample``: PyTorch's fused C++/CUDA kernel, the reference (ratio 1.00).

"forward" is the forward pass with inputs that require gradients (what a training step pays before its backward);
"fwd+bwd" adds the gradients with respect to both the image and the grid. Each time is the median over rounds in
which all timers take turns (interleaved), so that a noisy, shared machine slows all of them alike; ratios are to
F.grid_sample in the same run. ``--clock cpu`` measures the process's CPU time instead of wall-clock time, which
ignores the time the process waits for a core on a crowded machine (CPU only; CUDA is always timed by the wall
clock). The stnlib samplers allocate a few dozen intermediate tensors per call, so on CPU they also pay for how the
C allocator hands memory back to the system; the run prints any ``MALLOC_*`` settings of glibc it was given.

Run from the repository root::

    python -m benchmarks.bench_sampler                       # 1 thread, wall clock, 7 rounds
    python -m benchmarks.bench_sampler --clock cpu --rounds 11
    python -m benchmarks.bench_sampler --devices cuda          # the GPU only (benchmarks/gpu_check.sh)

To measure a change of the samplers, time the version before it side by side (its samplers appear as
``baseline autograd`` and ``baseline hand-written``)::

    git show HEAD~1:stnlib/sampling.py > /tmp/sampling_before.py
    python -m benchmarks.bench_sampler --clock cpu --baseline /tmp/sampling_before.py
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.benchmark import Timer

from stnlib.sampling import _check_inputs, bilinear_sample, grid_sample

VARIANTS: dict[str, Callable[..., torch.Tensor]] = {
    "autograd": bilinear_sample,
    "hand-written": grid_sample,
    "F.grid_sample": F.grid_sample,
}
REFERENCE = "F.grid_sample"
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def add_baseline(path: str) -> None:
    """Time the samplers of another copy of ``stnlib/sampling.py`` too, each before its current version."""
    spec = importlib.util.spec_from_file_location("stnlib_sampling_baseline", path)
    if not os.path.isfile(path) or spec is None or spec.loader is None:
        raise SystemExit(f"--baseline: cannot load {path}")
    baseline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(baseline)
    current = dict(VARIANTS)
    VARIANTS.clear()
    VARIANTS.update(
        {
            "baseline autograd": baseline.bilinear_sample,
            "autograd": current["autograd"],
            "baseline hand-written": baseline.grid_sample,
            "hand-written": current["hand-written"],
            REFERENCE: current[REFERENCE],
        }
    )


@dataclass(frozen=True)
class Case:
    """A batch of ``n`` images ``channels x height x width`` sampled onto ``out_height x out_width``."""

    n: int
    channels: int
    height: int
    width: int
    out_height: int
    out_width: int
    target: float | None = None  # the fwd+bwd ratio the hand-written backward should stay under

    def __str__(self) -> str:
        return f"N={self.n}, {self.channels}x{self.height}x{self.width} -> {self.out_height}x{self.out_width}"


CASES = (
    Case(128, 1, 28, 28, 28, 28),
    Case(128, 1, 60, 60, 30, 30, target=2.5),
    Case(128, 32, 60, 60, 30, 30, target=1.5),
    Case(32, 3, 64, 64, 128, 128),
)


def make_inputs(case: Case, device: torch.device, seed: int = 0) -> dict[str, torch.Tensor]:
    """An image batch, a grid from random near-identity affine maps (some points fall outside the image), and an
    upstream gradient, all on ``device``."""
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand(case.n, case.channels, case.height, case.width, generator=gen)
    theta = torch.eye(2, 3) + 0.2 * torch.randn(case.n, 2, 3, generator=gen)
    size = [case.n, case.channels, case.out_height, case.out_width]
    grid = F.affine_grid(theta, size, align_corners=False)
    grad_out = torch.randn(*size, generator=gen)
    return {
        "image": image.to(device).requires_grad_(),
        "grid": grid.to(device).requires_grad_(),
        "grad_out": grad_out.to(device),
    }


def largest_differences(tensors: dict[str, torch.Tensor]) -> dict[str, float]:
    """Per variant, the largest absolute difference to F.grid_sample over the output and both gradients."""
    image, grid, grad_out = tensors["image"], tensors["grid"], tensors["grad_out"]
    results = {}
    for name, sample in VARIANTS.items():
        out = sample(image, grid, align_corners=False)
        results[name] = (out, *torch.autograd.grad(out, (image, grid), grad_out))
    return {
        name: max((a - b).abs().max().item() for a, b in zip(got, results[REFERENCE], strict=True))
        for name, got in results.items()
        if name != REFERENCE
    }


def interleaved_medians(timers: dict, rounds: int, block_seconds: float) -> dict:
    """Median seconds per call of each timer, measured in ``rounds`` rounds where the timers take turns."""
    numbers = {}
    for key, timer in timers.items():
        timer.timeit(1)  # warm up (allocator, first-call dispatch)
        once = timer.timeit(3).median
        numbers[key] = max(1, round(block_seconds / max(once, 1e-9)))
    samples: dict = {key: [] for key in timers}
    for _ in range(rounds):
        for key, timer in timers.items():
            samples[key].append(timer.timeit(numbers[key]).median)
    return {key: statistics.median(s) for key, s in samples.items()}


def time_case(case: Case, device: torch.device, args: argparse.Namespace) -> dict:
    tensors = make_inputs(case, device)
    clock = CLOCKS["wall" if device.type == "cuda" else args.clock]
    timers = {}
    for name, sample in VARIANTS.items():
        env = {**tensors, "sample": sample, "torch": torch}
        timers[(name, "forward")] = Timer(
            "sample(image, grid, align_corners=False)", globals=env, num_threads=args.threads, timer=clock
        )
        timers[(name, "fwd+bwd")] = Timer(
            "torch.autograd.grad(sample(image, grid, align_corners=False), (image, grid), grad_out)",
            globals=env,
            num_threads=args.threads,
            timer=clock,
        )
    # The input checks both stnlib samplers run (shapes, devices, NaN in the grid), for scale.
    timers[("checks", "forward")] = Timer(
        "check(image, grid, 'zeros')",
        globals={**tensors, "check": _check_inputs},
        num_threads=args.threads,
        timer=clock,
    )
    return {
        "differences": largest_differences(tensors),
        "medians": interleaved_medians(timers, args.rounds, args.block_seconds),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for every variant (default 1)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds; the median is reported")
    parser.add_argument("--block-seconds", type=float, default=0.05, help="time per measured block")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall", help="wall-clock or CPU time")
    parser.add_argument("--cases", type=int, nargs="*", help="indices into CASES (default: all)")
    parser.add_argument(
        "--devices",
        nargs="+",
        choices=["cpu", "cuda"],
        default=["cpu", "cuda"],
        help="where to time (default: the CPU, and CUDA when there is a GPU)",
    )
    parser.add_argument(
        "--baseline",
        metavar="FILE",
        help="a copy of stnlib/sampling.py (e.g. from git show) whose samplers are timed alongside",
    )
    args = parser.parse_args(argv)
    if args.baseline:
        add_baseline(args.baseline)

    torch.set_num_threads(args.threads)
    available = {"cpu": True, "cuda": torch.cuda.is_available()}
    if args.devices == ["cuda"] and not available["cuda"]:
        parser.error("--devices cuda: this machine has no CUDA GPU")
    devices = [torch.device(d) for d in args.devices if available[d]]
    cases = [CASES[i] for i in args.cases] if args.cases else list(CASES)
    malloc = (
        " ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("MALLOC_")) or "default"
    )
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s), {args.clock} clock on CPU, "
        f"median of {args.rounds} interleaved rounds, glibc malloc settings: {malloc}"
    )
    for device in devices:
        name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
        print(f"\n## {device.type} ({name})\n")
        print("| case | sampler | forward ms | x F | fwd+bwd ms | x F |")
        print("|---|---|---:|---:|---:|---:|")
        notes = []
        for case in cases:
            result = time_case(case, device, args)
            med = result["medians"]
            for variant in VARIANTS:
                fwd, both = med[(variant, "forward")], med[(variant, "fwd+bwd")]
                fwd_ratio = fwd / med[(REFERENCE, "forward")]
                both_ratio = both / med[(REFERENCE, "fwd+bwd")]
                print(
                    f"| {case} | {variant} | {fwd * 1e3:.2f} | {fwd_ratio:.2f} | {both * 1e3:.2f} | {both_ratio:.2f} |"
                )
            if case.target is not None:
                ratio = med[("hand-written", "fwd+bwd")] / med[(REFERENCE, "fwd+bwd")]
                met = "met" if ratio <= case.target else "NOT met"
                notes.append(
                    f"{case}: hand-written fwd+bwd {ratio:.2f}x F.grid_sample (target <= {case.target}x: {met})"
                )
            differences = ", ".join(f"{k} {v:.1e}" for k, v in result["differences"].items())
            notes.append(
                f"{case}: input checks {med[('checks', 'forward')] * 1e3:.2f} ms of each stnlib call; "
                f"largest difference to F.grid_sample (output, gradients): {differences}"
            )
        print()
        print("\n".join(notes))


if __name__ == "__main__":
    main()
