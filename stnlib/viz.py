"""Figures for the course: images, sampling grids, the sampled region, training curves, animations.

Colours mean the same thing in every figure: :data:`INPUT_COLOR` marks the input image, :data:`GRID_COLOR` the
sampling grid and the region it covers, :data:`OUTPUT_COLOR` the transformer's output. Image panels get a
frame in their colour.

Every function returns its :class:`~matplotlib.figure.Figure` (or animation) and never calls ``plt.show()``;
in a notebook the figure appears on its own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.animation import FuncAnimation
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from stnlib._validation import check_tensor
from stnlib.geometry.coords import normalized_to_pixel
from stnlib.models.localization import TRANSFORMS, check_choice
from stnlib.models.transformer import param_shape, transform_grid

if TYPE_CHECKING:
    from IPython.display import HTML

__all__ = [
    "GRID_COLOR",
    "INPUT_COLOR",
    "OUTPUT_COLOR",
    "WRONG_COLOR",
    "animate_transformer",
    "animation_html",
    "figure1_panels",
    "plot_grid",
    "plot_history",
    "sampled_region_outline",
    "show_images",
]

INPUT_COLOR = "#1f77b4"
"""The input image (blue)."""
GRID_COLOR = "#ff7f0e"
"""The sampling grid and the sampled region (orange)."""
OUTPUT_COLOR = "#2ca02c"
"""The transformer's output, and correct predictions (green)."""
WRONG_COLOR = "#d62728"
"""Wrong predictions (red)."""

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


def _axes(
    n: int, ax: Axes | Sequence[Axes] | np.ndarray | None, ncols: int, inches: float = _PANEL_INCHES
) -> tuple[Figure, list[Axes]]:
    """``n`` axes: new ones in a grid of ``ncols`` columns, or the ones the caller passed."""
    if ax is not None:
        axes = [ax] if isinstance(ax, Axes) else list(np.asarray(ax, dtype=object).flat)
        if len(axes) < n:
            raise ValueError(f"ax must hold at least {n} Axes (one per image); got {len(axes)}")
        return axes[0].figure, axes[:n]
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
        input_size = tuple(images.shape[-2:]) if images is not None else tuple(grids.shape[1:3])  # type: ignore[assignment]
    step = step if step is not None else _default_step(*grids.shape[1:3])
    if not isinstance(step, int) or step < 1:
        raise ValueError(f"step must be a positive int; got {step!r}")
    fig, axes = _axes(grids.shape[0], ax, ncols, inches=3.2)
    for k, axis in enumerate(axes):
        _draw_grid(axis, grids[k], None if images is None else images[k], input_size, step, align_corners)  # type: ignore[arg-type]
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
    check_choice(transform, "transform", TRANSFORMS)
    check_tensor(params, "params", "N P 2" if transform == "tps" else param_shape(transform))
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
        tuple(inputs.shape[-2:]),  # type: ignore[arg-type]
        align_corners,
        transform,
        control_points=control_points,
        points_per_side=9 if transform == "tps" else 2,
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
            title = f"pred {predicted[k]}" + (f" (true {truth[k]})" if wrong else "")
            bottom.set_title(title, fontsize=9, color=WRONG_COLOR if wrong else OUTPUT_COLOR)
        elif truth is not None:
            bottom.set_title(f"label {truth[k]}", fontsize=9)
    grid[0, 0].set_ylabel("input +\nsampled region", color=INPUT_COLOR)
    grid[1, 0].set_ylabel("transformer\noutput", color=OUTPUT_COLOR)
    fig.suptitle(title)
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

    def update(frame: int) -> list:
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
