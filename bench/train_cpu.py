"""NEP training speed on the CPU: generations/s and atoms evaluated/s of pynepcg's Trainer.

Workload: GPUMD's PbTe example (25 structures x 250 atoms) with GPUMD's default hyper-parameters
(population 50, one batch), so one generation evaluates 50 x 6,250 = 312,500 atoms (energy, forces
and virial of every atom). Runs on 1 thread and on all cores, in double and in single precision
(Trainer(precision="single"): float lanes, 16 individuals per SIMD pack). Reference in the same script:
calorine's CPUNEP evaluating the same number of atoms (the cost of a Python SNES loop around
calorine, which has no trainer). Run: python bench/train_cpu.py [--data train.xyz] [--generations N]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

import pynepcg
from bench_common import cpu_name


def find_data(arg):
    if arg:
        return Path(arg)
    here = Path(__file__).resolve().parents[1]
    for d in (here / "tests" / "data", here.parent / "shared" / "data" / "nep-train-pbte"):
        if (d / "train.xyz").exists():
            return d / "train.xyz"
    raise SystemExit("PbTe train.xyz not found: pass --data PATH")


def time_training(data, threads, generations, precision):
    pynepcg.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as d:
        # generation 0 only computes q_scaler; time generations 1 ... N separately from set-up
        t = pynepcg.Trainer(type=["Te", "Pb"], generation=generations + 1, output_interval=10 ** 6, seed=1)
        structures = pynepcg.trainer.read_training_set(data)
        core = pynepcg._core.Trainer(pynepcg._core.parse_nep_in(t.nep_in), structures, [], d, False, "cpu",
                                     precision)
        core.run(1)
        t0 = time.perf_counter()
        core.run(generations)
        dt = time.perf_counter() - t0
    atoms = sum(len(s) for s in structures)
    return generations / dt, 50 * atoms * generations / dt


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data")
    ap.add_argument("--generations", type=int, default=10)
    args = ap.parse_args()
    data = find_data(args.data)
    cores = os.cpu_count() or 1
    print(f"CPU: {cpu_name()}, {cores} cores; data: {data}")
    print(f"{'run':<40}{'generations/s':>15}{'atoms/s':>14}")
    for precision in ("double", "single"):
        for threads in sorted({1, cores}):
            gps, aps = time_training(data, threads, args.generations, precision)
            print(f"{f'pynepcg Trainer, {precision}, {threads} thread(s)':<40}{gps:>15.3f}{aps:>14.3e}")
    try:
        from ase.io import read
        from calorine.calculators import CPUNEP
    except ImportError:
        print("calorine not installed: no reference")
        return
    # Reference: calorine evaluating a model of the same architecture on the same structures.
    with tempfile.TemporaryDirectory() as d:
        t = pynepcg.Trainer(type=["Te", "Pb"], generation=1, output_interval=1, seed=1)
        t.fit(data, directory=d, progress=False)
        frames = read(data, ":")
        calc = CPUNEP(str(Path(d) / "nep.txt"))
        t0 = time.perf_counter()
        n = 0
        for a in frames[:10]:
            a.calc = calc
            a.get_forces()
            a.get_stress()
            calc.reset()
            n += len(a)
        dt = time.perf_counter() - t0
    aps = n / dt
    print(f"{'calorine CPUNEP (1 thread), same atoms':<40}{aps / (50 * sum(len(a) for a in frames)):>15.3f}{aps:>14.3e}")


if __name__ == "__main__":
    main()
