"""``python -m socialdesk.triage.train {all,fast,finetune,export-onnx,accurate} [--data DIR]``.

all = fast, then finetune (MiniLM top layers + task heads, exported to ONNX), then accurate
(the heads/ensembles over the encoder's outputs). export-onnx re-exports the encoder from the
best fine-tuning checkpoint in var/cache/triage; measure re-records the accurate heads'
validation figures through the run-time path.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..data import data_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m socialdesk.triage.train")
    parser.add_argument("what", choices=["all", "fast", "finetune", "export-onnx", "accurate", "measure"])
    parser.add_argument("--data", default=None, help="training data (default ../shared/data)")
    parser.add_argument("--only", nargs="*", default=None, help="restrict to these tasks")
    parser.add_argument("--out", default=None, help="artifact folder (default: the package's)")
    parser.add_argument("--epochs", type=float, default=None, help="fine-tuning epochs (default 2)")
    args = parser.parse_args(argv)
    # Keep training on the cores it is given; BLAS threads beyond that only contend.
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    root = data_dir(args.data)
    if args.what in ("all", "fast"):
        from .fast import train_all_fast

        train_all_fast(root, **({"out": Path(args.out)} if args.out else {}), only=args.only)
    if args.what in ("all", "finetune"):
        from .finetune import finetune

        finetune(root, **({"out": Path(args.out)} if args.out else {}), epochs=args.epochs)
    if args.what == "export-onnx":
        from .finetune import best_checkpoint, export_dual

        export_dual(best_checkpoint(), **({"out": Path(args.out)} if args.out else {}))
    if args.what in ("all", "accurate"):
        from .accurate import train_all_accurate

        train_all_accurate(root, **({"out": Path(args.out)} if args.out else {}), only=args.only)
    if args.what == "measure":
        from .accurate import measure_accurate

        measure_accurate(root, **({"out": Path(args.out)} if args.out else {}), tasks=args.only)


if __name__ == "__main__":
    main()
