"""The checker framework (stnlib.checks): comparisons, every outcome of a check, the fallback, lazy modules.

``check_affine_grid`` below is a worked example of a lesson checker, written the way lesson authors write
theirs in stnlib/checks/lessonNN.py; the tests run it on correct and on typically wrong student functions.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import stnlib.checks as checks
from stnlib import geometry
from stnlib.checks import (
    Case,
    CheckFailed,
    CheckResult,
    Status,
    check_function,
    compare_gradients,
    compare_tensors,
    tolerance_for,
    use_or_fallback,
)

# ------------------------------------------------------------------------- a worked example checker


def _affine_grid_cases() -> list[Case]:
    generator = torch.Generator().manual_seed(0)
    cases = []
    for n, (h, w), align_corners, dtype in [
        (1, (4, 4), False, torch.float32),
        (2, (3, 5), False, torch.float32),  # non-square, batch > 1
        (2, (5, 3), True, torch.float32),
        (3, (2, 7), True, torch.float64),
        (1, (6, 4), False, torch.float64),
    ]:
        theta = torch.randn(n, 2, 3, generator=generator, dtype=dtype)
        name = f"N={n}, {h}x{w}, align_corners={align_corners}, {str(dtype).removeprefix('torch.')}"
        cases.append(Case(name, (theta, (n, 1, h, w)), {"align_corners": align_corners}))
    return cases


def _diagnose_affine_grid(case: Case, actual: object, expected: object) -> str | None:
    theta, size = case.args
    other = F.affine_grid(theta, list(size), align_corners=not case.kwargs["align_corners"])
    if isinstance(actual, torch.Tensor) and actual.shape == other.shape and actual.dtype == other.dtype:
        if torch.allclose(actual, other):
            return f"your grid is the one for align_corners={not case.kwargs['align_corners']}."
    return None


def check_affine_grid(student_fn):
    """Check ``affine_grid(theta, size, align_corners)``, the paper's eq. (1)."""
    return check_function(
        "affine_grid",
        student_fn,
        geometry.affine_grid,
        _affine_grid_cases(),
        torch_fn=lambda theta, size, align_corners: F.affine_grid(
            theta, list(size), align_corners=align_corners
        ),
        grad_wrt=(0,),
        diagnose=_diagnose_affine_grid,
        hint="x runs along the width W and y along the height H; pixel centres depend on align_corners.",
        timeout=1.0,
    )


N_CASES = len(_affine_grid_cases())


def correct(theta, size, align_corners=False):
    _, _, h, w = size
    xs = (torch.arange(w, dtype=theta.dtype) * 2 + 1) / w - 1
    ys = (torch.arange(h, dtype=theta.dtype) * 2 + 1) / h - 1
    if align_corners:
        xs, ys = torch.linspace(-1, 1, w, dtype=theta.dtype), torch.linspace(-1, 1, h, dtype=theta.dtype)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    points = torch.stack([grid_x, grid_y, torch.ones_like(grid_x)], dim=-1)
    return torch.einsum("hwk,nik->nhwi", points, theta)


def not_implemented(theta, size, align_corners=False):
    # YOUR CODE HERE
    raise NotImplementedError()


# ------------------------------------------------------------------------------------ passing checks


def test_correct_function_passes_and_is_used(capsys) -> None:
    result = check_affine_grid(correct)
    assert isinstance(result, CheckResult) and result and result.status is Status.PASSED
    assert (result.passed, result.total) == (N_CASES, N_CASES)
    assert result.max_error is not None and result.max_error < 1e-5
    out = capsys.readouterr().out
    assert out.startswith(
        f"✅ affine_grid: all {N_CASES} cases passed (compared with stnlib.geometry.affine_grid"
    )
    assert use_or_fallback(correct, geometry.affine_grid) is correct
    assert (
        capsys.readouterr().out
        == "Your affine_grid passed its check — using it for the rest of the lesson.\n"
    )


