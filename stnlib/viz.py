"""Figures for the course: images, sampling grids, the sampled region, training curves, animations, and the
figures of the lessons (grouped by lesson below). Every function takes the data it draws as arguments — the
notebook computes what the lesson teaches and hands the results over — and keeps no state between calls.

Colours mean the same thing in every figure: :data:`INPUT_COLOR` marks the input image, :data:`GRID_COLOR` the
sampling grid and the region it covers, :data:`OUTPUT_COLOR` the transformer's output. Image panels get a
frame in their colour.

Every figure function returns its :class:`~matplotlib.figure.Figure` (or animation); the ``draw_*`` helpers
draw marks into Axes you pass (e.g. over the panels of :func:`show_image_rows`). None calls ``plt.show()``;
in a notebook the figure appears on its own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.animation import FuncAnimation
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator
from torch import Tensor

from stnlib._validation import check_tensor
from stnlib.geometry.coords import normalized_to_pixel, pixel_to_normalized
from stnlib.models.families import transform_family, transform_grid

if TYPE_CHECKING:
    from IPython.display import HTML

__all__ = [
    "GRID_COLOR",
    "INPUT_COLOR",
    "OUTPUT_COLOR",
    "SECOND_COLOR",
    "WRONG_COLOR",
    "animate_transformer",
    "animation_html",
    "draw_boxes",
    "draw_control_points",
    "draw_sampled_regions",
    "figure1_panels",
    "plot_accuracy_sweeps",
    "plot_base_grids",
    "plot_bilinear_weights",
    "plot_convention_mismatch",
    "plot_epoch_curves",
    "plot_grid",
    "plot_grid_generator_steps",
    "plot_grid_gradients",
    "plot_grouped_errors",
    "plot_history",
    "plot_kernel_profiles",
    "plot_label_sums",
    "plot_parallel_regions",
    "plot_pixel_centres",
    "plot_sampled_regions",
    "plot_shift_similarity",
    "plot_step_curves",
    "plot_test_set_accuracy",
    "plot_theta_pipeline",
    "plot_tps_kernel",
    "plot_translation_descent",
    "plot_vitals",
    "plot_warps",
    "plot_weight_counts",
    "plot_window_beside_output",
    "plot_windows",
    "sampled_region_outline",
    "scatter_against_truth",
    "show_image_rows",
    "show_images",
    "show_images_on_scale",
    "show_signed_map",
]

INPUT_COLOR = "#1f77b4"
"""The input image (blue)."""
GRID_COLOR = "#ff7f0e"
"""The sampling grid and the sampled region (orange)."""
OUTPUT_COLOR = "#2ca02c"
"""The transformer's output, and correct predictions (green)."""
WRONG_COLOR = "#d62728"
"""Wrong predictions (red)."""
SECOND_COLOR = "#9467bd"
"""A second transformer's region and output (purple), beside the first in :data:`GRID_COLOR`."""

_PANEL_INCHES = 1.8


# ------------------------------------------------------------------------------------------------------------
# Helpers


def _image_array(image: Tensor) -> np.ndarray:
    """One ``(C, H, W)`` image as something ``imshow`` draws: grey for one channel, RGB for two or three.

    Two channels (MNIST addition) become red and green; more than three are averaged (feature maps).
    """
    image = image.detach().to("cpu", torch.float32)
    channels = image.shape[0]
    if channels == 1:
        return image[0].numpy()
    if channels in (2, 3):
        rgb = torch.cat([image, torch.zeros_like(image[:1])]) if channels == 2 else image
        low, high = rgb.min(), rgb.max()
        rgb = (rgb - low) / (high - low) if high > low else torch.zeros_like(rgb)
        return rgb.permute(1, 2, 0).numpy()
    return image.mean(dim=0).numpy()


