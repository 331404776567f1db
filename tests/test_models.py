"""stnlib.models: localization nets, the spatial transformer module, the paper's classifiers, the builder."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stnlib import geometry
from stnlib.models import (
    MODEL_NAMES,
    TRANSFORMS,
    FeatureMapSTClassifier,
    LocalizationNet,
    SpatialTransformer,
    STClassifier,
    TutorialSTN,
    TwoTransformerClassifier,
    border_background,
    build_model,
    conv_output_size,
    identity_head,
    parameter_groups,
    transform_grid,
)

IN_SHAPES = [(1, 28, 28), (1, 42, 42), (1, 60, 60), (2, 42, 42), (20, 12, 12)]
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def identity(transform: str, n: int, grid_size: int = 4) -> torch.Tensor:
    """The geometry module's identity parameters of a family (what a fresh localization net must output)."""
    if transform == "affine":
        return geometry.identity_affine(n)
    if transform == "attention":
        return geometry.identity_attention(n)
    if transform == "projective":
        return geometry.identity_projective(n)
    return geometry.identity_tps(n, grid_size=grid_size)


def smooth_images(n: int, c: int, h: int, w: int) -> torch.Tensor:
    """Random images without pixel-scale noise, so bilinear gradients are informative."""
    coarse = torch.rand(n, c, max(2, h // 4), max(2, w // 4))
    return F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)


def perturb_localization(localization: LocalizationNet, scale: float = 0.05) -> None:
    """Move a localization head away from the identity so gradients reach every layer."""
    with torch.no_grad():
        localization.head.weight.normal_(0.0, 1e-2)
        localization.head.bias.add_(scale * torch.randn_like(localization.head.bias))


# ---------------------------------------------------------------------------------------------------------------
# LocalizationNet


@pytest.mark.parametrize("in_shape", IN_SHAPES)
@pytest.mark.parametrize("kind", ["conv", "fc"])
@pytest.mark.parametrize("transform", TRANSFORMS)
def test_localization_net_starts_at_the_identity_for_every_family_and_size(in_shape, kind, transform) -> None:
    loc = LocalizationNet(in_shape, transform, kind)
    x = torch.randn(3, *in_shape)
    params = loc(x)
    expected = identity(transform, 3)
    assert params.shape == expected.shape
    torch.testing.assert_close(params, expected, atol=1e-6, rtol=0)
    assert not loc.head.weight.any(), "the regression head must start with zero weights"


def test_localization_net_follows_the_papers_st_cnn_layout() -> None:
    loc = LocalizationNet((1, 28, 28), "affine", "conv")
    layers = list(loc.features)
    assert isinstance(layers[0], nn.MaxPool2d)
    convs = [m for m in layers if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(20, (5, 5)), (20, (5, 5))]
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == [20]
    assert linears[0].in_features == 20 * 6 * 6  # 28 -> pool 14 -> conv 10 -> conv 6
    assert loc.head.out_features == 6


def test_small_localization_net_is_the_lessons_layout() -> None:
    loc = LocalizationNet((1, 42, 42), "affine", "small")
    assert [type(m).__name__ for m in loc.features] == [
        *("Conv2d", "MaxPool2d", "ReLU") * 2,
        *("Flatten", "Linear", "ReLU"),
    ]
    convs = [m for m in loc.features if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (8, (5, 5), (0, 0)),
        (10, (5, 5), (0, 0)),
    ]
    assert loc.features[7].in_features == 10 * 7 * 7  # 42 -> conv 38 -> pool 19 -> conv 15 -> pool 7
    assert sum(p.numel() for p in loc.parameters()) == 208 + 2010 + 15712 + 198
    for transform in ("affine", "attention", "projective", "tps"):
        loc = LocalizationNet((2, 16, 30), transform, "small")
        torch.testing.assert_close(loc(torch.randn(2, 2, 16, 30)), identity(transform, 2), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="does not fit into an input of 4"):
        LocalizationNet((1, 12, 12), kind="small")  # 12 -> conv 8 -> pool 4: no room for the second 5x5


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding"), [(28, 5, 1, 0), (27, 2, 2, 0), (5, 3, 2, 1)]
)
def test_conv_output_size_is_what_pytorch_layers_give(size, kernel, stride, padding) -> None:
    out = nn.Conv2d(1, 1, kernel, stride=stride, padding=padding)(torch.zeros(1, 1, size, size))
    assert conv_output_size(size, kernel, stride, padding) == out.shape[-1]


