"""The record of a training run: one row of metrics per epoch.

:func:`stnlib.train.fit` fills a :class:`History` with ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``
(when there is validation data), ``lr`` and ``epoch_time``; callbacks may add their own metrics to the latest
epoch with :meth:`History.log`. Accuracies are fractions in [0, 1], not percentages. A history holds only ints,
floats and strings, so it is saved inside every checkpoint and restored on resume.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["History"]

Metric = float | int | str
_MAXIMISED = (
    "acc",
    "accuracy",
)  # names ending with these are better when larger; everything else when smaller


def _check_metric_value(name: str, value: object) -> Metric:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        item = getattr(value, "item", None)
        if callable(item) and getattr(value, "numel", lambda: 0)() == 1:
            return _check_metric_value(name, item())  # a one-element tensor or NumPy scalar
        raise TypeError(
            f"metric {name!r} must be a number or a string; got {type(value).__name__}. "
            "Convert a one-element tensor with .item()."
        )
    return value


@dataclass(eq=False)
class History:
    """Per-epoch metrics of one training run.

    Attributes:
        records: one dict per completed epoch, each with an ``"epoch"`` key (1-based) and that epoch's metrics.

    Example:
        >>> h = History()
        >>> h.append(1, train_loss=0.9, val_acc=0.80)
        >>> h.append(2, train_loss=0.5, val_acc=0.85)
        >>> h.best("val_acc")["epoch"], h["train_loss"]
        (2, [0.9, 0.5])
    """

    records: list[dict[str, Metric]] = field(default_factory=list)

    def append(self, epoch: int, **metrics: Any) -> None:
        """Add the row of a completed epoch (epochs count from 1 and must increase)."""
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 1:
            raise ValueError(f"epoch must be a positive int (epochs count from 1); got {epoch!r}")
        if self.records and epoch <= int(self.records[-1]["epoch"]):
            raise ValueError(
                f"epoch {epoch} is not after the last recorded epoch {self.records[-1]['epoch']}"
            )
        row: dict[str, Metric] = {"epoch": epoch}
        row.update({name: _check_metric_value(name, value) for name, value in metrics.items()})
        self.records.append(row)

    def log(self, **metrics: Any) -> None:
        """Add or overwrite metrics of the latest epoch, e.g. from a callback: ``history.log(theta_scale=0.8)``."""
        if not self.records:
            raise ValueError("the history has no epoch yet; log() adds metrics to the latest completed epoch")
        if "epoch" in metrics:
            raise ValueError("'epoch' is set by append(); log() cannot change it")
        self.records[-1].update({name: _check_metric_value(name, value) for name, value in metrics.items()})

    def __len__(self) -> int:
        return len(self.records)

    def __eq__(self, other: object) -> bool:
        """Same epochs with the same metrics; NaN equals NaN (a regression run's accuracy is NaN)."""
        if not isinstance(other, History):
            return NotImplemented
        return len(self.records) == len(other.records) and all(
            a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
            for a, b in zip(self.records, other.records, strict=True)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, so unhashable; object's stub types __hash__ as a method

    def __iter__(self) -> Iterator[dict[str, Metric]]:
        return iter(self.records)

    @property
    def epochs(self) -> list[int]:
        """The recorded epoch numbers."""
        return [int(r["epoch"]) for r in self.records]

    @property
    def last(self) -> dict[str, Metric]:
        """The row of the latest epoch (a copy)."""
        if not self.records:
            raise ValueError("the history is empty: no epoch has completed yet")
        return dict(self.records[-1])

    @property
    def metrics(self) -> list[str]:
        """Every metric name recorded in any epoch, in order of first appearance (without ``"epoch"``)."""
        names: dict[str, None] = {}
        for row in self.records:
            names.update(dict.fromkeys(k for k in row if k != "epoch"))
        return list(names)

    def __getitem__(self, metric: str) -> list[Metric]:
        """The values of one metric, one per epoch (NaN where an epoch did not record it)."""
        if metric != "epoch" and metric not in self.metrics:
            raise KeyError(f"no metric {metric!r} in the history; it has {', '.join(self.metrics) or 'none'}")
        return [row.get(metric, math.nan) for row in self.records]

    def as_dict(self) -> dict[str, list[Metric]]:
        """Columns: ``{"epoch": [1, 2, ...], "train_loss": [...], ...}`` — ready for ``pandas.DataFrame(...)``."""
        return {name: self[name] for name in ("epoch", *self.metrics)}

    def best(self, metric: str, mode: Literal["auto", "min", "max"] = "auto") -> dict[str, Metric]:
        """The row of the epoch where ``metric`` was best (the first such epoch on ties; NaN never wins).

        Args:
            metric: a recorded metric, e.g. ``"val_loss"`` or ``"val_acc"``.
            mode: ``"min"`` or ``"max"``; ``"auto"`` maximises names ending in ``acc``/``accuracy`` and minimises
                everything else (losses, errors, times).
        """
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max'; got {mode!r}")
        values = self[metric]
        maximise = metric.endswith(_MAXIMISED) if mode == "auto" else mode == "max"
        candidates = [
            (v if maximise else -v, -i)
            for i, v in enumerate(values)
            if isinstance(v, (int, float)) and v == v
        ]
        if not candidates:
            raise ValueError(f"metric {metric!r} has no numeric value in any epoch")
        _, neg_index = max(candidates)
        return dict(self.records[-neg_index])

    def state_dict(self) -> dict[str, Any]:
        """A copy made of plain lists, dicts, numbers and strings (safe for ``torch.load(weights_only=True)``)."""
        return {"records": [dict(r) for r in self.records]}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> History:
        """Rebuild a history saved with :meth:`state_dict`."""
        history = cls()
        for row in state["records"]:
            row = dict(row)
            history.append(int(row.pop("epoch")), **row)
        return history

    def plot(self, metrics: list[str] | None = None) -> Any:
        """Plot metrics per epoch and return the matplotlib figure.

        Args:
            metrics: the metrics to show; ``None`` shows all but ``epoch_time``. Train and validation values of
                one metric share a panel.

        Uses :func:`stnlib.viz.plot_history` (the course's figure style) when it is available, else a simple
        local plot.
        """
        names = [m for m in self.metrics if m != "epoch_time"] if metrics is None else list(metrics)
        columns: dict[str, list[Metric]] = {
            "epoch": list(self.epochs),
            **{name: self[name] for name in names},
        }
        try:
            from stnlib.viz import plot_history
        except ImportError:
            return _simple_plot(columns)
        return plot_history(columns)

    def __repr__(self) -> str:
        if not self.records:
            return "History(empty)"
        last = ", ".join(f"{k}={_fmt(v)}" for k, v in self.records[-1].items() if k != "epoch")
        return f"History({len(self)} epochs; last: {last})"


def _same(a: Metric, b: Metric) -> bool:
    nan = isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    return nan or a == b


def _fmt(value: Metric) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _simple_plot(columns: dict[str, list[Metric]]) -> Any:
    import matplotlib.pyplot as plt

    epochs = columns.pop("epoch")
    panels: dict[str, list[str]] = {}
    for name in columns:  # train_loss and val_loss share the panel "loss"
        panels.setdefault(name.removeprefix("train_").removeprefix("val_"), []).append(name)
    if not panels:
        raise ValueError("nothing to plot: the history has no metrics")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    for ax, (panel, names) in zip(axes[0], panels.items(), strict=True):
        for name in names:
            ax.plot(epochs, columns[name], marker="o", label=name)
        ax.set_xlabel("epoch")
        ax.set_title(panel)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