def _draw_image(ax: Axes, image: Tensor, color: str | None, title: str | None = None) -> None:
    array = _image_array(image)
    ax.imshow(array, cmap="gray" if array.ndim == 2 else None, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if color is not None:
        for spine in ax.spines.values():
            spine.set_edgecolor(color)
            spine.set_linewidth(2)
    if title:
        ax.set_title(title, fontsize=9)


def _figure_of(ax: Axes) -> Figure:
    """The figure ``ax`` draws in. An Axes inside a subfigure gives that ``SubFigure``, which the figure
    functions use like a Figure (``suptitle``, ``colorbar``) and return as their figure."""
    return cast(Figure, ax.figure)


def _axes(
    n: int, ax: Axes | Sequence[Axes] | np.ndarray | None, ncols: int, inches: float = _PANEL_INCHES
) -> tuple[Figure, list[Axes]]:
    """``n`` axes: new ones in a grid of ``ncols`` columns, or the ones the caller passed."""
    if ax is not None:
        axes = [ax] if isinstance(ax, Axes) else list(np.asarray(ax, dtype=object).flat)
        if len(axes) < n:
            raise ValueError(f"ax must hold at least {n} Axes (one per image); got {len(axes)}")
        return _figure_of(axes[0]), axes[:n]
    if not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive int; got {ncols!r}")
    cols = min(ncols, n)
    rows = math.ceil(n / cols)
    fig, grid = plt.subplots(rows, cols, figsize=(inches * cols, inches * rows + 0.4), squeeze=False)
    axes = list(grid.flat)
    for extra in axes[n:]:
        extra.remove()
    return fig, axes[:n]


def _check_titles(titles: Sequence[str] | None, n: int) -> list[str | None]:
    if titles is None:
        return [None] * n
    titles = list(titles)
    if len(titles) != n:
        raise ValueError(f"titles must have one entry per image ({n}); got {len(titles)}")
    return [str(t) for t in titles]


def _labels(values: Tensor | Sequence[int] | None, name: str, n: int) -> list[int] | None:
    """Class indices from ``(N,)`` indices or ``(N, K)`` scores (the argmax is taken)."""
    if values is None:
        return None
    tensor = torch.as_tensor(values).detach().cpu()
    if tensor.ndim == 2:
        tensor = tensor.argmax(dim=1)
    if tensor.ndim != 1 or tensor.shape[0] < n:
        raise ValueError(
            f"{name} must be (N,) class indices or (N, K) scores with N >= {n}; got {tuple(tensor.shape)}"
        )
    return [int(v) for v in tensor[:n]]


# ------------------------------------------------------------------------------------------------------------
# Images and grids


def show_images(
    images: Tensor,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    ax: Axes | Sequence[Axes] | None = None,
    *,
    color: str | None = None,
    suptitle: str | None = None,
) -> Figure:
    """Show a batch of images in a grid, one panel each.

    Args:
        images: ``(N, C, H, W)``; one channel is shown in grey, two (MNIST addition) as red and green, three
            as RGB, more (feature maps) as their channel mean.
        titles: one title per image.
        ncols: panels per row.
        ax: draw into these Axes (at least ``N``) instead of a new figure.
        color: frame colour, e.g. :data:`INPUT_COLOR` or :data:`OUTPUT_COLOR`.
        suptitle: a title for the whole figure.

    Returns:
        The figure, with exactly ``N`` image axes.
    """
    check_tensor(images, "images", "N C H W")
    n = images.shape[0]
    fig, axes = _axes(n, ax, ncols)
    for axis, image, title in zip(axes, images, _check_titles(titles, n), strict=True):
        _draw_image(axis, image, color, title)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def _default_step(height: int, width: int) -> int:
    return max(1, max(height, width) // 10)


def _draw_grid(
    axis: Axes,
    grid: Tensor,
    image: Tensor | None,
    input_size: tuple[int, int],
    step: int,
    align_corners: bool,
) -> None:
    pixels = normalized_to_pixel(grid.detach().to("cpu", torch.float32), input_size, align_corners)
    height, width = pixels.shape[:2]
    rows = sorted({*range(0, height, step), height - 1})
    cols = sorted({*range(0, width, step), width - 1})
    if image is not None:
        _draw_image(axis, image, INPUT_COLOR)
        axis.set_xticks(np.arange(0, input_size[1], max(1, input_size[1] // 4)))
        axis.set_yticks(np.arange(0, input_size[0], max(1, input_size[0] // 4)))
    for i in rows:
        axis.plot(pixels[i, :, 0], pixels[i, :, 1], color=GRID_COLOR, lw=0.8)
    for j in cols:
        axis.plot(pixels[:, j, 0], pixels[:, j, 1], color=GRID_COLOR, lw=0.8)
    # Show the whole image and the whole grid, even where the grid leaves the image (zoom-out).
    low = torch.minimum(pixels.reshape(-1, 2).min(0).values, torch.tensor([-0.5, -0.5]))
    high = torch.maximum(
        pixels.reshape(-1, 2).max(0).values, torch.tensor([input_size[1] - 0.5, input_size[0] - 0.5])
    )
    margin = 0.5
    axis.set_xlim(float(low[0]) - margin, float(high[0]) + margin)
    axis.set_ylim(float(high[1]) + margin, float(low[1]) - margin)  # y points down, as in the image
    axis.set_aspect("equal")
    axis.set_xlabel("x (input pixels)")
    axis.set_ylabel("y (input pixels)")


def plot_grid(
    grid: Tensor,
    ax: Axes | Sequence[Axes] | None = None,
    image: Tensor | None = None,
    step: int | None = None,
    *,
    align_corners: bool = False,
    input_size: tuple[int, int] | None = None,
    ncols: int = 4,
) -> Figure:
    """Draw a sampling grid over the input it samples: each line is a row or column of the output.

    Args:
        grid: ``(H_out, W_out, 2)`` or ``(N, H_out, W_out, 2)``, normalised ``(x, y)`` as from ``F.affine_grid``.
        ax: draw into these Axes (one per grid) instead of a new figure.
        image: the input, ``(C, H, W)`` for one grid or ``(N, C, H, W)``; drawn under the grid.
        step: draw every ``step``-th row and column (and always the last); default about 10 lines per axis.
        align_corners: the convention the grid was made with (used to convert it to pixels).
        input_size: ``(H, W)`` of the input; defaults to the image's size, else the grid's own size.
        ncols: panels per row when several grids are drawn.

    Returns:
        The figure; axes are in input pixel coordinates (y pointing down, as in the image).
    """
    batched = not (isinstance(grid, Tensor) and grid.ndim == 3)
    grids = grid if batched else grid[None]
    check_tensor(grids, "grid", "N H_out W_out 2")
    images: Tensor | None = None
    if image is not None:
        images = image if batched else (image[None] if isinstance(image, Tensor) else image)
        check_tensor(images, "image", "N C H W")
        if images.shape[0] != grids.shape[0]:
            raise ValueError(
                f"image and grid disagree on N: grid has {grids.shape[0]}, image has {images.shape[0]}"
            )
    if input_size is None:
        input_size = (
            (images.shape[-2], images.shape[-1]) if images is not None else (grids.shape[1], grids.shape[2])
        )
    step = step if step is not None else _default_step(*grids.shape[1:3])
    if not isinstance(step, int) or step < 1:
        raise ValueError(f"step must be a positive int; got {step!r}")
    fig, axes = _axes(grids.shape[0], ax, ncols, inches=3.2)
    for k, axis in enumerate(axes):
        _draw_grid(axis, grids[k], None if images is None else images[k], input_size, step, align_corners)
        axis.set_title("sampling grid over the input\n(one line per output row/column)", fontsize=9)
    if ax is None:
        fig.tight_layout()
    return fig


def sampled_region_outline(
    params: Tensor,
    input_size: tuple[int, int],
    align_corners: bool = False,
    transform: str = "affine",
    *,
    control_points: Tensor | None = None,
    points_per_side: int = 2,
) -> Tensor:
    """The outline of the region of the input that the output samples, in input pixel coordinates.

    The output's border (normalised coordinates ±1) is mapped through the transformation. With
    ``align_corners=False`` ±1 are the outer edges of the image, so the identity's outline is the image border
    ``(-0.5, -0.5) … (W - 0.5, H - 0.5)``; with ``align_corners=True`` they are the corner pixels' centres,
    ``(0, 0) … (W - 1, H - 1)``.

    Args:
        params: the family's parameters: ``theta: (N, 2, 3)`` for affine, ``(N, 3)`` attention, ``(N, 8)``
            projective, ``(N, K*K, 2)`` TPS target points.
        input_size: ``(H, W)`` of the input.
        align_corners: the convention the parameters are used with.
        transform: the family.
        control_points: TPS source points (default: the geometry module's grid).
        points_per_side: points along each side; 2 (the corners) is exact for affine and projective maps,
            which keep lines straight; use more for TPS, whose sides bend.

    Returns:
        ``(N, 4 * (points_per_side - 1) + 1, 2)`` closed polylines of (x, y) pixels, starting and ending at the
        top-left corner and going clockwise on screen (top, right, bottom, left side). For the default that is
        ``(N, 5, 2)``.

    Example:
        >>> theta = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
        >>> sampled_region_outline(theta, (28, 28))[0, :4]
        tensor([[-0.5000, -0.5000],
                [27.5000, -0.5000],
                [27.5000, 27.5000],
                [-0.5000, 27.5000]])
    """
    check_tensor(params, "params", transform_family(transform).shape)
    if not isinstance(points_per_side, int) or points_per_side < 2:
        raise ValueError(f"points_per_side must be an int >= 2; got {points_per_side!r}")
    height, width = input_size
    m = points_per_side
    # align_corners=True puts the first and last grid points exactly on ±1, the output's border.
    grid = transform_grid(
        params, transform, (params.shape[0], 1, m, m), align_corners=True, control_points=control_points
    )
    top, right = grid[:, 0, :], grid[:, :, -1]
    bottom, left = grid[:, -1, :].flip(1), grid[:, :, 0].flip(1)
    ring = torch.cat([top, right[:, 1:], bottom[:, 1:], left[:, 1:]], dim=1)
    return normalized_to_pixel(ring, (height, width), align_corners)


def figure1_panels(
    inputs: Tensor,
    outputs: Tensor,
    params: Tensor,
    transform: str = "affine",
    predictions: Tensor | Sequence[int] | None = None,
    labels: Tensor | Sequence[int] | None = None,
    n: int = 6,
    *,
    align_corners: bool = False,
    control_points: Tensor | None = None,
    title: str = "The outlined region of each input is what the transformer passes on (bottom row)",
) -> Figure:
    """The paper's Figure 1: each input with the region the transformer samples, its output, the prediction.

    Top row: inputs with the sampled region outlined (:data:`GRID_COLOR`); bottom row: the transformer's outputs,
    titled with the prediction (red when it disagrees with the label).

    Args:
        inputs: ``(N, C, H, W)`` the transformer's inputs.
        outputs: ``(N, C, H_out, W_out)`` its outputs (e.g. ``model.last_output``).
        params: the transformation parameters (e.g. ``model.last_params``), see :func:`sampled_region_outline`.
        transform: their family.
        predictions: ``(N,)`` predicted classes or ``(N, K)`` scores.
        labels: ``(N,)`` true classes.
        n: how many examples (columns).
        align_corners: the convention the transformer used.
        control_points: TPS source points, if not the default grid.
        title: the figure's title (say which model it shows).

    Returns:
        The figure, with ``2 n`` axes.
    """
    dims = check_tensor(inputs, "inputs", "N C H W")
    check_tensor(outputs, "outputs", "N C H_out W_out", dims)
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int; got {n!r}")
    n = min(n, inputs.shape[0])
    predicted = _labels(predictions, "predictions", n)
    truth = _labels(labels, "labels", n)
    outlines = sampled_region_outline(
        params[:n],
        (inputs.shape[-2], inputs.shape[-1]),
        align_corners,
        transform,
        control_points=control_points,
        points_per_side=2 if transform_family(transform).straight_lines else 9,
    ).cpu()
    fig, grid = plt.subplots(2, n, figsize=(_PANEL_INCHES * n, 2 * _PANEL_INCHES + 0.8), squeeze=False)
    for k in range(n):
        top, bottom = grid[0, k], grid[1, k]
        _draw_image(top, inputs[k], INPUT_COLOR)
        top.plot(outlines[k, :, 0], outlines[k, :, 1], color=GRID_COLOR, lw=1.5)
        height, width = inputs.shape[-2:]
        top.set_xlim(-0.5, width - 0.5)
        top.set_ylim(height - 0.5, -0.5)
        _draw_image(bottom, outputs[k], OUTPUT_COLOR)
        if predicted is not None:
            wrong = truth is not None and truth[k] != predicted[k]
            title = f"pred {predicted[k]}" + (f" (true {truth[k]})" if wrong and truth is not None else "")
            bottom.set_title(title, fontsize=9, color=WRONG_COLOR if wrong else OUTPUT_COLOR)
        elif truth is not None:
            bottom.set_title(f"label {truth[k]}", fontsize=9)
    grid[0, 0].set_ylabel("input +\nsampled region", color=INPUT_COLOR)
    grid[1, 0].set_ylabel("transformer\noutput", color=OUTPUT_COLOR)
    fig.suptitle(title)
    return fig


# ------------------------------------------------------------------------------------------------------------
# Rows of images, and marks drawn over image panels


def _series(values: object, name: str, length: int | None = None) -> list[float]:
    """A 1-D sequence of numbers as floats; ``length`` (if given) must match."""
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Sequence | np.ndarray | Tensor):
        raise TypeError(f"{name} must be a sequence of numbers; got {type(values).__name__}")
    try:
        series = [float(v) for v in values]
    except (TypeError, ValueError):
        raise TypeError(f"{name} must hold numbers only; got {list(values)[:5]!r}...") from None
    if length is not None and len(series) != length:
        raise ValueError(f"{name} must have {length} entries (one per x value); got {len(series)}")
    return series


def _mapping(values: object, name: str) -> Mapping[Any, Any]:
    if not isinstance(values, Mapping) or not values:
        raise TypeError(f"{name} must be a non-empty mapping (dict); got {type(values).__name__}")
    return values


def _per_row(values: Sequence[Any] | Any, name: str, n: int) -> list[Any]:
    """One entry per row: a sequence of ``n`` entries, or one value (not a list) shared by all rows."""
    if values is None or isinstance(values, str):
        return [values] * n
    values = list(values)
    if len(values) != n:
        raise ValueError(f"{name} must have one entry per row ({n}); got {len(values)}")
    return values


def _title_lines(titles: Sequence[str | None]) -> int:
    return max((str(t).count("\n") + 1 for t in titles if t), default=0)


def _draw_image_rows(
    grid: np.ndarray,
    rows: Sequence[Tensor],
    labels: list[str | None],
    titles: list[Sequence[str] | None],
    colors: list[str | None],
) -> None:
    for axes_row, images, label, row_titles, color in zip(grid, rows, labels, titles, colors, strict=True):
        show_images(images, row_titles, ax=list(axes_row), color=color)
        if label:
            axes_row[0].set_ylabel(label, fontsize=10, color=color or "black")


def show_image_rows(
    rows: Sequence[Tensor],
    labels: Sequence[str | None] | None = None,
    *,
    titles: Sequence[Sequence[str] | None] | None = None,
    colors: Sequence[str | None] | str | None = None,
    suptitle: str | None = None,
    inches: float = 1.6,
) -> Figure:
    """Several batches of images, one row each — e.g. inputs above the transformer's outputs.

    Args:
        rows: ``R`` batches ``(N, C, H, W)``, all with the same ``N`` (their image sizes may differ).
        labels: one label per row, written left of it in the row's colour (``None`` for no label).
        titles: per row, ``N`` panel titles or ``None``.
        colors: the frame colour of each row (e.g. :data:`INPUT_COLOR`, :data:`OUTPUT_COLOR`), or one for all.
        suptitle: a title for the whole figure.
        inches: the width of one panel.

    Returns:
        The figure with ``R * N`` image axes in row-major order: ``fig.axes[r * N + k]`` is image ``k`` of row
        ``r``, for drawing marks over particular panels (:func:`draw_control_points`,
        :func:`draw_sampled_regions`).
    """
    if isinstance(rows, Tensor) or not isinstance(rows, Sequence) or not rows:
        raise TypeError("rows must be a non-empty list of (N, C, H, W) tensors, one per row")
    dims = check_tensor(rows[0], "rows[0]", "N C H W")
    for r, images in enumerate(rows[1:], start=1):
        got = check_tensor(images, f"rows[{r}]", "N C H W")
        if got["N"] != dims["N"]:
            raise ValueError(
                f"rows must all have the same N: rows[0] has {dims['N']} images, rows[{r}] {got['N']}"
            )
    n_rows, n = len(rows), dims["N"]
    row_labels = _per_row(labels, "labels", n_rows)
    row_titles = _per_row(titles, "titles", n_rows)
    row_colors = _per_row(colors, "colors", n_rows)
    if not isinstance(inches, (int, float)) or inches <= 0:
        raise ValueError(f"inches must be a positive number; got {inches!r}")
    heights = [inches + 0.17 * _title_lines(t or []) for t in row_titles]
    width = inches * n + (0.45 if any(row_labels) else 0.0)
    fig, grid = plt.subplots(
        n_rows, n, figsize=(width, sum(heights) + (0.45 if suptitle else 0.1)), squeeze=False,
        height_ratios=heights, layout="constrained",
    )  # fmt: skip
    _draw_image_rows(grid, rows, row_labels, row_titles, row_colors)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


# ------------------------------------------------------------------------------------------------------------
# Coordinates and grids (lessons 01, 02, 04, 07)


def _convention_panels(
    per_convention: object, name: str, *, height: float, suptitle: str | None
) -> tuple[Figure, list[tuple[Axes, bool, Any]]]:
    """A row of panels, one per ``align_corners`` convention of ``per_convention`` (a mapping keyed by it).

    Returns:
        The figure and, per panel, ``(axes, align_corners, value)``.
    """
    items = list(_mapping(per_convention, name).items())
    for align_corners, _ in items:
        if not isinstance(align_corners, bool):
            raise TypeError(f"{name} must be keyed by align_corners (True or False); got {align_corners!r}")
    fig, axes = plt.subplots(
        1, len(items), figsize=(5 * len(items), height), squeeze=False, layout="constrained"
    )
    if suptitle:
        fig.suptitle(suptitle)
    return fig, [(ax, key, value) for ax, (key, value) in zip(axes[0], items, strict=True)]


def plot_pixel_centres(
    centres: Mapping[bool, Tensor],
    *,
    suptitle: str | None = None,
) -> Figure:
    """A small square image under each ``align_corners`` convention: its pixel centres with their normalised
    coordinates, and the square ``[-1, 1]²`` in :data:`GRID_COLOR`.

    Args:
        centres: ``align_corners`` value -> ``(n,)`` normalised coordinates of the ``n`` pixel centres along an
            axis (the same for x and y), e.g. ``geometry.normalized_linspace(n, align_corners)``.
        suptitle: a title for the whole figure.

    Returns:
        The figure, one axes per convention, in pixel coordinates (y pointing down).
    """
    fig, panels = _convention_panels(centres, "centres", height=5, suptitle=suptitle)
    for ax, align_corners, values in panels:
        check_tensor(values, f"centres[{align_corners}]", "N")
        n = values.shape[0]
        checkerboard = (torch.arange(n)[:, None] + torch.arange(n)[None, :]) % 2
        ax.imshow(
            checkerboard.numpy(), cmap="Greys", vmin=-1, vmax=6
        )  # light checkerboard: one square per pixel
        for row in range(n):
            for col in range(n):
                ax.plot(col, row, "o", color=INPUT_COLOR)
                ax.annotate(f"({values[col]:+.2f}, {values[row]:+.2f})", (col, row), (0, -13),
                            textcoords="offset points", ha="center", fontsize=7.5)  # fmt: skip
        low, high = normalized_to_pixel(torch.tensor([-1.0, 1.0]), n, align_corners).tolist()
        ax.add_patch(Rectangle((low, low), high - low, high - low, fill=False, lw=2.5, color=GRID_COLOR))
        ax.set_xticks([low, high], ["x = -1", "x = +1"], color=GRID_COLOR)
        ax.set_yticks([low, high], ["y = -1", "y = +1"], color=GRID_COLOR)
        ax.set_xlim(-0.8, n - 0.2)
        ax.set_ylim(n - 0.2, -0.8)
        where = "CENTRES" if align_corners else "outer EDGES"
        ax.set_title(f"align_corners={align_corners}: ±1 are the {where}\nof the corner pixels", fontsize=11)
    return fig


def plot_warps(
    images: Tensor,
    grids: Tensor,
    outputs: Tensor,
    titles: Sequence[str] | None = None,
    *,
    output_titles: Sequence[str] | None = None,
    step: int = 3,
    suptitle: str | None = None,
    above: Tensor | None = None,
    labels: Sequence[str | None] | None = None,
    outlines: Tensor | None = None,
    grid_alpha: float = 1.0,
    pixel_axes: bool = True,
    align_corners: bool = False,
) -> Figure:
    """Sampling grids over their inputs (top row) and the outputs they produce (bottom row), one column each.

    Args:
        images: ``(N, C, H, W)`` the inputs the grids sample.
        grids: ``(N, H_out, W_out, 2)`` normalised sampling grids (``F.affine_grid``, ``geometry.tps_grid`` …).
        outputs: ``(N, C_out, H_out, W_out)`` the sampled outputs.
        titles: one title per column, over the grid panels (default: :func:`plot_grid`'s own title).
        output_titles: one title per output panel.
        step: draw every ``step``-th grid row and column.
        suptitle: a title for the whole figure.
        above: ``(N, C, H, W)`` an extra row of images above the grids (e.g. the undistorted originals).
        labels: a label for each row (2 rows, or 3 with ``above``); default: ``"output"`` on the last row.
        outlines: ``(N, P, 2)`` closed polylines in input pixels drawn over the grid panels, e.g. from
            :func:`sampled_region_outline`.
        grid_alpha: opacity of the grid lines (lower it when other marks go on top).
        pixel_axes: ``False`` hides the grid panels' pixel ticks and axis labels (and their default title).
        align_corners: the convention the grids were made with.

    Returns:
        The figure; its axes row by row: ``above`` (if given), the grids, the outputs — ``fig.axes[N + k]`` is
        the output under grid ``k`` when there is no ``above`` row.
    """
    dims = check_tensor(grids, "grids", "N H_out W_out 2")
    check_tensor(images, "images", "N C H W", dims)
    check_tensor(outputs, "outputs", "N C_out H_out W_out", dims)
    if above is not None:
        check_tensor(above, "above", "N C_above H_above W_above", dims)
    if outlines is not None:
        check_tensor(outlines, "outlines", "N P 2", dims)
    n = dims["N"]
    grid_titles = None if titles is None else _check_titles(titles, n)
    n_rows = 3 if above is not None else 2
    row_labels = [None] * (n_rows - 1) + ["output"] if labels is None else _per_row(labels, "labels", n_rows)
    if not 0 <= grid_alpha <= 1:
        raise ValueError(f"grid_alpha must be between 0 and 1; got {grid_alpha!r}")
    width = 3.2 if pixel_axes else 2.2
    heights = [0.9 * width] * (n_rows - 2)
    heights += [
        1.05 * width + 0.17 * (_title_lines(grid_titles) if grid_titles else 2 * pixel_axes),
        0.9 * width + 0.17 * _title_lines(output_titles or []),
    ]
    fig, grid = plt.subplots(
        n_rows, n, figsize=(width * n, sum(heights) + (0.4 if suptitle else 0.1)), squeeze=False,
        height_ratios=heights, layout="constrained",
    )  # fmt: skip
    if above is not None:
        show_images(above, ax=list(grid[0]), color=INPUT_COLOR)
    grid_row, output_row = grid[-2], grid[-1]
    plot_grid(grids, ax=list(grid_row), image=images, step=step, align_corners=align_corners)
    for k, ax in enumerate(grid_row):
        for line in ax.get_lines():
            line.set_alpha(grid_alpha)
        if outlines is not None:
            ax.plot(outlines[k, :, 0].cpu(), outlines[k, :, 1].cpu(), color=GRID_COLOR, lw=2.5)
        if not pixel_axes:
            ax.set(title="", xlabel="", ylabel="", xticks=[], yticks=[])
        if grid_titles is not None:
            ax.set_title(grid_titles[k], fontsize=10)
    show_images(outputs, output_titles, ax=list(output_row), color=OUTPUT_COLOR)
    row_colors = [INPUT_COLOR] * (n_rows - 2) + [None, OUTPUT_COLOR]
    for axes_row, label, color in zip(grid, row_labels, row_colors, strict=True):
        if label:
            axes_row[0].set_ylabel(label, color=color or "black", fontsize=10)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_grid_generator_steps(
    targets: Tensor,
    sources: Tensor,
    image: Tensor,
    output: Tensor,
    *,
    align_corners: bool = False,
    suptitle: str | None = None,
) -> Figure:
    """The grid generator in three panels: the output's pixel centres, where each one reads the input, the
    sampled output. A star marks the first output pixel (top left) in all three.

    Args:
        targets: ``(P, 2)`` the output's pixel centres ``(x_t, y_t)``, normalised, row by row.
        sources: ``(P, 2)`` where each reads the input ``(x_s, y_s)``, normalised (the grid, flattened).
        image: ``(C, H, W)`` the input.
        output: ``(C, H_out, W_out)`` the sampled output, ``H_out * W_out = P``.
        align_corners: the convention of the grid (to place the sources on the input's pixels).
        suptitle: a title for the whole figure.

    Returns:
        The figure with 3 axes.
    """
    dims = check_tensor(targets, "targets", "P 2")
    check_tensor(sources, "sources", "P 2", dims)
    check_tensor(image, "image", "C H W")
    check_tensor(output, "output", "C_out H_out W_out")
    if output.shape[-2] * output.shape[-1] != dims["P"]:
        raise ValueError(
            f"output must have one pixel per target point ({dims['P']}); got {tuple(output.shape[-2:])}"
        )
    targets, image, output = targets.detach().cpu(), image.detach().cpu(), output.detach().cpu()
    pixels = normalized_to_pixel(sources.detach().cpu(), (image.shape[-2], image.shape[-1]), align_corners)
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4), layout="constrained")
    axes[0].scatter(targets[:, 0], targets[:, 1], s=10, color=GRID_COLOR)
    axes[0].add_patch(Rectangle((-1, -1), 2, 2, fill=False, lw=2, color=OUTPUT_COLOR))
    axes[0].set(xlim=(-1.15, 1.15), ylim=(1.15, -1.15), aspect="equal", xlabel="$x^t$",
                ylabel="$y^t$ (pointing down)")  # fmt: skip
    axes[0].set_title(
        "1. target grid: the output's pixel centres\n(normalised output coordinates)", fontsize=10
    )
    _draw_image(axes[1], image, INPUT_COLOR)
    axes[1].scatter(pixels[:, 0], pixels[:, 1], s=10, color=GRID_COLOR)
    axes[1].set_title(
        "2. grid generator: where each one reads,\n$(x^s, y^s) = T_\\theta(x^t, y^t)$, over the input",
        fontsize=10,
    )
    _draw_image(axes[2], output, OUTPUT_COLOR)
    h_out, w_out = output.shape[-2:]
    axes[2].set_title(f"3. sampler: the {h_out}×{w_out} output,\none value per grid point", fontsize=10)
    stars: list[tuple[Axes, Tensor | tuple[int, int]]] = [
        (axes[0], targets[0]),
        (axes[1], pixels[0]),
        (axes[2], (0, 0)),
    ]
    for ax, (x, y) in stars:
        ax.plot(x, y, "*", ms=16, color=WRONG_COLOR)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_base_grids(grids: Mapping[bool, Tensor], *, suptitle: str | None = None) -> Figure:
    """Base grids drawn in normalised output coordinates: the pixel centres (dots), the pixel outlines (grey)
    and the square ``[-1, 1]²`` (dashed), one panel per ``align_corners`` convention.

    Args:
        grids: ``align_corners`` value -> ``(H, W, 3)`` homogeneous base grid (or ``(H, W, 2)``) made with it.
        suptitle: a title for the whole figure.

    Returns:
        The figure, one axes per grid.
    """
    fig, panels = _convention_panels(grids, "grids", height=4.4, suptitle=suptitle)
    for ax, align_corners, grid in panels:
        check_tensor(grid, f"grids[{align_corners}]", "H W D")
        if grid.shape[-1] not in (2, 3):
            raise ValueError(
                f"grids[{align_corners}] must hold (x, y) or (x, y, 1) points; got {tuple(grid.shape)}"
            )
        height, width = grid.shape[:2]
        points = grid.detach().cpu().reshape(-1, grid.shape[-1])
        # pixel edges sit half a pixel before each centre (and after the last one)
        edges_x = pixel_to_normalized(torch.arange(width + 1) - 0.5, width, align_corners)
        edges_y = pixel_to_normalized(torch.arange(height + 1) - 0.5, height, align_corners)
        ax.vlines(edges_x, edges_y[0], edges_y[-1], color="0.7", lw=1)
        ax.hlines(edges_y, edges_x[0], edges_x[-1], color="0.7", lw=1)
        ax.add_patch(Rectangle((-1, -1), 2, 2, fill=False, lw=2.5, ls="--", color=OUTPUT_COLOR, zorder=2))
        ax.scatter(points[:, 0], points[:, 1], color=GRID_COLOR, zorder=3)
        ax.set(xlim=(-1.6, 1.6), ylim=(1.9, -1.9), aspect="equal", xlabel="$x^t$", ylabel="$y^t$")
        gaps = (width - 1, height - 1) if align_corners else (width, height)
        spacing = f"centres {2 / max(gaps[0], 1):.2f} apart in x, {2 / max(gaps[1], 1):.2f} in y"
        ax.set_title(f"align_corners={align_corners}: {spacing}", fontsize=10)
    return fig


def draw_sampled_regions(
    ax: Axes | Sequence[Axes] | np.ndarray,
    outlines: Tensor,
    *,
    numbered: bool = False,
    limits: tuple[float, float] | None = None,
    lw: float = 1.8,
) -> None:
    """Draw sampled-region outlines (:func:`sampled_region_outline`) over image panels, in :data:`GRID_COLOR`.

    Args:
        ax: one Axes, which gets every outline, or one Axes per outline (e.g. a row of
            :func:`show_image_rows`).
        outlines: ``(N, P, 2)`` closed polylines in the pixel coordinates of the images drawn in ``ax``.
        numbered: write each outline's number (1, 2, ...) inside its first corner.
        limits: ``(low, high)`` pixel range shown along both axes; default: the image plus a pixel, widened
            to show every outline whole.
        lw: the line width.
    """
    check_tensor(outlines, "outlines", "N P 2")
    outlines = outlines.detach().cpu()
    many = not isinstance(ax, Axes)
    axes: list[Axes] = (
        [ax] * outlines.shape[0] if isinstance(ax, Axes) else list(np.asarray(ax, dtype=object).flat)
    )
    if len(axes) != outlines.shape[0]:
        raise ValueError(f"ax must hold one Axes per outline ({outlines.shape[0]}); got {len(axes)}")
    for k, (axis, outline) in enumerate(zip(axes, outlines, strict=True), start=1):
        axis.plot(outline[:, 0], outline[:, 1], color=GRID_COLOR, lw=lw)
        if numbered:
            axis.text(
                outline[0, 0] + 1, outline[0, 1] + 1, str(k), color=GRID_COLOR, va="top", fontweight="bold"
            )
    for axis in dict.fromkeys(axes):  # each Axes once, in order
        if limits is not None:
            low, high = limits
        else:
            shown = outlines if not many else outlines[axes.index(axis)][None]
            size = max(axis.images[0].get_size()) if axis.images else float(shown.max())
            low = min(-1.5, float(shown.min()) - 1)
            high = max(size + 0.5, float(shown.max()) + 1)
        axis.set_xlim(low, high)
        axis.set_ylim(high, low)  # y points down, as in the image


def plot_sampled_regions(
    image: Tensor,
    outlines: Tensor,
    outputs: Tensor,
    titles: Sequence[str] | None = None,
    *,
    numbered: bool = True,
    input_title: str | None = None,
    suptitle: str | None = None,
) -> Figure:
    """One input with the regions several transformations sample outlined, and the output of each.

    Args:
        image: ``(C, H, W)`` the input.
        outlines: ``(K, P, 2)`` one outline per transformation, in input pixels (:func:`sampled_region_outline`).
        outputs: ``(K, C, H_out, W_out)`` what each transformation makes of the input.
        titles: one title per output.
        numbered: number the outlines 1 … K (to match them with the outputs).
        input_title: the input panel's title.
        suptitle: a title for the whole figure.

    Returns:
        The figure: the input's axes, then ``K`` output axes.
    """
    check_tensor(image, "image", "C H W")
    dims = check_tensor(outlines, "outlines", "N P 2")
    check_tensor(outputs, "outputs", "N C_out H_out W_out", dims)
    k = dims["N"]
    fig, axes = plt.subplots(
        1, k + 1, figsize=(max(7.5, 2.6 * (k + 1.5)), 3.8), width_ratios=[1.5] + [1] * k, layout="constrained"
    )
    _draw_image(axes[0], image, INPUT_COLOR)
    draw_sampled_regions(axes[0], outlines, numbered=numbered)
    if input_title:
        axes[0].set_title(input_title)
    show_images(outputs, titles, ax=list(axes[1:]), color=OUTPUT_COLOR)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


# ------------------------------------------------------------------------------------------------------------
# Lesson 00: how a plain CNN copes with distorted digits


def plot_test_set_accuracy(
    accuracies: Mapping[str, float],
    examples: Mapping[str, Tensor],
    *,
    colors: Sequence[str] | None = None,
    title: str = "The same CNN on three test sets",
    suptitle: str | None = None,
) -> Figure:
    """A bar per test set (accuracy in percent), beside a row of example images from each set.

    Args:
        accuracies: test-set name -> accuracy as a fraction in [0, 1]; the names label the bars.
        examples: short row label -> ``(n, C, H, W)`` example images, one entry per test set, the same ``n``.
        colors: one bar colour per test set (default :data:`INPUT_COLOR`).
        title: the bar chart's title.
        suptitle: a title for the whole figure.

    Returns:
        The figure: the bar chart's axes first, then ``len(examples) * n`` image axes, row by row.
    """
    names = list(_mapping(accuracies, "accuracies"))
    values = [100 * v for v in _series(list(accuracies.values()), "accuracies")]
    rows = list(_mapping(examples, "examples").values())
    if len(rows) != len(names):
        raise ValueError(f"examples must have one entry per test set ({len(names)}); got {len(rows)}")
    bar_colors = [INPUT_COLOR] * len(names) if colors is None else _per_row(colors, "colors", len(names))
    fig = plt.figure(figsize=(12, 4.4), layout="constrained")
    left, right = fig.subfigures(1, 2, squeeze=False, width_ratios=[1, 1.2])[0]
    ax = left.subplots()
    bars = ax.bar(names, values, color=bar_colors)
    ax.bar_label(bars, fmt="%.1f %%")
    ax.set(ylabel="test accuracy (%)", ylim=(0, 105), title=title)
    n = check_tensor(rows[0], "examples[0]", "N C H W")["N"]
    grid = np.asarray(right.subplots(len(rows), n, squeeze=False))
    _draw_image_rows(grid, rows, list(examples), [None] * len(rows), [INPUT_COLOR] * len(rows))
    for axes_row in grid:  # row labels in black: the frames already say "input"
        axes_row[0].yaxis.label.set_color("black")
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_accuracy_sweeps(
    sweeps: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    examples: Mapping[str, tuple[Tensor, Sequence[str]]],
    *,
    baseline: float | None = None,
    highlight: Mapping[str, tuple[float, float]] | None = None,
    highlight_label: str = "range of the RTS test set",
    baseline_label: str = "upright, centred",
    curve_label: str = "CNN",
    suptitle: str | None = None,
) -> Figure:
    """Accuracy against the size of one distortion, one panel per distortion, example images below each.

    Args:
        sweeps: distortion name (the x label) -> ``(values, accuracies)``: the distortion's values and the
            accuracy at each, as fractions in [0, 1].
        examples: distortion name -> ``(images, titles)``: ``(n, C, H, W)`` images at a few of the values.
        baseline: the accuracy without distortion (a dashed line), as a fraction.
        highlight: distortion name -> ``(low, high)``, a range to shade (e.g. the range of a test set).
        highlight_label, baseline_label, curve_label: their legend entries (the legend is in the first panel).
        suptitle: a title for the whole figure.

    Returns:
        The figure; per distortion one plot axes followed by its ``n`` image axes.
    """
    _mapping(sweeps, "sweeps")
    if set(_mapping(examples, "examples")) != set(sweeps):
        raise ValueError(f"examples must have the same keys as sweeps {list(sweeps)}; got {list(examples)}")
    highlight = {} if highlight is None else highlight
    fig = plt.figure(figsize=(15, 6), layout="constrained")
    for k, (column, (name, (values, accuracy))) in enumerate(
        zip(fig.subfigures(1, len(sweeps), squeeze=False)[0], sweeps.items(), strict=True)
    ):
        xs = _series(values, f"sweeps[{name!r}] values")
        ys = [100 * a for a in _series(accuracy, f"sweeps[{name!r}] accuracies", len(xs))]
        images, titles = examples[name]
        n = check_tensor(images, f"examples[{name!r}] images", "N C H W")["N"]
        layout = column.add_gridspec(2, n, height_ratios=[3.2, 1])
        plot_ax = column.add_subplot(layout[0, :])  # the sweep on top, the examples below
        thumbs = [column.add_subplot(layout[1, j]) for j in range(n)]
        if name in highlight:
            plot_ax.axvspan(*highlight[name], color=GRID_COLOR, alpha=0.15, label=highlight_label)
        if baseline is not None:
            plot_ax.axhline(100 * baseline, color="grey", ls="--", lw=1, label=baseline_label)
        plot_ax.plot(xs, ys, "o-", color=INPUT_COLOR, label=curve_label)
        plot_ax.set(xlabel=name, ylabel="test accuracy (%)", ylim=(0, 102))
        if k == 0:
            plot_ax.legend(fontsize=8, loc="upper left")
        show_images(images, titles, ax=thumbs, color=INPUT_COLOR)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


_POOL_BLUES = ["#9ecae1", "#4292c6", "#2171b5", "#08306b"]


def plot_shift_similarity(
    shifts: Sequence[float],
    pooled: Mapping[str, Sequence[float]],
    whole_stack: Sequence[float],
    different_digits: float,
    *,
    title: str = "Larger pooling windows slow the decline, but none stops it",
) -> Figure:
    """How similar a network's features stay when its input shifts: one curve per pooling stage.

    Args:
        shifts: the shifts of the input, in pixels (the x axis).
        pooled: legend label -> mean cosine similarity at each shift (e.g. conv1 maps after a max-pool), drawn
            in blues from light (small windows) to dark.
        whole_stack: the similarity of the features the classifier reads, at each shift (black, dashed).
        different_digits: the same similarity between two *different* digits, for scale (a dotted line).
        title: the axes' title.

    Returns:
        The figure, one axes with ``len(pooled) + 2`` lines.
    """
    xs = _series(shifts, "shifts")
    curves = {
        label: _series(v, f"pooled[{label!r}]", len(xs)) for label, v in _mapping(pooled, "pooled").items()
    }
    stack = _series(whole_stack, "whole_stack", len(xs))
    blues = (
        _POOL_BLUES
        if len(curves) <= len(_POOL_BLUES)
        else plt.get_cmap("Blues")(np.linspace(0.35, 1, len(curves)))
    )
    fig, ax = plt.subplots(figsize=(11, 4.5), layout="constrained")
    for (label, ys), colour in zip(curves.items(), blues[: len(curves)], strict=True):
        ax.plot(xs, ys, "o-", ms=4, color=colour, label=label)
    ax.plot(xs, stack, "s--", ms=4, color="black", label="the CNN's whole stack (what the classifier reads)")
    ax.axhline(
        float(different_digits), color="black", ls=":", lw=1, label="whole stack, two different digits"
    )
    ax.set(xlabel="shift of the input (pixels)", ylabel="mean cosine similarity to the unshifted digit")
    ax.set(ylim=(0, 1.02), xticks=xs, title=title)
    ax.legend(
        fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1)
    )  # beside the plot: the curves need the room
    ax.grid(alpha=0.3)
    return fig


# ------------------------------------------------------------------------------------------------------------
# Lesson 03: the sampler


def _plane(image: Tensor, name: str) -> np.ndarray:
    """One ``(H, W)`` plane from ``(H, W)`` or ``(C, H, W)`` (the first channel)."""
    if not isinstance(image, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape (H, W) or (C, H, W); got {type(image).__name__}"
        )
    if image.ndim not in (2, 3):
        raise ValueError(f"{name} must have shape (H, W) or (C, H, W); got {tuple(image.shape)}")
    plane = image if image.ndim == 2 else image[0]
    return plane.detach().to("cpu", torch.float32).numpy()


def show_images_on_scale(
    images: Tensor,
    titles: Sequence[str] | None = None,
    colors: Sequence[str | None] | str | None = None,
    *,
    value_range: tuple[float, float] = (0.0, 1.0),
    ax: Axes | Sequence[Axes] | np.ndarray | None = None,
    inches: float = 3.0,
) -> Figure:
    """Images in grey on one fixed value scale, so that brightness compares across panels (unlike
    :func:`show_images`, which stretches each image to its own range); titles in the given colours.

    Args:
        images: ``(N, C, H, W)``; the first channel is shown.
        titles: one title per image.
        colors: one title colour per image (or one for all), e.g. a colour per sampling kernel.
        value_range: the values drawn black and white.
        ax: draw into these Axes (at least ``N``) instead of a new figure of one row.
        inches: the width of one panel of a new figure.

    Returns:
        The figure, with one image axes per image.
    """
    check_tensor(images, "images", "N C H W")
    n = images.shape[0]
    low, high = value_range
    if not low < high:
        raise ValueError(f"value_range must be (low, high) with low < high; got {value_range!r}")
    title_colors = _per_row(colors, "colors", n)
    if ax is None:
        lines = _title_lines(titles or [])
        fig, grid = plt.subplots(1, n, figsize=(inches * n, inches + 0.2 * lines + 0.1), squeeze=False,
                                 layout="constrained")  # fmt: skip
        axes = list(grid[0])
    else:
        fig, axes = _axes(n, ax, n)
    for axis, image, title, color in zip(axes, images, _check_titles(titles, n), title_colors, strict=True):
        axis.imshow(_plane(image, "images"), cmap="gray", vmin=low, vmax=high)
        axis.set(xticks=[], yticks=[])
        if title:
            axis.set_title(title, fontsize=10, color=color or "black")
    return fig


def show_signed_map(
    values: Tensor,
    title: str | None = None,
    *,
    ax: Axes | None = None,
    limit: float | None = None,
    pixel_axes: bool = False,
) -> Figure:
    """A map of signed values (a difference, a gradient) in red (positive) and blue (negative), with a colour bar.

    Args:
        values: ``(H, W)`` or ``(C, H, W)`` (the first channel is shown).
        title: the panel's title.
        ax: draw into this Axes instead of a new figure.
        limit: the colour scale runs from ``-limit`` to ``+limit``; default the largest ``|value|``.
        pixel_axes: keep the pixel ticks and label the axes "x (pixels)", "y (pixels)".

    Returns:
        The figure.
    """
    plane = _plane(values, "values")
    limit = float(np.abs(plane).max()) if limit is None else float(limit)
    if ax is None:
        ax = plt.subplots(figsize=(4.6, 4.0), layout="constrained")[1]
    elif not isinstance(ax, Axes):
        raise TypeError(f"ax must be one matplotlib Axes; got {type(ax).__name__}")
    shown = ax.imshow(plane, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.figure.colorbar(shown, ax=ax, fraction=0.046)
    if title:
        ax.set_title(title, fontsize=10)
    if pixel_axes:
        ax.set(xlabel="x (pixels)", ylabel="y (pixels)")
    else:
        ax.set(xticks=[], yticks=[])
    return _figure_of(ax)


def plot_kernel_profiles(
    distances: Tensor,
    profiles: Mapping[str, tuple[Tensor, Tensor]],
    colors: Mapping[str, str],
) -> Figure:
    """Sampling kernels ``k(d)`` (left) and their slopes ``dk/dx_s`` (right) against the distance ``d``.

    Args:
        distances: ``(D,)`` the distances ``d = x_s - m`` in pixels.
        profiles: kernel name -> ``(weights, slopes)``, each ``(D,)``.
        colors: kernel name -> its colour.

    Returns:
        The figure with 2 axes, one line per kernel in each.
    """
    dims = check_tensor(distances, "distances", "D")
    for name, (weights, slopes) in _mapping(profiles, "profiles").items():
        check_tensor(weights, f"profiles[{name!r}] weights", "D", dims)
        check_tensor(slopes, f"profiles[{name!r}] slopes", "D", dims)
        if name not in colors:
            raise ValueError(f"colors has no colour for the kernel {name!r}")
    d = distances.detach().cpu()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2), layout="constrained")
    for name, (weights, slopes) in profiles.items():
        left.plot(d, weights.detach().cpu(), color=colors[name], lw=2, label=name)
        right.plot(d, slopes.detach().cpu(), color=colors[name], lw=2, label=name)
    left.set(
        xlabel="distance d = x_s - m (pixels)", ylabel="weight k(d)", title="kernels: how much pixel m counts"
    )
    right.set(
        xlabel="distance d = x_s - m (pixels)", ylabel="dk/dx_s", title="their slopes: only the tent has one"
    )
    left.legend(loc="upper left")
    right.legend(loc="upper right")
    return fig


_CORNER_COLORS = {(0, 0): "#1f77b4", (0, 1): "#9467bd", (1, 0): "#8c564b", (1, 1): "#17becf"}  # (n, m)


def plot_bilinear_weights(
    fx: float,
    fy: float,
    weights: Mapping[tuple[int, int], float],
    patch: Tensor,
) -> Figure:
    """The four bilinear weights of a sampling point as areas: each pixel's weight is the rectangle opposite it.

    Args:
        fx, fy: the point's position inside the cell of its four pixels, ``x - m0`` and ``y - n0`` in [0, 1).
        weights: ``(n, m)`` (0 or 1 each, row first) -> that pixel's weight.
        patch: ``(2, 2)`` the four pixels' values ``U``, indexed ``[n, m]``.

    Returns:
        The figure; its title gives the sampled value ``V = sum of weight x U``.
    """
    if not (0 <= fx <= 1 and 0 <= fy <= 1):
        raise ValueError(f"fx and fy must lie in [0, 1] (the point inside its cell); got fx={fx}, fy={fy}")
    check_tensor(patch, "patch", "2 2")
    if set(_mapping(weights, "weights")) != set(_CORNER_COLORS):
        raise ValueError(
            f"weights must have the keys (0, 0), (0, 1), (1, 0), (1, 1) (n, m); got {list(weights)}"
        )
    value = sum(float(w) * float(patch[n, m]) for (n, m), w in weights.items())
    fig, ax = plt.subplots(figsize=(5, 5), layout="constrained")
    for (n, m), w in weights.items():
        colour = _CORNER_COLORS[(n, m)]
        x0, x1 = sorted((fx, 1.0 - m))  # the rectangle between the point and the opposite corner
        y0, y1 = sorted((fy, 1.0 - n))
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, color=colour, alpha=0.35, lw=0))
        if w > 0.03:
            ax.text((x0 + x1) / 2, (y0 + y1) / 2, f"{w:.2f}", ha="center", va="center", color=colour,
                    weight="bold")  # fmt: skip
        grey = str(float(patch[n, m]))  # matplotlib reads a string "0.15" as a grey level
        ax.plot(m, n, "s", ms=26, color=grey, mec=colour, mew=3)
        ax.text(m + (0.2 if m else -0.2), n + (0.2 if n else -0.2), f"pixel ({n}, {m})\nU = {patch[n, m]:.2f}",
                ha="left" if m else "right", va="top" if n else "bottom", color=colour, fontsize=9)  # fmt: skip
    ax.plot([0, 1, 1, 0, 0], [0, 0, 1, 1, 0], ":", color="grey")
    ax.plot(fx, fy, "X", color=GRID_COLOR, ms=14, mec="black", label="sampling point")
    ax.set(xlim=(-0.75, 1.75), ylim=(1.75, -0.75), aspect="equal")
    ax.set(xlabel="x (pixels, from column m0)", ylabel="y (pixels, from row n0)")
    ax.set_title(
        f"each weight = the area of the opposite rectangle\nV = sum of weight x U = {value:.3f}", fontsize=10
    )
    ax.legend(loc="lower center", fontsize=8)
    return fig


def plot_translation_descent(
    translations: Tensor,
    curves: Mapping[str, tuple[Tensor, Tensor]],
    paths: Mapping[str, Tensor],
    starts: Sequence[float],
    best: float,
    colors: Mapping[str, str],
    *,
    best_label: str = "best t_x",
    pixels_per_unit: float = 14.0,
) -> Figure:
    """Loss and slope against a translation ``t_x`` for several samplers, and gradient descent on ``t_x``.

    Args:
        translations: ``(T,)`` the values of ``t_x`` scanned (normalised units).
        curves: sampler name -> ``(loss, slope)``, each ``(T,)``: the loss and ``dL/dt_x`` at each value.
        paths: sampler name -> ``(steps, S)`` the distance to the answer (pixels) after each descent step, one
            column per start.
        starts: the ``S`` starting distances in pixels (for the legend).
        best: the best ``t_x`` (a dotted line).
        colors: sampler name -> its colour.
        best_label: the dotted line's legend entry.
        pixels_per_unit: pixels per normalised unit (for the x label).

    Returns:
        The figure with 3 axes: loss, slope, descent.
    """
    dims = check_tensor(translations, "translations", "T")
    for name, (loss, slope) in _mapping(curves, "curves").items():
        check_tensor(loss, f"curves[{name!r}] loss", "T", dims)
        check_tensor(slope, f"curves[{name!r}] slope", "T", dims)
    starts = _series(starts, "starts")
    for name, path in _mapping(paths, "paths").items():
        check_tensor(path, f"paths[{name!r}]", "steps S")
        if path.shape[1] != len(starts):
            raise ValueError(
                f"paths[{name!r}] must have one column per start ({len(starts)}); got {path.shape[1]}"
            )
    missing = [name for name in [*curves, *paths] if name not in colors]
    if missing:
        raise ValueError(f"colors has no colour for {missing}")
    t = translations.detach().cpu()
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6), layout="constrained")
    for name, (loss, slope) in curves.items():
        axes[0].plot(t, loss.detach().cpu(), color=colors[name], lw=1.6, label=name)
        axes[1].plot(t, slope.detach().cpu(), color=colors[name], lw=1.2, label=name)
    for ax in axes[:2]:
        ax.axvline(best, color="grey", ls=":", label=best_label)
        ax.set_xlabel(f"translation t_x (normalised; 1/{pixels_per_unit:g} = one pixel)")
    axes[0].set(ylabel="loss", title="loss: nearest is a staircase, bilinear is continuous")
    axes[1].set(
        ylabel="dL/dt_x",
        title="slope: zero for nearest everywhere;\nbilinear points downhill near the answer",
    )
    for name, path in paths.items():
        for column, start, style in zip(path.detach().cpu().T, starts, ("-", "--", ":", "-."), strict=False):
            axes[2].plot(column, style, color=colors[name], label=f"{name}, from {start:g} px")
    axes[2].set(
        xlabel="gradient-descent step",
        ylabel="distance to the answer (pixels)",
        title="gradient descent on t_x",
    )
    axes[0].legend(fontsize=8, loc="lower left")
    axes[1].legend(fontsize=8, loc="upper left")
    axes[2].legend(fontsize=8, loc="center right")
    return fig


