"""stnlib.viz: figures run headless and draw what they claim; the sampled-region outline is exact."""

from __future__ import annotations

import math

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


# ---------------------------------------------------------------------------------------------------------------
# show_image_rows and the lesson figures


def test_show_image_rows_draws_one_labelled_row_per_batch() -> None:
    rows = [torch.rand(3, 1, 8, 8), torch.rand(3, 1, 4, 4)]
    fig = viz.show_image_rows(
        rows, ["input", "output"], titles=[["a", "b", "c"], None], colors=[viz.INPUT_COLOR, viz.OUTPUT_COLOR],
        suptitle="rows",
    )  # fmt: skip
    assert len(fig.axes) == 6 and fig.get_suptitle() == "rows"
    assert [ax.get_title() for ax in fig.axes[:3]] == ["a", "b", "c"]
    assert fig.axes[3].get_ylabel() == "output"
    assert to_hex(fig.axes[3].yaxis.label.get_color()) == viz.OUTPUT_COLOR
    assert to_hex(fig.axes[4].spines["left"].get_edgecolor()) == viz.OUTPUT_COLOR
    assert fig.axes[4].images[0].get_array().shape == (4, 4)


def test_show_image_rows_rejects_ragged_rows_and_bad_arguments() -> None:
    with pytest.raises(ValueError, match="same N"):
        viz.show_image_rows([torch.rand(3, 1, 8, 8), torch.rand(2, 1, 8, 8)])
    with pytest.raises(ValueError, match="labels must have one entry per row"):
        viz.show_image_rows([torch.rand(2, 1, 8, 8)], ["a", "b"])
    with pytest.raises(TypeError, match="rows must be a non-empty list"):
        viz.show_image_rows(torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"rows\[0\] must have shape"):
        viz.show_image_rows([torch.rand(8, 8)])


def test_plot_test_set_accuracy_labels_each_bar_with_its_percentage() -> None:
    examples = {"upright": torch.rand(4, 1, 8, 8), "R": torch.rand(4, 1, 8, 8)}
    fig = viz.plot_test_set_accuracy(
        {"upright": 0.957, "rotated": 0.511},
        examples,
        colors=[viz.OUTPUT_COLOR, viz.WRONG_COLOR],
        suptitle="s",
    )
    bars_ax, *image_axes = fig.axes
    assert len(image_axes) == 8
    assert [t.get_text() for t in bars_ax.texts] == ["95.7 %", "51.1 %"]
    assert [to_hex(p.get_facecolor()) for p in bars_ax.patches] == [viz.OUTPUT_COLOR, viz.WRONG_COLOR]
    assert image_axes[4].get_ylabel() == "R"
    with pytest.raises(ValueError, match="examples must have one entry per test set"):
        viz.plot_test_set_accuracy({"a": 0.5}, examples)
    with pytest.raises(TypeError, match="accuracies must be a non-empty mapping"):
        viz.plot_test_set_accuracy([0.5, 0.4], examples)


def test_plot_accuracy_sweeps_draws_a_curve_and_examples_per_distortion() -> None:
    sweeps = {"rotation": ([-90, 0, 90], [0.2, 0.9, 0.2]), "scale": ([0.5, 1.0], [0.4, 0.9])}
    examples = {name: (torch.rand(2, 1, 8, 8), ["x", "y"]) for name in sweeps}
    fig = viz.plot_accuracy_sweeps(sweeps, examples, baseline=0.95, highlight={"rotation": (-45, 45)})
    assert len(fig.axes) == 2 * (1 + 2)
    rotation = fig.axes[0]
    curve = rotation.get_lines()[-1]
    assert list(curve.get_ydata()) == [20.0, 90.0, 20.0] and rotation.get_xlabel() == "rotation"
    assert rotation.get_legend() is not None and fig.axes[3].get_legend() is None
    assert fig.axes[1].get_title() == "x"
    with pytest.raises(ValueError, match="same keys as sweeps"):
        viz.plot_accuracy_sweeps(sweeps, {"rotation": examples["rotation"]})
    with pytest.raises(ValueError, match=r"sweeps\['scale'\] accuracies must have 2 entries"):
        viz.plot_accuracy_sweeps({**sweeps, "scale": ([0.5, 1.0], [0.4])}, examples)


def test_plot_shift_similarity_draws_every_curve_and_the_floor() -> None:
    shifts = [0, 1, 2]
    pooled = {"pool 1": [1.0, 0.8, 0.6], "pool 2": [1.0, 0.9, 0.7]}
    fig = viz.plot_shift_similarity(shifts, pooled, [1.0, 0.95, 0.9], 0.5)
    (ax,) = fig.axes
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:2] == ["pool 1", "pool 2"] and len(labels) == 4
    assert ax.get_lines()[-1].get_ydata()[0] == 0.5
    with pytest.raises(ValueError, match="whole_stack must have 3 entries"):
        viz.plot_shift_similarity(shifts, pooled, [1.0], 0.5)
    with pytest.raises(TypeError, match="pooled must be a non-empty mapping"):
        viz.plot_shift_similarity(shifts, [[1.0, 0.8, 0.6]], [1.0, 0.95, 0.9], 0.5)


