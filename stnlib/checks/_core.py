"""The exercise-checker framework: run a student's function on cases, compare, report kindly.

How the course machinery works — checkers
=========================================

Every exercise in a lesson has a *check cell* that calls a checker from ``stnlib.checks.lessonNN``, e.g.
``checks.lesson02.check_affine_grid(affine_grid)``. A lesson module describes each exercise as data, an
:class:`Exercise`, which makes the checker::

    from stnlib.checks import Case, Exercise

    def _affine_grid_cases():
        return [Case("square 4x4", (theta, (1, 1, 4, 4)), {"align_corners": False}), ...]

    check_affine_grid = Exercise(
        "affine_grid", geometry.affine_grid, _affine_grid_cases, torch_fn=F.affine_grid, grad_wrt=(0,),
        hint="x runs along the width: use W for x and H for y.",
    ).checker("Check ``affine_grid(theta, size, align_corners=False)``.")

Checking runs :func:`check_function`, which runs the student's function and the reference on every :class:`Case`
(cover non-square sizes, both ``align_corners``, a batch > 1 and float64), compares the results with a tolerance
chosen by dtype (:func:`tolerance_for`, :func:`compare_tensors`), optionally against PyTorch's own function and on
gradients (:func:`compare_gradients`), prints a short report and returns a :class:`CheckResult`.

The contract, which keeps lessons runnable from top to bottom and solutions strictly tested:

* The check never crashes the kernel and never shows a long stack trace. Each outcome has a :class:`Status`:
  passed, failed (wrong numbers), not implemented, error (the student's code raised: the report names the
  student's own line and message), timeout (a case ran longer than ``timeout`` seconds; enforced with
  ``signal.setitimer`` in the main thread only, so there is no limit in other threads or on Windows), wrong
  type (``None`` or not a tensor), wrong shape, wrong dtype, wrong device. A function that catches every
  exception swallows the time-out; the check then prints what happened and how to recover (interrupt or restart
  the kernel) while the function keeps running.
* What the student's function prints during a check is captured: the report shows how many lines it printed,
  the first and last five and how many were hidden, so a debugging ``print`` in a loop cannot flood the notebook.
* **passed** and **not implemented** return normally, so a lesson with unfinished exercises still runs.
* Every other status prints the report and then raises :class:`CheckFailed`. ``CheckFailed`` defines IPython's
  ``_render_traceback_``, so Jupyter shows one line instead of a traceback, while nbval (which runs the
  solution notebooks in the test suite) sees an error and fails the wrong solution.
* The checker records its result on the student's function (attribute ``__stn_check__``), so the next cell can
  call :func:`use_or_fallback` without passing the result around: it returns the student's function if it
  passed, else the reference, and says which one the rest of the lesson uses and why. Redefining the function
  (re-running the exercise cell) makes a new function object, which has to be checked again.

A check cell is recognised by the lesson tests (``tools/build_lessons.py: is_check_cell``) by a call to a
function whose name starts with ``check_`` (``check_affine_grid(...)``, ``checks.lesson01.check_grid(...)``).
"""

from __future__ import annotations

import collections
import functools
import io
import linecache
import os
import re
import signal
import sys
import sysconfig
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field, replace
from enum import Enum
from types import TracebackType
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from stnlib.geometry import affine_theta

__all__ = [
    "Case",
    "CheckFailed",
    "CheckResult",
    "Comparison",
    "Exercise",
    "Status",
    "check_function",
    "compare_gradients",
    "compare_tensors",
    "tolerance_for",
    "use_or_fallback",
]

_T = TypeVar("_T")
_F = TypeVar("_F", bound=Callable[..., Any])

#: Attribute under which a checker records its :class:`CheckResult` on the student's function.
RESULT_ATTRIBUTE = "__stn_check__"

