"""Run the paper's MNIST experiments, keep their results, and tabulate them beside the paper's numbers.

An *experiment* is one (model, dataset) cell of the paper's results, trained under a named budget with one seed:

* distorted MNIST (Table 1): FCN, CNN, ST-FCN-Aff/Proj/TPS, ST-CNN-Aff/Proj/TPS on R, RTS, P, E;
* translated cluttered MNIST (TC, 60x60): FCN, CNN, ST-FCN, ST-CNN, whose transformer is an attention
  (scale and translation, eq. 2) that samples a smaller 30x30 output from the 60x60 input;
* MNIST addition (ADD): FCN, CNN, ST-FCN (one affine transformer) and 2xST-FCN (two in parallel).

Each experiment lives in its own folder of the run directory, ``<run_dir>/<budget>/<dataset>/<model>/seed-<k>/``,
holding ``result.json`` once it has finished and ``checkpoints/`` (one per epoch, the newest kept) while it runs.
Running an experiment again skips it when ``result.json`` is there and continues from the newest checkpoint
when it is not (:func:`stnlib.train.fit` with ``resume=True``), so an interrupted sweep resumes where it stopped.
``<run_dir>/results.md`` holds the table of every result in the run directory.

All models of one dataset and budget are compared on the same test digits (the test split's fixed distortions
with seed 0); ``seed`` changes the initial weights and the training distortions.

Example:
    >>> result = run_experiment("ST-CNN-Aff", "RTS", budget="cpu", run_dir="runs/demo")  # doctest: +SKIP
    >>> print(results_table([result]))  # doctest: +SKIP
"""

from __future__ import annotations

import datetime
import json
import math
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import MISSING, asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stnlib._validation import check_int, check_path
from stnlib.budget import BUDGETS, Budget, get_budget
from stnlib.data import DISTORTIONS, DistortedMNIST
from stnlib.experiments.paper import (
    DATASETS,
    EXPERIMENT_GROUPS,
    EXPERIMENTS,
    PAPER_SOURCE,
    canonical_model,
    paper_error,
)
from stnlib.experiments.recipes import Recipe, recipe_for
from stnlib.models import FCN, FeatureMapSTClassifier, SpatialTransformer, STClassifier, build_model
from stnlib.train import (
    Precision,
    evaluate,
    fit,
    latest_checkpoint,
    load_checkpoint,
    seed_everything,
)
from stnlib.train.device import check_precision, describe_hardware, effective_precision, resolve_device

__all__ = [
    "FILM_DIGITS",
    "FILM_FILE",
    "RESULT_FILE",
    "TABLE_FILE",
    "TC_OUTPUT_SIZE",
    "ExperimentInterrupted",
    "ExperimentResult",
    "build_experiment_model",
    "canonical_dataset",
    "canonical_model",
    "experiment_dir",
    "film_digits",
    "fixed_test_error",
    "load_results",
    "plan_sweep",
    "render_film",
    "results_table",
    "run_experiment",
    "run_sweep",
    "write_table",
]

RESULT_FILE = "result.json"
TABLE_FILE = "results.md"
TC_OUTPUT_SIZE = (30, 30)
"""Output size of the cluttered-MNIST transformers: half the 60x60 canvas (our choice; the digit is 28x28)."""

_TEST_SEED = 0  # every model, seed and budget is tested on the same fixed distortions
_EVAL_BATCH = 500
FILM_DIGITS = 8
"""Fixed test digits whose transformation an experiment records after every epoch: its training film."""
FILM_FILE = "film.json"


# ---------------------------------------------------------------------------------------------------------------
# Names of the paper's experiments (the experiments themselves: stnlib.experiments.paper).


