"""Batches of distorted MNIST generated on the training device, without a DataLoader.

:class:`DistortedMNIST` keeps the ``uint8`` digits on the device (MNIST is ~55 MB) and distorts whole batches
there with :mod:`stnlib.data.distortions`: no worker processes, no per-sample Python, no host-to-device copies
of images. On a GPU this is far faster than per-sample transforms in a :class:`torch.utils.data.DataLoader`
(``python -m benchmarks.bench_data`` measures it).

* ``split="train"``: fresh distortions every epoch, reshuffled. The random numbers of epoch ``e`` come from a
  generator seeded with ``(seed, variant, split, e)``, so a run resumed at epoch ``e`` (:meth:`set_epoch`) sees
  exactly the batches it would have seen.
* ``split="val"`` / ``"test"``: the distortions are fixed — generated once, kept on the object and identical
  for every iteration and every instance with the same seed, whatever the batch size — so evaluations compare
  like with like.

Example:
    >>> images = torch.randint(0, 256, (10, 1, 28, 28), dtype=torch.uint8)
    >>> data = DistortedMNIST.from_tensors(images, torch.arange(10), "RTS", batch_size=4, device="cpu")
    >>> len(data), [tuple(x.shape) for x, _ in data]
    (3, [(4, 1, 42, 42), (4, 1, 42, 42), (2, 1, 42, 42)])
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import os
from collections.abc import Iterator

import torch
from torch import Tensor

from stnlib._validation import check_int, check_tensor
from stnlib.data.distortions import DISTORTIONS, Distortion, translate
from stnlib.data.mnist import Source, Split, load_mnist

__all__ = ["MNIST_MEAN", "MNIST_STD", "DistortedMNIST"]

MNIST_MEAN = 0.1307
"""Mean pixel value of MNIST's training digits in [0, 1] (the value PyTorch's STN tutorial normalises with)."""
MNIST_STD = 0.3081
"""Standard deviation of MNIST's training pixels in [0, 1]."""

_FIXED_CHUNK = 1000  # fixed splits are generated in chunks of this many digits, each with its own seed
_CLUTTER_PER_DIGIT = 6  # other digits drawn per sample as the source of its clutter crops (TC)