def test_plot_pixel_centres_labels_every_centre_and_outlines_the_unit_square() -> None:
    centres = {
        False: torch.tensor([-0.75, -0.25, 0.25, 0.75]),
        True: torch.tensor([-1.0, -1 / 3, 1 / 3, 1.0]),
    }
    fig = viz.plot_pixel_centres(centres, suptitle="two conventions")
    assert len(fig.axes) == 2
    edges, corners = fig.axes
    assert len(edges.texts) == 16 and edges.texts[0].get_text() == "(-0.75, -0.75)"
    (square,) = edges.patches
    assert square.get_xy() == (-0.5, -0.5) and square.get_width() == 4.0  # the outer edges of the image
    assert corners.patches[0].get_xy() == (0.0, 0.0) and corners.patches[0].get_width() == 3.0
    assert "CENTRES" in corners.get_title() and fig.get_suptitle() == "two conventions"
    with pytest.raises(TypeError, match="keyed by align_corners"):
        viz.plot_pixel_centres({"no": torch.zeros(4)})
    with pytest.raises(ValueError, match=r"centres\[False\] must have shape \(N\)"):
        viz.plot_pixel_centres({False: torch.zeros(4, 2)})


def test_plot_warps_draws_grids_over_inputs_above_their_outputs() -> None:
    thetas = theta(scale=0.5, n=3)
    images = torch.rand(3, 1, 12, 12)
    grids = F.affine_grid(thetas, [3, 1, 12, 12], align_corners=False)
    outputs = F.grid_sample(images, grids, align_corners=False)
    fig = viz.plot_warps(images, grids, outputs, ["a", "b", "c"], step=1, suptitle="warps")
    assert len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes[:3]] == ["a", "b", "c"]
    assert len(fig.axes[0].get_lines()) == 24  # 12 rows + 12 columns of the grid
    assert fig.axes[3].get_ylabel() == "output"
    torch.testing.assert_close(torch.as_tensor(fig.axes[4].images[0].get_array().data), outputs[1, 0])


def test_plot_warps_adds_a_row_above_outlines_and_plain_axes() -> None:
    params = theta(scale=0.5, n=2)
    images = torch.rand(2, 1, 10, 10)
    grids = F.affine_grid(params, [2, 1, 10, 10], align_corners=False)
    outlines = viz.sampled_region_outline(params, (10, 10))
    fig = viz.plot_warps(images, grids, images, above=images, outlines=outlines, pixel_axes=False,
                         grid_alpha=0.5, labels=["upright", "grid", "out"])  # fmt: skip
    assert len(fig.axes) == 6
    grid_ax = fig.axes[2]
    assert grid_ax.get_title() == "" and not grid_ax.get_xticks().size and grid_ax.get_ylabel() == "grid"
    *grid_lines, outline = grid_ax.get_lines()
    assert {line.get_alpha() for line in grid_lines} == {0.5}
    assert to_hex(outline.get_color()) == viz.GRID_COLOR and len(outline.get_xdata()) == 5
    with pytest.raises(ValueError, match="outputs and grids disagree on N"):
        viz.plot_warps(images, grids, images[:1])
    with pytest.raises(ValueError, match="labels must have one entry per row"):
        viz.plot_warps(images, grids, images, labels=["only one"])
    with pytest.raises(ValueError, match="grid_alpha"):
        viz.plot_warps(images, grids, images, grid_alpha=2.0)


def test_plot_grid_generator_steps_marks_the_first_pixel_in_every_panel() -> None:
    grid = F.affine_grid(theta(scale=0.7, angle=0.3), [1, 1, 6, 6], align_corners=False)[0]
    targets = geometry.base_grid(6, 6)[..., :2].reshape(-1, 2)
    image = torch.rand(1, 12, 12)
    output = F.grid_sample(image[None], grid[None], align_corners=False)[0]
    fig = viz.plot_grid_generator_steps(targets, grid.reshape(-1, 2), image, output, suptitle="steps")
    assert len(fig.axes) == 3 and fig.get_suptitle() == "steps"
    stars = [ax.get_lines()[-1] for ax in fig.axes]
    assert all(line.get_marker() == "*" and to_hex(line.get_color()) == viz.WRONG_COLOR for line in stars)
    expected = normalized_to_pixel(grid[0, 0], (12, 12), False)
    torch.testing.assert_close(torch.tensor([stars[1].get_xdata()[0], stars[1].get_ydata()[0]]), expected)
    assert "6×6 output" in fig.axes[2].get_title()
    with pytest.raises(ValueError, match="one pixel per target point"):
        viz.plot_grid_generator_steps(targets, grid.reshape(-1, 2), image, output[:, :3])
    with pytest.raises(ValueError, match="sources and targets disagree on P"):
        viz.plot_grid_generator_steps(targets, grid.reshape(-1, 2)[:5], image, output)


