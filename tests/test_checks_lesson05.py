"""The checkers of Lesson 05 (assembling a spatial transformer network): the references pass and agree with
PyTorch and stnlib (models, viz), typical wrong answers fail with the expected status and the diagnosis aimed
at that mistake — the classic bug of classifying the untransformed input among them — unfinished exercises
report "not implemented", and the results are recorded where ``use_or_fallback`` looks for them."""

from __future__ import annotations

import doctest
import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stnlib import geometry, viz
from stnlib.checks import CheckFailed, CheckResult, Status, lesson05, use_or_fallback
from stnlib.checks.lesson04 import SmallLocalizationNet
from stnlib.geometry.coords import normalized_to_pixel
from stnlib.models import CNN, LocalizationNet, STClassifier, build_model
from stnlib.models import SpatialTransformer as LibrarySpatialTransformer
from stnlib.models import parameter_groups as library_parameter_groups

# ----------------------------------------------------------------------------------------------- helpers


def failed(checker: Callable[..., CheckResult], fn: Any) -> CheckResult:
    """Run ``checker`` on a wrong ``fn``; it must raise CheckFailed, whose result is returned."""
    with pytest.raises(CheckFailed) as error:
        checker(fn, quiet=True)
    return error.value.result


def not_implemented(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError()


class Transformer(nn.Module):
    """A student's SpatialTransformer; ``variant`` selects a typical mistake (``""`` is a right answer with
    PyTorch's own grid generator and sampler)."""

    variant = ""

    def __init__(
        self, localization: nn.Module, output_size: tuple[int, int] | None = None, align_corners: bool = False
    ) -> None:
        super().__init__()
        self.localization = localization
        self.output_size = output_size
        self.align_corners = align_corners

    def forward(self, x: Tensor) -> Any:
        theta = self.localization(x)
        n, c, h, w = x.shape
        size = (n, c, *(self.output_size or (h, w)))
        if self.variant == "ignores_output_size":
            size = x.shape
        grid_corners = sample_corners = self.align_corners
        if self.variant == "ignores_align_corners":
            grid_corners = sample_corners = False
        if self.variant == "sampler_default":
            sample_corners = False
        used = geometry.invert_affine(theta) if self.variant == "inverse" else theta
        if self.variant == "detached":
            used = used.detach()
        output = F.grid_sample(
            x, F.affine_grid(used, size, align_corners=grid_corners), align_corners=sample_corners
        )
        if self.variant == "output_only":
            return output
        if self.variant == "no_sampling":
            return x, theta
        return output, theta


def transformer_with(variant: str) -> type[Transformer]:
    return type(f"Transformer_{variant}", (Transformer,), {"variant": variant})


class NotImplementedTransformer(nn.Module):
    def __init__(self, localization: nn.Module, output_size=None, align_corners=False) -> None:
        super().__init__()
        self.localization = localization

    def forward(self, x: Tensor) -> Any:
        raise NotImplementedError()


class StudentSTCNN(nn.Module):
    variant = ""

    def __init__(self, transformer: nn.Module, classifier: nn.Module) -> None:
        super().__init__()
        if self.variant == "unregistered":
            self.parts = [transformer, classifier]  # a plain list: nn.Module does not see the parameters
            return
        if self.variant == "other_names":
            self.st, self.cls = transformer, classifier
            return
        self.transformer = transformer
        self.classifier = classifier

    def forward(self, x: Tensor) -> Any:
        output, theta = self.transformer(x)
        if self.variant == "classifies_input":
            return self.classifier(x)
        if self.variant == "detached":
            return self.classifier(output.detach())
        if self.variant == "returns_theta":
            return self.classifier(output), theta
        return self.classifier(output)


def st_cnn_with(variant: str) -> type[StudentSTCNN]:
    return type(f"STCNN_{variant}", (StudentSTCNN,), {"variant": variant})


class NotImplementedSTCNN(nn.Module):
    def __init__(self, transformer: nn.Module, classifier: nn.Module) -> None:
        super().__init__()
        raise NotImplementedError()


def student_groups(model: nn.Module, lr: float, localization_lr_multiplier: float = 0.1) -> list[dict]:
    """A right answer written the way a student would, with the optimiser's default lr for the main group."""
    main = [p for n, p in model.named_parameters() if "localization" not in n.split(".")]
    slow = [p for n, p in model.named_parameters() if "localization" in n.split(".")]
    return [{"params": main}, {"params": slow, "lr": lr * localization_lr_multiplier}]


REFERENCES = [
    (lesson05.check_spatial_transformer, lesson05.SpatialTransformer),
    (lesson05.check_region_corners, lesson05.region_corners),
    (lesson05.check_st_cnn, lesson05.STCNN),
    (lesson05.check_parameter_groups, lesson05.parameter_groups),
    (lesson05.check_training_step, lesson05.training_step),
    (lesson05.check_train_and_watch, lesson05.train_and_watch),
]

# ---------------------------------------------------------------------------------- references and stubs


@pytest.mark.parametrize(("checker", "reference"), REFERENCES)
def test_reference_passes_every_case(checker, reference, capsys) -> None:
    result = checker(reference)
    assert result.status is Status.PASSED and result.passed == result.total >= 5
    assert result.max_error is not None and result.max_error < 1e-6
    assert "✅" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("checker", "stub", "reference"),
    [
        (lesson05.check_spatial_transformer, NotImplementedTransformer, lesson05.SpatialTransformer),
        (lesson05.check_region_corners, not_implemented, lesson05.region_corners),
        (lesson05.check_st_cnn, NotImplementedSTCNN, lesson05.STCNN),
        (lesson05.check_parameter_groups, not_implemented, lesson05.parameter_groups),
        (lesson05.check_training_step, not_implemented, lesson05.training_step),
        (lesson05.check_train_and_watch, not_implemented, lesson05.train_and_watch),
    ],
)
def test_stub_reports_not_implemented_without_raising(checker, stub, reference, capsys) -> None:
    result = checker(stub)
    assert result.status is Status.NOT_IMPLEMENTED and not result
    assert "not implemented yet" in capsys.readouterr().out
    assert use_or_fallback(stub, reference) is reference


