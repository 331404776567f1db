"""Does the spatial transformer pay off on a laptop budget? ST-CNN vs CNN vs PyTorch's tutorial STN on RTS.

Three networks are trained on the same RTS digits (rotated ±45°, scaled 0.7–1.2, placed on 42x42) for the same
number of epochs of a budget (default ``cpu``) and tested on the same fixed test digits:

* ``CNN`` and ``ST-CNN-Aff``: the experiments of :mod:`stnlib.experiments` (:func:`run_experiment`), trained
  with the course's recipe of the time (:func:`stnlib.experiments.recipe_for`: AdamW, one-cycle, localization lr x0.1);
* ``TutorialSTN``: the network of PyTorch's STN tutorial (:class:`stnlib.models.TutorialSTN`) trained as
  published: inputs normalised with MNIST's mean and std, SGD at lr 0.01 without momentum, batch 64, NLL loss
  on its log-softmax output, ``align_corners=False`` and zero padding.

The target is an ST-CNN error of at most 0.75x the CNN's. Results (and checkpoints) go to ``--run-dir``, so an
interrupted comparison resumes where it stopped; a finished one prints its table again at once.

Run from the repository root (a background job on a shared machine; accuracy is seeded, timings are not)::

    python -m benchmarks.bench_accuracy > runs/bench_accuracy.log 2>&1 &
    python -m benchmarks.bench_accuracy --budget smoke --run-dir /tmp/bench   # a few seconds: does it run?
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from stnlib.budget import BUDGETS, Budget, get_budget
from stnlib.data import DistortedMNIST
from stnlib.experiments import run_experiment
from stnlib.models import TutorialSTN
from stnlib.train import evaluate, fit, latest_checkpoint, seed_everything, select_device

DATASET = "RTS"
TARGET_RATIO = 0.75
TUTORIAL = {"lr": 0.01, "batch_size": 64}  # the tutorial's recipe: SGD without momentum, NLL loss


def run_tutorial(
    budget: Budget, seed: int, run_dir: Path, device: torch.device, progress: bool = True
) -> dict[str, Any]:
    """Train TutorialSTN with the tutorial's recipe for the budget's epochs; resumable like the experiments."""
    where = run_dir / "tutorial" / budget.name / f"seed-{seed}"  # not in the experiments' layout
    if (where / "result.json").is_file():
        return json.loads((where / "result.json").read_text())
    seed_everything(seed)
    model = TutorialSTN((1, 42, 42)).to(device)
    train = DistortedMNIST(
        DATASET,
        "train",
        device=device,
        n_samples=budget.train_samples,
        batch_size=TUTORIAL["batch_size"],
        seed=seed,
        normalize=True,
    )
    history = fit(
        model,
        train,
        epochs=budget.epochs,
        optimizer=torch.optim.SGD(model.parameters(), lr=TUTORIAL["lr"]),
        schedule="none",
        loss_fn=F.nll_loss,
        device=device,
        checkpoint_dir=where / "checkpoints",
        resume=latest_checkpoint(where / "checkpoints") is not None,
        keep_last=1,
        progress=progress,
        seed=seed,
    )
    if len(history) < budget.epochs and all(v == v for v in history["train_loss"]):  # NaN != NaN
        raise KeyboardInterrupt("TutorialSTN was interrupted; run the benchmark again to continue")
    test = DistortedMNIST(
        DATASET, "test", device=device, n_samples=budget.test_samples, batch_size=500, seed=0, normalize=True
    )
    result = {
        "model": "TutorialSTN",
        "seed": seed,
        "test_error": 100 * evaluate(model, test, loss_fn=F.nll_loss)["error"],
        "train_time_s": sum(history["epoch_time"]),
        "epochs": len(history),
        "steps": len(history) * len(train),
    }
    where.mkdir(parents=True, exist_ok=True)
    (where / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def summary(errors: list[float]) -> str:
    if len(errors) == 1:
        return f"{errors[0]:.2f}"
    return f"{statistics.fmean(errors):.2f} ± {statistics.stdev(errors):.2f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budget", choices=list(BUDGETS), default="cpu")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--run-dir", type=Path, default=Path("runs/bench_accuracy"))
    parser.add_argument("--device", default=None, help="default: CUDA, then MPS, then CPU")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    budget = get_budget(args.budget)
    device = select_device(args.device)
    started = time.perf_counter()

    rows: dict[str, dict[str, Any]] = {}
    for seed in args.seeds:
        for model in ("CNN", "ST-CNN-Aff"):
            result = run_experiment(
                model,
                DATASET,
                budget=budget,
                seed=seed,
                run_dir=args.run_dir,
                device=device,
                progress=not args.no_progress,
            )
            row = rows.setdefault(model, {"errors": [], "time": 0.0, "steps": result.steps})
            row["errors"].append(result.test_error)
            row["time"] += result.train_time_s
            localization = f", localization lr x{result.recipe['localization_lr_multiplier']:g}"
            row["recipe"] = (
                f"{result.recipe['optimizer']} {result.recipe['schedule']} lr {result.recipe['lr']:g}, "
                f"batch {result.recipe['batch_size']}" + (localization if model.startswith("ST") else "")
            )
        tutorial = run_tutorial(budget, seed, args.run_dir, device, progress=not args.no_progress)
        row = rows.setdefault("TutorialSTN", {"errors": [], "time": 0.0, "steps": tutorial["steps"]})
        row["errors"].append(tutorial["test_error"])
        row["time"] += tutorial["train_time_s"]
        row["recipe"] = "tutorial: SGD lr 0.01, batch 64, NLL, normalised"

    cnn = statistics.fmean(rows["CNN"]["errors"])
    print(
        f"\nRTS, budget {budget.name}: {budget.train_samples:,} training digits x {budget.epochs} epochs, "
        f"{budget.test_samples:,} test digits; seeds {', '.join(map(str, args.seeds))}; device {device}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)"
    )
    print("| Model | Recipe | Steps | Test error % | x CNN | Train time (s) |\n|---|---|--:|--:|--:|--:|")
    for model, row in rows.items():
        ratio = statistics.fmean(row["errors"]) / cnn
        print(
            f"| {model} | {row['recipe']} | {row['steps']:,} | {summary(row['errors'])} | {ratio:.2f} | "
            f"{row['time']:.0f} |"
        )
    ratio = statistics.fmean(rows["ST-CNN-Aff"]["errors"]) / cnn
    verdict = "met" if ratio <= TARGET_RATIO else f"MISSED by {ratio - TARGET_RATIO:.2f}"
    print(f"\nST-CNN / CNN error ratio {ratio:.2f} (target <= {TARGET_RATIO}): {verdict}")
    print(f"wall time of this invocation: {time.perf_counter() - started:.0f} s (finished runs are reused)")


if __name__ == "__main__":
    main()