def test_plot_base_grids_draws_centres_outlines_and_spacing() -> None:
    grids = {False: geometry.base_grid(3, 5, False), True: geometry.base_grid(3, 5, True)}
    fig = viz.plot_base_grids(grids, suptitle="base grids")
    assert len(fig.axes) == 2
    edges, corners = fig.axes
    assert len(edges.collections[-1].get_offsets()) == 15  # one dot per output pixel
    assert edges.get_title() == "align_corners=False: centres 0.40 apart in x, 0.67 in y"
    assert corners.get_title() == "align_corners=True: centres 0.50 apart in x, 1.00 in y"
    with pytest.raises(ValueError, match=r"must hold \(x, y\) or \(x, y, 1\) points"):
        viz.plot_base_grids({False: torch.zeros(3, 5, 4)})
    with pytest.raises(TypeError, match="keyed by align_corners"):
        viz.plot_base_grids({0: geometry.base_grid(3, 5)})


def test_draw_sampled_regions_into_one_axes_or_one_per_outline() -> None:
    params = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.2, 0.2], [1.5, 0.0, 0.0]])
    outlines = viz.sampled_region_outline(params, (20, 20), transform="attention")
    fig = viz.show_images(torch.rand(3, 1, 20, 20))
    viz.draw_sampled_regions(fig.axes[0], outlines, numbered=True)
    assert len(fig.axes[0].get_lines()) == 3 and [t.get_text() for t in fig.axes[0].texts] == ["1", "2", "3"]
    assert fig.axes[0].get_xlim() == (-1.5 - 5, 19.5 + 5 + 1)  # widened to the zoomed-out window (s = 1.5)
    viz.draw_sampled_regions(fig.axes, outlines, limits=(-4.0, 24.0))
    assert [len(ax.get_lines()) for ax in fig.axes] == [4, 1, 1]
    assert fig.axes[1].get_ylim() == (24.0, -4.0)
    with pytest.raises(ValueError, match="one Axes per outline"):
        viz.draw_sampled_regions(fig.axes[:2], outlines)
    with pytest.raises(ValueError, match=r"outlines must have shape \(N, P, 2\)"):
        viz.draw_sampled_regions(fig.axes[0], outlines[0])


def test_plot_sampled_regions_shows_the_input_and_one_output_per_region() -> None:
    params = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.2, 0.2]])
    outlines = viz.sampled_region_outline(params, (20, 20), transform="attention")
    fig = viz.plot_sampled_regions(torch.rand(1, 20, 20), outlines, torch.rand(2, 1, 10, 10), ["a", "b"],
                                   input_title="input", suptitle="windows")  # fmt: skip
    assert len(fig.axes) == 3 and fig.axes[0].get_title() == "input"
    assert [ax.get_title() for ax in fig.axes[1:]] == ["a", "b"]
    assert {to_hex(line.get_color()) for line in fig.axes[0].get_lines()} == {viz.GRID_COLOR}
    with pytest.raises(ValueError, match="outputs and outlines disagree on N"):
        viz.plot_sampled_regions(torch.rand(1, 20, 20), outlines, torch.rand(3, 1, 10, 10))


def test_show_images_on_scale_uses_one_value_range_and_coloured_titles() -> None:
    images = torch.rand(3, 1, 8, 8) - 0.5
    fig = viz.show_images_on_scale(images, ["a", "b", "c"], [viz.WRONG_COLOR, None, viz.OUTPUT_COLOR],
                                   value_range=(-0.5, 0.5))  # fmt: skip
    assert len(fig.axes) == 3
    assert all(ax.images[0].get_clim() == (-0.5, 0.5) for ax in fig.axes)
    assert to_hex(fig.axes[0].title.get_color()) == viz.WRONG_COLOR
    _, axes = plt.subplots(1, 4)
    viz.show_images_on_scale(images[:2], ax=axes[2:])
    assert not axes[0].images and axes[3].images[0].get_clim() == (0.0, 1.0)
    with pytest.raises(ValueError, match="value_range"):
        viz.show_images_on_scale(images, value_range=(1.0, 0.0))
    with pytest.raises(ValueError, match="colors must have one entry per row"):
        viz.show_images_on_scale(images, colors=["red"])


def test_show_signed_map_is_symmetric_around_zero_with_a_colour_bar() -> None:
    values = torch.tensor([[0.2, -0.5], [0.1, 0.0]])
    fig = viz.show_signed_map(values, "difference")
    ax, _colorbar = fig.axes
    assert ax.images[0].get_clim() == (-0.5, 0.5) and ax.get_title() == "difference"
    fig = viz.show_signed_map(values[None], limit=2.0, pixel_axes=True)
    assert fig.axes[0].images[0].get_clim() == (-2.0, 2.0) and fig.axes[0].get_xlabel() == "x (pixels)"
    with pytest.raises(ValueError, match=r"values must have shape \(H, W\) or \(C, H, W\)"):
        viz.show_signed_map(torch.zeros(4))
    with pytest.raises(TypeError, match="ax must be one matplotlib Axes"):
        viz.show_signed_map(values, ax=plt.subplots(1, 2)[1])