def test_not_implemented_does_not_raise_and_falls_back(capsys) -> None:
    result = check_affine_grid(not_implemented)
    assert not result and result.status is Status.NOT_IMPLEMENTED and result.passed == 0
    assert "not implemented yet" in capsys.readouterr().out
    assert use_or_fallback(not_implemented, geometry.affine_grid) is geometry.affine_grid
    assert capsys.readouterr().out == (
        "Your affine_grid is not implemented yet — using stnlib.geometry.affine_grid so the rest of the lesson runs.\n"
    )


# ------------------------------------------------------------------------------------ failing checks


def failing(student_fn) -> tuple[CheckResult, str]:
    """Run the worked checker, which must raise CheckFailed; return its result and the printed report."""
    with pytest.raises(CheckFailed) as error:
        check_affine_grid(student_fn)
    return error.value.result, str(error.value.result)


def test_wrong_align_corners_reports_case_error_index_and_hint() -> None:
    def swapped(theta, size, align_corners=False):
        return F.affine_grid(theta, list(size), align_corners=not align_corners)

    result, report = failing(swapped)
    assert result.status is Status.FAILED and result.passed == 0 and not result
    expected_max = max(
        float((swapped(*c.args, **c.kwargs) - geometry.affine_grid(*c.args, **c.kwargs)).abs().max())
        for c in _affine_grid_cases()
    )
    assert result.max_error == pytest.approx(expected_max)
    worst_case = next(
        c
        for c in _affine_grid_cases()
        if c.name == result.max_error_case  # the index reported is where that case's error is largest
    )
    diff = (
        swapped(*worst_case.args, **worst_case.kwargs)
        - geometry.affine_grid(*worst_case.args, **worst_case.kwargs)
    ).abs()
    assert diff[result.max_error_index] == pytest.approx(expected_max)
    assert f"First failing case: {_affine_grid_cases()[0].name!r}" in report
    assert "Diagnosis: your grid is the one for align_corners=True." in report
    assert "Hint: x runs along the width W" in report
    assert "Largest error (stnlib.geometry.affine_grid): " in report
    assert f"at index {result.max_error_index}" in report


def test_use_or_fallback_after_a_failed_check(capsys) -> None:
    def zeros(theta, size, align_corners=False):
        return torch.zeros(size[0], size[2], size[3], 2, dtype=theta.dtype)

    failing(zeros)
    capsys.readouterr()
    assert use_or_fallback(zeros, geometry.affine_grid) is geometry.affine_grid
    assert capsys.readouterr().out == (
        f"Your affine_grid did not pass its check (failed, 0/{N_CASES} cases) — using stnlib.geometry.affine_grid "
        "so the rest of the lesson runs.\n"
    )


def test_height_and_width_swapped_is_a_shape_error() -> None:
    def transposed(theta, size, align_corners=False):
        n, c, h, w = size
        return F.affine_grid(theta, [n, c, w, h], align_corners=align_corners)

    result, report = failing(transposed)
    assert result.status is Status.WRONG_SHAPE
    assert result.passed == 1  # the square case passes
    assert "Height and width look swapped" in report


def test_float32_result_for_float64_input_is_a_dtype_error() -> None:
    def always_float32(theta, size, align_corners=False):
        return F.affine_grid(theta.float(), list(size), align_corners=align_corners)

    result, report = failing(always_float32)
    assert result.status is Status.WRONG_DTYPE
    float32_cases = sum(c.args[0].dtype == torch.float32 for c in _affine_grid_cases())
    assert result.passed == float32_cases and result.total == N_CASES
    assert "has dtype torch.float32; expected torch.float64" in report and "dtype=theta.dtype" in report


def test_returning_none_or_a_list_is_a_type_error() -> None:
    def forgot_return(theta, size, align_corners=False):
        F.affine_grid(theta, list(size), align_corners=align_corners)

    result, report = failing(forgot_return)
    assert result.status is Status.WRONG_TYPE and "forget to `return`" in report

    def returns_list(theta, size, align_corners=False):
        return F.affine_grid(theta, list(size), align_corners=align_corners).tolist()

    result, report = failing(returns_list)
    assert result.status is Status.WRONG_TYPE and "got a list" in report and "torch.stack" in report


