"""Do the course's converged models do what the paper shows? Every target of the model zoo, on the shipped weights.

Prints, as one Markdown table, every target of :mod:`stnlib.pretrained.targets` (where they are defined and
documented, and which the lessons use too): Table 1's ordering, the RTS turn undone, the cluttered-MNIST attention
window, the addition split and the per-digit TPS warps, each measured on the zoo's float32 weights on the CPU. A
target whose models are not in the zoo yet is listed as such. Run from the repository root::

    python -m benchmarks.bench_zoo            # benchmarks/README.md keeps the last table
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