_STNLIB_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Status(str, Enum):
    """The outcome of a check (or of one case)."""

    PASSED = "passed"
    FAILED = "failed"
    NOT_IMPLEMENTED = "not implemented"
    ERROR = "error"
    TIMEOUT = "timeout"
    WRONG_TYPE = "wrong type"
    WRONG_SHAPE = "wrong shape"
    WRONG_DTYPE = "wrong dtype"
    WRONG_DEVICE = "wrong device"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Case:
    """One input on which the student's function and the reference are run: ``fn(*args, **kwargs)``.

    Tensors in ``args`` and ``kwargs`` are cloned before each call, so a function that modifies its input in
    place cannot change what the other function sees.

    Example:
        >>> case = Case("batch of 2, float64", (torch.zeros(2, 2, 3, dtype=torch.float64), (2, 1, 3, 5)),
        ...             {"align_corners": True})
    """

    name: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def fresh(self, requires_grad: Sequence[int | str] = ()) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Return cloned ``(args, kwargs)``; the arguments named in ``requires_grad`` (positions or keyword
        names) become fresh leaf tensors that require gradients."""
        args = tuple(_clone(a, requires_grad=i in requires_grad) for i, a in enumerate(self.args))
        kwargs = {k: _clone(v, requires_grad=k in requires_grad) for k, v in self.kwargs.items()}
        return args, kwargs


def _clone(value: Any, requires_grad: bool = False) -> Any:
    if isinstance(value, Tensor):
        copy = value.detach().clone()
        return copy.requires_grad_(True) if requires_grad else copy
    return value


# --------------------------------------------------------------------------------------------- comparing


_TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float64: (1e-8, 1e-6),
    torch.float32: (1e-5, 1e-4),
    torch.float16: (1e-2, 1e-2),
    torch.bfloat16: (2e-2, 2e-2),
}


def tolerance_for(dtype: torch.dtype) -> tuple[float, float]:
    """Return ``(atol, rtol)`` for comparing results of ``dtype`` (exact for integer and bool tensors).

    Example:
        >>> tolerance_for(torch.float64)
        (1e-08, 1e-06)
    """
    return _TOLERANCES.get(dtype, (0.0, 0.0))


@dataclass(frozen=True)
class Comparison:
    """The result of comparing an actual value with an expected one.

    Attributes:
        status: ``PASSED``, ``FAILED`` (values differ) or ``WRONG_TYPE`` / ``WRONG_SHAPE`` / ``WRONG_DTYPE`` /
            ``WRONG_DEVICE``.
        message: one sentence for the student (empty when passed).
        max_error: the largest absolute difference (``nan`` if NaN appeared where a number was expected,
            ``None`` when no values could be compared).
        index: where the worst element is (the one furthest outside the tolerance, or the largest error).
        actual: the student's value there; ``expected``: the reference value there.
    """

    status: Status
    message: str = ""
    max_error: float | None = None
    index: tuple[int, ...] | None = None
    actual: float | None = None
    expected: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is Status.PASSED


def _describe(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}"


def _shape_hint(actual: tuple[int, ...], expected: tuple[int, ...]) -> str:
    if len(actual) == len(expected) - 1 and actual == expected[1:]:
        return " It is missing the batch dimension N: keep the leading dimension of the input."
    if len(actual) == len(expected) + 1 and actual[1:] == expected and actual[0] == 1:
        return " It has an extra leading dimension of size 1."
    if len(actual) == len(expected) and sorted(actual) == sorted(expected):
        if len(expected) >= 3 and actual[-3:-1] == expected[-3:-1][::-1]:
            return (
                " Height and width look swapped: tensors are indexed (H, W), while grids keep (x, y) in the "
                "last dimension."
            )
        return " The dimensions look permuted: check the order of your stack/permute/reshape."
    if expected and expected[-1] == 2 and (not actual or actual[-1] != 2):
        return " The last dimension must hold the (x, y) pair: stack x and y with dim=-1."
    return ""


def compare_tensors(
    actual: Any,
    expected: Any,
    *,
    atol: float | None = None,
    rtol: float | None = None,
    name: str = "the result",
) -> Comparison:
    """Compare ``actual`` with ``expected`` element-wise, with a tolerance chosen by dtype.

    Tensors must match in type, shape, dtype and device; numbers are compared as float64; tuples and lists
    are compared item by item. An element passes when ``|actual - expected| <= atol + rtol * |expected|``
    (the rule of :func:`torch.isclose`); NaN passes only where NaN is expected.

    Args:
        actual: the student's value.
        expected: the reference value.
        atol, rtol: override the tolerances of :func:`tolerance_for`.
        name: how to call the value in messages.

    Example:
        >>> compare_tensors(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.5])).max_error
        0.5
    """
    if isinstance(expected, (tuple, list)):
        if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
            return Comparison(
                Status.WRONG_TYPE,
                f"{name} should be a {type(expected).__name__} of {len(expected)} items; got {_describe(actual)}"
                + (f" of {len(actual)} items." if isinstance(actual, (tuple, list)) else "."),
            )
        worst: Comparison = Comparison(Status.PASSED, max_error=0.0)
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            c = compare_tensors(a, e, atol=atol, rtol=rtol, name=f"item {i} of {name}")
            if not c.ok:
                return replace(c, index=None if c.index is None else (i, *c.index))
            if c.max_error is not None and (worst.max_error is None or c.max_error > worst.max_error):
                worst = replace(c, index=None if c.index is None else (i, *c.index))
        return worst
    if isinstance(expected, Tensor):
        return _compare_tensor(actual, expected, atol=atol, rtol=rtol, name=name)
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        if isinstance(actual, Tensor) and actual.numel() == 1:
            actual = actual.item()
        if not isinstance(actual, (int, float)) or isinstance(actual, bool):
            return Comparison(Status.WRONG_TYPE, f"{name} should be a number; got {_describe(actual)}.")
        a64, e64 = (
            torch.tensor(float(actual), dtype=torch.float64),
            torch.tensor(float(expected), dtype=torch.float64),
        )
        return _compare_tensor(a64, e64, atol=atol, rtol=rtol, name=name)
    ok = actual == expected
    return Comparison(
        Status.PASSED if ok else Status.FAILED, "" if ok else f"{name} is {actual!r}; expected {expected!r}."
    )


def _compare_tensor(
    actual: Any, expected: Tensor, *, atol: float | None, rtol: float | None, name: str
) -> Comparison:
    if actual is None:
        return Comparison(
            Status.WRONG_TYPE, f"{name} is None: did your function forget to `return` its result?"
        )
    if not isinstance(actual, Tensor):
        extra = (
            " Turn a list of tensors into one tensor with torch.stack(...)."
            if isinstance(actual, list)
            else ""
        )
        return Comparison(
            Status.WRONG_TYPE,
            f"{name} should be a torch.Tensor of shape {tuple(expected.shape)}; got {_describe(actual)}.{extra}",
        )
    a_shape, e_shape = tuple(actual.shape), tuple(expected.shape)
    if a_shape != e_shape:
        return Comparison(
            Status.WRONG_SHAPE,
            f"{name} has shape {a_shape}; expected {e_shape}.{_shape_hint(a_shape, e_shape)}",
        )
    if actual.dtype != expected.dtype:
        return Comparison(
            Status.WRONG_DTYPE,
            f"{name} has dtype {actual.dtype}; expected {expected.dtype}. Create new tensors with the input's "
            "dtype and device, e.g. torch.linspace(..., dtype=theta.dtype, device=theta.device).",
        )
    if actual.device != expected.device:
        return Comparison(
            Status.WRONG_DEVICE,
            f"{name} is on {actual.device}; expected {expected.device}. Create new tensors on the input's device, "
            "e.g. torch.zeros(..., device=theta.device).",
        )
    default_atol, default_rtol = tolerance_for(expected.dtype)
    atol = default_atol if atol is None else atol
    rtol = default_rtol if rtol is None else rtol
    if expected.numel() == 0:
        return Comparison(Status.PASSED, max_error=0.0)
    a = actual.detach().to("cpu", torch.float64)
    e = expected.detach().to("cpu", torch.float64)
    both_nan = torch.isnan(a) & torch.isnan(e)
    diff = torch.where(both_nan, torch.zeros_like(a), (a - e).abs())
    diff = torch.where(
        torch.isnan(diff), torch.full_like(diff, float("inf")), diff
    )  # NaN where a number was due
    excess = diff - (atol + rtol * e.abs().nan_to_num(0.0))
    worst = int(torch.argmax(excess)) if bool((excess > 0).any()) else int(torch.argmax(diff))
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), e_shape)) if e_shape else ()
    max_error = float(diff.max())
    actual_at, expected_at = float(a.reshape(-1)[worst]), float(e.reshape(-1)[worst])
    if bool((excess > 0).any()):
        has_nan = bool((torch.isnan(a) & ~torch.isnan(e)).any())
        message = (
            f"{name} contains NaN where numbers are expected (first bad value at index {index})."
            if has_nan
            else f"{name} differs from the expected values by up to {max_error:.3g}."
        )
        return Comparison(
            Status.FAILED,
            message,
            max_error=float("nan") if has_nan else max_error,
            index=index,
            actual=actual_at,
            expected=expected_at,
        )
    return Comparison(Status.PASSED, max_error=max_error, index=index, actual=actual_at, expected=expected_at)


def compare_gradients(
    student_fn: Callable[..., Any],
    reference_fn: Callable[..., Any],
    case: Case,
    wrt: Sequence[int | str],
    *,
    atol: float | None = None,
    rtol: float | None = None,
    seed: int = 0,
) -> Comparison:
    """Compare the gradients of the two functions with respect to some arguments of ``case``.

    Both outputs are reduced with the same random weights, ``loss = (output * weights).sum()``, so every
    output element contributes a different amount, and the gradients of the two losses with respect to the
    arguments named in ``wrt`` (positions in ``case.args`` or keyword names) are compared with
    :func:`compare_tensors`.

    Args:
        student_fn, reference_fn: functions returning one tensor.
        case: the input; the arguments in ``wrt`` must be floating-point tensors.
        wrt: which arguments to differentiate with respect to, e.g. ``(0,)`` or ``("theta",)``.
        atol, rtol: override the tolerances of :func:`tolerance_for`.
        seed: seeds the random weights.

    Example:
        >>> case = Case("small", (torch.randn(3, dtype=torch.float64),))
        >>> compare_gradients(lambda x: x.sin(), torch.sin, case, wrt=(0,)).ok
        True
    """
    ref_args, ref_kwargs = case.fresh(requires_grad=wrt)
    expected = reference_fn(*ref_args, **ref_kwargs)
    generator = torch.Generator().manual_seed(seed)
    weights = torch.rand(expected.shape, generator=generator, dtype=torch.float64).to(expected)
    ref_inputs = [_argument(ref_args, ref_kwargs, w) for w in wrt]
    ref_grads = torch.autograd.grad((expected * weights).sum(), ref_inputs, allow_unused=True)

    args, kwargs = case.fresh(requires_grad=wrt)
    actual = student_fn(*args, **kwargs)
    first = compare_tensors(actual, expected.detach(), atol=atol, rtol=rtol)
    if not first.ok:
        return first
    inputs = [_argument(args, kwargs, w) for w in wrt]
    if not actual.requires_grad:
        return Comparison(
            Status.FAILED,
            f"no gradient flows from the result back to {_arg_name(wrt[0])}: avoid .detach(), .item(), "
            ".numpy() and torch.tensor(...) on values computed from the inputs.",
        )
    grads = torch.autograd.grad((actual * weights).sum(), inputs, allow_unused=True)
    for w, g, rg in zip(wrt, grads, ref_grads, strict=True):
        label = f"the gradient with respect to {_arg_name(w)}"
        if g is None and rg is not None:
            return Comparison(
                Status.FAILED,
                f"{label} is missing: the result does not depend on {_arg_name(w)} through autograd.",
            )
        if rg is None:
            continue
        c = compare_tensors(g, rg, atol=atol, rtol=rtol, name=label)
        if not c.ok:
            return c
    return first


def _argument(args: tuple[Any, ...], kwargs: Mapping[str, Any], key: int | str) -> Tensor:
    return args[key] if isinstance(key, int) else kwargs[key]


def _arg_name(key: int | str) -> str:
    return f"argument {key}" if isinstance(key, int) else repr(key)


# ---------------------------------------------------------------------------------------------- running


class _CaseTimeout(BaseException):
    """Raised by the alarm signal inside the student's function when a case runs too long."""


