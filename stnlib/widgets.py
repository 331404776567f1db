"""Interactive explorers for the lessons (ipywidgets).

:func:`theta_explorer` shows what the six numbers of an affine ``theta`` do: sliders for rotation, scale, shear
and translation build ``theta`` with :func:`stnlib.geometry.affine_theta`; the input is drawn with the
sampling grid of :func:`stnlib.geometry.affine_grid` and the outline of the region it samples, next to the
output of ``F.grid_sample`` and the 2x3 matrix itself.

The figure is rendered to PNG bytes with matplotlib's Agg canvas (no pyplot, no display needed) and shown in
an ``ipywidgets.Image``, which works the same in JupyterLab, Colab (after
``google.colab.output.enable_custom_widget_manager()``, which the setup cell calls) and headless tests.
Every part carries a stable CSS class (``stn-theta-explorer``, ``stn-theta-image``, ``stn-theta-matrix``,
``stn-theta-reset`` and ``stn-theta-<slider>``, e.g. ``stn-theta-rotation``) so browser tests can find it.
"""

from __future__ import annotations

import html
import io
import math
from dataclasses import dataclass

import ipywidgets as widgets
import torch
import torch.nn.functional as F
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

from stnlib._validation import check_tensor
from stnlib.geometry import affine_grid, affine_theta
from stnlib.geometry.coords import normalized_to_pixel
from stnlib.viz import GRID_COLOR, INPUT_COLOR, OUTPUT_COLOR, sampled_region_outline

__all__ = ["SLIDERS", "SliderSpec", "ThetaExplorer", "theta_explorer"]


@dataclass(frozen=True)
class SliderSpec:
    """One slider of the explorer: its key (CSS class ``stn-theta-<key>``), label, range and start value."""

    key: str
    description: str
    low: float
    high: float
    step: float
    value: float


SLIDERS: tuple[SliderSpec, ...] = (
    SliderSpec("rotation", "rotation (°)", -180.0, 180.0, 1.0, 0.0),
    SliderSpec("scale-x", "scale x", 0.2, 2.0, 0.05, 1.0),
    SliderSpec("scale-y", "scale y", 0.2, 2.0, 0.05, 1.0),
    SliderSpec("shear", "shear", -1.0, 1.0, 0.05, 0.0),
    SliderSpec("translate-x", "translate x", -1.0, 1.0, 0.05, 0.0),
    SliderSpec("translate-y", "translate y", -1.0, 1.0, 0.05, 0.0),
)
"""The sliders, in display order. Translations are in normalised units (2 = the whole image)."""

_GRID_LINES = 8  # rows and columns of the sampling grid drawn over the input


class ThetaExplorer(widgets.VBox):
    """The widget returned by :func:`theta_explorer`.

    Attributes:
        sliders: the ``FloatSlider`` of each :data:`SLIDERS` key.
        image: the ``ipywidgets.Image`` showing input + grid and output (PNG).
        matrix: the ``ipywidgets.HTML`` showing ``theta``.
        reset_button: puts every slider back to its start value.
        align_corners: the convention used for the grid and the sampler.
    """

    def __init__(self, image: Tensor, align_corners: bool = False) -> None:
        self._image = image
        self.align_corners = align_corners
        self.sliders: dict[str, widgets.FloatSlider] = {}
        for spec in SLIDERS:
            slider = widgets.FloatSlider(
                value=spec.value,
                min=spec.low,
                max=spec.high,
                step=spec.step,
                description=spec.description,
                # Live updates do not pile up: the ipywidgets front end keeps at most one change per slider in
                # flight and merges the positions dragged past meanwhile, so a slow render skips frames, not lags.
                continuous_update=True,
                readout_format=".2f",
                style={"description_width": "initial"},
                layout=widgets.Layout(width="300px"),
            )
            slider.add_class(f"stn-theta-{spec.key}")
            self.sliders[spec.key] = slider
        self.image = widgets.Image(format="png")
        self.image.add_class("stn-theta-image")
        self.matrix = widgets.HTML()
        self.matrix.add_class("stn-theta-matrix")
        self.reset_button = widgets.Button(description="reset", tooltip="back to the identity transform")
        self.reset_button.add_class("stn-theta-reset")
        self.reset_button.on_click(lambda _: self.reset())
        self._rendering_paused = False  # reset() moves six sliders but should draw one picture
        controls = [self.sliders[s.key] for s in SLIDERS]
        super().__init__(
            children=[
                widgets.HBox([self.image, widgets.VBox([self.matrix, self.reset_button])]),
                widgets.HBox([widgets.VBox(controls[:3]), widgets.VBox(controls[3:])]),
            ]
        )
        self.add_class("stn-theta-explorer")
        for slider in self.sliders.values():
            slider.observe(self._update, names="value")
        self._update()

    @property
    def theta(self) -> Tensor:
        """``(1, 2, 3)`` — the transform the sliders describe (output -> input normalised coordinates)."""
        value = {key: slider.value for key, slider in self.sliders.items()}
        return affine_theta(
            rotation=math.radians(value["rotation"]),
            scale=(value["scale-x"], value["scale-y"]),
            shear=value["shear"],
            translation=(value["translate-x"], value["translate-y"]),
            dtype=self._image.dtype,
        )

    def reset(self) -> None:
        """Put every slider back to its start value (the identity transform), then draw once."""
        self._rendering_paused = True
        try:
            with self.hold_sync():
                for spec in SLIDERS:
                    self.sliders[spec.key].value = spec.value
        finally:
            self._rendering_paused = False
        self._update()

    def render(self) -> bytes:
        """The PNG of the current state: input with grid and sampled region, and the output."""
        return _render(self._image, self.theta, self.align_corners)

    def _update(self, change: object = None) -> None:
        if self._rendering_paused:
            return
        theta = self.theta
        self.image.value = _render(self._image, theta, self.align_corners)
        self.matrix.value = _matrix_html(theta[0])


