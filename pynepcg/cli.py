"""The ``pynepcg`` command: Python-level workflows (the C++ ``nepcg`` program runs MD/training)."""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="pynepcg", description="NEP-CG workflows")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("info", help="print the build configuration and visible GPUs")
    sub.add_parser("demo", help="the smallest real use: load the shipped qHP C60 cell, count its bonds")
    p_water = sub.add_parser("water", help="coarse-grained water end to end: teacher, mean forces, NEP-CG, "
                                           "equation of state (the main job)")
    p_water.add_argument("--preset", default="quick", choices=["tiny", "quick", "medium", "paper"],
                         help="quick: ~10 min on a 2-core CPU (default), rough numbers; medium: ~1 h, 128 molecules, "
                              "CG density within 2 %% of the teacher; paper: paper-like sizes (GPU advised)")
    p_water.add_argument("--output", default=None, help="output folder (default water-<preset>); re-running resumes")
    p_water.add_argument("--teacher", default=None, help="a NEP model file for water (species O, H) instead of SPC/Fw")
    p_water.add_argument("--seed", type=int, default=1)
    p_water.add_argument("--stop-after", default=None, choices=["aa", "data", "train"],
                         help="stop after this stage (e.g. make the data on a CPU machine, train on a GPU one); "
                              "re-running on the same output continues")
    p_stats = sub.add_parser("neighbors", help="neighbour statistics of a structure file")
    p_stats.add_argument("file")
    p_stats.add_argument("--cutoff", type=float, default=5.0, help="cutoff in Å (default 5)")
    args = parser.parse_args(argv)
    if args.command == "info":
        import pynepcg

        pynepcg.info()
        return 0
    if args.command == "demo":
        return _demo()
    if args.command == "water":
        from .cases import water

        report = water.run(args.output or f"water-{args.preset}", args.preset, teacher=args.teacher, seed=args.seed,
                           stop_after=args.stop_after)
        if report is not None:
            print(report.read_text())
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


def _demo() -> int:
    import numpy as np

    import pynepcg
    from pynepcg.structures import qhp_c60

    s = qhp_c60(repeat=(2, 2))
    print(f"qHP C60 monolayer, 2x2 cells: {s}")
    i, j, shifts, vectors = pynepcg.neighbor_list(s, 1.75)  # C-C bonds
    bonds = np.bincount(i, minlength=len(s))
    print(f"C-C bonds (< 1.75 A): {len(i) // 2}, {np.sum(bonds == 3)} three-fold (sp2) and "
          f"{np.sum(bonds == 4)} four-fold (sp3) carbons")
    lengths = np.linalg.norm(vectors, axis=1)
    print(f"bond lengths: {lengths.min():.3f} ... {lengths.max():.3f} A, mean {lengths.mean():.3f} A")
    mol = np.asarray(s.groups[0])
    inter = mol[i] != mol[j]
    print(f"inter-cage bonds: {inter.sum() // 2} (length {lengths[inter].mean():.3f} A)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
