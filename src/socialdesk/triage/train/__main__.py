"""``python -m socialdesk.triage.train {all,fast,accurate} [--data DIR] [--only TASK ...]``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..data import data_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m socialdesk.triage.train")
    parser.add_argument("what", choices=["all", "fast", "accurate", "export-onnx"])
    parser.add_argument("--data", default=None, help="training data (default ../shared/data)")
    parser.add_argument("--only", nargs="*", default=None, help="restrict to these tasks")
    parser.add_argument("--out", default=None, help="artifact folder (default: the package's)")
    args = parser.parse_args(argv)
    # Keep training on the cores it is given; BLAS threads beyond that only contend.
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    root = data_dir(args.data)
    if args.what in ("all", "fast"):
        from .fast import train_all_fast

        train_all_fast(root, **({"out": Path(args.out)} if args.out else {}), only=args.only)
    if args.what in ("all", "export-onnx"):
        from .accurate import export_onnx

        export_onnx(**({"out": Path(args.out)} if args.out else {}))
    if args.what in ("all", "accurate"):
        from .accurate import train_all_accurate

        train_all_accurate(root, **({"out": Path(args.out)} if args.out else {}), only=args.only)


if __name__ == "__main__":
    main()
