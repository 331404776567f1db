"""stnlib.viz: figures run headless and draw what they claim; the sampled-region outline is exact."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F
from matplotlib.animation import FuncAnimation
from matplotlib.colors import to_hex

from stnlib import geometry, viz
from stnlib.geometry.coords import normalized_to_pixel


@pytest.fixture(autouse=True)
def _clean() -> None:
    torch.manual_seed(0)
    yield
    plt.close("all")


def theta(
    scale: float = 1.0, angle: float = 0.0, tx: float = 0.0, ty: float = 0.0, n: int = 1
) -> torch.Tensor:
    return geometry.affine_theta(rotation=angle, scale=scale, translation=(tx, ty), batch_size=n)


# ---------------------------------------------------------------------------------------------------------------
# show_images and plot_grid


def test_show_images_makes_one_framed_panel_per_image() -> None:
    images = torch.rand(5, 1, 12, 10)
    fig = viz.show_images(images, titles=[f"#{k}" for k in range(5)], ncols=3, color=viz.OUTPUT_COLOR)
    assert len(fig.axes) == 5
    assert [ax.get_title() for ax in fig.axes] == ["#0", "#1", "#2", "#3", "#4"]
    for ax, image in zip(fig.axes, images, strict=True):
        assert len(ax.images) == 1
        assert torch.equal(torch.as_tensor(ax.images[0].get_array().data), image[0])
        assert to_hex(ax.spines["left"].get_edgecolor()) == viz.OUTPUT_COLOR


def test_show_images_draws_two_channels_as_colour_and_into_given_axes() -> None:
    fig, axes = plt.subplots(1, 3)
    returned = viz.show_images(torch.rand(2, 2, 8, 8), ax=axes)
    assert returned is fig
    assert axes[0].images[0].get_array().shape == (8, 8, 3)
    assert not axes[2].images  # only as many panels as images are drawn
    with pytest.raises(ValueError, match="one entry per image"):
        viz.show_images(torch.rand(2, 1, 8, 8), titles=["only one"])


@pytest.mark.parametrize("align_corners", [False, True])
def test_plot_grid_draws_the_identity_grid_through_the_pixel_centres(align_corners) -> None:
    height, width = 6, 9
    grid = F.affine_grid(theta(), [1, 1, height, width], align_corners=align_corners)[0]
    fig = viz.plot_grid(grid, image=torch.rand(1, height, width), step=1, align_corners=align_corners)
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert len(lines) == height + width  # one line per output row and per output column
    assert {to_hex(line.get_color()) for line in lines} == {viz.GRID_COLOR}
    first_row, first_col = lines[0], lines[height]
    torch.testing.assert_close(
        torch.as_tensor(first_row.get_xdata()), torch.arange(width, dtype=torch.float32)
    )
    torch.testing.assert_close(torch.as_tensor(first_row.get_ydata()), torch.zeros(width))
    torch.testing.assert_close(
        torch.as_tensor(first_col.get_ydata()), torch.arange(height, dtype=torch.float32)
    )
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()


def test_plot_grid_shows_a_zoomed_out_grid_beyond_the_image_and_one_panel_per_grid() -> None:
    grids = F.affine_grid(theta(scale=2.0, n=3), [3, 1, 10, 10], align_corners=False)
    fig = viz.plot_grid(grids, image=torch.rand(3, 1, 10, 10))
    assert len(fig.axes) == 3
    left, right = fig.axes[0].get_xlim()
    # the outer grid points sit at 2 x (±0.9) in normalised units: 4.5 pixels beyond each side of the image
    assert left <= -4.5 and right >= 13.5
    with pytest.raises(ValueError, match="disagree on N"):
        viz.plot_grid(grids, image=torch.rand(2, 1, 10, 10))


# ---------------------------------------------------------------------------------------------------------------
# sampled_region_outline


@pytest.mark.parametrize(
    ("align_corners", "low", "high_x", "high_y"), [(False, -0.5, 19.5, 13.5), (True, 0.0, 19.0, 13.0)]
)
def test_outline_of_the_identity_is_the_image_border(align_corners, low, high_x, high_y) -> None:
    outline = viz.sampled_region_outline(theta(n=2), (14, 20), align_corners)
    expected = torch.tensor([[low, low], [high_x, low], [high_x, high_y], [low, high_y], [low, low]])
    assert outline.shape == (2, 5, 2)
    torch.testing.assert_close(outline, expected.expand(2, 5, 2))


@pytest.mark.parametrize("align_corners", [False, True])
def test_outline_of_a_zoom_in_lies_inside_the_image(align_corners) -> None:
    zoom = theta(scale=0.5, angle=0.3, tx=0.2, ty=-0.1)
    outline = viz.sampled_region_outline(zoom, (28, 28), align_corners)[0]
    border = viz.sampled_region_outline(theta(), (28, 28), align_corners)[0]
    assert (outline > border.min()).all() and (outline < border.max()).all()


@pytest.mark.parametrize("align_corners", [False, True])
def test_outline_corners_are_where_torch_samples_the_output_corners(align_corners) -> None:
    thetas = theta(scale=0.7, angle=0.5, tx=0.1, ty=0.3, n=1).repeat(2, 1, 1)
    thetas[1, 0, 1] = 0.4  # a shear too
    size = (12, 16)
    outline = viz.sampled_region_outline(thetas, size, align_corners)
    # With align_corners=True torch's grid samples at ±1 exactly at its corner pixels.
    grid = F.affine_grid(thetas, [2, 1, 2, 2], align_corners=True)
    corners = torch.stack([grid[:, 0, 0], grid[:, 0, 1], grid[:, 1, 1], grid[:, 1, 0]], dim=1)
    torch.testing.assert_close(outline[:, :4], normalized_to_pixel(corners, size, align_corners))


def test_outline_of_a_projective_transform_passes_through_the_given_corners() -> None:
    corners = torch.tensor([[[-0.8, -0.9], [0.7, -0.6], [0.9, 0.8], [-0.6, 0.5]]])
    params = geometry.projective_params_from_corners(corners)
    outline = viz.sampled_region_outline(params, (28, 28), False, "projective")
    torch.testing.assert_close(
        outline[0, :4], normalized_to_pixel(corners[0], (28, 28), False), atol=1e-4, rtol=0
    )


def test_outline_of_attention_equals_the_affine_outline_of_its_theta() -> None:
    params = torch.tensor([[0.4, 0.3, -0.2], [1.0, 0.0, 0.0]])
    outline = viz.sampled_region_outline(params, (20, 20), False, "attention")
    torch.testing.assert_close(
        outline, viz.sampled_region_outline(geometry.attention_theta(params), (20, 20))
    )


def test_outline_rejects_parameters_of_another_family() -> None:
    with pytest.raises(ValueError, match=r"params must have shape \(N, 8\)"):
        viz.sampled_region_outline(theta(), (28, 28), transform="projective")


# ---------------------------------------------------------------------------------------------------------------
# figure1_panels, plot_history, animate_transformer


def test_figure1_panels_outlines_each_input_and_marks_wrong_predictions() -> None:
    inputs = torch.rand(8, 1, 28, 28)
    params = theta(scale=0.6, n=8)
    outputs = F.grid_sample(
        inputs, F.affine_grid(params, [8, 1, 28, 28], align_corners=False), align_corners=False
    )
    predictions = torch.nn.functional.one_hot(torch.tensor([3, 1, 4, 1, 5, 9, 2, 6]), 10).float()  # scores
    labels = torch.tensor([3, 1, 4, 1, 5, 9, 2, 7])
    fig = viz.figure1_panels(inputs, outputs, params, predictions=predictions, labels=labels, n=4)
    assert len(fig.axes) == 8  # 2 rows x n columns
    tops, bottoms = fig.axes[:4], fig.axes[4:]
    for ax in tops:
        (outline,) = ax.get_lines()
        assert to_hex(outline.get_color()) == viz.GRID_COLOR
        torch.testing.assert_close(
            torch.as_tensor(outline.get_xdata(), dtype=torch.float32)[:4],
            torch.tensor([5.1, 21.9, 21.9, 5.1]),
        )
    assert [ax.get_title() for ax in bottoms] == ["pred 3", "pred 1", "pred 4", "pred 1"]
    fig = viz.figure1_panels(inputs, outputs, params, predictions=predictions, labels=labels, n=8)
    last = fig.axes[-1]
    assert last.get_title() == "pred 6 (true 7)" and to_hex(last.title.get_color()) == viz.WRONG_COLOR
    assert fig.get_suptitle()
    named = viz.figure1_panels(inputs, outputs, params, n=2, title="The converged model")
    assert named.get_suptitle() == "The converged model"


class _History:
    def as_dict(self) -> dict[str, list[float]]:
        return {"train_loss": [2.0, 1.0, 0.5], "test_loss": [2.1, 1.2, 0.9], "test_error": [0.5, 0.2, 0.1]}


def test_plot_history_groups_splits_of_a_metric_into_one_panel() -> None:
    fig = viz.plot_history(_History())
    assert len(fig.axes) == 2
    loss, error = fig.axes
    assert [line.get_label() for line in loss.get_lines()] == ["train_loss", "test_loss"]
    assert list(error.get_lines()[0].get_xdata()) == [1, 2, 3]
    assert loss.get_xlabel() == "epoch" and "overfitting" in loss.get_title()


def test_plot_history_uses_an_epoch_entry_and_skips_non_series() -> None:
    fig = viz.plot_history({"epoch": [5, 10], "val/accuracy": [0.9, 0.95], "model": "ST-CNN-Aff"})
    (ax,) = fig.axes
    assert list(ax.get_lines()[0].get_xdata()) == [5, 10]
    with pytest.raises(ValueError, match="no per-epoch lists"):
        viz.plot_history({"note": "nothing to plot"})
    with pytest.raises(TypeError, match="as_dict"):
        viz.plot_history([1, 2, 3])


def test_animate_transformer_has_one_frame_per_snapshot_and_renders_to_html() -> None:
    snapshots = [torch.rand(4, 1, 10, 10) * (k + 1) for k in range(3)]
    animation = viz.animate_transformer(snapshots, labels=["epoch 1", "epoch 2", "epoch 3"], n=3,
                                        inputs=torch.rand(4, 1, 10, 10))  # fmt: skip
    assert isinstance(animation, FuncAnimation)
    html = viz.animation_html(animation).data
    assert html.count("frames[2]") == 1 and "frames[3]" not in html
    output_axes = animation._fig.axes[3:]
    torch.testing.assert_close(
        torch.as_tensor(output_axes[0].images[0].get_array().data), snapshots[-1][0, 0]
    )  # after rendering, the panels hold the last snapshot
    with pytest.raises(ValueError, match="one entry per snapshot"):
        viz.animate_transformer(snapshots, labels=["too few"])


def test_outline_of_a_thin_plate_spline_follows_its_bent_sides() -> None:
    control = geometry.tps_control_points(4)
    identity = geometry.identity_tps(1, grid_size=4)
    outline = viz.sampled_region_outline(identity, (28, 28), False, "tps", points_per_side=5)
    assert outline.shape == (1, 17, 2)
    on_border = ((outline - (-0.5)).abs() < 1e-4) | ((outline - 27.5).abs() < 1e-4)
    assert on_border.any(dim=-1).all()  # every point of the identity's outline lies on the image border
    zoom = viz.sampled_region_outline(0.5 * control[None], (28, 28), False, "tps", points_per_side=5)
    # targets at half the control points are exactly the affine zoom-in by 2: the central half of the image
    affine = viz.sampled_region_outline(theta(scale=0.5), (28, 28), False, points_per_side=5)
    torch.testing.assert_close(zoom, affine, atol=1e-4, rtol=0)
    fig = viz.figure1_panels(
        torch.rand(1, 1, 28, 28), torch.rand(1, 1, 28, 28), 0.5 * control[None], "tps", n=1
    )
    assert len(fig.axes[0].get_lines()[0].get_xdata()) == 4 * 8 + 1  # a smooth outline, not 4 corners