def test_exception_reports_the_students_own_line_not_a_traceback() -> None:
    def buggy(theta, size, align_corners=False):
        scale = theta[:, :, :2]
        return scale @ torch.ones(3, 3, dtype=theta.dtype)  # the student's bug: (2x2) @ (3x3)

    result, report = failing(buggy)
    assert result.status is Status.ERROR and result.passed == 0
    assert "RuntimeError:" in report
    assert "return scale @ torch.ones(3, 3, dtype=theta.dtype)" in report
    line = buggy.__code__.co_firstlineno + 2
    assert f"(line {line} of {Path(__file__).name}, in buggy" in report
    assert "Traceback" not in report


def test_error_inside_a_library_call_points_at_the_students_call() -> None:
    def calls_torch_wrongly(theta, size, align_corners=False):
        return F.affine_grid(theta[:, :, :2], size, align_corners=align_corners)  # theta without t

    _, report = failing(calls_torch_wrongly)
    assert "return F.affine_grid(theta[:, :, :2], size, align_corners=align_corners)" in report


def test_endless_loop_times_out_quickly() -> None:
    def endless(theta, size, align_corners=False):
        while True:
            pass

    handler_before = signal.getsignal(signal.SIGALRM)
    started = time.monotonic()
    result, report = failing(endless)
    assert result.status is Status.TIMEOUT and "did not finish within 1 s" in report
    assert result.passed == 0 and time.monotonic() - started < 10  # stopped after the first case
    assert signal.getsignal(signal.SIGALRM) is handler_before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no interval timers on this platform")
def test_timeout_restores_a_timer_that_was_already_running() -> None:
    fired: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    signal.setitimer(signal.ITIMER_REAL, 100.0)
    try:
        check_function("sin", torch.sin, torch.sin, [Case("x", (torch.zeros(3),))], quiet=True, timeout=1.0)
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 90.0 < remaining <= 100.0
        assert signal.getsignal(signal.SIGALRM) is not previous and not fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_no_timeout_outside_the_main_thread() -> None:
    def slow(x):
        time.sleep(0.3)
        return torch.sin(x)

    results: list[CheckResult] = []
    thread = threading.Thread(
        target=lambda: results.append(
            check_function("sin", slow, torch.sin, [Case("x", (torch.zeros(3),))], quiet=True, timeout=0.05)
        )
    )
    thread.start()
    thread.join()
    assert results and results[0].status is Status.PASSED


def test_gradients_must_flow_and_match() -> None:
    def detached(theta, size, align_corners=False):
        return F.affine_grid(theta.detach(), list(size), align_corners=align_corners)

    result, report = failing(detached)
    assert result.status is Status.FAILED and "no gradient flows from the result back to argument 0" in report

    def wrong_gradient(theta, size, align_corners=False):
        grid = F.affine_grid(theta, list(size), align_corners=align_corners)
        return grid.detach() + 2 * (grid - grid.detach())  # right values, doubled gradient

    result, report = failing(wrong_gradient)
    assert result.status is Status.FAILED and "the gradient with respect to argument 0 differs" in report


class _OpenBackward(torch.autograd.Function):
    """A hand-written backward that a student has not written yet."""

    @staticmethod
    def forward(ctx, theta):
        return theta.clone()

    @staticmethod
    def backward(ctx, grad):
        # YOUR CODE HERE
        raise NotImplementedError()


def test_open_backward_exercise_is_not_implemented_not_an_error(capsys) -> None:
    def forward_done_backward_open(theta, size, align_corners=False):
        return F.affine_grid(_OpenBackward.apply(theta), list(size), align_corners=align_corners)

    result = check_affine_grid(forward_done_backward_open)  # must not raise CheckFailed
    assert result.status is Status.NOT_IMPLEMENTED
    assert "not implemented yet" in capsys.readouterr().out


def test_modifying_the_input_in_place_does_not_change_the_reference() -> None:
    def clobbers(theta, size, align_corners=False):
        grid = F.affine_grid(theta, list(size), align_corners=align_corners)
        theta.zero_()
        return grid

    def reference(theta, size, align_corners=False):
        return F.affine_grid(theta, list(size), align_corners=align_corners)

    assert check_function("affine_grid", clobbers, reference, _affine_grid_cases(), quiet=True)