def canonical_dataset(name: str, *, argument: str = "name") -> str:
    """The dataset key in upper case (``"rts"`` -> ``"RTS"``); ``argument`` as in :func:`canonical_model`.

    Raises:
        ValueError: not a dataset of the paper's MNIST experiments; the message lists them.
    """
    if not isinstance(name, str):
        raise TypeError(f"{argument} must be a dataset key such as 'RTS'; got {type(name).__name__}")
    key = name.strip().upper()
    if key not in EXPERIMENTS:
        described = ", ".join(f"{d} ({DISTORTIONS[d].description})" for d in DATASETS)
        raise ValueError(f"unknown dataset {name!r}; choose one of {described} (argument {argument})")
    return key


def _check_experiment(model: str, dataset: str) -> tuple[str, str]:
    model, dataset = (
        canonical_model(model, argument="model"),
        canonical_dataset(dataset, argument="dataset"),
    )
    if model not in EXPERIMENTS[dataset]:
        on = [d for d, ms in EXPERIMENTS.items() if model in ms]
        raise ValueError(
            f"{model} on {dataset} is not one of the paper's experiments: {model} is run on "
            f"{', '.join(on)}; on {dataset} the models are {', '.join(EXPERIMENTS[dataset])}"
        )
    return model, dataset


def build_experiment_model(model: str, dataset: str) -> nn.Module:
    """The network of one experiment, sized for the dataset's samples and classes (initialised randomly).

    Table 1 and addition models come from :func:`stnlib.models.build_model`; on ``TC`` the ``ST-FCN`` and
    ``ST-CNN`` use an attention transformer with a :data:`TC_OUTPUT_SIZE` output (downsampling the 60x60 input),
    and ``ST-CNN-FM`` is a :class:`~stnlib.models.FeatureMapSTClassifier` with an attention transformer on the
    first block's 32x26x26 feature map (Lesson 08).

    Example:
        >>> net = build_experiment_model("ST-CNN", "TC")
        >>> net.transformer.transform, net.transformer.output_size
        ('attention', (30, 30))
    """
    model, dataset = _check_experiment(model, dataset)
    distortion = DISTORTIONS[dataset]
    in_shape, num_classes = distortion.output_shape, distortion.num_classes
    if dataset == "TC" and model == "ST-CNN":
        return build_model("ST-CNN-Att", in_shape, num_classes, output_size=TC_OUTPUT_SIZE)
    if dataset == "TC" and model == "ST-FCN":
        transformer = SpatialTransformer(in_shape, "attention", "fc", output_size=TC_OUTPUT_SIZE)
        return STClassifier(transformer, FCN((in_shape[0], *TC_OUTPUT_SIZE), num_classes))
    if dataset == "TC" and model == "ST-CNN-FM":
        return FeatureMapSTClassifier(in_shape, num_classes, transform="attention")
    if dataset == "ADD" and model == "ST-FCN":
        return build_model("ST-FCN-Aff", in_shape, num_classes)
    return build_model(model, in_shape, num_classes)


# ---------------------------------------------------------------------------------------------------------------
# Results.


