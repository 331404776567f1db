"""The spatial transformer module: localization net → grid generator → sampler (Sec. 3, Fig. 2).

:class:`SpatialTransformer` wires the three parts of the paper together. The grid generators live in
:mod:`stnlib.geometry`, the reference sampler in :mod:`stnlib.sampling`; with ``sampler="torch"`` PyTorch's own
``F.affine_grid`` / ``F.grid_sample`` do the work (fast, and the ground truth the course checks against).

Padding against a normalised background: inputs normalised with MNIST's mean and std
have a background of about -0.42, not 0, so zooming out with zero padding pastes a bright frame around the digit,
and the classifier can learn to rely on it. ``padding_mode="background"`` samples ``x - b`` and adds ``b`` back,
where ``b`` is each image's background value (estimated from its border, or a constant you choose), so
the area outside the input looks like the input's own background.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stnlib import geometry, sampling
from stnlib._validation import check_choice, check_tensor
from stnlib.models.families import param_shape, transform_family, transform_grid
from stnlib.models.localization import LOCALIZATION_KINDS, LocalizationNet, check_in_shape, check_input

__all__ = [
    "SAMPLERS",
    "TRANSFORMER_PADDING_MODES",
    "SpatialTransformer",
    "border_background",
    "localization_parameter_names",
    "parameter_groups",
]

SAMPLERS: tuple[str, ...] = ("torch", "stnlib")
"""``torch``: ``F.grid_sample``; ``stnlib``: :func:`stnlib.sampling.grid_sample` (the course's reference)."""

TRANSFORMER_PADDING_MODES: tuple[str, ...] = (*sampling.PADDING_MODES, "background")
"""What a :class:`SpatialTransformer` returns for positions outside the input: the samplers' padding modes
(:data:`stnlib.sampling.PADDING_MODES`) and ``background`` (see the module docstring)."""


def _autocast_off(device: torch.device) -> contextlib.AbstractContextManager[object]:
    """A context in which ``torch.autocast`` is off on ``device`` (a no-op where PyTorch has no autocast for it)."""
    is_available = getattr(
        torch.amp, "is_autocast_available", lambda device_type: device_type in ("cpu", "cuda")
    )
    if is_available(device.type):
        return torch.autocast(device_type=device.type, enabled=False)
    return contextlib.nullcontext()


def border_background(x: Tensor) -> Tensor:
    """Estimate each image's background value per channel: the median of its one-pixel border.

    The median ignores a digit that touches the border on one side, and unlike the corner pixels alone it is not
    fooled by a single speck of clutter.

    Args:
        x: ``(N, C, H, W)``.

    Returns:
        ``(N, C, 1, 1)``, ready to broadcast against ``x``.

    Example:
        >>> x = torch.full((1, 1, 5, 5), -0.42); x[..., 2, 2] = 2.8
        >>> border_background(x).flatten()
        tensor([-0.4200])
    """
    check_tensor(x, "x", "N C H W")
    n, c, h, w = x.shape
    if h <= 2 or w <= 2:
        border = x.reshape(n, c, -1)
    else:
        border = torch.cat(
            [x[..., 0, :], x[..., -1, :], x[..., 1:-1, 0], x[..., 1:-1, -1]],
            dim=-1,
        )
    return border.median(dim=-1).values.view(n, c, 1, 1)


def _check_output_size(output_size: object, default: tuple[int, int]) -> tuple[int, int]:
    if output_size is None:
        return default
    if isinstance(output_size, int):
        output_size = (output_size, output_size)
    if (
        not isinstance(output_size, Sequence)
        or len(output_size) != 2
        or not all(isinstance(s, int) and s > 0 for s in output_size)
    ):
        raise ValueError(f"output_size must be (H_out, W_out), two positive ints; got {output_size!r}")
    return (output_size[0], output_size[1])


class SpatialTransformer(nn.Module):
    """A spatial transformer: ``V = sample(U, grid(localization(U)))`` (Sec. 3, Fig. 2).

    Args:
        in_shape: ``(C, H, W)`` of the input (an image or a feature map).
        transform: ``"affine"``, ``"attention"``, ``"projective"`` or ``"tps"``.
        loc_kind: ``"conv"`` (ST-CNN) or ``"fc"`` (ST-FCN) localization network; ignored if ``localization`` is
            given.
        output_size: ``(H_out, W_out)`` of the output; defaults to the input's ``(H, W)``. A smaller size
            downsamples (the paper does so for cluttered MNIST).
        sampler: ``"torch"`` (``F.grid_sample``, and ``F.affine_grid`` for affine/attention grids) or
            ``"stnlib"`` (the course's reference grid generators and sampler).
        padding_mode: ``"zeros"``, ``"border"``, ``"reflection"`` or ``"background"`` (see the module
            docstring).
        align_corners: the normalised-coordinate convention; PyTorch's default is ``False``.
        localization: your own localization network; it must map ``(N, C, H, W)`` to the family's parameters
            (``(N, 2, 3)``, ``(N, 3)``, ``(N, 8)`` or ``(N, K*K, 2)`` target points), starting at the identity.
        mode: the sampling kernel, ``"bilinear"`` (eq. 5) or ``"nearest"`` (eq. 4).
        background: for ``padding_mode="background"``: a constant background value, or ``None`` to estimate
            it per image and channel with :func:`border_background`.
        tps_grid_size: ``K`` of the ``K x K`` TPS control grid.
        loc_hidden: hidden widths of the built-in localization network (see :class:`LocalizationNet`).

    Shapes:
        ``forward(x)``: ``x: (N, C, H, W)`` → ``(output: (N, C, H_out, W_out), params)``.

    Example:
        >>> st = SpatialTransformer((1, 28, 28), "affine")
        >>> x = torch.rand(2, 1, 28, 28)
        >>> out, theta = st(x)
        >>> bool(torch.allclose(out, x, atol=1e-5))  # identity at initialisation
        True
    """

    control_points: Tensor | None

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        transform: str = "affine",
        loc_kind: str = "conv",
        output_size: tuple[int, int] | None = None,
        sampler: str = "torch",
        padding_mode: str = "zeros",
        align_corners: bool = False,
        localization: nn.Module | None = None,
        *,
        mode: str = "bilinear",
        background: float | None = None,
        tps_grid_size: int = 4,
        loc_hidden: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.in_shape = check_in_shape(in_shape)
        self.transform = transform_family(transform).name
        self.sampler = check_choice(sampler, "sampler", SAMPLERS)
        self.padding_mode = check_choice(padding_mode, "padding_mode", TRANSFORMER_PADDING_MODES)
        self.mode = check_choice(mode, "mode", ("bilinear", "nearest"))
        if not isinstance(align_corners, bool):
            raise TypeError(f"align_corners must be True or False; got {align_corners!r}")
        self.align_corners = align_corners
        self.output_size = _check_output_size(output_size, self.in_shape[1:])
        self.background = None if background is None else float(background)
        self.tps_grid_size = tps_grid_size
        if localization is None:
            check_choice(loc_kind, "loc_kind", LOCALIZATION_KINDS)
            localization = LocalizationNet(
                self.in_shape, transform, kind=loc_kind, hidden=loc_hidden, tps_grid_size=tps_grid_size
            )
        elif not isinstance(localization, nn.Module):
            raise TypeError(
                f"localization must be a torch.nn.Module or None; got {type(localization).__name__}"
            )
        self.localization = localization
        if transform_family(transform).uses_control_points:
            points = getattr(localization, "control_points", None)
            if not isinstance(points, Tensor):
                points = geometry.tps_control_points(tps_grid_size)
            self.register_buffer("control_points", points.detach().clone())
        else:
            self.control_points = None

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Transform ``x: (N, C, H, W)``; returns ``(output: (N, C, H_out, W_out), params)``."""
        check_input(x, self.in_shape)
        params = self.localization(x)
        return self.apply_params(x, params), params

    def apply_params(self, x: Tensor, params: Tensor) -> Tensor:
        """Warp ``x: (N, C, H, W)`` with given parameters (skipping the localization net).

        Useful to see what a θ does, and to test the grid generator and sampler on their own.

        Under mixed precision (``torch.autocast``) the grid and the sampling still run in float32 (float64
        inputs stay float64), and so does the output: a bfloat16 grid would place each sample up to a few
        tenths of a pixel away from where θ says, and the course's sampler needs input and grid of one dtype.
        """
        dims = check_input(x, self.in_shape)
        check_tensor(params, "params", param_shape(self.transform, self.tps_grid_size), dims)
        n, c = x.shape[:2]
        dtype = torch.promote_types(torch.promote_types(x.dtype, params.dtype), torch.float32)
        with _autocast_off(x.device):
            grid = transform_grid(
                params.to(dtype),
                self.transform,
                (n, c, *self.output_size),
                align_corners=self.align_corners,
                control_points=self.control_points,
                torch_affine=self.sampler == "torch",
            )
            return self._sample(x.to(dtype), grid)

    def _sample(self, x: Tensor, grid: Tensor) -> Tensor:
        if self.padding_mode != "background":
            return self._grid_sample(x, grid, self.padding_mode)
        if self.background is None:
            background = border_background(x)
        else:
            background = torch.full_like(x[:, :, :1, :1], self.background)
        # Zero padding of (x - b) is padding x with b; the interior is unchanged because sampling is linear.
        return self._grid_sample(x - background, grid, "zeros") + background

    def _grid_sample(self, x: Tensor, grid: Tensor, padding_mode: str) -> Tensor:
        if self.sampler == "torch":
            return F.grid_sample(
                x, grid, mode=self.mode, padding_mode=padding_mode, align_corners=self.align_corners
            )
        return sampling.grid_sample(
            x, grid, mode=self.mode, padding_mode=padding_mode, align_corners=self.align_corners
        )

    def extra_repr(self) -> str:
        return (
            f"in_shape={self.in_shape}, transform={self.transform!r}, output_size={self.output_size}, "
            f"sampler={self.sampler!r}, padding_mode={self.padding_mode!r}, align_corners={self.align_corners}"
        )


def localization_parameter_names(model: nn.Module) -> set[str]:
    """Names (as ``model.named_parameters()`` spells them) of the parameters that belong to a localization network.

    The rule, the one every part of stnlib uses: a parameter belongs to a localization network when it lies inside
    a submodule called ``localization`` — where every :class:`SpatialTransformer`, stnlib's or a lesson's, keeps
    its network, so one of the dot-separated parts of the name is ``localization`` — or inside a
    :class:`LocalizationNet` under any name.

    Example:
        >>> model = nn.Sequential(SpatialTransformer((1, 28, 28), loc_kind="fc", loc_hidden=(8,)), nn.Flatten())
        >>> sorted(localization_parameter_names(model))  # doctest: +NORMALIZE_WHITESPACE
        ['0.localization.features.1.bias', '0.localization.features.1.weight', '0.localization.head.bias',
         '0.localization.head.weight']
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    inside = {
        id(p)
        for name, module in model.named_modules()
        if isinstance(module, LocalizationNet) or name.rsplit(".", 1)[-1] == "localization"
        for p in module.parameters()
    }
    return {name for name, p in model.named_parameters() if id(p) in inside}


def parameter_groups(
    model: nn.Module, lr: float, localization_lr_multiplier: float = 1.0
) -> list[dict[str, Any]]:
    """Optimiser parameter groups: every localization network at ``lr * localization_lr_multiplier``.

    A localization net that learns as fast as the classifier can swing the transformer to extreme θ; the paper
    trains it at one tenth of the base rate on SVHN. Which parameters belong to a localization network:
    :func:`localization_parameter_names`. Parameters that do not require gradients are left out.

    Args:
        model: any module.
        lr: the base learning rate.
        localization_lr_multiplier: the localization networks' learning rate is ``lr * multiplier`` (default 1:
            the same rate; the course's recipes choose it per experiment).

    Returns:
        ``[{"name": "main", "params": [...], "lr": lr}, {"name": "localization", "params": [...], "lr": ...}]``,
        every parameter exactly once; a group without parameters is left out. Pass it to any torch optimiser.

    Example:
        >>> model = SpatialTransformer((1, 28, 28))
        >>> opt = torch.optim.SGD(parameter_groups(model, lr=0.01, localization_lr_multiplier=0.1), lr=0.01)
        >>> [round(g["lr"], 6) for g in opt.param_groups]
        [0.001]
    """
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr must be a positive number; got {lr!r}")
    if not (isinstance(localization_lr_multiplier, (int, float)) and localization_lr_multiplier >= 0):
        raise ValueError(
            f"localization_lr_multiplier must be a number >= 0; got {localization_lr_multiplier!r}"
        )
    localization_names = localization_parameter_names(model)
    main: list[nn.Parameter] = []
    localization: list[nn.Parameter] = []
    for name, p in model.named_parameters():  # each shared parameter once
        if p.requires_grad:
            (localization if name in localization_names else main).append(p)
    groups = [
        {"name": "main", "params": main, "lr": float(lr)},
        {"name": "localization", "params": localization, "lr": float(lr) * localization_lr_multiplier},
    ]
    return [g for g in groups if g["params"]]
