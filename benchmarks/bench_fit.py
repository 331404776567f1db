"""The cost of :func:`stnlib.train.fit` over a bare PyTorch training loop on the same model and data.

Three ways train the same model (same initial weights, same batches already on the device, AdamW at a constant
learning rate) for ``--epochs`` epochs of ``--batches`` batches:

* ``bare PyTorch loop``: ``zero_grad``, forward, ``F.cross_entropy``, ``backward``, ``step`` — nothing else;
* ``fit(progress=False)``: :func:`stnlib.train.fit` with ``schedule="none"``, including everything it adds:
  seeding, parameter groups, the running loss and accuracy, the GradScaler/autocast code path, the history;
* ``fit(progress=True)``: the same with its progress bar (one per run, restarted every epoch), written to an
  in-memory text stream, so the terminal's own speed is not measured (in Jupyter the widget refreshes at most
  ~10 times a second either way).

The three take turns in each of ``--rounds`` rounds (the order rotates every round), so a busy, shared machine
slows all of them alike. The overhead is reported two ways, both relative to the bare loop in the same run: the
median over rounds of the ratio of the two times measured in that round, and the ratio of the fastest times.
One warm-up round is not counted. ``--itemize`` adds two variants of the bare loop that each add one thing fit
does: its two AdamW parameter groups, and its per-batch record of the loss and of the hits (argmax == y).

On a CPU shared with other work, ``--clock cpu`` times the process's CPU time instead of elapsed time, which
other processes disturb much less (use it with ``--threads 1``).

Run from the repository root::

    python -m benchmarks.bench_fit                    # the course's CNN, batch 128, CPU (CUDA if present)
    python -m benchmarks.bench_fit --model ST-CNN-Aff --threads 1 --rounds 7
    python -m benchmarks.bench_fit --model FCN --batch-size 32 --batches 40 --threads 1 --clock cpu --rounds 31
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from stnlib.train import fit, optimizer_param_groups, select_device

Batches = list[tuple[torch.Tensor, torch.Tensor]]


def build(model_name: str, in_shape: tuple[int, int, int]) -> nn.Module:
    """A course model by name (``stnlib.models.build_model``), or a small local CNN if that is unavailable."""
    try:
        from stnlib.models import build_model
    except ImportError:
        c, h, w = in_shape
        return nn.Sequential(
            nn.Conv2d(c, 32, 9, padding=4), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 7, padding=3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * (h // 4) * (w // 4), 10),
        )  # fmt: skip
    return build_model(model_name, in_shape=in_shape)


def synthetic_batches(
    n_batches: int, batch_size: int, in_shape: tuple[int, int, int], device: torch.device
) -> Batches:
    g = torch.Generator().manual_seed(0)
    return [
        (
            torch.rand(batch_size, *in_shape, generator=g).to(device),
            torch.randint(0, 10, (batch_size,), generator=g).to(device),
        )
        for _ in range(n_batches)
    ]


def bare_loop(model: nn.Module, batches: Batches, epochs: int, lr: float) -> None:
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        for x, y in batches:
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()


def bare_loop_fit_groups(model: nn.Module, batches: Batches, epochs: int, lr: float) -> None:
    """The bare loop with fit's parameter groups (no weight decay on biases: two AdamW groups)."""
    optimizer = torch.optim.AdamW(optimizer_param_groups(model, lr, weight_decay=0.01), lr=lr)
    model.train()
    for _ in range(epochs):
        for x, y in batches:
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()


def bare_loop_bookkeeping(model: nn.Module, batches: Batches, epochs: int, lr: float) -> None:
    """The bare loop keeping fit's per-batch record: the detached loss and the hits (argmax == y)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        losses, hits = [], []
        for x, y in batches:
            optimizer.zero_grad(set_to_none=True)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
            hits.append(logits.argmax(dim=1) == y)
        torch.stack(losses).sum().item(), torch.cat(hits).sum().item()


def with_fit(progress: bool) -> Callable[[nn.Module, Batches, int, float], None]:
    def run(model: nn.Module, batches: Batches, epochs: int, lr: float) -> None:
        sink = io.StringIO()
        with contextlib.redirect_stderr(sink):
            fit(
                model,
                batches,
                epochs=epochs,
                lr=lr,
                schedule="none",
                device=batches[0][0].device,
                progress=progress,
            )

    return run


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", default="CNN", help="a name for stnlib.models.build_model (default: CNN)")
    parser.add_argument("--size", type=int, default=28, help="image side in pixels (default: 28)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--batches", type=int, default=10, help="batches per epoch (default: 10)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)"
    )
    parser.add_argument(
        "--itemize",
        action="store_true",
        help="also time the bare loop with fit's parameter groups, and with fit's per-batch bookkeeping",
    )
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: elapsed time; cpu: this process's CPU time (steadier on a shared machine, CPU device only)",
    )
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    device = select_device(args.device)
    if args.clock == "cpu" and device.type != "cpu":
        parser.error("--clock cpu measures CPU time and suits only --device cpu")
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    in_shape = (1, args.size, args.size)
    torch.manual_seed(0)
    initial = build(args.model, in_shape).to(device)
    batches = synthetic_batches(args.batches, args.batch_size, in_shape, device)
    methods: dict[str, Callable[[nn.Module, Batches, int, float], None]] = {
        "bare PyTorch loop": bare_loop,
        "fit(progress=False)": with_fit(progress=False),
        "fit(progress=True)": with_fit(progress=True),
    }
    if args.itemize:
        methods |= {"bare + fit's groups": bare_loop_fit_groups, "bare + bookkeeping": bare_loop_bookkeeping}
    times: dict[str, list[float]] = {name: [] for name in methods}
    names = list(methods)
    for round_index in range(args.rounds + 1):  # round 0 warms up (imports, allocator, kernels)
        order = names[round_index % len(names) :] + names[: round_index % len(names)]
        for name in order:
            model = copy.deepcopy(initial)
            synchronize(device)
            start = clock()
            methods[name](model, batches, args.epochs, 1e-3)
            synchronize(device)
            if round_index:
                times[name].append(clock() - start)

    steps = args.epochs * args.batches
    threads = f", {torch.get_num_threads()} thread(s)" if device.type == "cpu" else ""
    print(
        f"fit() overhead: {args.model} on {in_shape}, batch {args.batch_size}, {args.epochs} epochs x "
        f"{args.batches} batches, {device}{threads}, torch {torch.__version__}, {args.rounds} rounds, {args.clock} clock"
    )
    print(
        f"{'method':<22} {'median (s)':>10} {'ms / step':>10} {'overhead, paired':>17} {'overhead, fastest':>18}"
    )
    bare = times["bare PyTorch loop"]
    for name in names:
        median = statistics.median(times[name])
        if name == "bare PyTorch loop":
            paired = fastest = "—"
        else:  # each round's ratio to the bare loop run next to it, then the median of those ratios
            ratios = [t / b for t, b in zip(times[name], bare, strict=True)]
            paired = f"{100 * (statistics.median(ratios) - 1):+.1f} %"
            fastest = f"{100 * (min(times[name]) / min(bare) - 1):+.1f} %"
        print(f"{name:<22} {median:>10.3f} {1000 * median / steps:>10.2f} {paired:>17} {fastest:>18}")
    print(
        "overhead, paired: median over rounds of (fit time / bare-loop time in the same round) - 1; "
        "overhead, fastest: fastest fit / fastest bare loop - 1."
    )


if __name__ == "__main__":
    main()
