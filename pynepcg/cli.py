"""The ``pynepcg`` command: Python-level workflows (the C++ ``nepcg`` program runs MD/training)."""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="pynepcg", description="NEP-CG workflows")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("info", help="print the build configuration and visible GPUs")
    p_stats = sub.add_parser("neighbors", help="neighbour statistics of a structure file")
    p_stats.add_argument("file")
    p_stats.add_argument("--cutoff", type=float, default=5.0, help="cutoff in Å (default 5)")
    args = parser.parse_args(argv)
    if args.command == "info":
        import pynepcg

        pynepcg.info()
        return 0
    if args.command == "neighbors":
        import numpy as np

        import pynepcg

        for k, s in enumerate(pynepcg.io.iread(args.file)):
            i, *_ = pynepcg.neighbor_list(s, args.cutoff)
            counts = np.bincount(i, minlength=len(s))
            print(f"frame {k}: {len(s)} atoms {s.type_names}, volume {s.box.volume:.3f} A^3, "
                  f"neighbours within {args.cutoff} A: mean {counts.mean():.3f}, max {counts.max(initial=0)}")
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