def test_students_own_versions_pass_and_are_kept() -> None:
    # PyTorch's own grid generator and sampler are right answers too; results are recorded on the class
    assert lesson05.check_spatial_transformer(Transformer, quiet=True)
    assert use_or_fallback(Transformer, lesson05.SpatialTransformer) is Transformer
    assert lesson05.check_st_cnn(StudentSTCNN, quiet=True)
    assert use_or_fallback(StudentSTCNN, lesson05.STCNN) is StudentSTCNN
    assert lesson05.check_parameter_groups(student_groups, quiet=True)
    assert use_or_fallback(student_groups, lesson05.parameter_groups) is student_groups
    assert lesson05.check_region_corners(viz_corners, quiet=True)


def viz_corners(theta: Tensor, size: tuple[int, int], align_corners: bool = False) -> Tensor:
    return viz.sampled_region_outline(theta, size, align_corners)[:, :4]


def test_a_failed_class_check_is_recorded_on_the_class() -> None:
    wrong = transformer_with("inverse")
    failed(lesson05.check_spatial_transformer, wrong)
    assert use_or_fallback(wrong, lesson05.SpatialTransformer) is lesson05.SpatialTransformer


def test_doctests() -> None:
    result = doctest.testmod(lesson05, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10 and result.failed == 0


# ----------------------------------------------------------------------------------- references agree


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("output_size", [None, (20, 36)])
def test_transformer_matches_the_library_module(align_corners: bool, output_size) -> None:
    torch.manual_seed(0)
    localization = LocalizationNet((2, 30, 50), "affine")
    with torch.no_grad():
        localization.head.weight.normal_(0, 0.05)
    x = torch.rand(3, 2, 30, 50)
    ours = lesson05.SpatialTransformer(localization, output_size, align_corners)
    for sampler in ("torch", "stnlib"):
        library = LibrarySpatialTransformer(
            (2, 30, 50), output_size=output_size, align_corners=align_corners, sampler=sampler,
            localization=localization,
        )  # fmt: skip
        (out, theta), (lib_out, lib_theta) = ours(x), library(x)
        assert torch.equal(theta, lib_theta)
        assert out.shape == (3, 2, *(output_size or (30, 50)))
        assert torch.allclose(out, lib_out, atol=1e-5)


def test_transformer_is_the_identity_at_initialisation_and_validates_its_inputs() -> None:
    st = lesson05.SpatialTransformer(SmallLocalizationNet((1, 28, 28)))
    x = torch.rand(2, 1, 28, 28)
    assert torch.allclose(st(x)[0], x, atol=1e-5)
    with pytest.raises(ValueError, match=r"shape \(N, C, H, W\)"):
        st(x[0])
    with pytest.raises(TypeError, match="localization must be"):
        lesson05.SpatialTransformer(lambda x: x)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="output_size"):
        lesson05.SpatialTransformer(SmallLocalizationNet((1, 28, 28)), output_size=(0, 5))


