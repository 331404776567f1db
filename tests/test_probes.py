"""stnlib.probes: each probe gives its extreme values on transformers whose behaviour is known."""

from __future__ import annotations

import doctest
import math

import pytest
import torch
import torch.nn.functional as F

from stnlib import geometry, probes
from stnlib.probes import (
    channel_sensitivity,
    ink_centre,
    rotation_degrees,
    share_of_turn_undone,
    tps_undo_correlation,
    turned_digits,
    window_contains,
    window_side,
)


def _digits(n: int = 64, size: int = 28) -> torch.Tensor:
    """Asymmetric blobs (an L shape) with some variety, so that turns and warps are visible."""
    g = torch.Generator().manual_seed(0)
    images = torch.zeros(n, 1, size, size)
    for k in range(n):
        top, left = (
            6 + int(torch.randint(0, 4, (1,), generator=g)),
            8 + int(torch.randint(0, 4, (1,), generator=g)),
        )
        images[k, 0, top : top + 14, left : left + 3] = 1.0
        images[k, 0, top + 11 : top + 14, left : left + 10] = 1.0
    return images


def test_doctests() -> None:
    failures, tried = doctest.testmod(probes)
    assert tried > 0 and failures == 0


def test_rotation_degrees_reads_back_the_angle_of_affine_theta() -> None:
    degrees = torch.tensor([-170.0, -45.0, 0.0, 30.0, 90.0])
    theta = geometry.affine_theta(rotation=torch.deg2rad(degrees), scale=torch.full((5, 2), 0.7))
    torch.testing.assert_close(rotation_degrees(theta), degrees, atol=1e-4, rtol=0)


class _Undo:
    """An oracle transformer that knows the probe's turns and turns each digit back exactly."""

    def __init__(self, max_degrees: float, seed: int, share: float = 1.0) -> None:
        self.max_degrees, self.seed, self.share = max_degrees, seed, share

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed)
        turns = (torch.rand(x.shape[0], generator=g) * 2 - 1) * self.max_degrees
        theta = geometry.affine_theta(rotation=torch.deg2rad(-self.share * turns))
        return F.grid_sample(
            x, F.affine_grid(theta, list(x.shape), align_corners=False), align_corners=False
        ), theta


def test_share_of_turn_undone_is_one_for_a_transformer_that_sets_digits_upright() -> None:
    digits = _digits()
    share, turns, turns_back = share_of_turn_undone(_Undo(45, 3), digits, canvas=42, seed=3)
    assert share == pytest.approx(1.0, abs=1e-5)
    torch.testing.assert_close(turns_back, turns, atol=1e-3, rtol=0)
    # ... and its output is then the upright digit, so the probe's sign convention is the sampler's.
    upright, turned = (
        turned_digits(digits, torch.zeros(len(digits)), canvas=42),
        turned_digits(digits, turns, canvas=42),
    )
    output, _ = _Undo(45, 3)(turned)
    assert (output - upright).abs().mean() < 0.5 * (
        turned - upright
    ).abs().mean()  # only interpolation blur left
    assert share_of_turn_undone(_Undo(45, 3, share=0.5), digits, canvas=42, seed=3)[0] == pytest.approx(
        0.5, abs=1e-5
    )


def test_share_of_turn_undone_is_zero_for_the_identity() -> None:
    identity = lambda x: (x, geometry.identity_affine(x.shape[0]))  # noqa: E731
    assert share_of_turn_undone(identity, _digits(), canvas=42)[0] == pytest.approx(0.0, abs=1e-6)


def test_turned_digits_centres_and_checks_the_canvas() -> None:
    digits = _digits(4)
    placed = turned_digits(digits, torch.zeros(4), canvas=42)
    assert placed.shape == (4, 1, 42, 42)
    torch.testing.assert_close(placed[:, :, 7:35, 7:35], digits, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="smaller than the digits"):
        turned_digits(digits, torch.zeros(4), canvas=20)


def test_ink_centre_finds_a_dot() -> None:
    images = torch.zeros(2, 1, 60, 60)
    images[0, 0, 10, 40] = 1.0  # row 10, column 40: (x, y) = (40, 10)
    images[1, 0, 30:32, 20:22] = 1.0
    torch.testing.assert_close(ink_centre(images), torch.tensor([[40.0, 10.0], [20.5, 30.5]]))


def test_windows_contain_what_they_sample() -> None:
    size = (60, 60)
    params = torch.tensor([[1.0, 0.0, 0.0], [0.25, 0.5, -0.5]])  # the whole canvas; a quarter-side window
    theta = geometry.attention_theta(params)
    centre_of_small = geometry.normalized_to_pixel(torch.tensor([[0.5, -0.5]]), size, False)[0]
    points = torch.stack([torch.tensor([2.0, 57.0]), centre_of_small])
    assert window_contains(theta, points, size).tolist() == [True, True]
    far = torch.tensor([[59.0, 59.0], [5.0, 5.0]])
    assert window_contains(theta, far, size).tolist() == [True, False]
    torch.testing.assert_close(window_side(theta), torch.tensor([1.0, 0.25]))
    turned = geometry.affine_theta(rotation=torch.tensor([0.7]), scale=torch.tensor([[0.5, 0.5]]))
    assert window_side(turned).item() == pytest.approx(0.5)


def test_channel_sensitivity_tells_which_channel_each_transformer_follows() -> None:
    x = torch.rand(32, 2, 8, 8, generator=torch.Generator().manual_seed(0))
    follows = [lambda x, c=c: (x, x[:, c].mean(dim=(1, 2)).unsqueeze(1).expand(-1, 3)) for c in (1, 0)]
    both = lambda x: (x, x.mean(dim=(2, 3)))  # noqa: E731
    shares = channel_sensitivity([*follows, both], x)
    torch.testing.assert_close(shares[:2], torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    assert shares[2].sum().item() == pytest.approx(1.0) and 0.3 < shares[2, 0].item() < 0.7
    with pytest.raises(ValueError, match="at least two samples"):
        channel_sensitivity(follows, x[:1])


class _TpsOracle:
    """Moves its targets towards the ideal undo of the probe's jitter by ``share``, plus a warp shared by all."""

    def __init__(self, share: float, seed: int) -> None:
        self.share, self.seed = share, seed

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        control = geometry.tps_control_points(4)
        noise = 1.5 * torch.randn(x.shape[0], 16, 2, generator=torch.Generator().manual_seed(self.seed))
        pixels = geometry.normalized_to_pixel(control, (28, 28), False) - self.share * noise + 0.4
        return x, geometry.pixel_to_normalized(pixels, (28, 28), False)


def test_tps_undo_correlation_separates_a_per_digit_undo_from_a_shared_warp() -> None:
    digits = _digits(40)
    perfect = tps_undo_correlation(_TpsOracle(1.0, seed=5), digits, seed=5)
    assert perfect["correlation"] > 0.97  # the per-digit part leaves out the jitter's own sample mean
    assert perfect["per_digit_px"] == pytest.approx(perfect["ideal_px"], rel=0.15)
    assert perfect["shared_px"] == pytest.approx(0.4 * math.sqrt(2), rel=0.3)
    shared_only = tps_undo_correlation(_TpsOracle(0.0, seed=5), digits, seed=5)
    assert shared_only["correlation"] == 0.0 and shared_only["per_digit_px"] < 1e-4
    unrelated = tps_undo_correlation(_TpsOracle(1.0, seed=6), digits, seed=5)  # another digit's wobble
    assert abs(unrelated["correlation"]) < 0.15