def test_a_broken_diagnosis_only_warns() -> None:
    def wrong(x):
        return x + 1

    with (
        pytest.warns(UserWarning, match="the diagnosis of the sin checker failed"),
        pytest.raises(CheckFailed),
    ):
        check_function(
            "sin", wrong, torch.sin, [Case("x", (torch.zeros(3),))], diagnose=lambda *_: 1 / 0, quiet=True
        )


def test_passing_a_result_instead_of_a_function() -> None:
    with pytest.raises(CheckFailed) as error:
        check_affine_grid(torch.zeros(1, 2, 2, 2))
    assert error.value.result.status is Status.WRONG_TYPE
    assert "Pass the function itself, e.g. check_affine_grid(affine_grid)" in str(error.value.result)


def test_unchecked_function_falls_back_and_says_so(capsys) -> None:
    def my_grid(theta, size, align_corners=False):
        return theta

    assert use_or_fallback(my_grid, geometry.affine_grid, name="affine_grid") is geometry.affine_grid
    assert "Your affine_grid has not been checked yet (run its check cell)" in capsys.readouterr().out
    passed = CheckResult("affine_grid", Status.PASSED, 3, 3)
    assert use_or_fallback(my_grid, geometry.affine_grid, passed) is my_grid


# ------------------------------------------------------------------------------- Jupyter integration


def test_check_failed_shows_one_line_in_ipython(capsys) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        shell.user_ns["CheckFailed"] = CheckFailed
        shell.user_ns["result"] = CheckResult("affine_grid", Status.FAILED, 1, 4)
        outcome = shell.run_cell("raise CheckFailed(result)")
        assert isinstance(outcome.error_in_exec, CheckFailed)
    finally:
        InteractiveShell.clear_instance()
    shown = capsys.readouterr()
    text = shown.out + shown.err
    assert "CheckFailed: affine_grid did not pass its check (failed) — see the report above." in text
    assert "Traceback" not in text and "raise CheckFailed" not in text


def test_result_representations() -> None:
    result = CheckResult("grid", Status.FAILED, 2, 5, max_error=0.5, first_failure="'c': wrong", hint="think")
    assert repr(result) == "CheckResult('grid': failed, 2/5 cases)"
    assert str(result).splitlines()[0] == "❌ grid: failed — 2/5 cases passed."
    assert (
        result._repr_html_()
        == '<span class="stn-check-result" style="color:#cf222e">grid: failed (2/5 cases)</span>'
    )
    assert "think" in str(result)


# -------------------------------------------------------------------------------------- comparisons


def test_tolerances_by_dtype() -> None:
    assert tolerance_for(torch.float64) < tolerance_for(torch.float32) < tolerance_for(torch.float16)
    assert tolerance_for(torch.int64) == (0.0, 0.0)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    values=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=12),
    noise=st.floats(-1e-3, 1e-3),
    position=st.integers(0, 11),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_compare_tensors_agrees_with_torch_isclose(values, noise, position, dtype) -> None:
    expected = torch.tensor(values, dtype=dtype)
    actual = expected.clone()
    actual[position % len(values)] += noise
    atol, rtol = tolerance_for(dtype)
    comparison = compare_tensors(actual, expected)
    assert comparison.ok == bool(torch.isclose(actual, expected, atol=atol, rtol=rtol).all())
    diff = (actual.double() - expected.double()).abs()
    assert comparison.max_error == pytest.approx(float(diff.max()))
    if not comparison.ok:
        assert comparison.index == (position % len(values),)


def test_compare_tensors_finds_the_index_in_several_dimensions() -> None:
    expected = torch.zeros(2, 3, 4, 2)
    actual = expected.clone()
    actual[1, 2, 0, 1] = 0.25
    comparison = compare_tensors(actual, expected)
    assert not comparison.ok and comparison.index == (1, 2, 0, 1)
    assert (comparison.actual, comparison.expected, comparison.max_error) == (0.25, 0.0, 0.25)