def test_identity_head_is_the_localization_nets_head() -> None:
    torch.manual_seed(0)
    head = identity_head(20, "tps", 3)
    library = LocalizationNet((1, 28, 28), "tps", tps_grid_size=3).head
    assert torch.equal(head.weight, library.weight) and torch.equal(head.bias, library.bias)


def test_tps_head_predicts_offsets_of_the_control_points() -> None:
    loc = LocalizationNet((1, 28, 28), "tps", "fc", tps_grid_size=3)
    offsets = torch.linspace(-0.1, 0.1, 18)
    with torch.no_grad():
        loc.head.bias.copy_(offsets)
    params = loc(torch.zeros(2, 1, 28, 28))
    torch.testing.assert_close(params, (geometry.tps_control_points(3) + offsets.view(9, 2)).expand(2, 9, 2))


# ---------------------------------------------------------------------------------------------------------------
# SpatialTransformer


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("sampler", ["torch", "stnlib"])
@pytest.mark.parametrize("transform", TRANSFORMS)
def test_spatial_transformer_is_the_identity_at_initialisation(transform, sampler, align_corners) -> None:
    in_shape = (2, 18, 26)  # non-square, to catch (x, y) / (H, W) mix-ups
    st = SpatialTransformer(in_shape, transform, "fc", sampler=sampler, align_corners=align_corners)
    x = torch.randn(3, *in_shape)
    out, params = st(x)
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)
    torch.testing.assert_close(params, identity(transform, 3), atol=1e-6, rtol=0)


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_output_size_downsamples_like_torch(transform) -> None:
    st = SpatialTransformer((1, 60, 60), transform, "conv", output_size=(30, 20))
    x = torch.rand(2, 1, 60, 60)
    out, _ = st(x)
    assert out.shape == (2, 1, 30, 20)
    grid = F.affine_grid(geometry.identity_affine(2), [2, 1, 30, 20], align_corners=False)
    torch.testing.assert_close(out, F.grid_sample(x, grid, align_corners=False), atol=1e-5, rtol=0)


@pytest.mark.parametrize("sampler", ["torch", "stnlib"])
@pytest.mark.parametrize("transform", TRANSFORMS)
def test_gradients_reach_every_localization_layer(transform, sampler) -> None:
    st = SpatialTransformer((1, 24, 24), transform, "conv", sampler=sampler)
    perturb_localization(st.localization)
    out, _ = st(smooth_images(4, 1, 24, 24))
    (out * torch.randn_like(out)).sum().backward()
    for name, p in st.localization.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reached {name}"


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection", "background"])
@pytest.mark.parametrize("transform", TRANSFORMS)
def test_stnlib_and_torch_samplers_agree_on_outputs_and_gradients(
    transform, padding_mode, align_corners
) -> None:
    kw = dict(transform=transform, loc_kind="fc", padding_mode=padding_mode, align_corners=align_corners)
    reference = SpatialTransformer((1, 16, 20), sampler="torch", **kw)
    perturb_localization(reference.localization, scale=0.2)  # some samples fall outside: padding matters
    ours = SpatialTransformer((1, 16, 20), sampler="stnlib", **kw)
    ours.load_state_dict(reference.state_dict())
    x = smooth_images(3, 1, 16, 20)
    x_ref, x_ours = x.clone().requires_grad_(), x.clone().requires_grad_()
    weights = torch.randn(3, 1, 16, 20)
    out_ref, _ = reference(x_ref)
    out_ours, _ = ours(x_ours)
    torch.testing.assert_close(out_ours, out_ref, atol=1e-5, rtol=1e-4)
    (out_ref * weights).sum().backward()
    (out_ours * weights).sum().backward()
    torch.testing.assert_close(x_ours.grad, x_ref.grad, atol=1e-5, rtol=1e-4)
    for (name, p_ours), p_ref in zip(
        ours.localization.named_parameters(), reference.localization.parameters(), strict=True
    ):
        torch.testing.assert_close(p_ours.grad, p_ref.grad, atol=1e-4, rtol=1e-3, msg=f"gradient of {name}")