@dataclass
class ExperimentResult:
    """The outcome of one experiment, as stored in its ``result.json``.

    Attributes:
        model, dataset, budget, seed: what was run.
        test_error: test error in **percent**, like the paper.
        paper_error: the paper's error for this cell in percent (``None`` if it has none).
        epochs: epochs trained; steps: optimisation steps.
        train_time_s: seconds of training, summed over all epochs (also across a resume).
        device: where it trained (``"cuda"``, ``"cpu"``, ...); torch_version, stnlib_version: the software.
        precision: the precision training ran in (``"fp32"``, or ``"bf16"`` / ``"fp16"`` mixed precision);
            results written before it was recorded read as ``"fp32"``, the only precision then.
        hardware: the GPU, or the CPU's model and thread count, that trained it
            (:func:`~stnlib.train.device.describe_hardware`; ``"unknown"`` in results written before it was kept).
        film: the training film of a network with one spatial transformer in front of its classifier:
            ``{"epochs": [1, 2, ...], "params": [...]}``, the transformer's parameters on :func:`film_digits`
            after each epoch (``params[k]``: ``(FILM_DIGITS, *param_shape)`` as nested lists); ``None`` for other
            networks and for results written before films were recorded. :func:`render_film` draws it.
        status: ``"finished"``, or ``"diverged"`` when the loss became NaN and training stopped early.
        recipe: the :class:`~stnlib.experiments.recipes.Recipe` used, as a dict.
        history: per-epoch ``train_loss`` and ``train_acc`` (fractions), ``{"epoch": [...], ...}``.
        test_samples: digits the error was measured on.
        finished_at: when the result was written (UTC, ISO 8601).
        network: the trained network, when it is at hand (trained now, or loaded from the experiment's final
            checkpoint); not stored in the JSON.
    """

    model: str
    dataset: str
    budget: str
    seed: int
    test_error: float
    paper_error: float | None
    epochs: int
    steps: int
    train_time_s: float
    device: str
    torch_version: str
    stnlib_version: str
    status: str
    recipe: dict[str, Any]
    history: dict[str, list[Any]]
    test_samples: int
    finished_at: str
    precision: str = "fp32"
    hardware: str = "unknown"
    film: dict[str, list[Any]] | None = None
    network: nn.Module | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Everything but ``network``, as plain JSON values."""
        data = asdict(self)
        data.pop("network")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExperimentResult:
        """Rebuild a result from :meth:`to_dict`'s output (unknown keys are ignored)."""
        fields = [f for f in cls.__dataclass_fields__.values() if f.name != "network"]
        names = {f.name for f in fields}
        missing = {f.name for f in fields if f.default is MISSING} - data.keys()
        if missing:
            raise ValueError(f"not an experiment result: missing {', '.join(sorted(missing))}")
        return cls(**{k: data[k] for k in names if k in data})


def experiment_dir(
    run_dir: str | os.PathLike[str], model: str, dataset: str, budget: Budget | str, seed: int
) -> Path:
    """The folder of one experiment: ``<run_dir>/<budget>/<dataset>/<model>/seed-<seed>``."""
    name = budget.name if isinstance(budget, Budget) else get_budget(budget).name
    model, dataset = _check_experiment(model, dataset)
    check_int(seed, "seed", minimum=0)
    return check_path(run_dir, "run_dir") / name / dataset / model / f"seed-{seed}"