def test_compare_tensors_nan_and_structures() -> None:
    nan = compare_tensors(torch.tensor([0.0, math.nan]), torch.tensor([0.0, 1.0]))
    assert not nan.ok and "NaN" in nan.message and math.isnan(nan.max_error)
    assert compare_tensors(torch.tensor([math.nan]), torch.tensor([math.nan])).ok
    pair = compare_tensors((torch.zeros(2), torch.ones(3)), (torch.zeros(2), torch.zeros(3)))
    assert not pair.ok and pair.index == (1, 0) and "item 1" in pair.message
    assert compare_tensors(0.5, 0.5).ok and not compare_tensors(0.5, 0.6).ok
    assert compare_tensors(torch.tensor(0.5, dtype=torch.float64), 0.5).ok
    assert compare_tensors(torch.zeros(2, 3), torch.zeros(1, 2, 3)).status is Status.WRONG_SHAPE


def test_compare_gradients_agrees_with_autograd_of_pytorch() -> None:
    case = _affine_grid_cases()[3]  # float64
    ours = lambda theta, size, align_corners: geometry.affine_grid(theta, size, align_corners)  # noqa: E731
    torchs = lambda theta, size, align_corners: F.affine_grid(theta, list(size), align_corners=align_corners)  # noqa: E731
    assert compare_gradients(ours, torchs, case, wrt=(0,)).ok
    doubled = lambda theta, size, align_corners: torchs(2 * theta, size, align_corners) / 2  # noqa: E731
    assert compare_gradients(doubled, torchs, case, wrt=(0,)).ok  # same function, same gradient
    squared = lambda theta, size, align_corners: torchs(theta, size, align_corners) ** 2  # noqa: E731
    assert not compare_gradients(squared, torchs, case, wrt=(0,)).ok


# -------------------------------------------------------------------------------- package structure


def test_core_names_are_re_exported() -> None:
    from stnlib.checks import _core

    for name in _core.__all__:
        assert getattr(checks, name) is getattr(_core, name)


