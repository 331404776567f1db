"""The model zoo: converged networks of the paper's experiments, shipped with the course and re-evaluated in tests.

Every model in the zoo was trained by the course's own command, ``python -m stnlib.experiments ... --export``
(:func:`export_experiment`), never by hand. Its weights live in ``stnlib/pretrained/weights/`` (half precision,
weights only) and its :class:`ZooRecord` in ``weights/zoo.json``: what was trained, with which budget, recipe,
seed and precision, the exact command, the hardware and wall time, the test error of the *stored* weights
(evaluated in float32) on the fixed test set and on its first :data:`SUBSET_SAMPLES` digits, and the file's
SHA-256. :func:`load_pretrained` checks that hash and loads with ``weights_only=True``.

Example:
    >>> net, record = load_pretrained("ST-CNN-Aff", "RTS")  # doctest: +SKIP
    >>> record.test_error, record.command  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stnlib.experiments.paper import DATASETS, EXPERIMENTS
from stnlib.experiments.runner import (
    ExperimentResult,
    build_experiment_model,
    canonical_dataset,
    canonical_model,
    fixed_test_error,
)

__all__ = [
    "INDEX_FILE",
    "STORAGE_DTYPE",
    "SUBSET_SAMPLES",
    "ZOO_DIR",
    "ZOO_RUN_DIR",
    "PretrainedError",
    "ZooRecord",
    "available",
    "evaluate_record",
    "export_experiment",
    "load_pretrained",
    "record_for",
    "retrain_command",
    "zoo_table",
]

ZOO_DIR = Path(__file__).resolve().parent / "weights"
"""Where the shipped weights and their records live (inside the package, so an install has them offline)."""
INDEX_FILE = "zoo.json"
"""The records of every shipped model, keyed ``"<dataset>/<model>"``."""
ZOO_RUN_DIR = "runs/zoo"
"""The run directory the zoo's commands train in (relative to where they are run: the repository root)."""
SUBSET_SAMPLES = 1_000
"""The fixed subset of the test set (its first digits) that the test suite re-evaluates every model on."""
STORAGE_DTYPE = torch.float16
"""Parameters are stored in half precision (buffers as they are); the recorded errors are of these weights."""


class PretrainedError(RuntimeError):
    """A zoo model is not shipped, or its file is missing or does not match its record."""


@dataclass(frozen=True)
class ZooRecord:
    """Everything known about one shipped model.

    Attributes:
        model, dataset: the experiment (``"ST-CNN-Aff"``, ``"RTS"``).
        budget, seed, precision: how it was trained (precision of the training steps: ``"fp32"``, ``"bf16"``, ...).
        recipe: the :class:`~stnlib.experiments.recipes.Recipe` it was trained with, as a dict.
        command: the command that trains it from scratch and writes its file and this record.
        hardware: what trained it (GPU name, or CPU model and thread count); device: ``"cpu"``, ``"cuda"``, ...
        train_time_s: wall time of training in seconds; epochs, steps: how much training.
        test_error: test error (%) of the stored weights, in float32, on ``test_samples`` fixed test digits.
        subset_error: the same on the first :data:`SUBSET_SAMPLES` of them (``subset_samples``).
        paper_error: the paper's error (%) for this cell, ``None`` where the paper has none.
        file: the weight file's name in :data:`ZOO_DIR`; sha256: its hash; storage_dtype: its parameters' dtype.
        torch_version: the PyTorch that trained it; trained_at, exported_at: UTC times (ISO 8601).
        train_loss: the final epoch's training loss.
        film: the training film (:attr:`~stnlib.experiments.ExperimentResult.film`; draw it with
            :func:`~stnlib.experiments.render_film`), or ``None``: not a single-transformer network, or exported
            before films were recorded.
    """

    model: str
    dataset: str
    budget: str
    seed: int
    precision: str
    recipe: dict[str, Any]
    command: str
    hardware: str
    device: str
    train_time_s: float
    epochs: int
    steps: int
    test_error: float
    test_samples: int
    subset_error: float
    subset_samples: int
    paper_error: float | None
    file: str
    sha256: str
    storage_dtype: str
    torch_version: str
    trained_at: str
    exported_at: str
    train_loss: float | None = None
    film: dict[str, list[Any]] | None = None

    @property
    def key(self) -> str:
        """``"<dataset>/<model>"``, the record's key in :data:`INDEX_FILE`."""
        return _key(self.model, self.dataset)

    def describe(self) -> str:
        """One line for people: the model, its error and how it was made."""
        paper = "" if self.paper_error is None else f" (paper {self.paper_error:g} %)"
        minutes = self.train_time_s / 60
        return (
            f"{self.model} on {self.dataset}: test error {self.test_error:.2f} %{paper}; budget {self.budget}, "
            f"seed {self.seed}, {self.steps:,} steps in {minutes:.0f} min on {self.hardware} ({self.precision})"
        )


