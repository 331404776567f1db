"""The transform-family registry: every family-dependent part of stnlib reads one record.

A toy family (translation only, 2 parameters) is registered and run end to end — localization network, spatial
transformer, a classifier around it, training gradients and the plots — without touching any other module.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import matplotlib
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from stnlib import viz
from stnlib.models import (
    TRANSFORM_FAMILIES,
    TRANSFORMS,
    LocalizationNet,
    SpatialTransformer,
    TransformFamily,
    TwoTransformerClassifier,
    identity_params,
    num_params,
    param_shape,
    params_from_head,
    register_transform_family,
    transform_family,
    transform_grid,
)

matplotlib.use("Agg")


def _translation_grid(
    params: Tensor,
    size: Sequence[int],
    *,
    align_corners: bool,
    control_points: Tensor | None,
    torch_affine: bool,
) -> Tensor:
    theta = torch.eye(2, 3, dtype=params.dtype).repeat(params.shape[0], 1, 1)
    theta = torch.cat([theta[:, :, :2], params[:, :, None]], dim=2)
    return F.affine_grid(theta, list(size), align_corners=align_corners)


TRANSLATION = TransformFamily(
    name="translation",
    title="translation only",
    num_params=lambda k: 2,
    shape="N 2",
    identity=lambda k: torch.zeros(2),
    grid=_translation_grid,
)


@pytest.fixture
def translation() -> Iterator[TransformFamily]:
    register_transform_family(TRANSLATION)
    try:
        yield TRANSLATION
    finally:
        del TRANSFORM_FAMILIES["translation"]


def test_builtin_families_are_the_registry() -> None:
    assert TRANSFORMS == ("affine", "attention", "projective", "tps")
    assert tuple(TRANSFORM_FAMILIES) == TRANSFORMS
    assert [num_params(t) for t in TRANSFORMS] == [6, 3, 8, 32]
    assert [param_shape(t) for t in TRANSFORMS] == ["N 2 3", "N 3", "N 8", "N 16 2"]
    assert param_shape("tps", 3) == "N 9 2" and num_params("tps", 3) == 18


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_identity_params_give_the_identity_grid(transform: str) -> None:
    points = transform_family(transform).uses_control_points
    control = (
        torch.cartesian_prod(torch.linspace(-1, 1, 4), torch.linspace(-1, 1, 4)).flip(1) if points else None
    )
    params = params_from_head(identity_params(transform)[None], transform, control)
    grid = transform_grid(params, transform, (1, 1, 7, 9), control_points=control)
    torch.testing.assert_close(grid, F.affine_grid(torch.eye(2, 3)[None], [1, 1, 7, 9], align_corners=False))


def test_toy_family_runs_end_to_end(translation: TransformFamily) -> None:
    torch.manual_seed(0)
    x = torch.rand(3, 1, 12, 12)
    loc = LocalizationNet((1, 12, 12), "translation", kind="fc", hidden=(8,))
    assert loc.head.out_features == 2
    torch.testing.assert_close(loc(x), torch.zeros(3, 2))

    st = SpatialTransformer((1, 12, 12), "translation", loc_kind="fc", loc_hidden=(8,))
    output, params = st(x)
    torch.testing.assert_close(output, x)  # identity at initialisation
    shifted = st.apply_params(x, torch.tensor([[2 / 6, 0.0]] * 3))  # each output pixel reads 2 pixels right
    torch.testing.assert_close(shifted[..., :10], x[..., 2:], atol=1e-5, rtol=0)

    model = TwoTransformerClassifier((1, 12, 12), num_classes=4, transform="translation", loc_hidden=(8,))
    F.cross_entropy(model(x), torch.tensor([0, 1, 2])).backward()
    for transformer in model.transformers:
        head = transformer.localization.head
        assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0

    outline = viz.sampled_region_outline(torch.tensor([[0.5, 0.0]]), (12, 12), transform="translation")
    torch.testing.assert_close(outline[0, 0], torch.tensor([2.5, -0.5]))  # shifted by a quarter of 12 pixels
    fig = viz.figure1_panels(x, output.detach(), params.detach(), "translation", n=2)
    assert len(fig.axes) == 4


def test_registry_refuses_duplicates_and_unknown_names() -> None:
    with pytest.raises(ValueError, match=r"already registered.*replace=True"):
        register_transform_family(TRANSFORM_FAMILIES["affine"])
    with pytest.raises(ValueError, match=r"one of 'affine'.*got 'translation'"):
        num_params("translation")
    with pytest.raises(TypeError, match="TransformFamily"):
        register_transform_family("affine")  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [-3, 2.5, 1, True])
def test_bad_tps_grid_size_is_refused(size: object) -> None:
    for function in (num_params, param_shape, identity_params):
        with pytest.raises(ValueError, match="tps_grid_size must be an int >= 2"):
            function("tps", size)  # type: ignore[operator]


def test_tps_head_output_must_match_the_control_points() -> None:
    from stnlib.geometry import tps_control_points
    from stnlib.models import params_from_head

    targets = params_from_head(torch.zeros(2, 32), "tps", tps_control_points(4))
    assert torch.equal(targets, tps_control_points(4).expand(2, 16, 2))  # zero offsets: the lattice itself
    with pytest.raises(
        ValueError, match=r"raw must hold an \(x, y\) offset for each of the 9 control points"
    ):
        params_from_head(torch.zeros(2, 32), "tps", tps_control_points(3))
    with pytest.raises(ValueError, match="control_points"):
        params_from_head(torch.zeros(2, 32), "tps", torch.zeros(16, 3))
