"""The θ explorer widget (stnlib.widgets): sliders build theta, and moving one re-renders the picture."""

from __future__ import annotations

import io
import math

import ipywidgets
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from stnlib import geometry
from stnlib.widgets import SLIDERS, ThetaExplorer, theta_explorer


@pytest.fixture(scope="module")
def seven() -> torch.Tensor:
    """A hand-drawn 7 on a non-square canvas: orientation is visible and H != W."""
    image = torch.zeros(1, 24, 32)
    image[0, 5:8, 8:24] = 1.0
    image[0, 7:20, 19:22] = 1.0
    return image


@pytest.fixture
def explorer(seven: torch.Tensor) -> ThetaExplorer:
    return theta_explorer(seven)


def test_explorer_is_a_widget_with_findable_parts(explorer: ThetaExplorer) -> None:
    assert isinstance(explorer, ipywidgets.Widget) and "stn-theta-explorer" in explorer._dom_classes
    assert [s.description for s in explorer.sliders.values()] == [spec.description for spec in SLIDERS]
    for spec in SLIDERS:
        slider = explorer.sliders[spec.key]
        assert f"stn-theta-{spec.key}" in slider._dom_classes
        assert slider.continuous_update and (slider.min, slider.max, slider.value) == (
            spec.low,
            spec.high,
            spec.value,
        )
    assert "stn-theta-image" in explorer.image._dom_classes and explorer.image.format == "png"
    assert "stn-theta-matrix" in explorer.matrix._dom_classes
    assert "stn-theta-reset" in explorer.reset_button._dom_classes


def test_starts_at_the_identity_and_shows_it(explorer: ThetaExplorer) -> None:
    torch.testing.assert_close(explorer.theta, torch.eye(2, 3)[None])
    assert "+1.00 +0.00 +0.00" in explorer.matrix.value and "+0.00 +1.00 +0.00" in explorer.matrix.value
    png = Image.open(io.BytesIO(explorer.image.value))
    assert png.format == "PNG" and png.size[0] > png.size[1] > 100


@pytest.mark.parametrize("spec", SLIDERS, ids=[s.key for s in SLIDERS])
def test_moving_any_slider_changes_the_picture_and_the_matrix(explorer: ThetaExplorer, spec) -> None:
    before_image, before_matrix = explorer.image.value, explorer.matrix.value
    explorer.sliders[spec.key].value = spec.value + 0.5 * (spec.high - spec.value)
    assert explorer.image.value != before_image
    assert explorer.matrix.value != before_matrix
    explorer.reset()
    assert explorer.image.value == before_image and explorer.matrix.value == before_matrix  # deterministic


def test_sliders_build_the_theta_of_geometry_affine_theta(explorer: ThetaExplorer) -> None:
    values = {
        "rotation": 90.0,
        "scale-x": 0.5,
        "scale-y": 1.5,
        "shear": 0.0,
        "translate-x": 0.25,
        "translate-y": -0.5,
    }
    for key, value in values.items():
        explorer.sliders[key].value = value
    # rotation by +90° is [[0, -1], [1, 0]]; then diag(scale); the translation is the last column
    expected = torch.tensor([[[0.0, -1.5, 0.25], [0.5, 0.0, -0.5]]])
    torch.testing.assert_close(explorer.theta, expected, atol=1e-6, rtol=0)
    shown = geometry.affine_theta(math.pi / 2, (0.5, 1.5), 0.0, (0.25, -0.5))
    torch.testing.assert_close(explorer.theta, shown)


def test_the_output_panel_is_what_pytorch_samples(explorer: ThetaExplorer, seven: torch.Tensor) -> None:
    # A translation by a whole image width moves the 7 out of the output: the output panel is then empty
    # exactly when PyTorch's own affine_grid + grid_sample give zeros.
    explorer.sliders["translate-x"].value = 1.0
    theta = explorer.theta.clone()
    theta[0, 0, 2] = 2.0
    out = F.grid_sample(
        seven[None], F.affine_grid(theta, [1, 1, 24, 32], align_corners=False), align_corners=False
    )
    assert float(out.abs().max()) == 0.0
    moved = F.grid_sample(
        seven[None], F.affine_grid(explorer.theta, [1, 1, 24, 32], align_corners=False), align_corners=False
    )
    assert 0 < float(moved.sum()) < float(seven.sum())  # half the digit leaves the output


def test_reset_button_and_align_corners(seven: torch.Tensor) -> None:
    explorer = theta_explorer(seven[0], align_corners=True)  # (H, W) is accepted too
    identity = explorer.image.value
    explorer.sliders["shear"].value = 0.5
    explorer.reset_button.click()
    assert explorer.sliders["shear"].value == 0.0 and explorer.image.value == identity
    assert explorer.align_corners is True
    assert theta_explorer(seven).image.value != identity  # the other convention draws a different grid


def test_reset_draws_one_picture_not_one_per_slider(explorer: ThetaExplorer, monkeypatch) -> None:
    for spec in SLIDERS:
        explorer.sliders[spec.key].value = spec.high
    drawn = []
    monkeypatch.setattr("stnlib.widgets._render", lambda *args: drawn.append(args) or b"png")
    explorer.reset()
    assert len(drawn) == 1
    identity = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    assert torch.equal(drawn[0][1], identity)


@pytest.mark.parametrize(
    ("image", "error", "message"),
    [
        (torch.zeros(3, 8, 8), ValueError, r"image must have shape \(1, H, W\)"),
        (torch.zeros(1, 1, 8, 8), ValueError, r"image\[0\]"),
        (torch.zeros(8, 8, dtype=torch.uint8), TypeError, "divide by 255"),
        ([[0.0]], TypeError, "image must be a torch.Tensor"),
    ],
)
def test_bad_images_are_explained(image, error, message) -> None:
    with pytest.raises(error, match=message):
        theta_explorer(image)


def test_align_corners_must_be_a_bool(seven: torch.Tensor) -> None:
    with pytest.raises(TypeError, match="align_corners must be True or False"):
        theta_explorer(seven, align_corners="no")  # type: ignore[arg-type]
