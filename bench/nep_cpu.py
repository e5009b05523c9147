"""NEP evaluation speed on the CPU: pynepcg vs calorine's CPUNEP on the same structures.

Prints atom-steps/s (one energy+forces+virial evaluation of every atom = one atom-step) for
C_2022_NEP4 on a 1,728-atom rattled diamond cell, the Si 3-body model on a 4,096-atom cell and a
CG-water-like model (the paper preset's hyperparameters: cutoffs 8/5 Å, ~100 neighbours per bead;
random parameters, as in bench/gpu_md.py) on 512 beads, single-threaded and with all cores. Run: python bench/nep_cpu.py [--models DIR] [--repeat N]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk

import pynepcg
from bench_common import cpu_name
from gpu_md import bench_models, cg_liquid


def models_dir(arg):
    if arg:
        return Path(arg)
    here = Path(__file__).resolve().parents[1]
    for d in (here / "tests" / "data", here.parent / "shared" / "data" / "nep-models"):
        if (d / "C_2022_NEP4.txt").exists():
            return d
    raise SystemExit("model files not found: pass --models DIR (with C_2022_NEP4.txt, Si_2022_NEP4_3body.txt)")


def timed(fn, repeat):
    fn()  # warm-up (neighbour list, caches)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    d = models_dir(args.models)
    cg_model = bench_models(Path(tempfile.mkdtemp()))[1]
    beads = cg_liquid(512)
    cases = [
        ("C_2022_NEP4 diamond", d / "C_2022_NEP4.txt", bulk("C", "diamond", 3.567, cubic=True) * (6, 6, 6)),
        ("Si_2022_NEP4_3body", d / "Si_2022_NEP4_3body.txt", bulk("Si", "diamond", 5.431, cubic=True) * (8, 8, 8)),
        ("CG-like water", cg_model, Atoms(["O"] * len(beads), positions=np.asarray(beads.positions),
                                          cell=np.asarray(beads.cell), pbc=True)),
    ]
    ncores = os.cpu_count()
    print(f"machine: {cpu_name()}, {ncores} cores; pynepcg {pynepcg.__version__}")
    try:
        from calorine.calculators import CPUNEP
    except ImportError:
        CPUNEP = None
    print(f"{'case':22s} {'atoms':>6s} {'threads':>7s} {'pynepcg atom-step/s':>20s} {'calorine atom-step/s':>21s} {'ratio':>6s}")
    for name, path, atoms in cases:
        atoms.rattle(0.05, seed=1)
        system = pynepcg.System.from_ase(atoms)
        nep = pynepcg.NEP(path, skin=0.0)
        ref = None
        if CPUNEP is not None:
            a = atoms.copy()
            calc = CPUNEP(str(path))

            def run_calorine():
                calc.calculate(a, ["energy", "forces", "stress"])

            ref = len(atoms) / timed(run_calorine, args.repeat)
        for threads in sorted({1, ncores}):
            pynepcg.set_num_threads(threads)
            ours = len(atoms) / timed(lambda: nep.compute(system), args.repeat)
            ratio = f"{ours / ref:6.2f}" if ref and threads == 1 else "     -"
            refs = f"{ref:21.3e}" if ref and threads == 1 else f"{'(1 thread)':>21s}"
            print(f"{name:22s} {len(atoms):6d} {threads:7d} {ours:20.3e} {refs} {ratio}")
        pynepcg.set_num_threads(0)


if __name__ == "__main__":
    main()