def _key(model: str, dataset: str) -> str:
    return f"{dataset}/{model}"


def retrain_command(model: str, dataset: str, budget: str, seed: int = 0, precision: str = "fp32") -> str:
    """The command that trains one zoo model from scratch (resumably) and writes its file and record.

    Example:
        >>> retrain_command("ST-CNN-Aff", "RTS", "paper")
        'python -m stnlib.experiments --models ST-CNN-Aff --datasets RTS --budget paper --seeds 0 --run-dir runs/zoo --export'
        >>> retrain_command("CNN", "TC", "gpu-40ep", precision="bf16").split("--budget ")[1]
        'gpu --epochs 40 --seeds 0 --precision bf16 --run-dir runs/zoo --export'
    """
    longer = re.fullmatch(r"(.+)-(\d+)ep", budget)  # Budget.with_epochs names it <budget>-<N>ep
    budget_args = f"{longer[1]} --epochs {longer[2]}" if longer else budget
    mixed = "" if precision == "fp32" else f" --precision {precision}"
    return (
        f"python -m stnlib.experiments --models {model} --datasets {dataset} --budget {budget_args} "
        f"--seeds {seed}{mixed} --run-dir {ZOO_RUN_DIR} --export"
    )


def _zoo_dir(zoo_dir: str | os.PathLike[str] | None) -> Path:
    return ZOO_DIR if zoo_dir is None else Path(zoo_dir)


def _read_index(zoo_dir: Path) -> dict[str, dict[str, Any]]:
    path = zoo_dir / INDEX_FILE
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def _write_index(zoo_dir: Path, index: dict[str, dict[str, Any]]) -> None:
    zoo_dir.mkdir(parents=True, exist_ok=True)
    ordered = {k: index[k] for k in sorted(index, key=_index_order)}
    with tempfile.NamedTemporaryFile("w", dir=zoo_dir, suffix=".tmp", delete=False, encoding="utf-8") as f:
        json.dump(ordered, f, indent=1)
        f.write("\n")
    os.replace(f.name, zoo_dir / INDEX_FILE)


def _index_order(key: str) -> tuple[int, int, str]:
    dataset, model = key.split("/", 1)
    models = EXPERIMENTS.get(dataset, ())
    return (
        DATASETS.index(dataset) if dataset in DATASETS else len(DATASETS),
        models.index(model) if model in models else len(models),
        model,
    )