def plot_grid_gradients(
    grad_image: Tensor,
    output: Tensor,
    target: Tensor,
    downhill: Tensor,
    *,
    min_fraction: float = 0.02,
) -> Figure:
    """Where a sampler's gradients land: ``dL/dU`` per input pixel (left, eq. 6) and the downhill direction of
    every sampling point drawn as arrows over the output, with the target's outline (right, eq. 7).

    Args:
        grad_image: ``(H, W)`` the gradient of the loss with respect to the input image.
        output: ``(H_out, W_out)`` the sampled output.
        target: ``(H_out, W_out)`` what the output should look like (its 0.5 contour is drawn).
        downhill: ``(H_out, W_out, 2)`` ``-dL/dgrid`` per output pixel, in pixels.
        min_fraction: arrows shorter than this fraction of the longest are left out.

    Returns:
        The figure: the gradient map, the output with arrows, then the colour bar.
    """
    check_tensor(grad_image, "grad_image", "H W")
    dims = check_tensor(output, "output", "H_out W_out")
    check_tensor(target, "target", "H_out W_out", dims)
    check_tensor(downhill, "downhill", "H_out W_out 2", dims)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), layout="constrained")
    show_signed_map(grad_image, "dL/dU, eq. (6): how each input pixel\nshould change (red: decrease)", ax=axes[0],
                    pixel_axes=True)  # fmt: skip
    axes[1].imshow(_plane(output, "output"), cmap="gray", vmin=0, vmax=1)
    axes[1].contour(_plane(target, "target"), levels=[0.5], colors=[GRID_COLOR], linewidths=1.5)
    arrows = downhill.detach().cpu()
    rows, cols = torch.meshgrid(
        torch.arange(float(arrows.shape[0])), torch.arange(float(arrows.shape[1])), indexing="ij"
    )
    length = arrows.norm(dim=-1)
    strong = length > min_fraction * length.max()
    axes[1].quiver(cols[strong], rows[strong], arrows[..., 0][strong], arrows[..., 1][strong], color=OUTPUT_COLOR,
                   angles="xy")  # fmt: skip
    axes[1].set_title("-dL/dgrid, eq. (7): where each sampling point\nshould move (orange: the target's outline)",
                      fontsize=10)  # fmt: skip
    axes[1].set(xlabel="x (pixels)", ylabel="y (pixels)")
    return fig