@dataclass
class _Limit:
    """What :func:`_time_limit` saw: how often its alarm fired (more than once: the student's code swallowed it)."""

    fired: int = 0


def _swallowed_timeout_message(seconds: float) -> str:
    return (
        f"\n⚠️ The check asked your function to stop after {seconds:g} s, and it is still running: it catches "
        "every exception (a bare `except:` or `except BaseException:`), the check's time-out included, so the "
        "check cannot stop it. Interrupt the kernel (the ■ button, or Kernel → Interrupt); if the same `except:` "
        "swallows that too, restart the kernel (Kernel → Restart) and run the notebook's cells again. Then catch "
        "only the exceptions you expect, e.g. `except ValueError:`."
    )


@contextmanager
def _time_limit(seconds: float | None) -> Iterator[_Limit]:
    """Raise :class:`_CaseTimeout` in the main thread after ``seconds``, and again every ``seconds`` until the block
    ends; a no-op where signals are unavailable (other threads, Windows). If the student's code swallows the first
    alarm, the second prints a message saying so and how to recover (to the output the block started with, not to
    a capture the student's code may be under). Restores any timer that was already running (e.g. pytest-timeout's).
    """
    limit = _Limit()
    usable = (
        seconds is not None
        and seconds > 0
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield limit
        return
    assert seconds is not None
    notebook_stderr = sys.stderr

    def _on_alarm(signum: int, frame: Any) -> None:
        limit.fired += 1
        if limit.fired == 2:
            print(_swallowed_timeout_message(seconds), file=notebook_stderr, flush=True)
        raise _CaseTimeout(seconds)

    started = time.monotonic()
    previous_handler = signal.signal(signal.SIGALRM, _on_alarm)
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, seconds, seconds)
    try:
        yield limit
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay > 0:
            remaining = max(previous_delay - (time.monotonic() - started), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, remaining, previous_interval)


_SHOWN_LINES = 5
_LONGEST_LINE = 2_000


class _StudentOutput(io.TextIOBase):
    """What the student's code prints during a check: its first and last lines are kept, the rest only counted."""

    def __init__(self) -> None:
        super().__init__()
        self.lines = 0
        self.head: list[str] = []
        self.tail: collections.deque[str] = collections.deque(maxlen=_SHOWN_LINES)
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *complete, partial = (self._partial + str(text)).split("\n")
        self._partial = partial[:_LONGEST_LINE]
        for line in complete:
            self._keep(line)
        return len(text)

    def _keep(self, line: str) -> None:
        self.lines += 1
        line = line if len(line) <= _LONGEST_LINE else line[:_LONGEST_LINE] + " …"
        if len(self.head) < _SHOWN_LINES:
            self.head.append(line)
        else:
            self.tail.append(line)

    def summary(self) -> str:
        """Empty if nothing was printed; else the count, the first and last lines and how many were hidden."""
        if self._partial:
            self._keep(self._partial)
            self._partial = ""
        if not self.lines:
            return ""
        hidden = self.lines - len(self.head) - len(self.tail)
        plural = "" if self.lines == 1 else "s"
        lines = [f"Your function printed {self.lines:,} line{plural} during the check"]
        if hidden:
            lines[0] += f"; the first and last {_SHOWN_LINES}:"
            lines += [*self.head, f"… {hidden:,} more line{'' if hidden == 1 else 's'} hidden …", *self.tail]
        else:
            lines[0] += ":"
            lines += [*self.head, *self.tail]
        return "\n".join(lines)


