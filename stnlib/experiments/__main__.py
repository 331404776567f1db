"""Train the paper's MNIST experiments and tabulate their test errors beside the paper's.

Examples::

    python -m stnlib.experiments --list
    python -m stnlib.experiments --models CNN ST-CNN-Aff --datasets RTS --seeds 0 1 2 --budget cpu
    python -m stnlib.experiments --datasets R RTS P E --budget gpu --run-dir runs/table1
    python -m stnlib.experiments --table --run-dir runs/table1
    python -m stnlib.experiments --models CNN ST-CNN --datasets TC --budget cpu --epochs 16   # train longer
    python -m stnlib.experiments --datasets RTS --budget paper --precision bf16   # mixed precision
    python -m stnlib.experiments --models CNN --datasets TC --budget gpu --run-dir runs/zoo --export  # into the zoo

Every experiment's result (JSON) and checkpoints go to the run directory; running the same command again skips
finished experiments and continues a half-trained one from its checkpoint. The table is written to
``<run-dir>/results.md`` after every experiment and printed at the end.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from stnlib.budget import BUDGETS, ENV_VAR, get_budget
from stnlib.data import DISTORTIONS
from stnlib.experiments.paper import DATASETS, EXPERIMENTS, paper_error
from stnlib.experiments.recipes import recipe_for
from stnlib.experiments.runner import (
    TABLE_FILE,
    ExperimentInterrupted,
    ExperimentResult,
    canonical_dataset,
    canonical_model,
    load_results,
    plan_sweep,
    results_table,
    run_sweep,
    write_table,
)
from stnlib.train import PRECISIONS, select_device

DEFAULT_RUN_DIR = "runs/experiments"
ALL = "all"


def _name(canonical: Callable[[str], str]) -> Callable[[str], str]:
    """An argparse ``type`` that spells a name the experiments' way, or rejects it with the valid names."""

    def parse(value: str) -> str:
        if value.strip().lower() == ALL:
            return ALL
        try:
            return canonical(value)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse


def _integer(what: str, minimum: int) -> Callable[[str], int]:
    """An argparse ``type`` for a whole number of at least ``minimum``; ``what`` names it in the error."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or number < minimum:
            shown = repr(value) if number is None else number
            raise argparse.ArgumentTypeError(f"{what}; got {shown}")
        return number

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stnlib.experiments",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--models",
        nargs="+",
        type=_name(canonical_model),
        default=[ALL],
        metavar="MODEL",
        help="models to train, e.g. CNN ST-CNN-Aff (default: all of the paper's models for each dataset)",
    )
    parser.add_argument(
        "--datasets",
        nargs="+",
        type=_name(canonical_dataset),
        default=["RTS"],
        metavar="DATASET",
        help=f"datasets: {', '.join(DATASETS)} or all (default: RTS)",
    )
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=_integer("a seed must be a non-negative integer", 0),
        default=[0],
        metavar="SEED",
        help="one run per seed (default: 0)",
    )
    parser.add_argument(
        "--budget",
        choices=list(BUDGETS),
        default=None,
        help=f"training budget (default: ${ENV_VAR}, else gpu with CUDA and cpu without)",
    )
    parser.add_argument(
        "--epochs",
        type=_integer("epochs must be a positive integer", 1),
        default=None,
        help="train for this many epochs instead of the budget's; results are labelled <budget>-<N>ep "
        "(MNIST addition, ADD, trains 16 times as many: see stnlib.experiments.recipes)",
    )
    parser.add_argument(
        "--run-dir", default=DEFAULT_RUN_DIR, help=f"results and checkpoints (default: {DEFAULT_RUN_DIR})"
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cuda, mps or cpu")
    parser.add_argument(
        "--precision",
        choices=list(PRECISIONS),
        default="fp32",
        help="fp32 (default), or mixed precision for training: bf16 (recent GPUs; CPUs with bfloat16 units) or "
        "fp16 (CUDA GPUs such as Colab's T4); recorded in each result, the test error is measured in fp32",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars or per-experiment lines")
    parser.add_argument(
        "--export",
        action="store_true",
        help="add each finished experiment to the course's model zoo (stnlib/pretrained/weights): weights in "
        "half precision, re-evaluated in float32, with a record of how they were made",
    )
    actions = parser.add_mutually_exclusive_group()
    actions.add_argument(
        "--list", action="store_true", help="print the experiments, the paper's numbers, budgets"
    )
    actions.add_argument(
        "--table",
        action="store_true",
        help=f"(re)write <run-dir>/{TABLE_FILE} from the results there and print it",
    )
    return parser


def _smoothing(label_smoothing: float) -> str:
    return f", label smoothing {label_smoothing:g}" if label_smoothing else ""


def _listing() -> str:
    lines = ["Experiments (paper's test error %; 'course' marks a model the paper does not train):"]
    for dataset, models in EXPERIMENTS.items():
        errors = {m: paper_error(m, dataset) for m in models}
        cells = ", ".join(f"{m} {'course' if e is None else f'{e:g}'}" for m, e in errors.items())
        lines.append(f"  {dataset:4} {DISTORTIONS[dataset].description}: {cells}")
    lines.append("Budgets (recipe of ST-CNN-Aff on RTS):")
    for name, budget in BUDGETS.items():
        recipe = recipe_for("ST-CNN-Aff", "RTS", budget)
        lines.append(
            f"  {name:6} {budget.train_samples:,} digits x {budget.epochs} epochs, batch {budget.batch_size} "
            f"({recipe.steps:,} steps, {recipe.optimizer} {recipe.schedule} lr {recipe.lr:g}, "
            f"localization x{recipe.localization_lr_multiplier:g}{_smoothing(recipe.label_smoothing)}): "
            f"{budget.description}"
        )
    addition = recipe_for("2xST-FCN", "ADD", BUDGETS["cpu"])
    factor = addition.epochs // BUDGETS["cpu"].epochs
    lines.append(f"  ADD (MNIST addition) trains {factor}x the budget's epochs at lr {addition.lr:g}")
    lines.append(f"Default budget here: {get_budget().name}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        print(_listing())
        return 0
    if args.table:
        results = load_results(args.run_dir)
        path = write_table(args.run_dir, results)
        print(results_table(results), end="")
        print(f"({len(results)} result(s) in {args.run_dir}; table written to {path})")
        return 0 if results else 1

    datasets = list(DATASETS) if ALL in args.datasets else list(dict.fromkeys(args.datasets))
    if ALL in args.models:
        models = list(dict.fromkeys(m for d in datasets for m in EXPERIMENTS[d]))
    else:
        models = list(dict.fromkeys(args.models))
    try:
        plan_sweep(models, datasets)
        budget = get_budget(args.budget)  # $STNLIB_BUDGET may name no budget
        if args.epochs is not None:
            budget = budget.with_epochs(args.epochs)
        device = None if args.device == "auto" else select_device(args.device)
    except (TypeError, ValueError) as error:
        parser.error(str(error))
    try:
        results = run_sweep(
            models,
            datasets,
            budget=budget,
            seeds=args.seeds,
            run_dir=args.run_dir,
            device=device,
            precision=args.precision,
            progress=not args.no_progress,
        )
    except (ExperimentInterrupted, KeyboardInterrupt):
        print(
            "\ninterrupted: run the same command again to resume (finished experiments are kept; the one that "
            "was running continues from its last checkpoint).",
            file=sys.stderr,
        )
        return 130
    print()
    print(results_table(results), end="")
    print(f"(all results in {args.run_dir}: {Path(args.run_dir) / TABLE_FILE})")
    if args.export:
        _export(results)
    return 0


def _export(results: list[ExperimentResult]) -> None:
    from stnlib.pretrained import export_experiment

    for result in results:
        record = export_experiment(result)
        print(f"added to the model zoo ({record.file}): {record.describe()}")


if __name__ == "__main__":
    sys.exit(main())