def test_st_cnn_matches_the_library_classifier() -> None:
    torch.manual_seed(0)
    transformer = LibrarySpatialTransformer((1, 42, 42))
    with torch.no_grad():
        transformer.localization.head.weight.normal_(0, 0.05)
    classifier = CNN((1, 42, 42), channels=(4, 8))
    x = torch.rand(4, 1, 42, 42)
    assert torch.allclose(
        lesson05.STCNN(transformer, classifier)(x), STClassifier(transformer, classifier)(x)
    )


@pytest.mark.parametrize("align_corners", [False, True])
def test_region_corners_match_the_viz_outline_and_the_determinant(align_corners: bool) -> None:
    theta = geometry.affine_theta(
        rotation=torch.tensor([0.3, -1.0]), scale=torch.tensor([[0.5, 0.7], [1.1, 0.4]]),
        translation=torch.tensor([[0.1, -0.2], [0.0, 0.3]]),
    )  # fmt: skip
    corners = lesson05.region_corners(theta, (30, 50), align_corners)
    assert torch.allclose(
        corners, viz.sampled_region_outline(theta, (30, 50), align_corners)[:, :4], atol=1e-5
    )
    if not align_corners:  # then ±1 are the image's outer edges: the region's area is |det A| of the image's
        x, y = corners.unbind(-1)
        area = 0.5 * (x * y.roll(-1, 1) - x.roll(-1, 1) * y).sum(1).abs()
        assert torch.allclose(area / (30 * 50), theta[:, :, :2].det().abs(), atol=1e-5)
    with pytest.raises(ValueError, match="theta must have shape"):
        lesson05.region_corners(theta[0], (30, 50))


def test_the_lessons_name_rule_agrees_with_the_library_on_library_models() -> None:
    # the lesson teaches "a part of the name is 'localization'"; the library also finds LocalizationNets by type
    for name, in_shape in [("ST-CNN-Aff", (1, 42, 42)), ("2xST-CNN", (2, 42, 42)), ("CNN", (1, 28, 28))]:
        model = build_model(name, in_shape)
        ours = {
            id(p): g.get("lr", 0.02)
            for g in student_groups(model, 0.02, 0.3)
            for p in g["params"]
            if g["params"]
        }
        theirs = {id(p): g["lr"] for g in library_parameter_groups(model, 0.02, 0.3) for p in g["params"]}
        assert ours == theirs and len(ours) == len(list(model.parameters()))


def test_parameter_groups_leave_out_frozen_parameters() -> None:
    model = build_model("ST-CNN-Aff", (1, 42, 42))
    model.classifier.requires_grad_(False)
    groups = lesson05.parameter_groups(model, 0.01)
    assert [g["name"] for g in groups] == ["localization"]
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        lesson05.parameter_groups("model", 0.01)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ exercise 1: the module