# ------------------------------------------------------------------------------------------------------------
# Lesson 04: the localization network


def plot_theta_pipeline(
    image: Tensor,
    theta: Tensor,
    grid: Tensor,
    output: Tensor,
    *,
    step: int = 3,
    suptitle: str | None = None,
) -> Figure:
    """A spatial transformer on one image, left to right: the input U, the six numbers of θ, the sampling grid
    over U, the output V.

    Args:
        image: ``(C, H, W)`` the input.
        theta: ``(2, 3)`` the affine θ the localization network outputs.
        grid: ``(H_out, W_out, 2)`` the sampling grid made from θ.
        output: ``(C, H_out, W_out)`` the sampled output.
        step: draw every ``step``-th grid line.
        suptitle: a title for the whole figure.

    Returns:
        The figure with 4 axes.
    """
    check_tensor(image, "image", "C H W")
    check_tensor(theta, "theta", "2 3")
    dims = check_tensor(grid, "grid", "H_out W_out 2")
    check_tensor(output, "output", "C_out H_out W_out", dims)
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.4), layout="constrained")
    _draw_image(axes[0], image, INPUT_COLOR)
    axes[0].set_title("input U", color=INPUT_COLOR)
    axes[1].axis("off")
    axes[1].set_title("θ = f_loc(U): six numbers")
    for row in range(2):
        for col in range(3):
            axes[1].text(0.2 + 0.3 * col, 0.62 - 0.3 * row, f"{float(theta[row, col]):+.2f}", fontsize=15,
                         ha="center", va="center", family="monospace")  # fmt: skip
    for x_pos, bracket in [(0.02, "["), (0.98, "]")]:
        axes[1].text(x_pos, 0.47, bracket, fontsize=70, ha="center", va="center", color="grey")
    axes[1].text(0.5, 0.08, "→ grid generator (eq. 1)", ha="center", fontsize=10)
    plot_grid(grid, ax=axes[2], image=image, step=step)
    axes[2].set_title("where each output pixel reads U", color=GRID_COLOR, fontsize=10)
    _draw_image(axes[3], output, OUTPUT_COLOR)
    axes[3].set_title("output V (sampler)", color=OUTPUT_COLOR)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_weight_counts(
    sides: Sequence[int],
    fc_weights: Sequence[float],
    conv_weights: float,
    marked: Sequence[int] = (),
    *,
    title: str = "The first fully connected layer grows with the input's area;\nthe convolutions do not",
) -> Figure:
    """The weights of a localization network's first fully connected layer against the input's side, beside the
    (constant) weights of its convolutions.

    Args:
        sides: input sides in pixels (the x axis).
        fc_weights: the first fully connected layer's weights for each side.
        conv_weights: the convolutions' weights and biases together (the same for every side).
        marked: sides to mark with a dot and a label (each must be in ``sides``).
        title: the axes' title.

    Returns:
        The figure with one axes.
    """
    xs = _series(sides, "sides")
    ys = _series(fc_weights, "fc_weights", len(xs))
    missing = [s for s in marked if s not in xs]
    if missing:
        raise ValueError(f"marked sides must be among sides; {missing} are not")
    fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
    ax.plot(xs, ys, color=INPUT_COLOR, label="first fully connected layer")
    ax.axhline(float(conv_weights), color=GRID_COLOR, ls="--", label="both convolutions together")
    for side in marked:
        weights = ys[xs.index(side)]
        ax.plot(side, weights, "o", color=INPUT_COLOR)
        ax.annotate(f"{side}×{side}", (side, weights), (-10, 8), textcoords="offset points")
    ax.set(xlabel="input side (pixels)", ylabel="weights")
    ax.set_title(title, fontsize=10)
    ax.legend()
    return fig