def test_lesson_modules_load_lazily(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lesson42.py").write_text("def check_answer(fn):\n    return fn() == 42\n")
    monkeypatch.setattr(checks, "__path__", [*checks.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "stnlib.checks.lesson42", raising=False)
    assert "lesson42" in dir(checks)
    assert checks.lesson42.check_answer(lambda: 42)
    sys.modules.pop("stnlib.checks.lesson42", None)
    with pytest.raises(AttributeError, match=r"no checkers for lesson43 \(available: .*lesson42"):
        checks.lesson43  # noqa: B018
    with pytest.raises(AttributeError):
        checks.not_a_lesson  # noqa: B018


def test_what_a_student_function_prints_is_captured_and_summarised(capsys) -> None:
    def chatty_sin(x):
        for k in range(20_000):
            print(f"step {k}")
        return torch.sin(x)

    result = check_function("sin", chatty_sin, torch.sin, [Case("x", (torch.zeros(3),))], timeout=None)
    assert result
    out = capsys.readouterr().out
    assert len(out.splitlines()) < 20
    assert "printed 20,000 lines" in out and "19,990 more lines hidden" in out
    assert "step 0" in out and "step 4" in out and "step 19999" in out and "step 5\n" not in out


def test_a_little_output_is_shown_whole_and_a_quiet_check_shows_none(capsys) -> None:
    def sin_saying_hello(x):
        print("hello", end="")
        return torch.sin(x)

    check_function("sin", sin_saying_hello, torch.sin, [Case("x", (torch.zeros(3),))])
    assert "printed 1 line during the check:\nhello" in capsys.readouterr().out
    check_function("sin", sin_saying_hello, torch.sin, [Case("x", (torch.zeros(3),))], quiet=True)
    assert capsys.readouterr().out == ""


def test_a_function_that_swallows_the_timeout_is_reported(capsys) -> None:
    def stubborn(x):
        deadline = time.monotonic() + 0.8
        while time.monotonic() < deadline:
            try:
                time.sleep(0.01)
            except BaseException:  # what a bare `except:` does
                pass
        return torch.sin(x)

    with pytest.raises(CheckFailed) as failed:
        check_function("sin", stubborn, torch.sin, [Case("x", (torch.zeros(3),))], timeout=0.2)
    assert failed.value.result.status is Status.TIMEOUT
    err = capsys.readouterr().err
    assert "catches every exception" in err and "Interrupt the kernel" in err and "restart the kernel" in err


# ------------------------------------------------------------------------------------ exercises as data


AFFINE_GRID = checks.Exercise(
    "affine_grid",
    geometry.affine_grid,
    _affine_grid_cases,
    torch_fn=lambda theta, size, align_corners: F.affine_grid(theta, list(size), align_corners=align_corners),
    grad_wrt=(0,),
    diagnose=_diagnose_affine_grid,
    hint="x runs along the width W and y along the height H; pixel centres depend on align_corners.",
    timeout=1.0,
)


def test_an_exercise_makes_a_named_documented_checker_that_behaves_like_check_function(capsys) -> None:
    check = AFFINE_GRID.checker("Check ``affine_grid``.")
    assert check.__name__ == "check_affine_grid" and check.__doc__ == "Check ``affine_grid``."
    assert check(correct).status is Status.PASSED
    assert check(not_implemented).status is Status.NOT_IMPLEMENTED
    with pytest.raises(CheckFailed) as failure:
        check(lambda theta, size, align_corners=False: correct(theta, size, not align_corners), quiet=True)
    assert "your grid is the one for align_corners" in failure.value.result.report()
    assert capsys.readouterr().out.count("affine_grid") >= 2  # reports printed unless quiet


class _Scale(torch.nn.Module):
    """A toy exercise class: multiplies its input by ``factor``."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


def _scale_runner(cls):
    return lambda x, factor: cls(factor)(x)


SCALE = checks.Exercise(
    "Scale",
    _Scale,
    lambda: [Case("x2", (torch.ones(3), 2.0)), Case("x-1", (torch.arange(3.0), -1.0))],
    runner=_scale_runner,
    check_name="check_scale_module",
)


def test_an_exercise_with_a_runner_checks_a_class_and_records_on_it(capsys) -> None:
    check = SCALE.checker("Check the ``Scale`` module.")
    assert check.__name__ == "check_scale_module"

    class Right(_Scale):
        pass

    class Wrong(_Scale):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.factor

    assert check(Right, quiet=True).status is Status.PASSED
    assert use_or_fallback(Right, _Scale) is Right  # the result is recorded on the student's class
    with pytest.raises(CheckFailed):
        check(Wrong, quiet=True)
    assert use_or_fallback(Wrong, _Scale) is _Scale
    with pytest.raises(CheckFailed) as failure:
        check(None, quiet=True)  # not callable: reported as it is, not wrapped
    assert (
        failure.value.result.status is Status.WRONG_TYPE
        and "expected your function" in failure.value.result.report()
    )


def test_a_runner_for_the_student_only_and_a_diagnosis_that_sees_the_student() -> None:
    seen = []

    def diagnose(student, case, actual, expected):
        seen.append(student)
        return "a diagnosis that ran the student's own function"

    exercise = checks.Exercise(
        "double",
        lambda x: 2 * x,
        lambda: [Case("ones", (torch.ones(3),))],
        runner=lambda fn: lambda x: fn(x),  # polices the student only; the reference is used as it is
        wrap_reference=False,
        diagnose=diagnose,
        diagnose_sees_student=True,
    )

    def wrong(x):
        return 3 * x

    with pytest.raises(CheckFailed) as failure:
        exercise.check(wrong, quiet=True)
    assert seen == [wrong] and "ran the student's own function" in failure.value.result.report()
    with pytest.raises(CheckFailed) as failure:
        exercise.check(42, quiet=True)
    assert "check_double(double)" in failure.value.result.report()
    renamed = checks.Exercise("Double", lambda x: 2 * x, lambda: [], check_name="check_twice")
    with pytest.raises(CheckFailed) as failure:
        renamed.check(42, quiet=True)
    assert "check_twice(Double)" in failure.value.result.report()  # the advice names the real check function