def test_plot_kernel_profiles_draws_weights_and_slopes_per_kernel() -> None:
    d = torch.linspace(-2, 2, 9)
    profiles = {"tent": ((1 - d.abs()).clamp(min=0), -d.sign()), "box": ((d.abs() < 0.5).float(), 0 * d)}
    fig = viz.plot_kernel_profiles(d, profiles, {"tent": viz.OUTPUT_COLOR, "box": viz.WRONG_COLOR})
    kernels, slopes = fig.axes
    assert [line.get_label() for line in kernels.get_lines()] == ["tent", "box"]
    assert to_hex(slopes.get_lines()[1].get_color()) == viz.WRONG_COLOR
    with pytest.raises(ValueError, match="no colour for the kernel 'box'"):
        viz.plot_kernel_profiles(d, profiles, {"tent": viz.OUTPUT_COLOR})
    with pytest.raises(ValueError, match=r"profiles\['tent'\] slopes and distances disagree on D"):
        viz.plot_kernel_profiles(d, {"tent": (d, d[:3])}, {"tent": "red"})


def test_plot_bilinear_weights_draws_four_areas_and_the_sampled_value() -> None:
    fx, fy = 0.3, 0.65
    weights = {(n, m): (fx if m else 1 - fx) * (fy if n else 1 - fy) for n in (0, 1) for m in (0, 1)}
    patch = torch.tensor([[0.15, 0.9], [0.55, 0.3]])
    fig = viz.plot_bilinear_weights(fx, fy, weights, patch)
    (ax,) = fig.axes
    areas = sorted(round(p.get_width() * p.get_height(), 4) for p in ax.patches)
    assert areas == sorted(round(w, 4) for w in weights.values())  # each weight is a rectangle's area
    assert ax.get_title().endswith("V = sum of weight x U = 0.440")
    with pytest.raises(ValueError, match="keys"):
        viz.plot_bilinear_weights(fx, fy, {(0, 0): 1.0}, patch)
    with pytest.raises(ValueError, match=r"fx and fy must lie in \[0, 1\]"):
        viz.plot_bilinear_weights(1.5, fy, weights, patch)


def test_plot_translation_descent_draws_loss_slope_and_one_path_per_start() -> None:
    t = torch.linspace(-1, 1, 11)
    curves = {"nearest": (t.abs().round(), 0 * t), "bilinear": (t**2, 2 * t)}
    paths = {"nearest": torch.ones(5, 2), "bilinear": torch.linspace(1, 0, 5)[:, None].repeat(1, 2)}
    colors = {"nearest": viz.WRONG_COLOR, "bilinear": viz.OUTPUT_COLOR}
    fig = viz.plot_translation_descent(t, curves, paths, (1.5, 3.5), 0.0, colors, best_label="best")
    loss, slope, descent = fig.axes
    assert slope.get_ylabel() == "dL/dt_x"
    assert [line.get_label() for line in loss.get_lines()] == ["nearest", "bilinear", "best"]
    assert [line.get_label() for line in descent.get_lines()][-1] == "bilinear, from 3.5 px"
    assert len(descent.get_lines()) == 4
    with pytest.raises(ValueError, match="one column per start"):
        viz.plot_translation_descent(t, curves, {"nearest": torch.ones(5, 3)}, (1.5, 3.5), 0.0, colors)
    with pytest.raises(ValueError, match="no colour"):
        viz.plot_translation_descent(t, curves, paths, (1.5, 3.5), 0.0, {"nearest": "red"})


def test_plot_grid_gradients_draws_the_gradient_map_and_the_strong_arrows() -> None:
    downhill = torch.zeros(6, 6, 2)
    downhill[2, 3] = torch.tensor([-1.0, 0.0])
    downhill[4, 1] = torch.tensor([0.001, 0.0])  # below 2 % of the longest: left out
    fig = viz.plot_grid_gradients(torch.randn(6, 6), torch.rand(6, 6), torch.rand(6, 6), downhill)
    gradient, arrows, _colorbar = fig.axes
    (quiver,) = [c for c in arrows.collections if c.__class__.__name__ == "Quiver"]
    assert quiver.N == 1 and list(quiver.get_offsets()[0]) == [3.0, 2.0]
    assert "eq. (6)" in gradient.get_title() and "eq. (7)" in arrows.get_title()
    with pytest.raises(ValueError, match="downhill and output disagree"):
        viz.plot_grid_gradients(torch.randn(6, 6), torch.rand(6, 6), torch.rand(6, 6), downhill[:3])


def test_plot_theta_pipeline_writes_the_six_numbers_between_input_grid_and_output() -> None:
    params = theta(scale=0.7, angle=0.5)
    image = torch.rand(1, 12, 12)
    grid = F.affine_grid(params, [1, 1, 12, 12], align_corners=False)[0]
    fig = viz.plot_theta_pipeline(image, params[0], grid, image, suptitle="pipeline")
    assert len(fig.axes) == 4 and fig.get_suptitle() == "pipeline"
    numbers = [t.get_text() for t in fig.axes[1].texts][:6]
    assert numbers == [f"{float(v):+.2f}" for v in params[0].flatten()]
    assert {to_hex(line.get_color()) for line in fig.axes[2].get_lines()} == {viz.GRID_COLOR}
    with pytest.raises(ValueError, match=r"theta must have shape \(2, 3\)"):
        viz.plot_theta_pipeline(image, params, grid, image)
    with pytest.raises(ValueError, match="output and grid disagree on H_out"):
        viz.plot_theta_pipeline(image, params[0], grid, torch.rand(1, 6, 12))