@pytest.mark.parametrize("sampler", ["torch", "stnlib"])
@pytest.mark.parametrize("transform", TRANSFORMS)
def test_bf16_autocast_keeps_the_grid_and_the_sampling_in_float32(transform, sampler) -> None:
    st = SpatialTransformer((1, 42, 42), transform, "conv", sampler=sampler)
    perturb_localization(st.localization, scale=0.2)
    x = smooth_images(3, 1, 42, 42)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, params = st(x)
    assert out.dtype == torch.float32
    # Exactly what float32 sampling gives for the same parameters.
    torch.testing.assert_close(out, st.apply_params(x, params.float()), atol=1e-6, rtol=0)
    if transform != "tps":  # TPS adds the float32 control points, so its parameters are float32 already
        assert params.dtype == torch.bfloat16  # the localization net itself runs in bfloat16
        bf16_grid = transform_grid(params, transform, (3, 1, 42, 42), torch_affine=sampler == "torch")
        float_grid = transform_grid(
            params.float(), transform, (3, 1, 42, 42), torch_affine=sampler == "torch"
        )
        assert (bf16_grid.float() - float_grid).abs().max() > 1e-3  # ~0.1 pixel: what float32 avoids
    out.sum().backward()
    assert all(p.grad is not None for p in st.localization.parameters())


def test_float64_inputs_stay_float64() -> None:
    st = SpatialTransformer((1, 12, 12), "affine", "fc").double()
    out, _ = st(torch.rand(2, 1, 12, 12, dtype=torch.float64))
    assert out.dtype == torch.float64


def normalised_digit_batch() -> torch.Tensor:
    """A 'digit' on a black background, normalised like MNIST, so the background is about -0.42."""
    images = torch.zeros(2, 1, 28, 28)
    images[0, :, 6:22, 12:16] = 1.0
    images[1, :, 8:20, 8:20] = 0.7
    return (images - MNIST_MEAN) / MNIST_STD


ZOOM_OUT = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]]]).repeat(2, 1, 1)


def test_background_padding_keeps_a_normalised_background_after_zooming_out() -> None:
    x = normalised_digit_batch()
    background = -MNIST_MEAN / MNIST_STD
    zeros = SpatialTransformer((1, 28, 28), padding_mode="zeros").apply_params(x, ZOOM_OUT)
    cured = SpatialTransformer((1, 28, 28), padding_mode="background").apply_params(x, ZOOM_OUT)
    outer_frame = torch.ones(28, 28, dtype=torch.bool)
    outer_frame[7:21, 7:21] = False  # the zoomed-out image occupies the centre half
    # zero padding paints a frame of 0 ≈ "grey" around the digit; the cure keeps the true background
    assert (zeros[..., outer_frame] - background).abs().min() > 0.4
    torch.testing.assert_close(cured[..., outer_frame], torch.full_like(cured[..., outer_frame], background))
    # inside, both sample the same image; "border" padding agrees everywhere because the border is background
    torch.testing.assert_close(cured[..., 8:20, 8:20], zeros[..., 8:20, 8:20])
    border = F.grid_sample(
        x, F.affine_grid(ZOOM_OUT, [2, 1, 28, 28], False), padding_mode="border", align_corners=False
    )
    torch.testing.assert_close(cured, border, atol=1e-5, rtol=0)


def test_background_padding_with_a_constant_value() -> None:
    x = normalised_digit_batch()
    st = SpatialTransformer((1, 28, 28), padding_mode="background", background=-1.5)
    out = st.apply_params(x, ZOOM_OUT)
    torch.testing.assert_close(out[..., 0, :], torch.full_like(out[..., 0, :], -1.5))


def test_border_background_ignores_a_digit_touching_the_border() -> None:
    x = torch.full((1, 2, 10, 10), -0.42)
    x[0, 0, :, :3] = 2.8  # a stroke along the whole left edge of channel 0
    x[0, 1] = 0.5
    torch.testing.assert_close(border_background(x).flatten(), torch.tensor([-0.42, 0.5]))


