"""Neighbour-list build time from 1e3 to 1e6 atoms: pynepcg vs matscipy in the same run.

Random positions at the density of liquid water molecules' heavy atoms scaled up (0.05 atoms/Å^3)
in a cubic periodic box; cutoff 5 Å (about 26 neighbours per atom). Prints the build time, the
time per atom (flat when the build is O(N)) and matscipy's time for the same pairs.
Run: python bench/neighbors_cpu.py [--max 1000000] [--threads N]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import pynepcg


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--max", type=int, default=1_000_000)
    ap.add_argument("--cutoff", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    pynepcg.set_num_threads(args.threads)
    try:
        from matscipy.neighbours import neighbour_list
    except ImportError:
        neighbour_list = None
    density = 0.05
    rng = np.random.default_rng(0)
    print(f"pynepcg {pynepcg.__version__}, {args.threads} thread(s), cutoff {args.cutoff} Å, density {density}/Å^3")
    print(f"{'atoms':>9s} {'pairs':>11s} {'pynepcg s':>10s} {'us/atom':>8s} {'matscipy s':>11s} {'us/atom':>8s}")
    n = 1000
    while n <= args.max:
        length = (n / density) ** (1 / 3)
        pos = rng.uniform(0, length, (n, 3))
        s = pynepcg.System(["Ar"] * n, pos, cell=[length] * 3)
        nl = pynepcg.NeighborList(args.cutoff)
        t = time.perf_counter()
        nl.build(s)
        ours = time.perf_counter() - t
        ref = float("nan")
        if neighbour_list is not None:
            t = time.perf_counter()
            i = neighbour_list("i", positions=pos, cell=np.eye(3) * length, pbc=[True] * 3, cutoff=args.cutoff)
            ref = time.perf_counter() - t
            assert len(i) == nl.num_pairs, (len(i), nl.num_pairs)
        print(f"{n:9d} {nl.num_pairs:11d} {ours:10.4f} {ours / n * 1e6:8.3f} {ref:11.4f} {ref / n * 1e6:8.3f}")
        n *= 10


if __name__ == "__main__":
    main()
