"""Do the course's converged models do what the paper shows? Every target of the model zoo, on the shipped weights.

The model zoo (:mod:`stnlib.pretrained`) ships one converged network per experiment. This benchmark loads each
one (float32, on the CPU) and measures it against the targets the course sets for it
(:mod:`stnlib.pretrained.targets`, which the lessons use too):

* **Table 1 ordering** — in every column (R, RTS, P, E): ST-CNN-Aff < CNN < FCN, every ST-FCN < FCN, and every
  ST-CNN within twice the paper's error.
* **RTS** — ST-CNN-Aff at most 0.7 % test error, and its transformer undoes at least 0.7 of a digit's turn
  (:func:`stnlib.probes.share_of_turn_undone`: 1,000 upright MNIST test digits on the 42x42 canvas, turned by
  angles uniform in ±45°).
* **Cluttered MNIST (TC)** — ST-CNN at most 2.5 % and below the CNN; its attention window holds the digit's centre
  (ink centre of the same canvas without clutter) on at least 95 % of the test canvases, with a mean side of at
  most half the canvas.
* **MNIST addition (ADD)** — 2xST-FCN at most half the FCN's error, and the two transformers split the work: when
  only one channel's digit is swapped for another, each transformer's θ moves mostly (at least two thirds of its
  change) for a different channel (:func:`stnlib.probes.channel_sensitivity`, 2,000 test pairs).
* **TPS on E** — the spline transformer's per-digit displacements follow the ideal undo of each digit's own
  elastic warp with a correlation of at least 0.3 (:func:`stnlib.probes.tps_undo_correlation`, 1,000 test digits).

A target whose models are not in the zoo yet is listed as such. Run from the repository root::

    python -m benchmarks.bench_zoo            # prints a Markdown table; benchmarks/README.md keeps the last one
"""

from __future__ import annotations

import argparse

from stnlib.pretrained.targets import report, targets_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--zoo-dir", default=None, help="another zoo folder (default: the shipped one)")
    args = parser.parse_args(argv)
    print(targets_table(report(args.zoo_dir)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