def test_plot_weight_counts_marks_the_chosen_sides() -> None:
    sides = [20, 30, 40]
    fig = viz.plot_weight_counts(sides, [100, 400, 900], 50, marked=(30,))
    (ax,) = fig.axes
    curve, constant, dot = ax.get_lines()
    assert list(curve.get_ydata()) == [100.0, 400.0, 900.0] and constant.get_ydata()[0] == 50
    assert (dot.get_xdata()[0], dot.get_ydata()[0]) == (30, 400.0)
    assert [t.get_text() for t in ax.texts] == ["30×30"]
    with pytest.raises(ValueError, match="marked sides must be among sides"):
        viz.plot_weight_counts(sides, [100, 400, 900], 50, marked=(28,))
    with pytest.raises(ValueError, match="fc_weights must have 3 entries"):
        viz.plot_weight_counts(sides, [100, 400], 50)


def test_plot_step_curves_smooths_each_run_and_draws_references() -> None:
    histories = {
        "a": {"loss": [float(k) for k in range(10)], "err": [1.0] * 10},
        "b": {"loss": [0.0] * 10, "err": [2.0] * 10},
    }
    fig = viz.plot_step_curves(histories, ["loss", "err"], colors={"a": viz.OUTPUT_COLOR, "b": viz.WRONG_COLOR},
                               references={"loss": {"blank": 5.0, "input": 6.0}}, log_scale=["err"], window=3)  # fmt: skip
    loss, err = fig.axes
    a, b, blank, other = loss.get_lines()
    assert list(a.get_xdata()) == list(range(3, 11)) and list(a.get_ydata()) == [
        float(k) for k in range(1, 9)
    ]
    assert to_hex(b.get_color()) == viz.WRONG_COLOR
    assert blank.get_label() == "blank" and blank.get_linestyle() == "--" and other.get_linestyle() == ":"
    assert err.get_yscale() == "log" and loss.get_xlabel() == "training step"
    with pytest.raises(ValueError, match="has no metric 'acc'"):
        viz.plot_step_curves(histories, ["acc"])
    with pytest.raises(ValueError, match="window must be a positive int"):
        viz.plot_step_curves(histories, ["loss"], window=0)


def test_plot_epoch_curves_skips_runs_without_a_metric() -> None:
    histories = {
        "CNN": {"epoch": [1, 2, 3], "error": [30.0, 20.0, 15.0]},
        "ST-CNN": {"epoch": [1, 2, 3], "error": [25.0, 10.0, 5.0], "turn": [-0.1, 0.2, 0.4]},
    }
    fig = viz.plot_epoch_curves(histories, ["error", "turn"], colors={"ST-CNN": viz.OUTPUT_COLOR},
                                references={"turn": {"upright": 1.0}}, titles=["a", "b"], suptitle="s")  # fmt: skip
    error, turn = fig.axes
    assert [line.get_label() for line in error.get_lines()] == ["CNN", "ST-CNN"]
    st, upright = turn.get_lines()  # the CNN logs no turn
    assert list(st.get_xdata()) == [1.0, 2.0, 3.0] and to_hex(st.get_color()) == viz.OUTPUT_COLOR
    assert upright.get_linestyle() == "--" and turn.get_ylim()[0] == pytest.approx(-0.1)
    assert error.get_ylim()[0] == 0 and error.get_title() == "a" and fig.get_suptitle() == "s"
    with pytest.raises(ValueError, match="no run in histories logs 'area'"):
        viz.plot_epoch_curves(histories, ["area"])
    with pytest.raises(ValueError, match="has no 'epoch' list"):
        viz.plot_epoch_curves({"x": {"error": [1.0]}}, ["error"])
    with pytest.raises(ValueError, match="must have 3 entries"):
        viz.plot_epoch_curves({"x": {"epoch": [1, 2, 3], "error": [1.0]}}, ["error"])


def test_scatter_against_truth_reports_the_correlation_of_every_value() -> None:
    true = {"angle": torch.arange(10.0), "scale": torch.ones(10) + torch.arange(10.0) / 10}
    predicted = {"angle": torch.arange(10.0) * 2, "scale": -true["scale"]}
    fig = viz.scatter_against_truth(
        true, predicted, xlabel="true", ylabel="learned", max_points=4, suptitle="s"
    )
    angle, scale = fig.axes
    assert angle.get_title() == "angle: correlation 1.00" and scale.get_title() == "scale: correlation -1.00"
    assert len(angle.collections[0].get_offsets()) == 4  # only the first max_points are drawn
    _, ax = plt.subplots()
    viz.scatter_against_truth({"x": true["angle"]}, {"x": predicted["angle"]}, ax=ax, limits=(-5, 5),
                              diagonal_label="perfect")  # fmt: skip
    assert ax.get_xlim() == (-5, 5) and ax.get_legend() is not None
    with pytest.raises(ValueError, match="same quantities"):
        viz.scatter_against_truth(true, {"angle": predicted["angle"]})
    with pytest.raises(ValueError, match=r"predicted\['angle'\] and true\['angle'\] disagree on M"):
        viz.scatter_against_truth({"angle": true["angle"]}, {"angle": predicted["angle"][:3]})