def _running_mean(values: list[float], window: int) -> tuple[list[int], list[float]]:
    """The mean over each full window, placed at the window's last step (steps count from 1)."""
    if window <= 1 or len(values) < window:
        return list(range(1, len(values) + 1)), values
    cumulative = np.cumsum([0.0, *values])
    means = (cumulative[window:] - cumulative[:-window]) / window
    return list(range(window, len(values) + 1)), [float(v) for v in means]


def plot_epoch_curves(
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    metrics: Sequence[str],
    *,
    colors: Mapping[str, str] | None = None,
    ylabels: Sequence[str] | None = None,
    titles: Sequence[str] | None = None,
    references: Mapping[str, Mapping[str, float]] | None = None,
    suptitle: str | None = None,
) -> Figure:
    """Per-epoch curves of one or more runs, one panel per metric — e.g. the validation error of two models and
    what a transformer does, logged after every epoch.

    Args:
        histories: run name -> ``{"epoch": [...], metric: [one value per epoch], ...}``; a run without a metric
            is left out of that metric's panel (a plain CNN has no region area).
        metrics: the metrics to plot, one panel each; every metric must be logged by at least one run.
        colors: run name -> its colour.
        ylabels: one y label per metric (default: the metric's name).
        titles: one title per panel.
        references: metric -> {label: value}: grey horizontal reference lines (dashed, then dotted, ...).
        suptitle: a title for the whole figure.

    Returns:
        The figure, one axes per metric; y axes start at 0 (or below, for negative values).
    """
    runs = _mapping(histories, "histories")
    metrics = list(metrics)
    for name, history in runs.items():
        if "epoch" not in history:
            raise ValueError(f"histories[{name!r}] has no 'epoch' list; it has {list(history)}")
    for metric in metrics:
        if not any(metric in history for history in runs.values()):
            raise ValueError(f"no run in histories logs {metric!r}")
    ylabels = metrics if ylabels is None else _per_row(ylabels, "ylabels", len(metrics))
    panel_titles: list[str | None] = (
        [None] * len(metrics) if titles is None else _per_row(titles, "titles", len(metrics))
    )
    references = {} if references is None else references
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(4.2 * len(metrics), 3.8), squeeze=False, layout="constrained"
    )
    for ax, metric, ylabel, title in zip(axes[0], metrics, ylabels, panel_titles, strict=True):
        low = 0.0
        for name, history in runs.items():
            if metric not in history:
                continue
            epochs = _series(history["epoch"], f"histories[{name!r}]['epoch']")
            values = _series(history[metric], f"histories[{name!r}][{metric!r}]", len(epochs))
            ax.plot(epochs, values, "o-", color=None if colors is None else colors.get(name), label=name)
            low = min(low, *values)
        for (label, value), style in zip(references.get(metric, {}).items(), ["--", ":", "-."], strict=False):
            ax.axhline(float(value), color="grey", ls=style, lw=1, label=label)
        ax.set(xlabel="epoch", ylabel=ylabel)
        ax.set_ylim(bottom=low)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if title:
            ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_step_curves(
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    metrics: Sequence[str],
    *,
    colors: Mapping[str, str] | None = None,
    ylabels: Sequence[str] | None = None,
    titles: Sequence[str] | None = None,
    references: Mapping[str, Mapping[str, float]] | None = None,
    log_scale: Sequence[str] = (),
    window: int | None = None,
) -> Figure:
    """Per-step training curves of several runs, one panel per metric, smoothed by a running mean.

    Args:
        histories: run name -> metric name -> one value per training step.
        metrics: the metrics to plot, one panel each.
        colors: run name -> its colour.
        ylabels: one y label per metric (default: the metric's name).
        titles: one title per panel.
        references: metric -> {label: value}: grey horizontal reference lines (dashed, then dotted, ...).
        log_scale: the metrics to draw on a logarithmic axis.
        window: steps per running mean; default about a tenth of the run, at most 20 (1: no smoothing).

    Returns:
        The figure, one axes per metric.
    """
    runs = _mapping(histories, "histories")
    metrics = list(metrics)
    for name, history in runs.items():
        for metric in metrics:
            if metric not in history:
                raise ValueError(f"histories[{name!r}] has no metric {metric!r}; it has {list(history)}")
    ylabels = metrics if ylabels is None else _per_row(ylabels, "ylabels", len(metrics))
    panel_titles: list[str | None] = (
        [None] * len(metrics) if titles is None else _per_row(titles, "titles", len(metrics))
    )
    references = {} if references is None else references
    if window is not None and (not isinstance(window, int) or window < 1):
        raise ValueError(f"window must be a positive int; got {window!r}")
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(6 * len(metrics), 3.8), squeeze=False, layout="constrained"
    )
    for ax, metric, ylabel, title in zip(axes[0], metrics, ylabels, panel_titles, strict=True):
        for name, history in runs.items():
            values = _series(history[metric], f"histories[{name!r}][{metric!r}]")
            steps, curve = _running_mean(values, window or max(1, min(20, len(values) // 10)))
            ax.plot(steps, curve, color=None if colors is None else colors.get(name), label=name)
        for (label, value), style in zip(
            references.get(metric, {}).items(), ["--", ":", "-.", (0, (1, 4))], strict=False
        ):
            ax.axhline(float(value), color="grey", ls=style, lw=1, label=label)
        ax.set(xlabel="training step", ylabel=ylabel)
        if metric in log_scale:
            ax.set_yscale("log")
        if title:
            ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    return fig


def scatter_against_truth(
    true: Mapping[str, Tensor],
    predicted: Mapping[str, Tensor],
    *,
    xlabel: str = "true",
    ylabel: str = "predicted",
    max_points: int = 1500,
    color: str = OUTPUT_COLOR,
    limits: tuple[float, float] | None = None,
    diagonal_label: str | None = None,
    ax: Axes | Sequence[Axes] | np.ndarray | None = None,
    suptitle: str | None = None,
) -> Figure:
    """Predicted against true values, one scatter panel per quantity, with the diagonal (a perfect prediction)
    and the correlation over all values in each title.

    Args:
        true: quantity name -> ``(M,)`` true values (e.g. the angle of the true inverse, digit by digit).
        predicted: quantity name -> ``(M,)`` predicted values, the same names and sizes.
        xlabel, ylabel: axis labels.
        max_points: draw at most this many points per panel (the first ones); the correlation uses all.
        color: the points' colour.
        limits: ``(low, high)`` for both axes (then the panels are square); default: the data's range.
        diagonal_label: a legend entry for the diagonal (no legend if ``None``).
        ax: draw into these Axes (one per quantity) instead of a new figure.
        suptitle: a title for the whole figure.

    Returns:
        The figure.
    """
    if set(_mapping(true, "true")) != set(_mapping(predicted, "predicted")):
        raise ValueError(
            f"true and predicted must name the same quantities; got {list(true)} and {list(predicted)}"
        )
    if not isinstance(max_points, int) or max_points < 1:
        raise ValueError(f"max_points must be a positive int; got {max_points!r}")
    fig, axes = _axes(len(true), ax, len(true), inches=3.5)
    if ax is None:
        fig.set_size_inches(3.5 * len(true), 3.7)
        fig.set_layout_engine("constrained")
    for axis, name in zip(axes, true, strict=True):
        dims = check_tensor(true[name], f"true[{name!r}]", "M")
        check_tensor(predicted[name], f"predicted[{name!r}]", "M", dims)
        xs, ys = (
            true[name].detach().to("cpu", torch.float64),
            predicted[name].detach().to("cpu", torch.float64),
        )
        axis.scatter(xs[:max_points], ys[:max_points], s=6, alpha=0.5, color=color)
        low, high = limits if limits is not None else (float(xs.min()), float(xs.max()))
        axis.plot([low, high], [low, high], color="grey", lw=1, ls="--", label=diagonal_label)
        if limits is not None:
            axis.set(xlim=limits, ylim=limits, aspect="equal")
        correlation = torch.corrcoef(torch.stack([xs, ys]))[0, 1].item()
        axis.set_title(f"{name}: correlation {correlation:.2f}", fontsize=10)
        axis.set(xlabel=xlabel, ylabel=ylabel)
        if diagonal_label:
            axis.legend(fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


# ------------------------------------------------------------------------------------------------------------
# Lesson 07: projective and thin-plate-spline transformers


def draw_control_points(
    ax: Axes | Sequence[Axes] | np.ndarray,
    control_points: Tensor,
    targets: Tensor,
    *,
    image_size: tuple[int, int] = (28, 28),
    color: str = GRID_COLOR,
    scale: float = 1.0,
    align_corners: bool = False,
) -> None:
    """Draw a thin-plate spline's control points (dots) with arrows to their targets, over image panels.

    Args:
        ax: one Axes for one set of targets, or one Axes per set (e.g. a row of :func:`show_image_rows`).
        control_points: ``(P, 2)`` the control points, normalised.
        targets: ``(P, 2)`` where each reads the input, normalised; or ``(N, P, 2)`` with one Axes per item.
        image_size: ``(H, W)`` of the images drawn in ``ax`` (to convert to pixels).
        color: the arrows' colour (the dots are always :data:`GRID_COLOR`).
        scale: lengthen the arrows by this factor (small displacements become visible).
        align_corners: the convention of the normalised coordinates.
    """
    dims = check_tensor(control_points, "control_points", "P 2")
    batched = isinstance(targets, Tensor) and targets.ndim == 3
    check_tensor(targets, "targets", "N P 2" if batched else "P 2", dims)
    axes = list(np.asarray(ax, dtype=object).flat) if not isinstance(ax, Axes) else [ax]
    sets = targets if batched else targets[None]
    if len(axes) != sets.shape[0]:
        raise ValueError(f"ax must hold one Axes per set of targets ({sets.shape[0]}); got {len(axes)}")
    start = normalized_to_pixel(control_points.detach().cpu(), image_size, align_corners)
    for axis, target in zip(axes, sets, strict=True):
        shift = scale * (normalized_to_pixel(target.detach().cpu(), image_size, align_corners) - start)
        axis.scatter(start[:, 0], start[:, 1], s=14, color=GRID_COLOR, zorder=3)
        axis.quiver(start[:, 0], start[:, 1], shift[:, 0], shift[:, 1], angles="xy", scale_units="xy", scale=1,
                    color=color, width=0.012, zorder=4)  # fmt: skip


def plot_tps_kernel(
    distances: Tensor,
    values: Tensor,
    field: Tensor,
    *,
    limit: float = 2.1,
) -> Figure:
    """The thin-plate-spline kernel ``U(r²) = r² log r²``: against the distance (left, with its minimum), and one
    term over the output with its control point at the centre (right).

    Args:
        distances: ``(R,)`` distances ``r`` from the control point.
        values: ``(R,)`` the kernel at each distance.
        field: ``(K, K)`` the kernel over the output square ``[-1, 1]²`` (rows top to bottom).
        limit: the colour scale of the right panel runs from ``-limit`` to ``+limit``.

    Returns:
        The figure: the curve, the field, the field's colour bar.
    """
    dims = check_tensor(distances, "distances", "R")
    check_tensor(values, "values", "R", dims)
    check_tensor(field, "field", "K K")
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained")
    axes[0].plot(distances.detach().cpu(), values.detach().cpu(), color=GRID_COLOR, lw=2)
    axes[0].axhline(0, color="grey", lw=0.8)
    axes[0].plot([math.exp(-0.5)], [-1 / math.e], "o", color=WRONG_COLOR)
    axes[0].annotate("minimum −1/e at r² = 1/e", (math.exp(-0.5), -1 / math.e), (0.75, -0.9), fontsize=9,
                     arrowprops={"arrowstyle": "->"})  # fmt: skip
    axes[0].set(xlabel="distance r from the control point", ylabel="U = r² log r²", ylim=(-1.1, 4.0))
    axes[0].set_title("The TPS kernel: flat at r = 0, negative up to r = 1, then growing", fontsize=10)
    image = axes[1].imshow(
        field.detach().cpu().numpy(), extent=(-1, 1, 1, -1), cmap="RdBu_r", vmin=-limit, vmax=limit
    )
    fig.colorbar(image, ax=axes[1], label="U(|p − c|²)")
    axes[1].plot(0, 0, "o", color=GRID_COLOR)
    axes[1].set(xlabel="x", ylabel="y", title="One term over the output, c at the centre: not a local bump")
    return fig


def plot_grouped_errors(
    errors: Mapping[tuple[str, str], float],
    colors: Mapping[str, str],
    *,
    n_test: Mapping[str, int] | int | None = None,
    paper: Mapping[tuple[str, str], float] | None = None,
    group_labels: Mapping[str, str] | None = None,
    title: str | None = None,
) -> Figure:
    """Test errors as bars grouped by data set, one colour per model, optionally with standard-error bars and
    the paper's numbers as black marks.

    Args:
        errors: ``(data set, model)`` -> test error in percent.
        colors: model -> its colour (also fixes the order of the bars in each group).
        n_test: test digits per data set (or one number for all), for error bars of one standard error of a
            measured error rate, ``sqrt(e (1 - e) / n)``; no error bars if ``None``.
        paper: ``(data set, model)`` -> the paper's test error in percent.
        group_labels: data set -> its label under the bars (default: its name).
        title: the axes' title.

    Returns:
        The figure with one axes.
    """
    groups = list(dict.fromkeys(group for group, _ in _mapping(errors, "errors")))
    models = [m for m in _mapping(colors, "colors") if any((g, m) in errors for g in groups)]
    unknown = sorted({m for _, m in errors} - set(colors))
    if unknown:
        raise ValueError(f"colors has no colour for the models {unknown}")
    fig, ax = plt.subplots(figsize=(9, 4), layout="constrained")
    width = 0.8 / len(models)
    highest = max(errors.values())
    for g, group in enumerate(groups):
        size = n_test if isinstance(n_test, int) or n_test is None else n_test[group]
        for k, model in enumerate(models):
            if (group, model) not in errors:
                continue
            x, error = g + (k - (len(models) - 1) / 2) * (width + 0.02), float(errors[group, model])
            if not 0 <= error <= 100:
                raise ValueError(f"errors must be percentages in [0, 100]; got {error} for {(group, model)}")
            spread = None if size is None else 100 * math.sqrt(error / 100 * (1 - error / 100) / size)
            ax.bar(
                x,
                error,
                width=width,
                color=colors[model],
                label=model if g == 0 else None,
                yerr=spread,
                capsize=4,
            )
            if paper is not None and (group, model) in paper:
                ax.plot([x - width / 2, x + width / 2], [paper[group, model]] * 2, color="black", lw=2.5,
                        label="paper (Table 1)" if g == 0 and k == 0 else None)  # fmt: skip
    ax.set_xticks(range(len(groups)), [(group_labels or {}).get(group, group) for group in groups])
    ax.set_ylabel("test error (%)")
    if title:
        ax.set_title(title)
    ax.set_ylim(0, 1.3 * max(highest, 1.3))
    ax.legend(fontsize=9, ncol=len(models) + 1, loc="upper left")
    return fig


# ------------------------------------------------------------------------------------------------------------
# Lesson 08: attention windows and transformers in parallel


def _boxes(boxes: object, name: str, n: int | None = None) -> Tensor:
    """``(N, 4)`` pixel boxes ``(x_left, y_top, x_right, y_bottom)`` on the CPU."""
    dims = check_tensor(boxes, name, "N 4")
    if n is not None and dims["N"] != n:
        raise ValueError(f"{name} must hold one box per image ({n}); got {dims['N']}")
    assert isinstance(boxes, Tensor)  # check_tensor has raised TypeError otherwise
    return boxes.detach().cpu()


def draw_boxes(
    ax: Axes | Sequence[Axes] | np.ndarray,
    boxes: Tensor,
    color: str = GRID_COLOR,
    *,
    label: str | None = None,
    style: str = "-",
    lw: float = 2.0,
) -> None:
    """Draw pixel boxes (an attention window, :func:`stnlib.checks.lesson08.window_box`) over image panels.

    Args:
        ax: one Axes, which gets every box, or one Axes per box (e.g. a row of :func:`show_image_rows`).
        boxes: ``(N, 4)`` boxes ``(x_left, y_top, x_right, y_bottom)`` in the pixel coordinates of the images.
        color: the boxes' colour.
        label: a legend label for the boxes.
        style: the line style (``"-"``, ``"--"``, ...).
        lw: the line width.
    """
    boxes = _boxes(boxes, "boxes")
    axes = [ax] * boxes.shape[0] if isinstance(ax, Axes) else list(np.asarray(ax, dtype=object).flat)
    if len(axes) != boxes.shape[0]:
        raise ValueError(f"ax must be one Axes or hold one Axes per box ({boxes.shape[0]}); got {len(axes)}")
    for axis, (x0, y0, x1, y1) in zip(axes, boxes.tolist(), strict=True):
        axis.add_patch(
            Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec=color, lw=lw, ls=style, label=label)
        )


def _box_limits(axis: Axes, height: int, width: int) -> None:
    # The image plus a margin, so that a window reaching the border shows whole.
    axis.set(xlim=(-2, width + 1.5), ylim=(height + 1.5, -2))


def plot_windows(
    images: Tensor,
    windows: Mapping[str, Tensor],
    outputs: Tensor,
    *,
    colors: Mapping[str, str] | None = None,
    styles: Mapping[str, str] | None = None,
    legend: bool = True,
    titles: Sequence[str] | None = None,
    output_titles: Sequence[str] | None = None,
    output_title_colors: Sequence[str] | None = None,
    row_labels: Sequence[str] = ("input + window", "output"),
    suptitle: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Attention windows over their inputs (top row) and what the transformer makes of each (bottom row).

    Args:
        images: ``(N, C, H, W)`` the inputs.
        windows: name -> ``(N, 4)`` pixel boxes ``(x_left, y_top, x_right, y_bottom)``, one per input; each
            set of boxes gets its own colour and line style (e.g. a learned window beside a reference box).
        outputs: ``(N, C_out, H_out, W_out)`` the transformer's outputs (feature maps show their channel mean).
        colors: name -> colour; default :data:`GRID_COLOR`, then :data:`SECOND_COLOR`, then grey.
        styles: name -> line style; default solid.
        legend: a legend of the window names above the panels.
        titles: one title per input panel.
        output_titles: one title per output panel.
        output_title_colors: one colour per output title (e.g. :data:`WRONG_COLOR` for a wrong prediction).
        row_labels: the labels left of the input row and of the output row.
        suptitle: a title for the whole figure.
        figsize: the figure's size; default 1.875 inches per column, 4.6 high.

    Returns:
        The figure: ``N`` input axes, then ``N`` output axes.
    """
    n = check_tensor(images, "images", "N C H W")["N"]
    check_tensor(outputs, "outputs", "N C_out H_out W_out", check_tensor(images, "images", "N C H W"))
    windows = _mapping(windows, "windows")
    boxes = {name: _boxes(value, f"windows[{name!r}]", n) for name, value in windows.items()}
    defaults = [GRID_COLOR, SECOND_COLOR, "#aaaaaa"]
    colors = {name: (colors or {}).get(name, defaults[min(k, 2)]) for k, name in enumerate(boxes)}
    input_titles = _check_titles(titles, n)
    out_titles = _check_titles(output_titles, n)
    title_colors = _per_row(output_title_colors, "output_title_colors", n)
    if isinstance(row_labels, str) or len(row_labels) != 2:
        raise ValueError(f"row_labels must be two labels (input row, output row); got {row_labels!r}")
    fig, axes = plt.subplots(2, n, figsize=figsize or (1.875 * n, 4.6), squeeze=False)
    height, width = images.shape[-2:]
    for k in range(n):
        _draw_image(axes[0, k], images[k], INPUT_COLOR)
        for name, name_boxes in boxes.items():
            draw_boxes(
                axes[0, k],
                name_boxes[k : k + 1],
                colors[name],
                label=name,
                style=(styles or {}).get(name, "-"),
            )
        _box_limits(axes[0, k], height, width)
        if input_titles[k]:
            axes[0, k].set_title(input_titles[k], fontsize=10)
        _draw_image(axes[1, k], outputs[k], OUTPUT_COLOR)
        if out_titles[k]:
            axes[1, k].set_title(out_titles[k], fontsize=9, color=title_colors[k] or "black")
    axes[0, 0].set_ylabel(row_labels[0], color=INPUT_COLOR)
    axes[1, 0].set_ylabel(row_labels[1], color=OUTPUT_COLOR)
    if suptitle:
        fig.suptitle(suptitle)
    if legend:
        fig.tight_layout(rect=(0, 0, 1, 0.95))
        fig.legend(
            *axes[0, 0].get_legend_handles_labels(), loc="upper right", ncol=2, fontsize=9, frameon=False
        )
    else:
        fig.tight_layout()
    return fig


def plot_window_beside_output(
    image: Tensor,
    box: Tensor,
    output: Tensor,
    *,
    input_title: str | None = None,
    output_title: str | None = None,
) -> Figure:
    """One input with its attention window, beside the transformer's output (e.g. for a slider).

    Args:
        image: ``(C, H, W)`` the input.
        box: ``(4,)`` the window ``(x_left, y_top, x_right, y_bottom)`` in input pixels.
        output: ``(C_out, H_out, W_out)`` the transformer's output.
        input_title: the input panel's title.
        output_title: the output panel's title.

    Returns:
        The figure: the input's axes, then the output's.
    """
    check_tensor(image, "image", "C H W")
    check_tensor(box, "box", "4")
    check_tensor(output, "output", "C H W")
    fig, (left, right) = plt.subplots(1, 2, figsize=(7, 3.4))
    _draw_image(left, image, INPUT_COLOR)
    draw_boxes(left, box[None])
    _box_limits(left, *image.shape[-2:])
    _draw_image(right, output, OUTPUT_COLOR)
    left.set_title(input_title or "")
    right.set_title(output_title or "")
    return fig


def plot_label_sums(sums: Tensor, pairs: Tensor, pair_sums: Tensor) -> Figure:
    """MNIST addition: how often each sum of two labels occurs, beside a few two-channel input pairs.

    Args:
        sums: ``(M,)`` integer sums (0 … 18) of many random pairs of digits.
        pairs: ``(N, 2, H, W)`` example inputs, one digit per channel (drawn red and green).
        pair_sums: ``(N,)`` their sums, written over them.

    Returns:
        The figure: the histogram's axes, then ``N`` image axes.
    """
    if not isinstance(sums, Tensor) or sums.ndim != 1 or sums.is_floating_point():
        raise TypeError("sums must be a 1-D integer tensor of label sums (0 … 18)")
    if len(sums) == 0 or int(sums.min()) < 0 or int(sums.max()) > 18:
        raise ValueError("sums must be non-empty, with every sum between 0 and 18")
    n = check_tensor(pairs, "pairs", "N 2 H W")["N"]
    labels = _labels(pair_sums, "pair_sums", n)
    fig = plt.figure(figsize=(15, 3.6))
    hist_ax = fig.add_axes((0.04, 0.15, 0.28, 0.7))
    counts = torch.bincount(sums.cpu(), minlength=19)
    hist_ax.bar(
        range(19), (100 * counts / counts.sum()).numpy(), color=INPUT_COLOR, label="random test pairs"
    )
    ideal = [10 - abs(s - 9) for s in range(19)]  # two uniform digits: (10 - |sum - 9|) of 100 pairs
    hist_ax.plot(range(19), ideal, "k--", lw=1, label="ideal: (10 − |sum − 9|) %")
    hist_ax.legend(fontsize=8, loc="upper left")
    hist_ax.set(xlabel="sum of the two labels", ylabel="share of pairs (%)", xticks=range(0, 19, 3))
    hist_ax.set_title("Sums near 9 are common, 0 and 18 rare", fontsize=10)
    image_axes = [fig.add_axes((0.36 + 0.64 / n * k, 0.15, 0.6 / n, 0.7)) for k in range(n)]
    show_images(pairs, titles=[f"sum {y}" for y in labels or []], ax=image_axes, color=INPUT_COLOR)
    image_axes[0].set_ylabel("red: channel 0\ngreen: channel 1", fontsize=9)
    return fig


def plot_parallel_regions(
    images: Tensor,
    outlines: Sequence[Tensor],
    outputs: Sequence[Tensor],
    *,
    titles: Sequence[str] | None = None,
    title_colors: Sequence[str] | None = None,
    limits: tuple[float, float] | None = None,
    suptitle: str | None = None,
) -> Figure:
    """Transformers in parallel: each one's region over the inputs, in its own colour, and each one's output.

    Transformer 1 is drawn in :data:`GRID_COLOR` (solid), transformer 2 in :data:`SECOND_COLOR` (dashed), then
    grey (dotted).

    Args:
        images: ``(N, C, H, W)`` the inputs.
        outlines: per transformer, ``(N, P, 2)`` outlines in input pixels (:func:`sampled_region_outline`).
        outputs: per transformer, ``(N, C_out, H_out, W_out)`` its outputs, one row each.
        titles: one title per input panel.
        title_colors: one colour per input title (e.g. :data:`WRONG_COLOR` for a wrong prediction).
        limits: ``(low, high)`` pixel range shown along both axes of the inputs; default the image plus a pixel.
        suptitle: a title for the whole figure.

    Returns:
        The figure, ``1 + T`` rows of ``N`` axes in row-major order.
    """
    dims = check_tensor(images, "images", "N C H W")
    n = dims["N"]
    if isinstance(outlines, Tensor) or isinstance(outputs, Tensor):
        raise TypeError("outlines and outputs must be lists with one tensor per transformer")
    if not outlines or len(outlines) != len(outputs) or len(outlines) > 3:
        raise ValueError(
            f"outlines and outputs must have one entry per transformer (1 to 3); got {len(outlines)} and "
            f"{len(outputs)}"
        )
    for t, (outline, output) in enumerate(zip(outlines, outputs, strict=True)):
        check_tensor(outline, f"outlines[{t}]", "N P 2", dims)
        check_tensor(output, f"outputs[{t}]", "N C_out H_out W_out", dims)
    input_titles = _check_titles(titles, n)
    title_colors = _per_row(title_colors, "title_colors", n)
    low, high = limits if limits is not None else (-1.5, max(images.shape[-2:]) + 0.5)
    colors, styles = [GRID_COLOR, SECOND_COLOR, "grey"], ["-", "--", ":"]
    fig, axes = plt.subplots(1 + len(outputs), n, figsize=(15 / 8 * n, 2.6 + 2 * len(outputs)), squeeze=False)
    for k in range(n):
        _draw_image(axes[0, k], images[k], INPUT_COLOR)
        for t, outline in enumerate(outlines):
            line = outline[k].detach().cpu()
            axes[0, k].plot(
                line[:, 0], line[:, 1], color=colors[t], ls=styles[t], lw=2, label=f"transformer {t + 1}"
            )
        axes[0, k].set(xlim=(low, high), ylim=(high, low))
        if input_titles[k]:
            axes[0, k].set_title(input_titles[k], fontsize=9, color=title_colors[k] or "black")
        for t, output in enumerate(outputs):
            _draw_image(axes[1 + t, k], output[k], colors[t])
    axes[0, 0].set_ylabel("input + regions", color=INPUT_COLOR)
    for t in range(len(outputs)):
        axes[1 + t, 0].set_ylabel(f"transformer {t + 1}", color=colors[t])
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="upper right", ncol=2, fontsize=9, frameon=False)
    return fig


# ------------------------------------------------------------------------------------------------------------
# Lesson 09: when spatial transformers fail

_VITALS = (
    ("error", "validation error (%)"),
    ("det", "det A (median)"),
    ("shift", "|t| (mean)"),
    ("outside", "share of output from outside"),
)


def plot_vitals(
    histories: Mapping[str, Mapping[str, Sequence[float]] | Any],
    colors: Mapping[str, str] | None = None,
    *,
    suptitle: str | None = None,
) -> Figure:
    """The vital signs of several training runs of a transformer, per epoch, one panel per sign.

    The panels: validation error (from ``val_acc``), the median det A of θ (a grey line marks the identity's
    1), the mean shift |t| and the share of output pixels sampled from outside the input.

    Args:
        histories: run name -> its per-epoch metrics ``val_acc``, ``det``, ``shift`` and ``outside`` (a
            mapping of lists, with an optional ``epoch`` list, or a :class:`~stnlib.train.History`).
        colors: run name -> its colour.
        suptitle: a title for the whole figure.

    Returns:
        The figure, four axes.
    """
    runs = _mapping(histories, "histories")
    fig, axes = plt.subplots(1, len(_VITALS), figsize=(15, 3.3))
    for name, history in runs.items():
        columns = history.as_dict() if hasattr(history, "as_dict") else history
        if not isinstance(columns, Mapping):
            raise TypeError(
                f"histories[{name!r}] must be a mapping of metric -> per-epoch values or a History"
            )
        missing = [m for m in ("val_acc", "det", "shift", "outside") if m not in columns]
        if missing:
            raise ValueError(f"histories[{name!r}] lacks the metrics {missing}; it has {list(columns)}")
        accuracy = _series(columns["val_acc"], f"histories[{name!r}]['val_acc']")
        epochs = columns.get("epoch") or list(range(1, len(accuracy) + 1))
        curves = {**columns, "error": [100 * (1 - a) for a in accuracy]}
        for axis, (key, ylabel) in zip(axes, _VITALS, strict=True):
            values = _series(curves[key], f"histories[{name!r}][{key!r}]", len(epochs))
            axis.plot(
                epochs, values, "o-", ms=3, color=None if colors is None else colors.get(name), label=name
            )
            axis.set(xlabel="epoch", ylabel=ylabel)
    axes[1].axhline(1.0, color="grey", ls="--", lw=1)  # the identity
    for axis in axes:
        axis.grid(alpha=0.3)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend(fontsize=8, loc="upper right")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_convention_mismatch(
    image: Tensor, warped: Tensor, offsets: Mapping[str, Tensor], colors: Mapping[str, str] | None = None
) -> Figure:
    """An identity warp gone wrong through mismatched ``align_corners``: input, output, their difference, and
    where each output column is read.

    Args:
        image: ``(C, H, W)`` the input U.
        warped: ``(C, H, W)`` the output V of the identity θ.
        offsets: name -> ``(W,)`` for each output column j, the input column read minus j (pixels), one curve
            per pair of conventions.
        colors: name -> its curve's colour.

    Returns:
        The figure: input, output, difference (with its colour bar) and offsets.
    """
    dims = check_tensor(image, "image", "C H W")
    check_tensor(warped, "warped", "C H W", dims)
    for name, offset in _mapping(offsets, "offsets").items():
        check_tensor(offset, f"offsets[{name!r}]", "W", dims)
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4))
    _draw_image(axes[0], image, INPUT_COLOR, "input U")
    _draw_image(axes[1], warped, WRONG_COLOR, "identity θ, mismatched conventions")
    show_signed_map(warped - image, ax=axes[2])
    axes[2].set_title("V − U (red: too bright, blue: too dark)")
    columns = np.arange(dims["W"])
    for name, offset in offsets.items():
        axes[3].plot(
            columns, offset.detach().cpu(), color=None if colors is None else colors.get(name), label=name
        )
    axes[3].set(
        xlabel="output column j", ylabel="column read − j (pixels)", title="Where each column is read"
    )
    axes[3].legend(fontsize=8)
    axes[3].grid(alpha=0.3)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------------------------
# Training curves and animations

_SPLIT_PREFIX = re.compile(r"^(train|training|val|valid|validation|test)[_/ .-]", re.IGNORECASE)


def _metric_hint(metric: str) -> str:
    name = metric.lower()
    if "loss" in name:
        return f"{metric}: should fall; a growing train/test gap means overfitting"
    if "err" in name:
        return f"{metric}: lower is better"
    if "acc" in name:
        return f"{metric}: higher is better"
    return metric


def plot_history(history: Mapping[str, Sequence[float]] | Any) -> Figure:
    """Training curves, one panel per metric, train and test curves of a metric together.

    Args:
        history: a mapping from metric names to per-epoch values (``{"train_loss": [...], "test_error": [...]}``)
            or any object with ``.as_dict()`` returning one. Names starting with ``train_``, ``val_`` or
            ``test_`` (or ``train/`` ...) share a panel with the same metric of the other splits; an ``epoch``
            entry, if present, is used for the x axis; entries that are not lists of numbers are skipped.

    Returns:
        The figure, one axes per metric.
    """
    if hasattr(history, "as_dict"):
        history = history.as_dict()
    if not isinstance(history, Mapping):
        raise TypeError(
            f"history must be a mapping of metric name -> per-epoch values, or have .as_dict(); got "
            f"{type(history).__name__}"
        )
    series: dict[str, list[float]] = {}
    for key, values in history.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence | np.ndarray | Tensor):
            continue
        try:
            series[str(key)] = [float(v) for v in values]
        except (TypeError, ValueError):
            continue
    epochs = series.pop("epoch", None)
    series = {k: v for k, v in series.items() if v}
    if not series:
        raise ValueError(f"history holds no per-epoch lists of numbers; got keys {list(history)}")
    groups: dict[str, list[str]] = {}
    for key in series:
        groups.setdefault(_SPLIT_PREFIX.sub("", key), []).append(key)
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.2), squeeze=False)
    for axis, (metric, keys) in zip(axes[0], groups.items(), strict=True):
        for key in keys:
            values = series[key]
            xs = epochs[: len(values)] if epochs and len(epochs) >= len(values) else range(1, len(values) + 1)
            axis.plot(list(xs), values, marker="o", ms=3, label=key)
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.set_title(_metric_hint(metric), fontsize=9)
        axis.grid(alpha=0.3)
        if len(keys) > 1:
            axis.legend(fontsize=8)
    fig.tight_layout()
    return fig


def animate_transformer(
    snapshots: Sequence[Tensor],
    labels: Sequence[str] | None = None,
    n: int = 8,
    interval: int = 500,
    *,
    inputs: Tensor | None = None,
) -> FuncAnimation:
    """Animate how the transformer's outputs on a fixed batch change during training.

    Args:
        snapshots: one ``(N, C, H_out, W_out)`` output batch per frame (e.g. ``model.last_output`` after each
            epoch, on the same inputs).
        labels: one caption per frame; default ``"snapshot 1"``, ...
        n: how many images of each batch to show.
        interval: milliseconds between frames.
        inputs: the ``(N, C, H, W)`` inputs, shown in a fixed row above for reference.

    Returns:
        The animation. Its figure is closed so that a notebook does not also show it as a still; display it with
        :func:`animation_html` (or ``anim.to_jshtml()``, or save it with ``anim.save``).
    """
    if isinstance(snapshots, Tensor) or not isinstance(snapshots, Sequence) or not snapshots:
        raise TypeError("snapshots must be a non-empty list of (N, C, H, W) tensors, one per frame")
    dims = check_tensor(snapshots[0], "snapshots[0]", "N C H W")
    for k, frame in enumerate(snapshots[1:], start=1):
        check_tensor(frame, f"snapshots[{k}]", "N C H W", dims)
    captions = (
        [f"snapshot {k + 1}" for k in range(len(snapshots))] if labels is None else [str(s) for s in labels]
    )
    if len(captions) != len(snapshots):
        raise ValueError(f"labels must have one entry per snapshot ({len(snapshots)}); got {len(captions)}")
    n = min(n, dims["N"])
    rows = 1 if inputs is None else 2
    fig, grid = plt.subplots(rows, n, figsize=(_PANEL_INCHES * n, _PANEL_INCHES * rows + 0.6), squeeze=False)
    if inputs is not None:
        check_tensor(inputs, "inputs", "N C H W")
        for k in range(n):
            _draw_image(grid[0, k], inputs[k], INPUT_COLOR)
        grid[0, 0].set_ylabel("input", color=INPUT_COLOR)
    frames = [torch.stack([torch.as_tensor(_image_array(img)) for img in batch[:n]]) for batch in snapshots]
    low = min(float(f.min()) for f in frames)
    high = max(float(f.max()) for f in frames)
    artists = []
    for k in range(n):
        axis = grid[rows - 1, k]
        _draw_image(axis, snapshots[0][k], OUTPUT_COLOR)
        image = axis.images[0]
        if frames[0].ndim == 3:  # one value per pixel: fix the colour scale so brightness changes show
            image.set_clim(low, high)
        artists.append(image)
    grid[rows - 1, 0].set_ylabel("output", color=OUTPUT_COLOR)
    title = fig.suptitle("")

    def update(frame: int) -> list[Any]:
        for k, image in enumerate(artists):
            image.set_data(frames[frame][k].numpy())
        title.set_text(f"Transformer output, {captions[frame]}: watch the digits settle upright and centred")
        return [*artists, title]

    update(0)
    animation = FuncAnimation(fig, update, frames=len(frames), interval=interval, blit=False)
    plt.close(fig)
    return animation


def animation_html(animation: FuncAnimation) -> HTML:
    """The animation as an interactive HTML player for notebooks (``IPython.display.HTML``)."""
    from IPython.display import HTML

    return HTML(animation.to_jshtml())