@pytest.mark.parametrize(
    ("variant", "status", "diagnosis"),
    [
        ("ignores_align_corners", Status.FAILED, "align_corners=False: pass self.align_corners"),
        ("sampler_default", Status.FAILED, "the sampler used another align_corners"),
        ("inverse", Status.FAILED, "inverse of θ"),
        ("no_sampling", Status.FAILED, "the input itself"),
        ("ignores_output_size", Status.WRONG_SHAPE, "self.output_size"),
        ("detached", Status.FAILED, "no gradient reaches the localization network"),
        ("output_only", Status.WRONG_TYPE, "the pair (output, theta)"),
    ],
)
def test_transformer_wrong_answers(variant: str, status: Status, diagnosis: str) -> None:
    result = failed(lesson05.check_spatial_transformer, transformer_with(variant))
    assert result.status is status
    assert diagnosis in (result.first_failure or "")
    assert "self.localization(x)" in (result.hint or "")


def test_transformer_checker_wants_the_class_not_an_instance() -> None:
    result = failed(lesson05.check_spatial_transformer, Transformer(SmallLocalizationNet((1, 28, 28))))
    assert result.status is Status.ERROR and "pass the class itself" in (result.first_failure or "")


# ------------------------------------------------------------------------ exercise 2: the region corners


CORNERS = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])


def corners_with(mistake: str) -> Callable[..., Tensor]:
    def fn(theta: Tensor, size: tuple[int, int], align_corners: bool = False) -> Tensor:
        used = geometry.invert_affine(theta) if mistake == "inverse" else theta
        points = CORNERS.to(theta.dtype) @ used[:, :, :2].transpose(1, 2)
        if mistake != "no_translation":
            points = points + used[:, None, :, 2]
        if mistake == "normalised":
            return points
        h, w = size
        pixels = normalized_to_pixel(
            points, (w, h) if mistake == "swapped_size" else (h, w), (not align_corners) if mistake == "corners" else align_corners
        )  # fmt: skip
        if mistake == "xy":
            return pixels.flip(-1)
        if mistake == "reading_order":
            return pixels[:, [0, 1, 3, 2]]
        if mistake == "transposed":
            return pixels.transpose(1, 2)
        return pixels

    return fn


@pytest.mark.parametrize(
    ("mistake", "status", "diagnosis"),
    [
        ("normalised", Status.FAILED, "normalised coordinates"),
        ("corners", Status.FAILED, "align_corners=True convention"),
        ("swapped_size", Status.FAILED, "height and width are swapped"),
        ("xy", Status.FAILED, "x and y are swapped"),
        ("reading_order", Status.FAILED, "reading order"),
        ("inverse", Status.FAILED, "θ⁻¹"),
        ("no_translation", Status.FAILED, "translation is missing"),
        ("transposed", Status.WRONG_SHAPE, "(N, 4, 2)"),
    ],
)
def test_region_corners_wrong_answers(mistake: str, status: Status, diagnosis: str) -> None:
    result = failed(lesson05.check_region_corners, corners_with(mistake))
    assert result.status is status
    assert diagnosis in (result.first_failure or "")
    assert "normalized_to_pixel" in (result.hint or "")


def test_region_corners_without_gradient_fails() -> None:
    def detached(theta: Tensor, size: tuple[int, int], align_corners: bool = False) -> Tensor:
        return lesson05.region_corners(theta.detach(), size, align_corners)

    result = failed(lesson05.check_region_corners, detached)
    assert result.status is Status.FAILED and "no gradient flows" in (result.first_failure or "")


# ------------------------------------------------------------------------------- exercise 3: the ST-CNN


def test_classifying_the_untransformed_input_is_diagnosed() -> None:
    result = failed(lesson05.check_st_cnn, st_cnn_with("classifies_input"))
    assert result.status is Status.FAILED
    failure = result.first_failure or ""
    assert "untransformed input" in failure and "classic" in failure and "no gradient" in failure


@pytest.mark.parametrize(
    ("variant", "status", "message"),
    [
        ("detached", Status.FAILED, "no gradient reaches the localization network"),
        ("returns_theta", Status.WRONG_TYPE, "return only the classifier's logits"),
        ("unregistered", Status.WRONG_TYPE, "does not own"),
        ("other_names", Status.WRONG_TYPE, "self.transformer and self.classifier"),
    ],
)
def test_st_cnn_wrong_answers(variant: str, status: Status, message: str) -> None:
    result = failed(lesson05.check_st_cnn, st_cnn_with(variant))
    assert result.status is status
    assert message in (result.first_failure or "")


