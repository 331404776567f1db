"""Converged spatial transformer networks that ship with the course: the model zoo.

The training lessons run a student's own short training and show, beside it, the converged network of the same
experiment loaded from here. Every model was trained by ``python -m stnlib.experiments ... --export`` (the command
is in its record) and the test suite re-evaluates each one against its recorded error.

* :func:`load_pretrained` — ``(network, record)`` for a model and dataset, checked against its SHA-256.
* :func:`available`, :func:`zoo_table` — what the zoo holds; ``python -m stnlib.pretrained`` prints it.
* :func:`export_experiment` — add a finished experiment to the zoo (what ``--export`` calls).
* :mod:`stnlib.pretrained.targets` — what the converged models should do (Table 1's ordering, the turn undone, the
  attention window, the addition split, per-digit TPS warps), measured; ``benchmarks/bench_zoo.py`` prints it.
"""

from stnlib.pretrained.zoo import (
    INDEX_FILE,
    STORAGE_DTYPE,
    SUBSET_SAMPLES,
    ZOO_DIR,
    ZOO_RUN_DIR,
    PretrainedError,
    ZooRecord,
    available,
    evaluate_record,
    export_experiment,
    load_pretrained,
    record_for,
    retrain_command,
    zoo_table,
)

__all__ = [
    "INDEX_FILE",
    "STORAGE_DTYPE",
    "SUBSET_SAMPLES",
    "ZOO_DIR",
    "ZOO_RUN_DIR",
    "PretrainedError",
    "ZooRecord",
    "available",
    "evaluate_record",
    "export_experiment",
    "load_pretrained",
    "record_for",
    "retrain_command",
    "zoo_table",
]