def test_custom_localization_module_and_its_shape_check() -> None:
    class FixedZoom(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tensor([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]]).expand(x.shape[0], 2, 3)

    st = SpatialTransformer((1, 8, 8), localization=FixedZoom(), align_corners=True)
    x = torch.arange(64.0).view(1, 1, 8, 8)
    out, _ = st(x)
    expected = F.grid_sample(x, F.affine_grid(FixedZoom()(x), [1, 1, 8, 8], True), align_corners=True)
    torch.testing.assert_close(out, expected)

    class WrongShape(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.zeros(x.shape[0], 6)

    with pytest.raises(ValueError, match=r"params must have shape \(N, 2, 3\)"):
        SpatialTransformer((1, 8, 8), localization=WrongShape())(x)


# ---------------------------------------------------------------------------------------------------------------
# Classifiers and the builder


def test_builder_covers_every_name_with_the_right_number_of_classes() -> None:
    for name in MODEL_NAMES:
        addition = name.startswith("2x")
        in_shape = (2, 42, 42) if addition else (1, 42, 42)
        model = build_model(name, in_shape)
        out = model(torch.rand(3, *in_shape))
        assert out.shape == (3, 19 if addition else 10), name
        assert build_model(name, in_shape, num_classes=7)(torch.rand(2, *in_shape)).shape == (2, 7)


@pytest.mark.parametrize(
    ("name", "transform", "loc_kind"),
    [("ST-FCN-Aff", "affine", "fc"), ("ST-FCN-TPS", "tps", "fc"), ("ST-CNN-Proj", "projective", "conv"),
     ("ST-CNN-Att", "attention", "conv")],
)  # fmt: skip
def test_builder_wires_the_named_family_and_localization_kind(name, transform, loc_kind) -> None:
    model = build_model(name, (1, 28, 28))
    assert isinstance(model, STClassifier)
    assert model.transformer.transform == transform
    assert model.transformer.localization.kind == loc_kind


def test_builder_accepts_the_papers_spelling_and_rejects_unknown_names() -> None:
    assert build_model("st-cnn aff", (1, 28, 28)).transformer.transform == "affine"
    assert isinstance(build_model("2×ST-FCN", (2, 28, 28)), TwoTransformerClassifier)
    with pytest.raises(ValueError, match=r"unknown model name 'ST-RNN'.*ST-CNN-Aff.*2xST-FCN"):
        build_model("ST-RNN", (1, 28, 28))


@pytest.mark.parametrize("in_shape", [(1, 28, 28), (1, 60, 60)])
def test_st_classifier_keeps_detached_params_and_output_and_classifies_the_output(in_shape) -> None:
    seen: list[torch.Tensor] = []

    class Recorder(nn.Module):
        def forward(self, v: torch.Tensor) -> torch.Tensor:
            seen.append(v)
            return v.flatten(1)[:, :10]

    st = SpatialTransformer(in_shape, output_size=(20, 20))
    perturb_localization(st.localization, scale=0.3)
    model = STClassifier(st, Recorder())
    x = torch.rand(2, *in_shape)
    model(x)
    assert model.last_output.shape == (2, 1, 20, 20) and not model.last_output.requires_grad
    assert model.last_params.shape == (2, 2, 3) and not model.last_params.requires_grad
    torch.testing.assert_close(seen[0], model.last_output)  # the classifier sees the output, not x


def test_two_transformer_classifier_stacks_both_outputs_as_channels() -> None:
    model = TwoTransformerClassifier((2, 42, 42), transform="affine", loc_kind="conv", output_size=(30, 30))
    x = torch.rand(3, 2, 42, 42)
    assert model(x).shape == (3, 19)
    assert model.last_output.shape == (3, 4, 30, 30)
    assert len(model.last_params) == 2
    expected = F.grid_sample(
        x, F.affine_grid(geometry.identity_affine(3), [3, 2, 30, 30], False), align_corners=False
    )
    torch.testing.assert_close(model.last_output, torch.cat([expected, expected], dim=1), atol=1e-5, rtol=0)


def test_feature_map_transformer_sits_on_the_first_conv_block() -> None:
    model = FeatureMapSTClassifier((1, 28, 28), transform="projective")
    x = torch.rand(2, 1, 28, 28)
    assert model(x).shape == (2, 10)
    assert model.transformer.in_shape == (32, 10, 10)  # conv 9x9 -> 20, max-pool -> 10
    torch.testing.assert_close(model.last_output, model.features(x), atol=1e-5, rtol=0)


class _TutorialReference(nn.Module):
    """PyTorch's STN tutorial network, written out layer by layer from the tutorial."""

    def __init__(self) -> None:
        super().__init__()
        self.localization = nn.Sequential(
            nn.Conv2d(1, 8, 7), nn.MaxPool2d(2), nn.ReLU(), nn.Conv2d(8, 10, 5), nn.MaxPool2d(2), nn.ReLU()
        )
        self.fc_loc = nn.Sequential(nn.Linear(90, 32), nn.ReLU(), nn.Linear(32, 6))
        self.conv1, self.conv2 = nn.Conv2d(1, 10, 5), nn.Conv2d(10, 20, 5)
        self.conv2_drop = nn.Dropout2d()
        self.fc1, self.fc2 = nn.Linear(320, 50), nn.Linear(50, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta = self.fc_loc(self.localization(x).flatten(1)).view(-1, 2, 3)
        x = F.grid_sample(x, F.affine_grid(theta, list(x.shape), align_corners=False), align_corners=False)
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = F.dropout(F.relu(self.fc1(x.flatten(1))), training=self.training)
        return F.log_softmax(self.fc2(x), dim=1)


def test_tutorial_stn_matches_the_tutorials_network_and_returns_log_probabilities() -> None:
    ours, reference = TutorialSTN(), _TutorialReference()
    assert [p.shape for p in ours.parameters()] == [p.shape for p in reference.parameters()]
    with torch.no_grad():
        for p_ours, p_ref in zip(ours.parameters(), reference.parameters(), strict=True):
            p_ours.copy_(torch.randn_like(p_ours) * 0.1)
            p_ref.copy_(p_ours)
    ours.eval(), reference.eval()
    x = torch.rand(4, 1, 28, 28)
    log_probs = ours(x)
    torch.testing.assert_close(log_probs, reference(x))
    torch.testing.assert_close(log_probs.exp().sum(1), torch.ones(4))
    fresh = TutorialSTN()
    torch.testing.assert_close(fresh.transformer(x)[0], x, atol=1e-5, rtol=0)  # identity initialisation


# ---------------------------------------------------------------------------------------------------------------
# parameter_groups


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_parameter_groups_partition_every_parameter_exactly_once(name) -> None:
    model = build_model(name, (2, 28, 28) if name.startswith("2x") else (1, 28, 28))
    groups = parameter_groups(model, lr=0.01, localization_lr_multiplier=0.1)
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    localization = {
        id(p)
        for m in model.modules()
        if isinstance(m, SpatialTransformer)
        for p in m.localization.parameters()
    }
    by_name = {g["name"]: g for g in groups}
    assert {id(p) for p in by_name.get("localization", {"params": []})["params"]} == localization
    if localization:
        assert by_name["localization"]["lr"] == pytest.approx(0.001)
    assert by_name["main"]["lr"] == 0.01


def test_parameter_groups_give_the_localization_net_a_smaller_step() -> None:
    model = build_model("ST-FCN-Aff", (1, 28, 28))
    perturb_localization(model.transformer.localization)
    optimiser = torch.optim.SGD(parameter_groups(model, lr=0.5, localization_lr_multiplier=0.1))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    F.cross_entropy(model(smooth_images(8, 1, 28, 28)), torch.arange(8)).backward()
    optimiser.step()
    for name, p in model.named_parameters():
        rate = 0.05 if ".localization." in name else 0.5
        torch.testing.assert_close(p.detach(), before[name] - rate * p.grad, msg=name)


def test_parameter_groups_count_shared_parameters_once() -> None:
    shared = nn.Linear(4, 4)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    (group,) = parameter_groups(model, lr=0.1)
    assert len(group["params"]) == 2


# ---------------------------------------------------------------------------------------------------------------
# Clear errors


@pytest.mark.parametrize(
    ("in_shape", "message"),
    [((1, 1, 28, 28), "without the batch dimension"), ((28, 28), "with a channel count"),
     ((1, 0, 28), "positive ints")],
)  # fmt: skip
def test_bad_in_shape_is_explained(in_shape, message) -> None:
    with pytest.raises(ValueError, match=message):
        SpatialTransformer(in_shape)


def test_bad_names_list_the_valid_choices() -> None:
    with pytest.raises(ValueError, match="transform must be one of 'affine', 'attention'"):
        LocalizationNet((1, 28, 28), "affline")
    with pytest.raises(ValueError, match="sampler must be one of 'torch', 'stnlib'"):
        SpatialTransformer((1, 28, 28), sampler="cuda")
    with pytest.raises(
        ValueError, match="padding_mode must be one of 'zeros', 'border', 'reflection', 'background'"
    ):
        SpatialTransformer((1, 28, 28), padding_mode="replicate")
    with pytest.raises(ValueError, match="kind must be one of 'conv', 'fc'"):
        LocalizationNet((1, 28, 28), kind="rnn")


def test_input_that_does_not_match_in_shape_is_explained() -> None:
    st = SpatialTransformer((1, 28, 28))
    with pytest.raises(ValueError, match="x and in_shape disagree on H: in_shape has H=28, x has H=42"):
        st(torch.zeros(2, 1, 42, 42))
    with pytest.raises(ValueError, match=r"add a batch dimension with x\[None\].*x\[:, None\]"):
        st(torch.zeros(1, 28, 28))


def test_cnn_rejects_inputs_too_small_for_its_kernels() -> None:
    with pytest.raises(ValueError, match="at least 24x24 pixels"):
        build_model("CNN", (1, 20, 20))