def _matrix_html(theta: Tensor) -> str:
    rows = [" ".join(f"{float(v):+.2f}" for v in row) for row in theta]
    text = f"θ = ⎡{rows[0]}⎤\n    ⎣{rows[1]}⎦"
    return (
        '<pre style="font-size: 1.1em; line-height: 1.4">'
        f"{html.escape(text)}</pre>"
        "<small>maps output (x, y, 1) to input (x, y)</small>"
    )


def _render(image: Tensor, theta: Tensor, align_corners: bool) -> bytes:
    """Draw input + sampling grid + sampled region, and the warped output; return PNG bytes."""
    _, height, width = image.shape
    grid = affine_grid(theta, (1, 1, height, width), align_corners=align_corners)
    output = F.grid_sample(image[None], grid, align_corners=align_corners)[0]

    fig = Figure(figsize=(7.2, 3.6), dpi=80)
    FigureCanvasAgg(fig)
    ax_in, ax_out = fig.subplots(1, 2)
    ax_in.set_facecolor("#eeeeee")  # outside the input: the sampler reads zeros there
    ax_in.imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=max(1.0, float(image.max())))
    rows = torch.linspace(0, height - 1, min(height, _GRID_LINES)).round().long()
    cols = torch.linspace(0, width - 1, min(width, _GRID_LINES)).round().long()
    pixels = normalized_to_pixel(grid[0], (height, width), align_corners)  # (H, W, 2) input pixels
    for i in rows:
        ax_in.plot(pixels[i, :, 0], pixels[i, :, 1], color=GRID_COLOR, lw=0.6, alpha=0.7)
    for j in cols:
        ax_in.plot(pixels[:, j, 0], pixels[:, j, 1], color=GRID_COLOR, lw=0.6, alpha=0.7)
    outline = sampled_region_outline(theta, (height, width), align_corners)[0]
    ax_in.plot(outline[:, 0], outline[:, 1], color=GRID_COLOR, lw=2)
    ax_in.plot(outline[0, 0], outline[0, 1], "o", color=GRID_COLOR, ms=6)  # the output's top-left corner
    span = torch.cat([outline, torch.tensor([[-0.5, -0.5], [width - 0.5, height - 0.5]])])
    low, high = span.min(0).values - 1, span.max(0).values + 1
    ax_in.set_xlim(float(low[0]), float(high[0]))
    ax_in.set_ylim(float(high[1]), float(low[1]))  # y points down, as in the image
    ax_in.set_title("input, sampling grid, sampled region\n(dot: the output's top-left corner)", fontsize=9)
    ax_out.imshow(output[0].numpy(), cmap="gray", vmin=0, vmax=max(1.0, float(image.max())))
    ax_out.set_title("output = input sampled on the grid", fontsize=9)
    for ax, colour in ((ax_in, INPUT_COLOR), (ax_out, OUTPUT_COLOR)):
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_edgecolor(colour)
            spine.set_linewidth(2)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def theta_explorer(image: Tensor, align_corners: bool = False) -> ThetaExplorer:
    """Sliders for rotation, scale, shear and translation, and what the resulting ``theta`` does to ``image``.

    Args:
        image: ``(1, H, W)`` or ``(H, W)``, one grey image (values in [0, 1] look best), on any device.
        align_corners: the convention used by the grid generator and the sampler (PyTorch's default: False).

    Returns:
        A :class:`ThetaExplorer` widget; display it (last line of a cell) to use it. Its ``theta`` property
        holds the current ``(1, 2, 3)`` transform.

    Example:
        >>> explorer = theta_explorer(torch.rand(28, 28))
        >>> explorer.sliders["rotation"].value = 30.0  # the picture and the matrix update
        >>> explorer.theta.shape
        torch.Size([1, 2, 3])
    """
    if isinstance(image, Tensor) and image.ndim == 2:
        image = image[None]
    check_tensor(image, "image", "1 H W")
    if not isinstance(align_corners, bool):
        raise TypeError(f"align_corners must be True or False; got {align_corners!r}")
    return ThetaExplorer(image.detach().to("cpu", torch.float32), align_corners)
