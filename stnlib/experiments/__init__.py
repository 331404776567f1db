"""The paper's MNIST experiments, from Python and from the command line.

* :mod:`stnlib.experiments.paper` — :func:`paper_results`, :data:`EXPERIMENTS`: the paper's test errors and
  which models it trains on which datasets (``paper_results.json``).
* :mod:`stnlib.experiments.runner` — :func:`run_experiment`, :func:`run_sweep`, :func:`results_table`: train
  the models of Table 1 (R, RTS, P, E), of translated cluttered MNIST (TC) and of MNIST addition (ADD), keep
  each result as JSON, and tabulate test errors beside the paper's.
* :mod:`stnlib.experiments.recipes` — :func:`recipe_for`: how each budget trains each family of models.
* :func:`render_film` — what a transformer passed on after each epoch of its training (every experiment with one
  transformer records its parameters on :func:`film_digits`).
* ``python -m stnlib.experiments --help`` — the same from a terminal, with resumable sweeps.

The paper's numbers (``paper_results.json``) are from Jaderberg, Simonyan, Zisserman and Kavukcuoglu,
"Spatial Transformer Networks", NeurIPS 2015 (arXiv:1506.02025).

Example:
    >>> paper_results()["RTS"]["CNN"]
    0.8
    >>> EXPERIMENTS["TC"]  # the paper's four models and the course's transformer on a feature map
    ('FCN', 'CNN', 'ST-FCN', 'ST-CNN', 'ST-CNN-FM')
"""

from stnlib.experiments.paper import (
    DATASETS,
    EXPERIMENT_GROUPS,
    EXPERIMENTS,
    PAPER_SOURCE,
    ExperimentGroup,
    paper_error,
    paper_results,
)
from stnlib.experiments.recipes import Recipe, family_of, recipe_for
from stnlib.experiments.runner import (
    FILM_DIGITS,
    TC_OUTPUT_SIZE,
    ExperimentInterrupted,
    ExperimentResult,
    build_experiment_model,
    canonical_dataset,
    canonical_model,
    experiment_dir,
    film_digits,
    fixed_test_error,
    load_results,
    plan_sweep,
    render_film,
    results_table,
    run_experiment,
    run_sweep,
    write_table,
)

__all__ = [
    "DATASETS",
    "EXPERIMENTS",
    "EXPERIMENT_GROUPS",
    "FILM_DIGITS",
    "PAPER_SOURCE",
    "TC_OUTPUT_SIZE",
    "ExperimentGroup",
    "ExperimentInterrupted",
    "ExperimentResult",
    "Recipe",
    "build_experiment_model",
    "canonical_dataset",
    "canonical_model",
    "experiment_dir",
    "family_of",
    "film_digits",
    "fixed_test_error",
    "load_results",
    "paper_error",
    "paper_results",
    "plan_sweep",
    "recipe_for",
    "render_film",
    "results_table",
    "run_experiment",
    "run_sweep",
    "write_table",
]