# ---------------------------------------------------------------------------- exercise 4: parameter groups


def groups_with(mistake: str) -> Callable[..., Any]:
    def fn(model: nn.Module, lr: float, multiplier: float = 0.1) -> Any:
        named = list(model.named_parameters())
        slow = [p for n, p in named if "localization" in n.split(".")]
        rest = [p for n, p in named if "localization" not in n.split(".")]
        if mistake == "no_multiplier":
            return [{"params": rest, "lr": lr}, {"params": slow, "lr": lr}]
        if mistake == "swapped":
            return [{"params": rest, "lr": lr * multiplier}, {"params": slow, "lr": lr}]
        if mistake == "divided":
            return [{"params": rest, "lr": lr}, {"params": slow, "lr": lr / multiplier}]
        if mistake == "head_only":
            head = [p for n, p in named if "localization" in n.split(".") and ".head." in n]
            others = [p for n, p in named if not ("localization" in n.split(".") and ".head." in n)]
            return [{"params": others, "lr": lr}, {"params": head, "lr": lr * multiplier}]
        if mistake == "duplicates":
            return [{"params": [p for _, p in named], "lr": lr}, {"params": slow, "lr": lr * multiplier}]
        if mistake == "missing":
            return [{"params": slow, "lr": lr * multiplier}]
        if mistake == "names":
            return [{"params": [n for n, _ in named], "lr": lr}]
        if mistake == "no_return":
            return None
        raise AssertionError(mistake)

    return fn


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        ("no_multiplier", "every parameter trains at lr"),
        ("swapped", "swapped"),
        ("divided", "divided by the multiplier"),
        ("head_only", "only some of the localization network's parameters"),
        ("duplicates", "more than one group"),
        ("missing", "would never be trained"),
        ("names", "not their names"),
        ("no_return", "forget to `return`"),
    ],
)
def test_parameter_groups_wrong_answers(mistake: str, message: str) -> None:
    result = failed(lesson05.check_parameter_groups, groups_with(mistake))
    assert result.status is Status.FAILED
    assert message in (result.first_failure or "")
    assert "name.split('.')" in (result.hint or "")


def test_parameter_groups_that_assume_one_structure_report_the_error() -> None:
    def only_st_cnn(model: nn.Module, lr: float, multiplier: float = 0.1) -> list[dict]:
        return [
            {"params": model.classifier.parameters(), "lr": lr},
            {"params": model.transformer.localization.parameters(), "lr": lr * multiplier},
        ]

    result = failed(lesson05.check_parameter_groups, only_st_cnn)
    assert result.status is Status.ERROR and "AttributeError" in (result.first_failure or "")
    assert result.passed >= 2  # both cases on this lesson's ST-CNN passed


def test_an_optimiser_built_from_the_groups_trains_the_localization_net_slower() -> None:
    torch.manual_seed(0)
    model = lesson05.STCNN(
        lesson05.SpatialTransformer(SmallLocalizationNet((1, 42, 42))), CNN((1, 42, 42), channels=(4, 8))
    )
    optimizer = torch.optim.SGD(lesson05.parameter_groups(model, 0.01, 0.1), lr=0.01)
    lrs = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    assert all(math.isclose(lrs[id(p)], 0.001) for p in model.transformer.localization.parameters())
    assert all(math.isclose(lrs[id(p)], 0.01) for p in model.classifier.parameters())
    assert len(lrs) == len(list(model.parameters()))
    loss = F.cross_entropy(model(torch.rand(4, 1, 42, 42)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    head = model.transformer.localization.head.weight
    assert head.grad is not None and head.grad.abs().sum() > 0  # the loss reaches θ's layer


# ------------------------------------------------------------------------- the training step and loop


def step_with(mistake: str) -> Callable[..., Any]:
    """``training_step`` with one typical mistake."""

    def step(model: nn.Module, optimizer: torch.optim.Optimizer, images: Tensor, labels: Tensor) -> Any:
        if mistake == "new_optimizer":
            optimizer = torch.optim.SGD(model.parameters(), lr=optimizer.defaults["lr"])
        if mistake != "no_zero_grad":
            optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        if mistake != "no_backward":
            loss.backward()
        if mistake not in ("no_step", "no_backward"):
            optimizer.step()
        if mistake == "tensor":
            return loss
        if mistake == "loss_after":
            return F.cross_entropy(model(images), labels).item()
        if mistake == "no_return":
            return None
        return loss.item()

    return step


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        ("no_zero_grad", "call optimizer.zero_grad() before loss.backward()"),
        ("new_optimizer", "moved at the base learning rate"),
        ("no_step", "no parameter moved"),
        ("no_backward", "no parameter moved"),
        ("tensor", "return loss.item(), a Python number"),
        ("loss_after", "return the loss computed before optimizer.step()"),
        ("no_return", "returned None"),
    ],
)
def test_training_step_wrong_answers(mistake: str, message: str) -> None:
    result = failed(lesson05.check_training_step, step_with(mistake))
    assert message in (result.first_failure or "")