def test_draw_control_points_draws_dots_and_arrows_to_the_targets() -> None:
    control = geometry.tps_control_points(2)  # the 4 corners
    targets = control + 0.1
    fig = viz.show_images(torch.rand(2, 1, 28, 28))
    viz.draw_control_points(fig.axes[0], control, targets, scale=2.0)
    dots, arrows = fig.axes[0].collections
    torch.testing.assert_close(torch.as_tensor(dots.get_offsets(), dtype=torch.float32),
                               normalized_to_pixel(control, (28, 28), False))  # fmt: skip
    assert float(arrows.U[0]) == pytest.approx(2 * 0.1 * 14)  # 0.1 normalised units = 1.4 px, doubled
    viz.draw_control_points(fig.axes, control, torch.stack([targets, control]), color="0.55")
    assert len(fig.axes[1].collections) == 2 and float(fig.axes[1].collections[1].U[0]) == 0.0
    with pytest.raises(ValueError, match="one Axes per set of targets"):
        viz.draw_control_points(fig.axes[0], control, torch.stack([targets, control]))
    with pytest.raises(ValueError, match="targets and control_points disagree on P"):
        viz.draw_control_points(fig.axes[0], control, targets[:3])


def test_plot_tps_kernel_marks_the_minimum_and_shows_one_term() -> None:
    r = torch.linspace(0, 1.8, 19)
    field = geometry.radial_basis((geometry.base_grid(11, 11, True)[..., :2] ** 2).sum(-1))
    fig = viz.plot_tps_kernel(r, geometry.radial_basis(r**2), field)
    curve_ax, field_ax, _colorbar = fig.axes
    minimum = curve_ax.get_lines()[-1]
    assert minimum.get_ydata()[0] == pytest.approx(-1 / math.e)
    assert field_ax.images[0].get_clim() == (-2.1, 2.1)
    with pytest.raises(ValueError, match="values and distances disagree on R"):
        viz.plot_tps_kernel(r, r[:5], field)
    with pytest.raises(ValueError, match=r"field must have shape \(K, K\)"):
        viz.plot_tps_kernel(r, r, field[None])


def test_plot_grouped_errors_groups_bars_and_marks_the_paper() -> None:
    errors = {("P", "Aff"): 3.5, ("P", "TPS"): 3.4, ("E", "Aff"): 5.6, ("E", "TPS"): 5.5}
    colors = {"Aff": viz.INPUT_COLOR, "TPS": viz.OUTPUT_COLOR}
    fig = viz.plot_grouped_errors(errors, colors, n_test=5000, paper={("P", "Aff"): 0.8, ("E", "TPS"): 1.1},
                                  group_labels={"P": "P: projective"}, title="errors")  # fmt: skip
    (ax,) = fig.axes
    bars = [p for p in ax.patches]
    assert [round(b.get_height(), 1) for b in bars] == [3.5, 3.4, 5.6, 5.5]
    assert [to_hex(b.get_facecolor()) for b in bars[:2]] == [viz.INPUT_COLOR, viz.OUTPUT_COLOR]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["P: projective", "E"]
    marks = [line for line in ax.get_lines() if line.get_color() == "black"]
    assert len(marks) == 2 and marks[0].get_ydata()[0] == 0.8
    assert ax.get_title() == "errors"
    with pytest.raises(ValueError, match="no colour for the models"):
        viz.plot_grouped_errors(errors, {"Aff": viz.INPUT_COLOR})
    with pytest.raises(ValueError, match="percentages"):
        viz.plot_grouped_errors({("P", "Aff"): 350.0}, colors)


# ---------------------------------------------------------------------------------------------------------------
# Lesson 08: attention windows and transformers in parallel


def test_draw_boxes_draws_one_rectangle_per_box_with_its_style() -> None:
    boxes = torch.tensor([[0.0, 1.0, 10.0, 21.0], [5.0, 5.0, 15.0, 15.0]])
    fig = viz.show_images(torch.rand(2, 1, 20, 20))
    viz.draw_boxes(fig.axes[0], boxes, "#aaaaaa", label="ink", style="--")
    first, second = fig.axes[0].patches
    assert (first.get_x(), first.get_y(), first.get_width(), first.get_height()) == (0.0, 1.0, 10.0, 20.0)
    assert to_hex(second.get_edgecolor()) == "#aaaaaa" and second.get_linestyle() == "--"
    assert second.get_label() == "ink" and not second.get_fill()
    viz.draw_boxes(fig.axes, boxes)  # one box per panel
    assert [len(ax.patches) for ax in fig.axes] == [3, 1]
    assert to_hex(fig.axes[1].patches[0].get_edgecolor()) == viz.GRID_COLOR
    with pytest.raises(ValueError, match="one Axes per box"):
        viz.draw_boxes(fig.axes[:1], boxes)
    with pytest.raises(ValueError, match=r"boxes must have shape \(N, 4\)"):
        viz.draw_boxes(fig.axes[0], boxes[0])


