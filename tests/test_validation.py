"""Tests of stnlib._validation: what the shared checks accept, and that their messages carry the fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stnlib._validation import Dims, check_same_device, check_size, check_tensor


def test_accepts_and_binds_named_dimensions():
    dims = check_tensor(torch.zeros(4, 2, 3), "theta", "N 2 3")
    assert dims["N"] == 4 and dims.bound_by["N"] == "theta"
    check_tensor(torch.zeros(4, 1, 5, 6), "image", "N C H W", dims)
    assert (dims["C"], dims["H"], dims["W"]) == (1, 5, 6)


def test_not_a_tensor():
    with pytest.raises(
        TypeError, match=r"theta must be a torch.Tensor of shape \(N, 2, 3\); got None.*return"
    ):
        check_tensor(None, "theta", "N 2 3")
    with pytest.raises(TypeError, match=r"got list\. Convert it with torch.as_tensor"):
        check_tensor([[1.0, 0.0]], "theta", "N 2 3")


def test_shape_messages_carry_the_usual_fix():
    with pytest.raises(
        ValueError, match=r"theta must have shape \(N, 2, 3\); got \(2, 3\) — .*theta\[None\]"
    ):
        check_tensor(torch.zeros(2, 3), "theta", "N 2 3")
    with pytest.raises(
        ValueError, match=r"got \(1, 4, 2, 3\) — remove the extra leading dimension with theta\[0\]"
    ):
        check_tensor(torch.zeros(1, 4, 2, 3), "theta", "N 2 3")
    with pytest.raises(
        ValueError, match=r"got \(2, 1, 4, 5, 5\) — volumes \(N, C, D, H, W\) are not supported"
    ):
        check_tensor(torch.zeros(2, 1, 4, 5, 5), "input", "N C H W")
    with pytest.raises(ValueError, match=r"grid must have shape \(N, H, W, 2\).*holds \(x, y\).*size 2"):
        check_tensor(torch.zeros(1, 4, 4, 3), "grid", "N H W 2")
    with pytest.raises(ValueError, match=r"got \(8, 28, 28\) — .*input\[None\].*input\[:, None\]"):
        check_tensor(torch.zeros(8, 28, 28), "input", "N C H W")
    with pytest.raises(ValueError, match=r"theta must have shape \(N, 2, 3\); got \(4, 3, 3\)$"):
        check_tensor(torch.zeros(4, 3, 3), "theta", "N 2 3")


def test_leading_ellipsis():
    check_tensor(torch.zeros(3), "r2", "...")
    check_tensor(torch.zeros(()), "r2", "...")
    dims = check_tensor(torch.zeros(2, 5, 7, 2), "points", "... M 2")
    assert dims["M"] == 7
    with pytest.raises(
        ValueError, match=r"points must have shape \(\.\.\., 2\); got \(5, 3\) — the last dimension"
    ):
        check_tensor(torch.zeros(5, 3), "points", "... 2")
    with pytest.raises(ValueError, match=r"got \(\)"):
        check_tensor(torch.zeros(()), "points", "... 2")


def test_mismatches_name_both_arguments():
    dims = check_tensor(torch.zeros(2, 2, 3), "theta", "N 2 3")
    with pytest.raises(
        ValueError, match=r"image and theta disagree on N: theta has N=2, image has N=3\. Pass the same"
    ):
        check_tensor(torch.zeros(3, 1, 4, 4), "image", "N C H W", dims)
    dims = check_tensor(torch.zeros(1, 16, 2), "target_points", "N P 2")
    with pytest.raises(ValueError, match=r"control_points has P=9\.$"):
        check_tensor(torch.zeros(9, 2), "control_points", "P 2", dims)


def test_dtype_messages():
    with pytest.raises(
        TypeError,
        match=r"image must be a floating-point tensor.*torch.uint8.*image.float\(\) and divide by 255",
    ):
        check_tensor(torch.zeros(1, 1, 4, 4, dtype=torch.uint8), "image", "N C H W")
    with pytest.raises(TypeError, match=r"got torch.int64\. Convert it with theta.float\(\)\.$"):
        check_tensor(torch.zeros(1, 2, 3, dtype=torch.int64), "theta", "N 2 3")
    check_tensor(torch.zeros(1, 2, 3, dtype=torch.int64), "index", "N 2 3", floating=False)
    check_tensor(torch.zeros(1, 2, 3, dtype=torch.float16), "theta", "N 2 3")  # any floating dtype passes


def test_empty_batch_and_non_finite_values():
    with pytest.raises(ValueError, match=r"theta has an empty batch \(N=0\)"):
        check_tensor(torch.zeros(0, 2, 3), "theta", "N 2 3")
    assert check_tensor(torch.zeros(0, 2, 3), "theta", "N 2 3", allow_empty=True)["N"] == 0
    bad = torch.zeros(2, 2, 3)
    bad[1, 0, 0] = float("nan")
    check_tensor(bad, "theta", "N 2 3")  # not checked unless asked
    with pytest.raises(ValueError, match=r"theta contains NaN or infinite values.*lower its learning rate"):
        check_tensor(bad, "theta", "N 2 3", finite=True)


def test_check_size():
    dims = check_tensor(torch.zeros(2, 2, 3), "theta", "N 2 3")
    assert check_size(torch.Size([2, 3, 5, 7]), "size", "N C H W", dims) == (2, 3, 5, 7)
    assert check_size([2, np.int64(1), 5, 7], "size") == (2, 1, 5, 7)  # numpy integers are integers
    assert check_size((5, 7), "input_size", "H W") == (5, 7)
    with pytest.raises(ValueError, match="size and theta disagree on N: theta has N=2, size has N=4"):
        check_size((4, 1, 5, 5), "size", dims=dims)
    with pytest.raises(
        ValueError, match=r"size must have 4 entries \(N, C, H, W\); got \(28, 28\) — .*image.shape"
    ):
        check_size((28, 28), "size")
    with pytest.raises(ValueError, match=r"input_size must have 2 entries.*image.shape\[-2:\]"):
        check_size((1, 1, 28, 28), "input_size", "H W")
    with pytest.raises(TypeError, match=r"got a tensor of shape \(1, 1, 4, 4\)\. Pass image.shape"):
        check_size(torch.zeros(1, 1, 4, 4), "size")
    with pytest.raises(TypeError, match="must hold integers"):
        check_size((1, 1, 4.5, 4), "size")
    with pytest.raises(TypeError, match="got int"):
        check_size(28, "size")
    with pytest.raises(ValueError, match=r"empty batch \(N=0\)"):
        check_size((0, 1, 4, 4), "size")
    with pytest.raises(ValueError, match="H=0; every entry must be >= 1"):
        check_size((1, 1, 0, 4), "size")


def test_dims_record_is_shared_explicitly():
    dims = Dims()
    dims.bind("N", 3, "theta")
    dims.bind("N", 3, "image")
    assert dims.bound_by["N"] == "theta"
    with pytest.raises(ValueError, match="grid and theta disagree on N"):
        dims.bind("N", 4, "grid")


def test_check_same_device():
    a = torch.zeros(2)
    check_same_device(a, "a", torch.ones(3), "b")
    with pytest.raises(
        TypeError, match=r"a has dtype torch.float32 but b has dtype torch.float64.*b.to\(a.dtype\)"
    ):
        check_same_device(a, "a", a.double(), "b")
    with pytest.raises(ValueError, match=r"a is on cpu but b is on meta.*b.to\(a.device\)"):
        check_same_device(a, "a", torch.zeros(2, device="meta"), "b")


def test_docstring_examples_run():
    import doctest

    import stnlib._validation

    results = doctest.testmod(stnlib._validation)
    assert results.attempted > 0 and results.failed == 0
