"""``python -m stnlib.pretrained``: list the shipped models, their errors and the commands that made them."""

from __future__ import annotations

import argparse
import sys

from stnlib.pretrained.zoo import ZOO_DIR, available, zoo_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stnlib.pretrained",
        description="List the converged models that ship with the course (the model zoo).",
    )
    parser.add_argument("--commands", action="store_true", help="print the command that trained each model")
    args = parser.parse_args(argv)
    records = available()
    print(f"Model zoo in {ZOO_DIR}: {len(records)} model{'' if len(records) == 1 else 's'}\n")
    print(zoo_table(records), end="")
    if args.commands:
        print()
        for record in records:
            print(f"{record.key}: {record.command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