def test_plot_windows_draws_each_set_of_boxes_over_the_inputs_above_the_outputs() -> None:
    images, outputs = torch.rand(3, 1, 60, 60), torch.rand(3, 1, 30, 30)
    windows = {"reference": torch.tensor([[0.0, 0.0, 28.0, 28.0]] * 3), "learned": torch.rand(3, 4) * 60}
    fig = viz.plot_windows(images, windows, outputs, styles={"reference": "--"}, titles=["a", "b", "c"],
                           output_titles=["1", "2", "3"], output_title_colors=[None, viz.WRONG_COLOR, None],
                           suptitle="windows")  # fmt: skip
    assert len(fig.axes) == 6 and [ax.get_title() for ax in fig.axes] == ["a", "b", "c", "1", "2", "3"]
    reference, learned = fig.axes[0].patches
    assert to_hex(reference.get_edgecolor()) == viz.GRID_COLOR and reference.get_linestyle() == "--"
    assert to_hex(learned.get_edgecolor()) == viz.SECOND_COLOR
    assert to_hex(fig.axes[4].title.get_color()) == viz.WRONG_COLOR
    assert fig.axes[0].get_xlim() == (-2, 61.5) and fig.axes[0].get_ylim() == (61.5, -2)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["reference", "learned"]
    assert fig.axes[0].get_ylabel() == "input + window" and fig.axes[3].get_ylabel() == "output"
    alone = viz.plot_windows(images[:1], {"w": windows["learned"][:1]}, outputs[:1], legend=False,
                             colors={"w": "#000000"}, figsize=(3, 5))  # fmt: skip
    assert not alone.legends and tuple(alone.get_size_inches()) == (3, 5)
    assert to_hex(alone.axes[0].patches[0].get_edgecolor()) == "#000000"
    with pytest.raises(ValueError, match=r"windows\['learned'\] must hold one box per image \(3\)"):
        viz.plot_windows(images, {"learned": windows["learned"][:2]}, outputs)
    with pytest.raises(ValueError, match="outputs and images disagree on N"):
        viz.plot_windows(images, windows, outputs[:2])
    with pytest.raises(TypeError, match="windows must be a non-empty mapping"):
        viz.plot_windows(images, [], outputs)
    with pytest.raises(ValueError, match="row_labels must be two labels"):
        viz.plot_windows(images, windows, outputs, row_labels="input")


def test_plot_window_beside_output_shows_the_window_and_the_output() -> None:
    fig = viz.plot_window_beside_output(torch.rand(1, 60, 60), torch.tensor([15.0, 15.0, 45.0, 45.0]),
                                        torch.rand(1, 30, 30), input_title="in", output_title="out")  # fmt: skip
    left, right = fig.axes
    assert len(left.patches) == 1 and left.patches[0].get_width() == 30.0
    assert left.get_title() == "in" and right.get_title() == "out"
    assert right.images[0].get_array().shape == (30, 30)
    with pytest.raises(ValueError, match=r"box must have shape \(4\)"):
        viz.plot_window_beside_output(torch.rand(1, 60, 60), torch.zeros(1, 4), torch.rand(1, 30, 30))


def test_plot_label_sums_shows_the_shares_of_sums_and_the_pairs() -> None:
    sums = torch.tensor([9, 9, 0, 18])
    fig = viz.plot_label_sums(sums, torch.rand(4, 2, 42, 42), torch.tensor([3, 9, 12, 18]))
    histogram, *images = fig.axes
    heights = [bar.get_height() for bar in histogram.patches]
    assert len(heights) == 19 and heights[9] == 50.0 and heights[0] == heights[18] == 25.0
    assert max(histogram.get_lines()[0].get_ydata()) == 10  # the ideal: 10 % of pairs sum to 9
    assert [ax.get_title() for ax in images] == ["sum 3", "sum 9", "sum 12", "sum 18"]
    assert images[0].images[0].get_array().shape == (42, 42, 3)  # two channels drawn as red and green
    with pytest.raises(ValueError, match="between 0 and 18"):
        viz.plot_label_sums(torch.tensor([19]), torch.rand(1, 2, 8, 8), torch.tensor([1]))
    with pytest.raises(TypeError, match="1-D integer tensor"):
        viz.plot_label_sums(torch.tensor([1.0]), torch.rand(1, 2, 8, 8), torch.tensor([1]))
    with pytest.raises(ValueError, match=r"pairs must have shape \(N, 2, H, W\)"):
        viz.plot_label_sums(sums, torch.rand(4, 1, 8, 8), torch.tensor([1, 2, 3, 4]))