def _write_json(data: dict[str, Any], path: Path) -> None:
    """Write atomically: a reader (or a resumed sweep) never sees half a result."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8"
    ) as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(f.name, path)


def _read_result(path: Path) -> ExperimentResult:
    with path.open(encoding="utf-8") as f:
        return ExperimentResult.from_dict(json.load(f))


def load_results(run_dir: str | os.PathLike[str]) -> list[ExperimentResult]:
    """Every finished experiment's result in ``run_dir`` (any budget), in the paper's order.

    A ``result.json`` in the experiments' layout that is not an experiment's result (another program's file, a
    damaged one) is left out with a warning, so that it cannot stop a sweep.
    """
    results = []
    for path in sorted(check_path(run_dir, "run_dir").glob(f"*/*/*/seed-*/{RESULT_FILE}")):
        try:
            results.append(_read_result(path))
        except (OSError, ValueError, TypeError) as error:  # json.JSONDecodeError is a ValueError
            warnings.warn(f"left out {path}: {error}", stacklevel=2)
    return sorted(results, key=_order)


def _order(result: ExperimentResult) -> tuple[int, int, int, int]:
    budgets = list(BUDGETS)
    return (
        DATASETS.index(result.dataset) if result.dataset in DATASETS else len(DATASETS),
        EXPERIMENTS.get(result.dataset, ()).index(result.model)
        if result.model in EXPERIMENTS.get(result.dataset, ())
        else 99,
        budgets.index(result.budget) if result.budget in budgets else len(budgets),
        result.seed,
    )


# ---------------------------------------------------------------------------------------------------------------
# Running.


class ExperimentInterrupted(KeyboardInterrupt):
    """Training was interrupted (Ctrl-C, Jupyter's stop button); its checkpoint is kept for a resume."""


def _say(message: str, progress: bool) -> None:
    if progress:
        print(message, flush=True)


def _load_network(model: str, dataset: str, checkpoints: Path, device: torch.device) -> nn.Module | None:
    path = latest_checkpoint(checkpoints)
    if path is None:
        return None
    network = build_experiment_model(model, dataset)
    network.load_state_dict(load_checkpoint(path)["model"])
    return network.to(device)


def _describe(result: ExperimentResult) -> str:
    paper = "" if result.paper_error is None else f" (paper {result.paper_error:g} %)"
    note = ", DIVERGED" if result.status == "diverged" else ""
    mixed = "" if result.precision == "fp32" else f" ({result.precision})"
    return (
        f"{result.model} on {result.dataset} (budget {result.budget}, seed {result.seed}): test error "
        f"{result.test_error:.2f} %{paper}{note}; {result.epochs} epoch{'' if result.epochs == 1 else 's'} in {result.train_time_s:.0f} s on "
        f"{result.device}{mixed}"
    )


# Recipe fields added after results were first written, with the value every result before them was trained with.
_RECIPE_FIELDS_ADDED_LATER: dict[str, Any] = {"label_smoothing": 0.0}


def run_experiment(
    model: str,
    dataset: str,
    *,
    budget: Budget | str | None = None,
    seed: int = 0,
    run_dir: str | os.PathLike[str] | None = None,
    device: str | torch.device | None = None,
    precision: Precision = "fp32",
    progress: bool = True,
) -> ExperimentResult:
    """Train one model of the paper on one dataset and measure its test error.

    Args:
        model: a model of the paper's experiment on ``dataset`` (see :data:`EXPERIMENTS`), e.g. ``"ST-CNN-Aff"``.
        dataset: ``"R"``, ``"RTS"``, ``"P"``, ``"E"``, ``"TC"`` or ``"ADD"``.
        budget: a budget name (``"smoke"``, ``"cpu"``, ``"gpu"``, ``"paper"``), a :class:`~stnlib.budget.Budget`,
            or ``None`` for :func:`stnlib.budget.get_budget`. The recipe is :func:`~stnlib.experiments.recipes.recipe_for`.
        seed: seeds the initial weights and the training distortions.
        run_dir: where results and checkpoints go (see the module docstring); a finished experiment also
            rewrites the run directory's ``results.md``. An experiment whose result is already there is not
            trained again (its stored result is returned); one with a checkpoint but no result continues from
            the checkpoint. ``None`` trains in memory and saves nothing.
        device: ``None`` picks CUDA, then MPS, then the CPU.
        precision: ``"fp32"``, or mixed precision for the training steps: ``"bf16"`` (recent GPUs, and CPUs
            with bfloat16 units, where it is several times faster) or ``"fp16"`` (CUDA only, e.g. Colab's T4);
            where it cannot run, training falls back to fp32 with a warning. The test error is always measured
            in fp32, and the result records the precision that ran. It is not part of the recipe: a finished
            result is reused whatever precision it was trained in.
        progress: show fit's progress bars and a line with the result.

    Returns:
        The :class:`ExperimentResult`; ``result.network`` is the trained network when it is at hand.

    Raises:
        ValueError: an unknown model or dataset, or a model that is not run on that dataset.
        ExperimentInterrupted: training was interrupted; run the same call again to continue.
    """
    model, dataset = _check_experiment(model, dataset)
    chosen = budget if isinstance(budget, Budget) else get_budget(budget)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")
    where = None if run_dir is None else experiment_dir(run_dir, model, dataset, chosen, seed)
    checkpoints = None if where is None else where / "checkpoints"
    target = resolve_device(device)
    precision = check_precision(precision)
    if where is not None and (where / RESULT_FILE).is_file():
        result = _read_result(where / RESULT_FILE)
        assert checkpoints is not None
        stored = {**_RECIPE_FIELDS_ADDED_LATER, **result.recipe}
        current = recipe_for(model, dataset, chosen).as_dict()
        if stored != current:
            changed = ", ".join(
                f"{k}: {stored.get(k)!r} then, {v!r} now" for k, v in current.items() if stored.get(k) != v
            )
            warnings.warn(
                f"the result in {where} was trained with another recipe ({changed}); it is reused as it is. "
                "Delete that folder, or use another run_dir, to train with the current recipe.",
                stacklevel=2,
            )
        result.network = _load_network(model, dataset, checkpoints, target)
        _say(f"{_describe(result)} — already in {where}, skipped", progress)
        return result

    recipe = recipe_for(model, dataset, chosen)
    precision = effective_precision(target, precision)  # warns here, where it trains, not for a stored result
    seed_everything(seed)
    network = build_experiment_model(model, dataset)
    train_data = DistortedMNIST(
        dataset,
        "train",
        device=target,
        n_samples=recipe.train_samples,
        batch_size=recipe.batch_size,
        seed=seed,
    )
    resume = checkpoints is not None and latest_checkpoint(checkpoints) is not None
    film = _FilmRecorder(network, dataset, target, None if where is None else where / FILM_FILE)
    history = fit(
        network,
        train_data,
        recipe.train_config(precision=precision, seed=seed),
        device=target,
        checkpoint_dir=checkpoints,
        resume=resume,
        keep_last=1,
        progress=progress,
        callbacks=[film],
    )
    done = history.epochs[-1] if len(history) else 0
    diverged = len(history) > 0 and not math.isfinite(float(history.last["train_loss"]))
    if done < recipe.epochs and not diverged:
        raise ExperimentInterrupted(
            f"{model} on {dataset} was interrupted after {done} of {recipe.epochs} epochs"
            + ("; run it again with the same run_dir to continue" if where is not None else "")
        )
    error = fixed_test_error(network, dataset, recipe.test_samples, target)
    result = _make_result(
        model, dataset, recipe, seed, error, history, target, precision, diverged, film.as_dict()
    )
    result.network = network
    if run_dir is not None and where is not None:
        _write_json(result.to_dict(), where / RESULT_FILE)
        write_table(run_dir)
    _say(_describe(result), progress)
    return result


def film_digits(dataset: str, device: str | torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The :data:`FILM_DIGITS` fixed test digits (distortion seed 0) of a dataset's training film, ``(x, y)``.

    Example:
        >>> x, y = film_digits("RTS", "cpu")  # doctest: +SKIP
        >>> x.shape  # doctest: +SKIP
        torch.Size([8, 1, 42, 42])
    """
    data = DistortedMNIST(
        canonical_dataset(dataset),
        "test",
        device=resolve_device(device),
        n_samples=FILM_DIGITS,
        batch_size=FILM_DIGITS,
        seed=_TEST_SEED,
    )
    with torch.random.fork_rng(devices=[]):
        return next(iter(data))


class _FilmRecorder:
    """A ``fit`` callback: after each epoch, the transformer's parameters on :func:`film_digits`.

    Records nothing for networks without one :class:`SpatialTransformer` in front of their classifier. Uses no
    global random numbers, so a run trains the same weights with or without it. With ``path``, the film is saved
    after every epoch, and a resumed run continues it (frames of epochs trained again are replaced).
    """

    def __init__(self, network: nn.Module, dataset: str, device: torch.device, path: Path | None) -> None:
        self.inputs = film_digits(dataset, device)[0] if isinstance(network, STClassifier) else None
        self.path = path
        self.epochs: list[int] = []
        self.params: list[Any] = []
        if self.inputs is not None and path is not None and path.is_file():
            stored = json.loads(path.read_text(encoding="utf-8"))
            self.epochs, self.params = list(stored["epochs"]), list(stored["params"])

    def __call__(self, epoch: int, model: nn.Module, history: Any) -> None:
        if self.inputs is None:
            return
        was_training = model.training
        model.eval()
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            # nn.Module.__getattr__ is typed Tensor | Module; the probe is only attached to models with a transformer.
            _, params = model.transformer(self.inputs)  # type: ignore[operator]
        model.train(was_training)
        keep = [k for k, e in enumerate(self.epochs) if e < epoch]
        self.epochs = [self.epochs[k] for k in keep] + [epoch]
        self.params = [self.params[k] for k in keep] + [
            (params.float() * 1e5).round().div(1e5).cpu().tolist()
        ]
        if self.path is not None:
            _write_json(self.as_dict() or {}, self.path)

    def as_dict(self) -> dict[str, list[Any]] | None:
        return None if self.inputs is None else {"epochs": self.epochs, "params": self.params}


def render_film(
    network: nn.Module, dataset: str, film: dict[str, list[Any]], device: str | torch.device | None = None
) -> tuple[torch.Tensor, list[torch.Tensor], list[str]]:
    """Draw a training film: what the network's transformer passed on after each recorded epoch.

    Args:
        network: a network of the experiment, with its ``transformer`` (the film's parameters replace its
            localization network's, so any network of the same architecture draws the same film).
        dataset: the experiment's dataset.
        film: :attr:`ExperimentResult.film` (or a zoo record's ``film``).
        device: ``None`` picks CUDA, then MPS, then the CPU.

    Returns:
        ``(inputs, frames, captions)``: the film digits ``(FILM_DIGITS, C, H, W)``, one output batch per frame,
        and ``"epoch k of E"`` per frame — the arguments of :func:`stnlib.viz.animate_transformer`.
    """
    transformer = getattr(network, "transformer", None)
    if not isinstance(transformer, SpatialTransformer) or not isinstance(network, STClassifier):
        raise TypeError(
            f"render_film needs a network with one spatial transformer in front of its classifier; "
            f"got {type(network).__name__}"
        )
    if not isinstance(film, dict) or not {"epochs", "params"} <= film.keys() or not film["params"]:
        raise ValueError(
            "film must be a training film {'epochs': [...], 'params': [...]} with at least one frame"
        )
    target = resolve_device(device)
    inputs = film_digits(dataset, target)[0]
    last = film["epochs"][-1]
    with torch.no_grad():
        frames = [
            transformer.apply_params(inputs, torch.tensor(params, device=target)).cpu()
            for params in film["params"]
        ]
    return inputs.cpu(), frames, [f"epoch {e} of {last}" for e in film["epochs"]]


def fixed_test_error(
    network: nn.Module, dataset: str, n_samples: int, device: str | torch.device | None = None
) -> float:
    """Test error in percent (rounded to 4 decimals) on the first ``n_samples`` of the dataset's fixed test digits.

    The experiments' one test set: every model, seed and budget is measured on the same distortions (seed 0), so
    errors compare like with like. The network is evaluated in float32.
    """
    if not isinstance(network, nn.Module):
        raise TypeError(f"network must be a torch.nn.Module; got {type(network).__name__}")
    dataset = canonical_dataset(dataset, argument="dataset")
    check_int(n_samples, "n_samples")
    target = resolve_device(device)
    data = DistortedMNIST(
        dataset, "test", device=target, n_samples=n_samples, batch_size=_EVAL_BATCH, seed=_TEST_SEED
    )
    return round(100.0 * evaluate(network.float(), data, device=target)["error"], 4)


def _finite_or_none(value: Any) -> Any:
    """JSON has no NaN or infinity: a diverged loss is stored as ``null``."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _make_result(
    model: str,
    dataset: str,
    recipe: Recipe,
    seed: int,
    error: float,
    history: Any,
    device: torch.device,
    precision: Precision,
    diverged: bool,
    film: dict[str, list[Any]] | None,
) -> ExperimentResult:
    import stnlib

    columns = history.as_dict()
    return ExperimentResult(
        model=model,
        dataset=dataset,
        budget=recipe.budget,
        seed=seed,
        test_error=error,
        paper_error=paper_error(model, dataset),
        epochs=len(history),
        steps=len(history) * -(-recipe.train_samples // recipe.batch_size),
        train_time_s=round(float(sum(columns.get("epoch_time", []))), 2),
        device=str(device),
        torch_version=torch.__version__,
        stnlib_version=stnlib.__version__,
        status="diverged" if diverged else "finished",
        recipe=recipe.as_dict(),
        history={
            k: [_finite_or_none(v) for v in columns[k]]
            for k in ("epoch", "train_loss", "train_acc")
            if k in columns
        },
        test_samples=recipe.test_samples,
        finished_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        precision=precision,
        hardware=describe_hardware(device),
        film=film,
    )


def plan_sweep(models: Sequence[str], datasets: Sequence[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """The experiments of ``models`` x ``datasets`` that the paper has, and the pairs it does not have.

    Returns:
        ``(pairs, skipped)``: ``(model, dataset)`` pairs in canonical spelling, dataset by dataset, and
        ``"model on dataset"`` for each pair left out.

    Raises:
        ValueError: an unknown name, or a model that the paper runs on none of ``datasets``.

    Example:
        >>> plan_sweep(["cnn", "ST-CNN"], ["RTS", "TC"])
        ([('CNN', 'RTS'), ('CNN', 'TC'), ('ST-CNN', 'TC')], ['ST-CNN on RTS'])
    """
    models = [canonical_model(m) for m in models]
    datasets = [canonical_dataset(d) for d in datasets]
    pairs, notes = [], []
    for dataset in datasets:
        for model in models:
            if model in EXPERIMENTS[dataset]:
                pairs.append((model, dataset))
            else:
                notes.append(f"{model} on {dataset}")
    unused = [m for m in models if all(m != p[0] for p in pairs)]
    if unused:
        raise ValueError(
            f"{', '.join(unused)} is not run on {', '.join(datasets)} in the paper; "
            + "; ".join(f"{d} has {', '.join(EXPERIMENTS[d])}" for d in datasets)
        )
    return list(dict.fromkeys(pairs)), notes


def run_sweep(
    models: Iterable[str],
    datasets: Iterable[str],
    *,
    budget: Budget | str | None = None,
    seeds: Iterable[int] = (0,),
    run_dir: str | os.PathLike[str] | None = None,
    device: str | torch.device | None = None,
    precision: Precision = "fp32",
    progress: bool = True,
) -> list[ExperimentResult]:
    """Run every experiment of ``models`` x ``datasets`` x ``seeds`` that the paper has, one after the other.

    Pairs the paper does not have (``ST-CNN-Aff`` on ``TC``) are skipped with a note; a model that is run on
    none of the datasets is an error. With ``run_dir``, finished experiments are skipped, a half-trained one
    continues from its checkpoint, and ``<run_dir>/results.md`` is rewritten after every experiment.

    Args:
        models, datasets: names as for :func:`run_experiment`.
        budget, run_dir, device, precision, progress: as for :func:`run_experiment`.
        seeds: one experiment per seed.

    Returns:
        The results in the order they were run, each with its trained ``network``.

    Raises:
        ValueError: an unknown name, or no experiment to run.
        ExperimentInterrupted: interrupted; run the same sweep again to continue.
    """
    chosen = budget if isinstance(budget, Budget) else get_budget(budget)
    resolve_device(device)  # a bad device fails now, not after the first experiment
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds is empty; pass at least one, e.g. seeds=(0,)")
    pairs, notes = plan_sweep(list(models), list(datasets))
    if notes:
        _say(f"skipped (not experiments of the paper): {', '.join(notes)}", progress)
    total = len(pairs) * len(seeds)
    results = []
    for i, (seed, (model, dataset)) in enumerate(((s, p) for p in pairs for s in seeds), start=1):
        _say(f"[{i}/{total}] {model} on {dataset}, seed {seed}, budget {chosen.name}", progress)
        started = time.perf_counter()
        results.append(
            run_experiment(
                model,
                dataset,
                budget=chosen,
                seed=seed,
                run_dir=run_dir,
                device=device,
                precision=precision,
                progress=progress,
            )
        )
        _say(f"[{i}/{total}] done in {time.perf_counter() - started:.0f} s", progress)
    return results


# ---------------------------------------------------------------------------------------------------------------
# The table.


def _mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.fmean(values):.2f} ± {statistics.stdev(values):.2f}"


def results_table(results: Iterable[ExperimentResult], paper: bool = True) -> str:
    """A Markdown table of test errors (%), one row per (model, dataset, budget), beside the paper's numbers.

    Only experiments in ``results`` appear. A row's error is the mean ± sample standard deviation over its seeds
    (the single value for one seed); its seeds, budget and number of training steps are in the row. Runs that
    diverged count in the mean and are flagged.

    Args:
        results: :class:`ExperimentResult` objects, e.g. from :func:`run_sweep` or :func:`load_results`.
        paper: add the paper's error for each row.

    Returns:
        Markdown text: a short header, then one table per group of experiments (Table 1, cluttered, addition).
    """
    cells: dict[tuple[str, str, str], list[ExperimentResult]] = {}
    for r in sorted(results, key=_order):
        cells.setdefault((r.dataset, r.model, r.budget), []).append(r)
    lines = [
        "Test error (%) on MNIST variants: ours (mean ± std over seeds) "
        + (f"beside the paper's — {PAPER_SOURCE}." if paper else "."),
        "Only experiments that were trained are listed; 'steps' is the optimisation steps per run.",
    ]
    if not cells:
        return "\n".join([*lines, "", "(no results yet)"]) + "\n"
    for group in EXPERIMENT_GROUPS.values():
        rows = [(key, runs) for key, runs in cells.items() if key[0] in group.datasets]
        if not rows:
            continue
        header = ["Model", "Dataset", "Ours", *(["Paper"] if paper else []), "Seeds", "Budget", "Steps"]
        lines += ["", f"### {group.title}", "", "| " + " | ".join(header) + " |"]
        lines.append(
            "|" + "|".join("---" if h in ("Model", "Dataset", "Budget") else "--:" for h in header) + "|"
        )
        for (dataset, model, budget), runs in rows:
            ours = _mean_std([r.test_error for r in runs])
            diverged = sum(r.status == "diverged" for r in runs)
            if diverged:
                ours += f" ({diverged} diverged)"
            reference = paper_error(model, dataset)
            row = [model, dataset, ours]
            if paper:
                row.append("—" if reference is None else f"{reference:g}")
            steps = sorted({r.steps for r in runs})
            row += [", ".join(str(r.seed) for r in runs), budget, "/".join(f"{s:,}" for s in steps)]
            lines.append("| " + " | ".join(row) + " |")
    unknown = [k for k in cells if k[0] not in DATASETS]
    if unknown:
        lines += [
            "",
            f"(results for unknown datasets left out: {', '.join(sorted({k[0] for k in unknown}))})",
        ]
    return "\n".join(lines) + "\n"


def write_table(run_dir: str | os.PathLike[str], results: Iterable[ExperimentResult] | None = None) -> Path:
    """(Re)write ``<run_dir>/results.md`` from ``results`` (default: every result in ``run_dir``); returns its path."""
    path = check_path(run_dir, "run_dir") / TABLE_FILE
    text = results_table(load_results(run_dir) if results is None else results)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8"
    ) as f:
        f.write(text)
    os.replace(f.name, path)
    return path