@contextmanager
def _student_running(timeout: float | None, output: _StudentOutput) -> Iterator[_Limit]:
    """Run the student's code under the time limit, with what it prints captured in ``output``."""
    with _time_limit(timeout) as limit, redirect_stdout(output), redirect_stderr(output):
        yield limit


def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    return tuple(
        os.path.abspath(paths[k]) for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths
    )


def _student_frame(tb: TracebackType | None) -> traceback.FrameSummary | None:
    """The frame to show the student: the last one outside stnlib, preferring code outside installed
    libraries (in Jupyter, the student's cell) over, say, a torch function the student called."""
    frames = [f for f in traceback.extract_tb(tb) if not os.path.abspath(f.filename).startswith(_STNLIB_DIR)]
    if not frames:
        return None
    libraries = _library_dirs()
    own = [f for f in frames if not os.path.abspath(f.filename).startswith(libraries)]
    return (own or frames)[-1]


def _where(frame: traceback.FrameSummary | None) -> str:
    if frame is None:
        return ""
    line = (frame.line or linecache.getline(frame.filename, frame.lineno or 0)).strip()
    in_cell = "ipykernel_" in frame.filename or frame.filename.startswith("<ipython-input")
    place = "your cell" if in_cell else os.path.basename(frame.filename)
    code = f": {line}" if line else ""
    return f" (line {frame.lineno} of {place}, in {frame.name}{code})"


@dataclass(frozen=True)
class _CaseOutcome:
    case: str
    status: Status
    message: str = ""
    comparison: Comparison | None = None
    against: str = ""  # what the comparison was with: "stnlib.geometry.affine_grid", "gradients", ...


def _timeout_outcome(case: Case, timeout: float | None, what: str = "did not finish") -> _CaseOutcome:
    return _CaseOutcome(
        case.name,
        Status.TIMEOUT,
        f"{what} within {timeout:g} s. Replace Python loops over pixels with tensor operations.",
    )


def _run_student(
    student_fn: Callable[..., Any], case: Case, timeout: float | None, output: _StudentOutput
) -> tuple[Any, _CaseOutcome | None]:
    args, kwargs = case.fresh()
    try:
        with _student_running(timeout, output) as limit:
            value = student_fn(*args, **kwargs)
        if limit.fired:  # it swallowed the time-out and finished later
            return None, _timeout_outcome(case, timeout)
        return value, None
    except NotImplementedError:
        return None, _CaseOutcome(case.name, Status.NOT_IMPLEMENTED, "not implemented yet")
    except _CaseTimeout:
        return None, _timeout_outcome(case, timeout)
    except Exception as error:  # the student's code may raise anything; report it instead of a traceback
        frame = _student_frame(error.__traceback__)
        return None, _CaseOutcome(case.name, Status.ERROR, f"{type(error).__name__}: {error}{_where(frame)}")


