"""Checkpoints that survive a crash, a kill or a Colab disconnect, and load with ``weights_only=True``.

A checkpoint is one file per completed epoch, ``epoch-0003.pt``, in a directory you choose (on Colab, a folder
of your mounted Google Drive). Each is written *atomically*: into a temporary file in the same directory, flushed
and ``fsync``-ed, then renamed over the final name with :func:`os.replace`. A reader therefore sees either the
previous complete file or the new complete file, never half of one. Only the newest ``keep_last`` files are kept.

Checkpoints hold only tensors and plain Python containers, numbers and strings, so they load with
``torch.load(..., weights_only=True)``, which cannot run code hidden in a file. Random number generator states
are converted accordingly (:func:`rng_state` / :func:`set_rng_state`).
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stnlib._validation import check_int, check_path

__all__ = [
    "FORMAT_VERSION",
    "atomic_save",
    "checkpoint_path",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "load_latest_checkpoint",
    "prune_checkpoints",
    "rng_state",
    "set_rng_state",
]

FORMAT_VERSION = 1
_NAME = re.compile(r"^epoch-(\d+)\.pt$")
_TMP_PREFIX = ".tmp-"


def checkpoint_path(directory: str | os.PathLike[str], epoch: int) -> Path:
    """The file of the checkpoint taken after ``epoch`` completed epochs: ``directory/epoch-0003.pt``."""
    return check_path(directory, "directory") / f"epoch-{check_int(epoch, 'epoch', minimum=0):04d}.pt"


def list_checkpoints(directory: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """``(epoch, path)`` of every checkpoint in ``directory``, oldest first (empty if it does not exist)."""
    directory = check_path(directory, "directory")
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name)) and p.is_file()]
    return sorted(found)


def latest_checkpoint(directory: str | os.PathLike[str]) -> Path | None:
    """The newest checkpoint file in ``directory``, or ``None`` if there is none."""
    found = list_checkpoints(directory)
    return found[-1][1] if found else None


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save(obj, path)`` so that ``path`` never holds a partial file.

    The object is written to a temporary file next to ``path`` (same directory, hence same file system), flushed
    to disk with ``fsync``, and renamed to ``path`` with :func:`os.replace`, which is atomic. If anything fails
    or is interrupted (including ``KeyboardInterrupt``), the temporary file is removed and ``path`` keeps its
    previous content.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = check_path(path, "path")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=_TMP_PREFIX, suffix=".pt")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_directory(path.parent)
    return path


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); some file systems (Windows, network mounts) cannot, which is fine."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def prune_checkpoints(directory: str | os.PathLike[str], keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` checkpoints, and temporary files left by a killed writer."""
    check_int(keep_last, "keep_last")
    for _, path in list_checkpoints(directory)[:-keep_last]:
        with contextlib.suppress(OSError):
            path.unlink()
    for leftover in check_path(directory, "directory").glob(f"{_TMP_PREFIX}*.pt"):
        with contextlib.suppress(OSError):
            leftover.unlink()


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint onto the CPU with ``weights_only=True`` (``load_state_dict`` moves tensors later).

    Raises:
        FileNotFoundError: there is no file at ``path``.
        ValueError: the file is not a checkpoint of this format.
    """
    state = torch.load(check_path(path, "path"), map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} is not an stnlib checkpoint of format {FORMAT_VERSION}; was it written by another program?"
        )
    return state


def load_latest_checkpoint(directory: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]] | None:
    """Load the newest checkpoint in ``directory`` that loads; ``None`` if there is none.

    A file that fails to load (e.g. damaged by a sync client) is skipped with a warning and the one before it
    is tried.
    """
    for _, path in reversed(list_checkpoints(directory)):
        try:
            return path, load_checkpoint(path)
        except Exception as exc:  # a damaged file: fall back to the one before
            warnings.warn(f"could not load checkpoint {path} ({exc}); trying an older one", stacklevel=2)
    return None


def rng_state() -> dict[str, Any]:
    """The states of Python's, NumPy's (global, legacy) and torch's generators, as tensors and plain values.

    CUDA states are included when CUDA has been initialised, MPS's when MPS is available.
    """
    np_state = np.random.get_state(legacy=False)  # noqa: NPY002 — the global generator is what users' code draws from
    state: dict[str, Any] = {
        "python": _python_state_to_plain(random.getstate()),
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    mps = getattr(torch, "mps", None)
    if mps is not None and torch.backends.mps.is_available():
        state["mps"] = mps.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore generator states saved by :func:`rng_state`.

    A CUDA state is restored only on a machine with the same number of CUDA devices (a checkpoint from a Colab
    GPU opened on a laptop warns and continues; the run then differs from the original in GPU randomness only).
    """
    random.setstate(_python_state_from_plain(state["python"]))
    np_state = state["numpy"]
    np.random.set_state(  # noqa: NPY002 — restores the global generator
        {
            "bit_generator": "MT19937",
            "state": {"key": np_state["key"].numpy().astype(np.uint32), "pos": np_state["pos"]},
            "has_gauss": np_state["has_gauss"],
            "gauss": np_state["gauss"],
        }
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state:
        if torch.cuda.is_available() and torch.cuda.device_count() == len(state["cuda"]):
            torch.cuda.set_rng_state_all(state["cuda"])
        else:
            warnings.warn(
                "the checkpoint holds CUDA generator states for "
                f"{len(state['cuda'])} device(s) that this machine does not have; they are not restored",
                stacklevel=2,
            )
    mps = getattr(torch, "mps", None)
    if "mps" in state and mps is not None and torch.backends.mps.is_available():
        mps.set_rng_state(state["mps"])


def _python_state_to_plain(state: tuple[Any, ...]) -> dict[str, Any]:
    version, internal, gauss_next = state
    return {
        "version": version,
        "internal": torch.tensor(internal, dtype=torch.int64),
        "gauss_next": gauss_next,
    }


def _python_state_from_plain(state: dict[str, Any]) -> tuple[Any, ...]:
    return (state["version"], tuple(int(v) for v in state["internal"].tolist()), state["gauss_next"])