@contextlib.contextmanager
def _index_lock(zoo_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the zoo's index while it is read, changed and written (POSIX; elsewhere none)."""
    try:
        import fcntl
    except ImportError:  # Windows: exports there run one at a time
        yield
        return
    with (zoo_dir / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def available(zoo_dir: str | os.PathLike[str] | None = None) -> list[ZooRecord]:
    """The records of every shipped model, in the paper's order (Table 1, cluttered MNIST, addition)."""
    return [ZooRecord(**data) for data in _read_index(_zoo_dir(zoo_dir)).values()]


def record_for(model: str, dataset: str, zoo_dir: str | os.PathLike[str] | None = None) -> ZooRecord:
    """The record of one shipped model.

    Raises:
        PretrainedError: the zoo has no such model; the message lists what it has and how to train this one.
    """
    model, dataset = canonical_model(model), canonical_dataset(dataset)
    index = _read_index(_zoo_dir(zoo_dir))
    data = index.get(_key(model, dataset))
    if data is None:
        have = ", ".join(index) or "nothing yet"
        raise PretrainedError(
            f"the model zoo has no {model} on {dataset} (it has: {have}). Train and add it with: "
            f"{retrain_command(model, dataset, 'gpu')}"
        )
    return ZooRecord(**data)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _network_from(state: dict[str, torch.Tensor], model: str, dataset: str) -> nn.Module:
    """A fresh network of the experiment holding the stored ``state`` in float32, in eval mode."""
    network = build_experiment_model(model, dataset)
    network.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return network.eval()


def load_pretrained(
    model: str,
    dataset: str,
    *,
    device: str | torch.device = "cpu",
    zoo_dir: str | os.PathLike[str] | None = None,
) -> tuple[nn.Module, ZooRecord]:
    """Load a shipped model in eval mode, in float32, after checking its file against its record.

    Args:
        model, dataset: the experiment, e.g. ``("ST-CNN-Aff", "RTS")``; spelling as for
            :func:`~stnlib.experiments.canonical_model`.
        device: where the network goes.
        zoo_dir: another zoo folder (tests); ``None`` for the shipped one.

    Returns:
        ``(network, record)``.

    Raises:
        PretrainedError: the model is not in the zoo, its file is missing, or the file's SHA-256 differs from the
            record (the message names the file and the command that retrains it).
    """
    folder = _zoo_dir(zoo_dir)
    record = record_for(model, dataset, folder)
    path = folder / record.file
    command = record.command
    if not path.is_file():
        raise PretrainedError(
            f"the weights of {record.model} on {record.dataset} are missing: {path} does not exist. "
            f"Restore it (git checkout -- {path.name} in {folder}), or retrain it with: {command}"
        )
    actual = _sha256(path)
    if actual != record.sha256:
        raise PretrainedError(
            f"{path} does not match its record (sha256 {actual[:12]}… instead of {record.sha256[:12]}…): the "
            f"file was altered or damaged. Restore it (git checkout -- {path.name} in {folder}), or retrain it "
            f"with: {command}"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    return _network_from(state, record.model, record.dataset).to(device), record


def _stored_state(network: nn.Module) -> dict[str, torch.Tensor]:
    """Parameters in :data:`STORAGE_DTYPE`, buffers as they are, all on the CPU."""
    parameters = {name for name, _ in network.named_parameters()}
    return {
        name: (value.to(STORAGE_DTYPE) if name in parameters and value.is_floating_point() else value)
        .detach()
        .cpu()
        .clone()
        for name, value in network.state_dict().items()
    }


def evaluate_record(
    network: nn.Module, record: ZooRecord, *, subset: bool = True, device: str | torch.device = "cpu"
) -> float:
    """Test error (%) of ``network`` on the record's fixed test digits (its subset, or all of them), in float32."""
    n = record.subset_samples if subset else record.test_samples
    return fixed_test_error(network, record.dataset, n, device)


def export_experiment(
    result: ExperimentResult,
    *,
    zoo_dir: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
) -> ZooRecord:
    """Add a finished experiment's network to the zoo: write its weights and its record.

    The weights are stored in :data:`STORAGE_DTYPE`, loaded back into a fresh network in float32 and evaluated
    on the experiment's fixed test digits and their first :data:`SUBSET_SAMPLES`, so the record holds the errors
    of exactly what ships. A model already in the zoo is replaced (git keeps the old file).

    Args:
        result: a finished :class:`~stnlib.experiments.ExperimentResult` whose ``network`` is at hand (as
            :func:`~stnlib.experiments.run_experiment` returns it, also for a stored result).
        zoo_dir: another zoo folder (tests); ``None`` for the shipped one.
        device: where the stored weights are evaluated.

    Raises:
        ValueError: the result has no network, or its training diverged.
    """
    if result.network is None:
        raise ValueError(
            f"{result.model} on {result.dataset} has no trained network at hand (its checkpoint is gone); "
            f"delete its result in the run directory and run {retrain_command(result.model, result.dataset, result.budget, result.seed, result.precision)}"
        )
    if result.status != "finished":
        raise ValueError(
            f"{result.model} on {result.dataset} {result.status}; a zoo model must have finished"
        )
    folder = _zoo_dir(zoo_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{result.dataset}_{result.model}.pt"
    state = _stored_state(result.network)
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".tmp", delete=False) as f:
        torch.save(state, f)
    os.replace(f.name, path)

    network = _network_from(state, result.model, result.dataset)
    subset = min(SUBSET_SAMPLES, result.test_samples)
    losses = result.history.get("train_loss") or [None]
    record = ZooRecord(
        model=result.model,
        dataset=result.dataset,
        budget=result.budget,
        seed=result.seed,
        precision=result.precision,
        recipe=result.recipe,
        command=retrain_command(result.model, result.dataset, result.budget, result.seed, result.precision),
        hardware=result.hardware,
        device=result.device,
        train_time_s=result.train_time_s,
        epochs=result.epochs,
        steps=result.steps,
        test_error=fixed_test_error(network, result.dataset, result.test_samples, device),
        test_samples=result.test_samples,
        subset_error=fixed_test_error(network, result.dataset, subset, device),
        subset_samples=subset,
        paper_error=result.paper_error,
        file=path.name,
        sha256=_sha256(path),
        storage_dtype=str(STORAGE_DTYPE).removeprefix("torch."),
        torch_version=result.torch_version,
        trained_at=result.finished_at,
        exported_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        train_loss=losses[-1],
        film=result.film,
    )
    with _index_lock(folder):  # two training workers may finish at the same moment
        index = _read_index(folder)
        index[record.key] = asdict(record)
        _write_index(folder, index)
    return record


def zoo_table(records: list[ZooRecord] | None = None) -> str:
    """A Markdown table of the zoo: error beside the paper's, budget, steps, time and hardware of each model."""
    records = available() if records is None else records
    if not records:
        return "(the model zoo is empty)\n"
    lines = [
        "| Dataset | Model | Test error % | Paper % | Budget | Steps | Train time | Hardware |",
        "|---|---|--:|--:|---|--:|--:|---|",
    ]
    for r in records:
        paper = "—" if r.paper_error is None else f"{r.paper_error:g}"
        lines.append(
            f"| {r.dataset} | {r.model} | {r.test_error:.2f} | {paper} | {r.budget} | {r.steps:,} | "
            f"{r.train_time_s / 60:.0f} min | {r.hardware} ({r.precision}) |"
        )
    return "\n".join(lines) + "\n"