def test_plot_parallel_regions_gives_each_transformer_its_colour_and_row() -> None:
    thetas = [theta(1.0, n=2), theta(0.5, tx=0.3, n=2)]
    outlines = [viz.sampled_region_outline(t, (42, 42)) for t in thetas]
    outputs = [torch.rand(2, 2, 42, 42), torch.rand(2, 2, 42, 42)]
    fig = viz.plot_parallel_regions(torch.rand(2, 2, 42, 42), outlines, outputs, titles=["sum 3", "sum 4"],
                                    title_colors=[viz.OUTPUT_COLOR, viz.WRONG_COLOR], limits=(-12, 53))  # fmt: skip
    assert len(fig.axes) == 6
    first, second = fig.axes[0].get_lines()
    assert to_hex(first.get_color()) == viz.GRID_COLOR and to_hex(second.get_color()) == viz.SECOND_COLOR
    assert second.get_linestyle() == "--" and list(first.get_xdata()) == [-0.5, 41.5, 41.5, -0.5, -0.5]
    assert fig.axes[0].get_xlim() == (-12, 53) and to_hex(fig.axes[1].title.get_color()) == viz.WRONG_COLOR
    assert [ax.get_ylabel() for ax in fig.axes[::2]] == ["input + regions", "transformer 1", "transformer 2"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["transformer 1", "transformer 2"]
    with pytest.raises(ValueError, match="one entry per transformer"):
        viz.plot_parallel_regions(torch.rand(2, 2, 42, 42), outlines, outputs[:1])
    with pytest.raises(TypeError, match="lists with one tensor per transformer"):
        viz.plot_parallel_regions(torch.rand(2, 2, 42, 42), outlines[0], outputs)
    with pytest.raises(ValueError, match=r"outlines\[1\] and images disagree on N"):
        viz.plot_parallel_regions(torch.rand(2, 2, 42, 42), [outlines[0], outlines[1][:1]], outputs)


# ---------------------------------------------------------------------------------------------------------------
# Lesson 09: when spatial transformers fail


def test_plot_vitals_draws_error_and_the_three_signs_of_every_run() -> None:
    from stnlib.train import History

    history = History()
    for epoch, (acc, det) in enumerate([(0.5, 1.0), (0.75, 0.8)], start=1):
        history.append(epoch, val_acc=acc, det=det, shift=0.1, outside=0.0)
    as_lists = {"val_acc": [0.1, 0.2], "det": [0.0, 0.0], "shift": [0.0, 0.5], "outside": [0.2, 0.3]}
    fig = viz.plot_vitals(
        {"healthy": history, "sick": as_lists}, {"sick": viz.WRONG_COLOR}, suptitle="vitals"
    )
    error, det, _shift, _outside = fig.axes
    healthy, sick = error.get_lines()
    assert list(healthy.get_ydata()) == [50.0, 25.0] and list(healthy.get_xdata()) == [1, 2]
    assert to_hex(sick.get_color()) == viz.WRONG_COLOR and list(sick.get_ydata()) == pytest.approx([90, 80])
    assert list(det.get_lines()[-1].get_ydata()) == [1.0, 1.0]  # the identity's det A
    assert [ax.get_ylabel() for ax in fig.axes] == [
        "validation error (%)", "det A (median)", "|t| (mean)", "share of output from outside"
    ]  # fmt: skip
    assert fig._suptitle.get_text() == "vitals" and error.get_legend() is not None
    with pytest.raises(ValueError, match=r"histories\['bad'\] lacks the metrics \['outside'\]"):
        viz.plot_vitals({"bad": {k: v for k, v in as_lists.items() if k != "outside"}})
    with pytest.raises(ValueError, match=r"histories\['short'\]\['det'\] must have 2 entries"):
        viz.plot_vitals({"short": {**as_lists, "det": [1.0]}})
    with pytest.raises(TypeError, match="histories must be a non-empty mapping"):
        viz.plot_vitals([history])


def test_plot_convention_mismatch_shows_input_output_difference_and_offsets() -> None:
    image = torch.rand(1, 8, 8)
    offsets = {"mismatch": torch.linspace(-0.5, 0.5, 8), "match": torch.zeros(8)}
    fig = viz.plot_convention_mismatch(image, image.flip(-1), offsets, {"match": viz.OUTPUT_COLOR})
    inputs, warped, difference, curves, _colour_bar = fig.axes
    assert warped.get_title() == "identity θ, mismatched conventions"
    assert inputs.get_title() == "input U" and difference.images[0].get_clim() == pytest.approx(
        (-float((image.flip(-1) - image).abs().max()), float((image.flip(-1) - image).abs().max()))
    )
    mismatch, match = curves.get_lines()
    assert list(mismatch.get_ydata()) == pytest.approx(offsets["mismatch"].tolist())
    assert to_hex(match.get_color()) == viz.OUTPUT_COLOR and curves.get_xlabel() == "output column j"
    with pytest.raises(ValueError, match=r"offsets\['short'\] and image disagree on W"):
        viz.plot_convention_mismatch(image, image, {"short": torch.zeros(5)})
    with pytest.raises(ValueError, match="warped and image disagree on H"):
        viz.plot_convention_mismatch(image, torch.rand(1, 7, 8), offsets)