# ---------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class CheckResult:
    """What a checker found. Truthy if and only if the check passed.

    Attributes:
        name: the exercise's function name, e.g. ``"affine_grid"``.
        status: the overall :class:`Status` (that of the first failing case, else ``PASSED``).
        passed: number of cases that passed; ``total``: number of cases.
        max_error: the largest absolute error seen over all compared cases (``None`` if nothing compared).
        max_error_case, max_error_index: where that largest error occurred; ``max_error_against``: what it
            was compared with there (a reference's name, or ``"gradients"``).
        first_failure: ``"<case name>: <what went wrong>"`` for the first failing case, else ``None``.
        hint: advice aimed at the usual mistake, shown when the check did not pass.
        compared_with: what the results were compared with (``"stnlib.geometry.affine_grid"``, ...).
    """

    name: str
    status: Status
    passed: int
    total: int
    max_error: float | None = None
    max_error_case: str | None = None
    max_error_index: tuple[int, ...] | None = None
    max_error_against: str | None = None
    first_failure: str | None = None
    hint: str | None = None
    compared_with: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.status is Status.PASSED

    def report(self) -> str:
        """The short text report that the checker prints."""
        if self.status is Status.PASSED:
            against = " and ".join(self.compared_with) or "the reference"
            error = "" if self.max_error is None else f"; largest error {self.max_error:.2g}"
            return f"✅ {self.name}: all {self.total} cases passed (compared with {against}{error})."
        if self.status is Status.NOT_IMPLEMENTED:
            return f"⏳ {self.name}: not implemented yet — fill in the cell marked YOUR CODE HERE, then run this check."
        lines = [f"❌ {self.name}: {self.status} — {self.passed}/{self.total} cases passed."]
        if self.first_failure:
            lines.append(f"   First failing case: {self.first_failure}")
        if self.status is Status.FAILED and self.max_error is not None:
            against = f" ({self.max_error_against})" if self.max_error_against else ""
            where = f" in case {self.max_error_case!r}" if self.max_error_case else ""
            index = f" at index {self.max_error_index}" if self.max_error_index is not None else ""
            lines.append(f"   Largest error{against}: {self.max_error:.3g}{where}{index}.")
        if self.hint:
            lines.append(f"   Hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()

    def __repr__(self) -> str:
        return f"CheckResult({self.name!r}: {self.status}, {self.passed}/{self.total} cases)"

    def _repr_html_(self) -> str:
        # One line: the checker has already printed the full report above the cell's result.
        import html

        colour = {"passed": "#1a7f37", "not implemented": "#9a6700"}.get(self.status.value, "#cf222e")
        text = html.escape(f"{self.name}: {self.status} ({self.passed}/{self.total} cases)")
        return f'<span class="stn-check-result" style="color:{colour}">{text}</span>'


class CheckFailed(Exception):
    """Raised by a checker when the student's function gave a wrong answer (any status except passed and not
    implemented), after the report was printed. Jupyter shows only a one-line message for it."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__(f"{result.name} did not pass its check ({result.status}) — see the report above.")
        self.result = result

    def _render_traceback_(self) -> list[str]:
        """IPython calls this instead of formatting a traceback: the report above already says everything."""
        return [f"CheckFailed: {self}"]


# ------------------------------------------------------------------------------------------- the checker


def _qualified_name(fn: Callable[..., Any]) -> str:
    """The shortest public dotted path of ``fn`` (``stnlib.geometry.affine_grid`` rather than
    ``stnlib.geometry.affine.affine_grid``), or its plain name. A function made with ``functools.wraps`` is
    named after the function it wraps."""
    fn = getattr(fn, "__wrapped__", fn)
    module = getattr(fn, "__module__", None) or ""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    if module in ("", "__main__", "builtins"):
        return name
    parts = module.split(".")
    best = module
    for end in range(len(parts) - 1, 0, -1):
        package = ".".join(parts[:end])
        mod = sys.modules.get(package)
        if mod is not None and getattr(mod, name, None) is fn:
            best = package
    if module.startswith("torch.") and module.endswith(".functional") and module != "torch.functional":
        best = module  # keep torch.nn.functional visible: that is how the course writes it
    return f"{best}.{name}"


def check_function(
    name: str,
    student_fn: Callable[..., Any],
    reference_fn: Callable[..., Any],
    cases: Sequence[Case],
    *,
    hint: str = "",
    torch_fn: Callable[..., Any] | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    compare: Callable[[Any, Any], Comparison] | None = None,
    grad_wrt: Sequence[int | str] = (),
    diagnose: Callable[[Case, Any, Any], str | None] | None = None,
    timeout: float | None = 10.0,
    quiet: bool = False,
    check_name: str | None = None,
) -> CheckResult:
    """Check a student's function against the reference (and PyTorch's own function) on ``cases``.

    For each case the reference runs first, then the student's function (on clones of the inputs, under a
    ``timeout``), and the results are compared. Cases continue after a wrong answer or an exception, so the
    report can count them; they stop at the first "not implemented" or timeout.

    Args:
        name: the function's name as the lesson calls it (``"affine_grid"``).
        student_fn: the student's function.
        reference_fn: stnlib's reference implementation.
        cases: the inputs; include non-square sizes, both ``align_corners``, a batch > 1 and float64.
        hint: advice for the usual mistake, shown when the check does not pass.
        torch_fn: PyTorch's own implementation, if one exists; the student's result must match it as well.
        atol, rtol: override the tolerances chosen by dtype (:func:`tolerance_for`).
        compare: ``compare(actual, expected) -> Comparison``; :func:`compare_tensors` with ``atol``/``rtol``
            by default.
        grad_wrt: positions or keyword names of arguments whose gradients must also match the reference
            (checked with :func:`compare_gradients` once the forward values match).
        diagnose: ``diagnose(case, actual, expected) -> str | None``; a more specific hint for a wrong
            answer (e.g. "this is the align_corners=True grid"), used instead of ``hint`` when it returns text.
            It is also called when the values match and only the gradients differ (exercises on hand-written
            backward passes diagnose those); a diagnosis about values should return ``None`` when ``actual``
            equals ``expected``.
        timeout: seconds per case (main thread only; ``None`` for no limit).
        quiet: do not print the report.
        check_name: the check function's name, for advice; ``check_<name>`` by default.

    Returns:
        The :class:`CheckResult` (also recorded on ``student_fn`` for :func:`use_or_fallback`).

    Raises:
        CheckFailed: after printing the report, if the status is neither passed nor not implemented.
        Exception: whatever ``reference_fn`` or ``torch_fn`` raise — that is a bug in the checker, not the
            student's mistake, so it is not hidden.
    """

    def compare_fn(actual: Any, expected: Any) -> Comparison:
        if compare is not None:
            return compare(actual, expected)
        return compare_tensors(actual, expected, atol=atol, rtol=rtol)

    compared_with = (_qualified_name(reference_fn),) + ((_qualified_name(torch_fn),) if torch_fn else ())
    if not callable(student_fn):
        outcome = _CaseOutcome(
            "",
            Status.WRONG_TYPE,
            f"expected your function; got {_describe(student_fn)}. Pass the function itself, e.g. "
            f"{check_name or 'check_' + name}({name}), not the result of calling it.",
        )
        return _finish(name, student_fn, [outcome], len(cases), hint, compared_with, quiet)

    outcomes: list[_CaseOutcome] = []
    output = _StudentOutput()
    for case in cases:
        args, kwargs = case.fresh()
        expected = reference_fn(*args, **kwargs)
        actual, problem = _run_student(student_fn, case, timeout, output)
        if problem is not None:
            outcomes.append(problem)
            if problem.status in (Status.NOT_IMPLEMENTED, Status.TIMEOUT):
                break
            continue
        comparison = compare_fn(actual, expected)
        label = compared_with[0]
        if comparison.ok and torch_fn is not None:
            t_args, t_kwargs = case.fresh()
            torch_comparison = compare_fn(actual, torch_fn(*t_args, **t_kwargs))
            if not torch_comparison.ok:
                comparison, label = torch_comparison, compared_with[1]
        if comparison.ok and grad_wrt:
            try:
                with _student_running(timeout, output):
                    comparison = compare_gradients(
                        student_fn, reference_fn, case, grad_wrt, atol=atol, rtol=rtol
                    )
            except _CaseTimeout:
                outcomes.append(
                    _CaseOutcome(case.name, Status.TIMEOUT, f"the backward pass took over {timeout:g} s.")
                )
                break
            except NotImplementedError:  # e.g. an exercise asking for a hand-written backward, still open
                outcomes.append(_CaseOutcome(case.name, Status.NOT_IMPLEMENTED, "not implemented yet"))
                break
            except Exception as error:  # e.g. an in-place operation that autograd cannot differentiate
                frame = _student_frame(error.__traceback__)
                message = f"computing gradients failed: {type(error).__name__}: {error}{_where(frame)}"
                outcomes.append(_CaseOutcome(case.name, Status.ERROR, message))
                continue
            label = "gradients"
        message = comparison.message
        if not comparison.ok and comparison.index is not None and comparison.actual is not None:
            message += f" At index {comparison.index}: yours {comparison.actual:.6g}, expected {comparison.expected:.6g}."
        if not comparison.ok and diagnose is not None:
            specific = _safe_diagnosis(diagnose, case, actual, expected, name)
            if specific:
                message += f"\n   Diagnosis: {specific}"
        outcomes.append(_CaseOutcome(case.name, comparison.status, message, comparison, label))
    printed = output.summary()
    if printed and not quiet:
        print(printed)
    return _finish(name, student_fn, outcomes, len(cases), hint, compared_with, quiet)


def _describe_failure(outcome: _CaseOutcome) -> str:
    against = f" (compared with {outcome.against})" if outcome.against else ""
    case = f"{outcome.case!r}{against}: " if outcome.case else ""
    return f"{case}{outcome.message}"


def _safe_diagnosis(
    diagnose: Callable[[Case, Any, Any], str | None], case: Case, actual: Any, expected: Any, name: str
) -> str | None:
    """Run a checker's ``diagnose``; a bug in it must not hide the report from the student."""
    try:
        return diagnose(case, actual, expected)
    except Exception as error:
        warnings.warn(
            f"the diagnosis of the {name} checker failed ({type(error).__name__}: {error})", stacklevel=3
        )
        return None