def _derive_seed(*parts: object) -> int:
    """A 63-bit seed that depends on every part (seed, variant, split, epoch, ...), stable across runs."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class DistortedMNIST:
    """MNIST distorted on the fly on the device; iterate to get ``(x, y)`` batches.

    Args:
        variant: a key of :data:`~stnlib.data.distortions.DISTORTIONS`: ``"R"``, ``"RTS"``, ``"P"``, ``"E"``,
            ``"T"``, ``"TC"`` or ``"ADD"``.
        split: ``"train"`` (fresh distortions each epoch), ``"val"`` or ``"test"`` (fixed distortions).
        device: where digits live and batches are made; ``None`` picks CUDA, then MPS, then the CPU.
        n_samples: use only the first ``n_samples`` digits of the split (budgets, tests).
        batch_size: digits per batch; the last batch may be smaller.
        seed: the seed of every random choice; the same seed gives the same data.
        shuffle: reshuffle every epoch; defaults to True for ``"train"`` and False otherwise.
        normalize: subtract :data:`MNIST_MEAN` and divide by :data:`MNIST_STD` **after** distorting. The
            distortions pad with zeros, and zero is the background only before normalising; normalising first
            would give the padding a different value from the background — a visible frame that a spatial
            transformer can learn to exploit or collapse on, one of the commonest STN problems.
        source, root: passed to :func:`~stnlib.data.mnist.load_mnist`.

    Attributes:
        images: ``uint8 (N, 1, 28, 28)`` on ``device``.
        labels: ``int64 (N,)`` on ``device``.
        distortion: the :class:`~stnlib.data.distortions.Distortion` used.
        epoch: the epoch the next pass over a training split will use.
    """

    def __init__(
        self,
        variant: str,
        split: Split = "train",
        *,
        device: torch.device | str | None = None,
        n_samples: int | None = None,
        batch_size: int = 128,
        seed: int = 0,
        shuffle: bool | None = None,
        normalize: bool = False,
        source: Source = "auto",
        root: str | os.PathLike[str] | None = None,
    ) -> None:
        mnist = load_mnist(split, source=source, root=root)
        self._setup(
            mnist.images,
            mnist.labels,
            variant,
            split,
            device,
            n_samples,
            batch_size,
            seed,
            shuffle,
            normalize,
        )

    @classmethod
    def from_tensors(
        cls,
        images: Tensor,
        labels: Tensor,
        variant: str,
        *,
        split: Split = "train",
        device: torch.device | str | None = None,
        n_samples: int | None = None,
        batch_size: int = 128,
        seed: int = 0,
        shuffle: bool | None = None,
        normalize: bool = False,
    ) -> DistortedMNIST:
        """Build the loader from your own digits (synthetic data in tests, a subset in a notebook).

        Args:
            images: ``uint8 (N, 1, H, W)`` pixel values 0–255.
            labels: ``(N,)`` integer class labels.
            variant, split, device, n_samples, batch_size, seed, shuffle, normalize: as for the constructor;
                ``split`` only decides whether distortions are fresh (``"train"``) or fixed.
        """
        loader = cls.__new__(cls)
        loader._setup(images, labels, variant, split, device, n_samples, batch_size, seed, shuffle, normalize)
        return loader

    def _setup(
        self,
        images: Tensor,
        labels: Tensor,
        variant: str,
        split: Split,
        device: torch.device | str | None,
        n_samples: int | None,
        batch_size: int,
        seed: int,
        shuffle: bool | None,
        normalize: bool,
    ) -> None:
        dims = check_tensor(images, "images", "N 1 H W", floating=False)
        check_tensor(labels, "labels", "N", dims, floating=False)
        if images.dtype != torch.uint8:
            raise TypeError(
                f"images must be uint8 pixel values 0–255; got {images.dtype}. "
                "Convert floats in [0, 1] with (images * 255).round().to(torch.uint8)."
            )
        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            raise TypeError(
                f"labels must be an integer tensor; got {labels.dtype}. Convert it with labels.long()."
            )
        key = variant.upper() if isinstance(variant, str) else variant
        if key not in DISTORTIONS:
            raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(DISTORTIONS)}")
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be 'train', 'val' or 'test'; got {split!r}")
        if n_samples is not None and not 1 <= check_int(n_samples, "n_samples") <= images.shape[0]:
            raise ValueError(
                f"n_samples must be between 1 and {images.shape[0]} (the split's size); got {n_samples}"
            )
        check_int(batch_size, "batch_size")
        check_int(seed, "seed", minimum=0)
        from stnlib.train.device import resolve_device  # imported here: stnlib.train imports stnlib.data

        device = resolve_device(device)
        count = images.shape[0] if n_samples is None else n_samples
        self.variant = key
        self.distortion: Distortion = DISTORTIONS[key]
        self.split = split
        self.device = torch.device(device)
        self.images = images[:count].to(self.device).contiguous()
        self.labels = labels[:count].to(device=self.device, dtype=torch.int64)
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = split == "train" if shuffle is None else shuffle
        self.normalize = normalize
        self.epoch = 0
        self._fixed: tuple[Tensor, Tensor] | None = None

    # --- sizes -------------------------------------------------------------------------------------------------

    @property
    def fresh_each_epoch(self) -> bool:
        """True for the training split: new distortions every epoch; False: fixed distortions."""
        return self.split == "train"

    @property
    def num_samples(self) -> int:
        return self.images.shape[0]

    @property
    def num_classes(self) -> int:
        return self.distortion.num_classes

    @property
    def output_shape(self) -> tuple[int, int, int]:
        """``(C, S, S)`` of one sample, e.g. ``(1, 42, 42)`` for RTS."""
        return self.distortion.output_shape

    def __len__(self) -> int:
        """Number of batches per epoch (the last one may be smaller)."""
        return -(-self.num_samples // self.batch_size)

    def __repr__(self) -> str:
        return (
            f"DistortedMNIST(variant={self.variant!r}, split={self.split!r}, n={self.num_samples}, "
            f"batch_size={self.batch_size}, seed={self.seed}, device={str(self.device)!r})"
        )

    # --- iteration ---------------------------------------------------------------------------------------------

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass use epoch ``epoch``'s shuffle and distortions (to resume a run)."""
        if epoch < 0:
            raise ValueError(f"epoch must be non-negative; got {epoch}")
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        """One epoch of ``(x, y)``: ``x: float32 (B, C, S, S)``, ``y: int64 (B,)``, both on the device."""
        epoch, self.epoch = self.epoch, self.epoch + 1
        generator = torch.Generator().manual_seed(
            _derive_seed(self.seed, self.variant, self.split, "epoch", epoch)
        )
        n = self.num_samples
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        order = order.to(self.device)
        fixed = None if self.fresh_each_epoch else self._fixed_set()
        for start in range(0, n, self.batch_size):
            index = order[start : start + self.batch_size]
            if fixed is None:
                x, y = self._distort(index, generator)
            else:
                x, y = fixed[0][index], fixed[1][index]  # indexing copies: the cached set stays intact
            yield self._finish(x), y

    def sample_batch(self, n: int = 16, *, normalize: bool | None = None) -> tuple[Tensor, Tensor]:
        """``n`` distorted samples from the first digits of the split, the same on every call (for figures).

        For ``"val"`` / ``"test"`` these are the first ``n`` samples of the fixed set. ``normalize`` defaults to
        the loader's setting; pass ``False`` to plot pixel values in [0, 1].
        """
        if not 1 <= n <= self.num_samples:
            raise ValueError(f"n must be between 1 and {self.num_samples}; got {n}")
        if self.fresh_each_epoch:
            generator = torch.Generator().manual_seed(
                _derive_seed(self.seed, self.variant, self.split, "sample")
            )
            x, y = self._distort(torch.arange(n, device=self.device), generator)
        elif self._fixed is not None:
            x, y = self._fixed[0][:n].clone(), self._fixed[1][:n].clone()
        else:
            parts = [self._fixed_chunk(c) for c in range(-(-n // _FIXED_CHUNK))]
            x, y = torch.cat([p[0] for p in parts])[:n], torch.cat([p[1] for p in parts])[:n]
        return self._finish(x, normalize), y

    def without_clutter(self) -> DistortedMNIST:
        """The same cluttered canvases (``TC``) with the digit alone: where each digit is, for measurements.

        :func:`~stnlib.data.distortions.translate_clutter` draws the digit's place first, exactly as
        :func:`~stnlib.data.distortions.translate` does, so the copy places every digit where this loader does and
        leaves out the clutter. Example: the digit's centre in each test canvas, to check where an attention
        window looks.

        Raises:
            ValueError: the loader is not translated cluttered MNIST.
        """
        if self.distortion.inputs != "clutter":
            raise ValueError(
                f"without_clutter() needs the cluttered variant TC; this loader is {self.variant}"
            )
        canvas = self.distortion.canvas
        clean = copy.copy(self)
        clean._fixed = None
        clean.distortion = dataclasses.replace(
            self.distortion, function=lambda images, generator, _clutter: translate(images, generator, canvas)
        )
        return clean

    # --- generation --------------------------------------------------------------------------------------------

    def _finish(self, x: Tensor, normalize: bool | None = None) -> Tensor:
        if self.normalize if normalize is None else normalize:
            return (x - MNIST_MEAN) / MNIST_STD
        return x

    def _digits(self, index: Tensor) -> Tensor:
        """The digits at ``index`` as float in [0, 1]; conversion happens on the device, per batch."""
        return self.images[index].to(torch.float32).div_(255)

    def _distort(self, index: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Distort the digits at ``index`` (on the device) and return ``(x, y)`` before normalisation."""
        distortion, b, pool = self.distortion, index.shape[0], self.num_samples
        digits, labels = self._digits(index), self.labels[index]
        if distortion.inputs == "digits":
            return distortion.function(digits, generator), labels
        if distortion.inputs == "clutter":
            others = torch.randint(0, pool, (b * _CLUTTER_PER_DIGIT,), generator=generator).to(self.device)
            return distortion.function(digits, generator, self._digits(others)), labels
        partner = torch.randint(0, pool, (b,), generator=generator).to(self.device)
        return distortion.function(digits, self._digits(partner), generator), labels + self.labels[partner]

    def _fixed_chunk(self, chunk: int) -> tuple[Tensor, Tensor]:
        seed = _derive_seed(self.seed, self.variant, self.split, "fixed", chunk)
        start = chunk * _FIXED_CHUNK
        index = torch.arange(start, min(start + _FIXED_CHUNK, self.num_samples), device=self.device)
        return self._distort(index, torch.Generator().manual_seed(seed))

    def _fixed_set(self) -> tuple[Tensor, Tensor]:
        """The whole split distorted once (cached); chunked with per-chunk seeds, so independent of batch_size."""
        if self._fixed is None:
            parts = [self._fixed_chunk(c) for c in range(-(-self.num_samples // _FIXED_CHUNK))]
            self._fixed = (torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))
        return self._fixed