def test_training_step_detached_transformer_is_diagnosed() -> None:
    def step(model: nn.Module, optimizer: torch.optim.Optimizer, images: Tensor, labels: Tensor) -> float:
        optimizer.zero_grad()
        output, _ = model.transformer(images)
        loss = F.cross_entropy(model.classifier(output.detach()), labels)
        loss.backward()
        optimizer.step()
        return loss.item()

    result = failed(lesson05.check_training_step, step)
    assert "the localization network did not move" in (result.first_failure or "")


def test_training_step_zeroing_after_the_step_is_right_too() -> None:
    def step(model: nn.Module, optimizer: torch.optim.Optimizer, images: Tensor, labels: Tensor) -> float:
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return float(loss)

    assert lesson05.check_training_step(step, quiet=True)


def test_training_step_lowers_the_loss_on_a_fixed_batch_and_moves_both_groups() -> None:
    torch.manual_seed(0)
    model = lesson05.STCNN(
        lesson05.SpatialTransformer(SmallLocalizationNet((1, 42, 42))), CNN((1, 42, 42), channels=(4, 8))
    )
    optimizer = torch.optim.AdamW(lesson05.parameter_groups(model, 3e-3, 1.0), lr=3e-3, weight_decay=0.0)
    images, labels = torch.rand(16, 1, 42, 42), torch.randint(0, 10, (16,))
    head_before = model.transformer.localization.head.bias.detach().clone()
    losses = [lesson05.training_step(model, optimizer, images, labels) for _ in range(30)]
    assert losses[-1] < 0.8 * losses[0]
    assert not torch.equal(model.transformer.localization.head.bias, head_before)


def loop_with(mistake: str) -> Callable[..., Any]:
    """``train_and_watch`` with one typical mistake."""

    def loop(model, optimizer, scheduler, data, epochs, watch):  # type: ignore[no-untyped-def]
        log = []
        if mistake == "train_once":
            model.train()
        for epoch in range(epochs):
            if mistake != "train_once":
                model.train()
            losses = []
            for images, labels in data:
                losses.append(lesson05.training_step(model, optimizer, images, labels))
                if mistake != "scheduler_per_epoch":
                    scheduler.step()
            if mistake == "scheduler_per_epoch":
                scheduler.step()
            if mistake != "no_eval":
                model.eval()
            loss = losses[-1] if mistake == "last_loss" else sum(losses) / len(losses)
            row = {"epoch": epoch if mistake == "from_zero" else epoch + 1, "train_loss": loss}
            if mistake != "no_watch":
                row.update(watch(model))
            log.append(row)
        return log[:-1] if mistake == "short" else log

    return loop


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        ("from_zero", "number the epochs from 1"),
        ("scheduler_per_epoch", "scheduler.step() once after every batch"),
        ("last_loss", "mean of all the epoch's batch losses"),
        ("no_eval", "call model.eval() before watching"),
        ("train_once", "call model.train() at the start of every epoch"),
        ("no_watch", "what watch(model) returned"),
        ("short", "log one row per epoch"),
    ],
)
def test_train_and_watch_wrong_answers(mistake: str, message: str) -> None:
    result = failed(lesson05.check_train_and_watch, loop_with(mistake))
    assert message in (result.first_failure or "")