def _finish(
    name: str,
    student_fn: Any,
    outcomes: list[_CaseOutcome],
    total: int,
    hint: str,
    compared_with: tuple[str, ...],
    quiet: bool,
) -> CheckResult:
    failures = [o for o in outcomes if o.status is not Status.PASSED]
    compared = [
        (o, o.comparison) for o in outcomes if o.comparison is not None and o.comparison.max_error is not None
    ]
    worst, worst_comparison = max(
        compared, key=lambda pair: _sortable(pair[1].max_error), default=(None, None)
    )
    first = failures[0] if failures else None
    result = CheckResult(
        name=name,
        status=first.status if first else Status.PASSED,
        passed=sum(o.status is Status.PASSED for o in outcomes),
        total=total,
        max_error=None if worst_comparison is None else worst_comparison.max_error,
        max_error_case=None if worst is None else worst.case,
        max_error_index=None if worst_comparison is None else worst_comparison.index,
        max_error_against=None if worst is None else worst.against,
        first_failure=None if first is None else _describe_failure(first),
        hint=(hint or None) if first is not None and first.status is not Status.NOT_IMPLEMENTED else None,
        compared_with=compared_with,
    )
    record_result(student_fn, result)
    if not quiet:
        print(result.report())
    if result.status not in (Status.PASSED, Status.NOT_IMPLEMENTED):
        raise CheckFailed(result)
    return result


def _sortable(value: float | None) -> float:
    if value is None:
        return -1.0
    return float("inf") if value != value else value  # NaN counts as the worst error


# ------------------------------------------------------------------------------------------ the fallback


def use_or_fallback(
    student_fn: Callable[..., Any],
    reference_fn: Callable[..., Any],
    result: CheckResult | None = None,
    name: str | None = None,
) -> Callable[..., Any]:
    """Return the student's function if its check passed, else the reference; print which and why.

    Args:
        student_fn: the student's function.
        reference_fn: the function to use instead.
        result: the check's result; by default the one the last check recorded on ``student_fn``.
        name: how to call the function in the message (default: the check's name or ``student_fn``'s).

    Example (in a lesson)::

        checks.lesson01.check_affine_grid(affine_grid)
        affine_grid = use_or_fallback(affine_grid, stnlib.geometry.affine_grid)
        # -> Your affine_grid is not implemented yet — using stnlib.geometry.affine_grid so the rest of the
        #    lesson runs.
    """
    if result is None:
        result = getattr(student_fn, RESULT_ATTRIBUTE, None)
    label = name or (result.name if result is not None else getattr(student_fn, "__name__", "function"))
    reference = _qualified_name(reference_fn)
    if result is not None and result:
        print(f"Your {label} passed its check — using it for the rest of the lesson.")
        return student_fn
    if result is None:
        why = "has not been checked yet (run its check cell)"
    elif result.status is Status.NOT_IMPLEMENTED:
        why = "is not implemented yet"
    else:
        why = f"did not pass its check ({result.status}, {result.passed}/{result.total} cases)"
    print(f"Your {label} {why} — using {reference} so the rest of the lesson runs.")
    return reference_fn


# -------------------------------------------------------------------------- shared by the lesson checkers
#
# Building blocks of the lesson modules, not of a check cell: they are imported from here (like
# RESULT_ATTRIBUTE), not listed in __all__ and so not re-exported by stnlib.checks.

CASE_SEED = 2015
"""The paper's year: every random case, weight and initialisation in the lesson checkers is drawn from a
generator (or a forked global RNG) seeded with it, so a check reports the same thing every time it runs."""

Candidate = tuple[Callable[[], Any], str]
"""A wrong answer a diagnosis recognises: a function that builds it, and the message that explains the mistake
which produces it. The answer is built only when needed, and may not exist for every case."""


def case_generator(offset: int = 0) -> torch.Generator:
    """A new CPU generator seeded with ``CASE_SEED + offset`` (offsets give exercises their own streams).

    Checkers draw from their own generator, never the global one, so checking an exercise does not change the
    random numbers of the lesson around it.
    """
    return torch.Generator().manual_seed(CASE_SEED + offset)


def random_uniform(
    *shape: int, dtype: torch.dtype = torch.float32, generator: torch.Generator | None = None
) -> Tensor:
    """Case data uniform in [0, 1), drawn in float64 so that every dtype gets the same numbers, from ``generator``
    (a fresh :func:`case_generator` by default)."""
    if generator is None:
        generator = case_generator()
    values = torch.rand(*shape, generator=generator, dtype=torch.float64)
    return values.to(dtype)


def near_identity_theta(
    n: int, generator: torch.Generator, dtype: torch.dtype = torch.float32, spread: float = 0.4
) -> Tensor:
    """Well-conditioned random affine θ ``(n, 2, 3)``: the identity plus Gaussian noise of standard deviation
    ``spread``, drawn in float64 from ``generator`` so that every dtype gets the same numbers."""
    noise = spread * torch.randn(n, 2, 3, generator=generator, dtype=torch.float64)
    return (torch.eye(2, 3, dtype=torch.float64) + noise).to(dtype)


def random_affine_theta(
    n: int,
    generator: torch.Generator,
    *,
    turn: float,
    scale: tuple[float, float],
    shift: float,
    centre: tuple[float, float] | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """``n`` clearly-not-identity affine θ ``(n, 2, 3)``, each turned, scaled and shifted its own way.

    Angles are uniform in ``±turn`` (radians), scales per axis uniform in ``scale``, shifts per axis uniform in
    ``±shift`` (then moved by ``centre``, if given). They are drawn in that order, in float64, from ``generator``,
    so that every dtype gets the same θ and a case that draws after another one gets the next numbers.
    """
    f64 = torch.float64
    angle = torch.empty(n, dtype=f64).uniform_(-turn, turn, generator=generator)
    factors = torch.empty(n, 2, dtype=f64).uniform_(*scale, generator=generator)
    offsets = torch.empty(n, 2, dtype=f64).uniform_(-shift, shift, generator=generator)
    if centre is not None:
        offsets = offsets + torch.tensor(centre, dtype=f64)
    return affine_theta(rotation=angle, scale=factors, translation=offsets).to(dtype)


class ParamsTable(nn.Module):
    """A stand-in localization network: fixed parameters per sample plus a learnable offset shared by all.

    Its parameters (θ, or a family's parameters) do not depend on the image, so a case can choose them (a zoom,
    a rotation); the offset, of one sample's shape, receives the gradient that a real localization network's
    head would.
    """

    base: Tensor  # a buffer

    def __init__(self, params: Tensor) -> None:
        super().__init__()
        self.register_buffer("base", params.detach().clone())
        self.offset = nn.Parameter(torch.zeros(params.shape[1:], dtype=params.dtype))

    def forward(self, x: Tensor) -> Tensor:
        return self.base[: x.shape[0]] + self.offset


def build_seeded(cls: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """``cls(*args, **kwargs)`` with the global generator seeded by :data:`CASE_SEED`, inside
    ``torch.random.fork_rng``: the layers' initialisation is the same on every check, and the lesson's own random
    numbers are left as they were."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(CASE_SEED)
        return cls(*args, **kwargs)


def refuse_instance(
    obj: Any, example: str, what: str = "module", builds: str = "its own for several inputs"
) -> None:
    """Raise a ``TypeError`` that explains the fix when a class exercise is handed a module built from the class.

    Example:
        >>> refuse_instance(torch.nn.Linear(2, 2), "check_st_cnn(STCNN)", "model")
        Traceback (most recent call last):
        ...
        TypeError: pass the class itself, e.g. check_st_cnn(STCNN), not a model built from it: the checker builds its own for several inputs.
    """
    if isinstance(obj, nn.Module):
        raise TypeError(
            f"pass the class itself, e.g. {example}, not a {what} built from it: the checker builds {builds}."
        )


def not_a_module(name: object, built: Any) -> str:
    """What to tell a student whose class ``name`` built ``built`` instead of an ``nn.Module``.

    Without a final full stop: some lessons end the sentence with one, some raise it as an error message.
    """
    return f"{name}(...) must build an nn.Module; got {type(built).__name__}"


def reported_as(label: str) -> Callable[[_F], _F]:
    """Decorator: the name a check report gives a second reference, ``"compared with ... and <label>"``."""

    def rename(fn: _F) -> _F:
        fn.__module__ = ""
        fn.__qualname__ = label
        return fn

    return rename


def _named_like(run: Any, obj: Any, default: str) -> Any:
    """Give ``run``, a runner made from the reference ``obj``, the name and module of ``obj``, so that reports
    say "compared with" the reference by its place in stnlib. A runner that hands back ``obj`` itself is left as
    it is."""
    if run is obj:
        return run
    try:
        run.__name__ = run.__qualname__ = getattr(obj, "__name__", default)
        run.__module__ = getattr(obj, "__module__", "")
    except (AttributeError, TypeError):  # not a plain function; keep its own name
        pass
    return run


def tensors_close(actual: Any, candidate: Any, *, atol: float = 1e-5, rtol: float = 1e-4) -> bool:
    """Whether both are tensors of the same shape whose values agree within ``atol + rtol * |candidate|``
    (compared in float64; dtypes may differ)."""
    return (
        isinstance(actual, Tensor)
        and isinstance(candidate, Tensor)
        and actual.shape == candidate.shape
        and bool(torch.allclose(actual.detach().double(), candidate.detach().double(), atol=atol, rtol=rtol))
    )


def close_for_dtype(actual: Any, candidate: Any) -> bool:
    """Whether ``actual`` is a tensor of ``candidate``'s shape that equals it within the tolerance of
    ``candidate``'s dtype (:func:`tolerance_for`), but never tighter than ``atol=1e-6, rtol=1e-5``: a wrong
    answer computed another way differs from the student's by rounding, even in float64."""
    if not isinstance(actual, Tensor) or not isinstance(candidate, Tensor) or actual.shape != candidate.shape:
        return False
    atol, rtol = tolerance_for(candidate.dtype)
    a = actual.detach().to("cpu", torch.float64)
    c = candidate.detach().to("cpu", torch.float64)
    return bool(torch.allclose(a, c, atol=max(atol, 1e-6), rtol=max(rtol, 1e-5)))


def first_matching_message(
    actual: Any,
    candidates: Iterable[Candidate],
    matches: Callable[[Any, Any], bool] = tensors_close,
    *,
    expected: Any = None,
) -> str | None:
    """The message of the first candidate wrong answer that ``actual`` matches; ``None`` if none does.

    This is how a checker's ``diagnose`` names the mistake behind a wrong answer: it lists the answers the usual
    mistakes give, and the first one the student's answer equals explains it.

    Args:
        actual: the student's answer.
        candidates: ``(build, message)`` pairs, tried in order. Each answer is built only when it is needed;
            one that cannot be built for this case (a singular matrix, a window larger than the image) is
            skipped.
        matches: ``matches(actual, candidate) -> bool``; :func:`tensors_close` by default. Errors in it are not
            caught: they are bugs in the checker, which :func:`check_function` turns into a warning.
        expected: the right answer, if given: when ``actual`` matches it, nothing is diagnosed (then the values
            are right and only the gradients failed, which the report already explains).

    Example:
        >>> right = torch.tensor([0.5, 0.25])
        >>> mistakes = [(lambda: 1 - right, "the error rate"), (lambda: 100 * right, "a percentage")]
        >>> first_matching_message(100 * right, mistakes)
        'a percentage'
    """
    if expected is not None and matches(actual, expected):
        return None
    for build, message in candidates:
        try:
            candidate = build()
        except Exception:
            continue
        if matches(actual, candidate):
            return message
    return None


def gradient_of_weighted_sum(output: Tensor, parameters: Iterable[Tensor]) -> Tensor | None:
    """The gradient of a fixed random weighted sum of ``output`` with respect to ``parameters``, flattened into
    one vector (zeros for a parameter it does not reach); ``None`` when it reaches none of them.

    The weights come from :func:`case_generator`, so the student's model and the reference get the same loss and
    their gradients can be compared. ``autograd.grad`` leaves every ``.grad`` untouched.
    """
    parameters = list(parameters)
    if not output.requires_grad:
        return None
    weights = torch.rand(output.shape, generator=case_generator(), dtype=torch.float64).to(output.dtype)
    grads = torch.autograd.grad((output * weights).sum(), parameters, allow_unused=True)
    if all(g is None for g in grads):
        return None
    return torch.cat(
        [
            (torch.zeros_like(p) if g is None else g).reshape(-1)
            for p, g in zip(parameters, grads, strict=True)
        ]
    )


def probe_problem(
    actual: Any, expected: Any, *, problem_status: Status = Status.WRONG_TYPE
) -> Comparison | None:
    """How a probe comparison ends before any field is compared, or ``None`` when the fields can be compared.

    A probe is a NamedTuple that a runner returns for the student's module and the reference alike. It ends the
    comparison when it is not of the reference probe's type (the runners always return one) or when its
    ``problem`` says how the module is built wrong: then the problem is reported as it is, with
    ``problem_status`` (``FAILED`` where a lesson counts a wrongly built module as a wrong answer).
    """
    if not isinstance(actual, type(expected)):  # pragma: no cover - the runners always return a probe
        return Comparison(Status.WRONG_TYPE, f"unexpected result {type(actual).__name__}")
    if actual.problem:
        return Comparison(problem_status, actual.problem)
    return None


def compare_probe(
    actual: Any,
    expected: Any,
    *,
    fields: Sequence[tuple[str, str]],
    gradient_name: str | None = None,
    no_gradient: str = "",
    zero_gradient_fails: bool = False,
    atol: float | None = None,
    rtol: float | None = None,
    problem_status: Status = Status.WRONG_TYPE,
) -> Comparison:
    """Compare a runner's probe of the student's module with the reference's probe, field by field.

    After :func:`probe_problem` (with ``problem_status``), the tensors named in ``fields`` (``(attribute, name
    in the report)``) are compared in order, with ``atol``/``rtol`` if given; the first difference is reported.

    With ``gradient_name``, the probe's ``localization_grad`` (the gradient that reaches the localization
    network(s)) is compared last, under that name: a missing gradient — or, with ``zero_gradient_fails``, an
    all-zero one — fails with ``no_gradient``. Without it, a probe whose fields agree passes, with a largest error
    of 0.
    """
    problem = probe_problem(actual, expected, problem_status=problem_status)
    if problem is not None:
        return problem
    for attribute, name in fields:
        comparison = compare_tensors(
            getattr(actual, attribute), getattr(expected, attribute), name=name, atol=atol, rtol=rtol
        )
        if not comparison.ok:
            return comparison
    if gradient_name is None:
        return Comparison(Status.PASSED, max_error=0.0)
    grad = actual.localization_grad
    if grad is None or (zero_gradient_fails and not bool(grad.abs().sum() > 0)):
        return Comparison(Status.FAILED, no_gradient)
    return compare_tensors(grad, expected.localization_grad, name=gradient_name, atol=atol, rtol=rtol)


def record_result(student: Any, result: CheckResult) -> None:
    """Record ``result`` on the student's function or class, where :func:`use_or_fallback` looks for it."""
    try:
        setattr(student, RESULT_ATTRIBUTE, result)
    except (AttributeError, TypeError):  # builtins and some callables take no attributes; nothing to record
        pass


def run_and_record(checker: Callable[[], CheckResult], student: Any) -> CheckResult:
    """Run ``checker`` and record its result on ``student``, also when it raises :class:`CheckFailed`.

    For checkers that hand :func:`check_function` a runner around the student's object (one that builds the
    student's class, or measures the student's function): :func:`check_function` records the result on the
    runner, while :func:`use_or_fallback` looks on the student's own class or function.
    """
    try:
        result = checker()
    except CheckFailed as failure:
        record_result(student, failure.result)
        raise
    record_result(student, result)
    return result


# --------------------------------------------------------------------------------------------------------------
# Exercises as data


def _snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True)
class Exercise:
    """One exercise described as data — reference, cases, tolerances, diagnoses, hint — checked by
    :func:`check_function`. A lesson module declares each exercise once and makes its check function from it::

        AFFINE_GRID = Exercise("affine_grid", geometry.affine_grid, _affine_grid_cases, torch_fn=F.affine_grid,
                               grad_wrt=(0,), diagnose=_diagnose_affine_grid, hint="x runs along the width ...")
        check_affine_grid = AFFINE_GRID.checker(\"\"\"Check ``affine_grid(theta, size, align_corners=False)``.\"\"\")

    The fields not listed here are :func:`check_function`'s arguments of the same names.

    Attributes:
        name: what the student writes, as the lesson names it (``"affine_grid"``, ``"SpatialTransformer"``).
        reference: stnlib's answer.
        cases: returns the cases; called when a check runs, so that importing a lesson module stays cheap.
        runner: for a class, or a function judged by what it does rather than by what it returns:
            ``runner(obj)`` is the function that the cases call, made from the student's object and from
            ``reference`` alike. The result is recorded on the student's own object (:func:`run_and_record`).
        wrap_reference: whether ``runner`` also wraps ``reference`` (False when the runner only polices the
            student, e.g. by switching library functions off that the reference may use).
        diagnose_sees_student: ``diagnose`` takes the student's object first, ``diagnose(student, case, actual,
            expected)``, to run it on inputs of its own.
        check_name: the check function's name; ``check_`` + ``name`` in snake case by default.
    """

    name: str
    reference: Callable[..., Any]
    cases: Callable[[], Sequence[Case]]
    hint: str = ""
    torch_fn: Callable[..., Any] | None = None
    compare: Callable[[Any, Any], Comparison] | None = None
    diagnose: Callable[..., str | None] | None = None
    grad_wrt: Sequence[int | str] = ()
    atol: float | None = None
    rtol: float | None = None
    timeout: float | None = 10.0
    runner: Callable[[Any], Callable[..., Any]] | None = None
    wrap_reference: bool = True
    diagnose_sees_student: bool = False
    check_name: str | None = None

    @property
    def function_name(self) -> str:
        """The check function's name, e.g. ``check_affine_grid``."""
        return self.check_name or f"check_{_snake_case(self.name)}"

    def check(self, student: Any, *, quiet: bool = False) -> CheckResult:
        """Check the student's function or class; see :func:`check_function` for what is printed and raised."""
        diagnose = self.diagnose
        if diagnose is not None and self.diagnose_sees_student:
            diagnose = functools.partial(diagnose, student)
        runner = self.runner
        if runner is None:
            return self._check(student, self.reference, diagnose, quiet)
        reference = self.reference
        if self.wrap_reference:
            reference = _named_like(runner(reference), reference, self.name)
        # Something not callable is passed on as it is, so that check_function reports it. The student's runner
        # needs no name: reports name the exercise, and the result is recorded on the student's own object.
        wrapped = runner(student) if callable(student) else student
        return run_and_record(lambda: self._check(wrapped, reference, diagnose, quiet), student)

    def _check(
        self,
        student: Any,
        reference: Callable[..., Any],
        diagnose: Callable[..., str | None] | None,
        quiet: bool,
    ) -> CheckResult:
        return check_function(
            self.name,
            student,
            reference,
            self.cases(),
            hint=self.hint,
            torch_fn=self.torch_fn,
            atol=self.atol,
            rtol=self.rtol,
            compare=self.compare,
            grad_wrt=self.grad_wrt,
            diagnose=diagnose,
            timeout=self.timeout,
            quiet=quiet,
            check_name=self.function_name,
        )

    def checker(self, doc: str) -> Callable[..., CheckResult]:
        """The exercise's check function, ``check_<name>(student, *, quiet=False)``, documented by ``doc``."""

        def check(student: Any, *, quiet: bool = False) -> CheckResult:
            return self.check(student, quiet=quiet)

        check.__name__ = check.__qualname__ = self.function_name
        check.__doc__ = doc
        return check
