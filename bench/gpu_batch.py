"""Many small structures on a GPU: one compute() per structure vs NEP.compute_many (one launch per
kernel for all), beside the CPU evaluator (all cores) in the same script.

Workload: C_2022_NEP4 on jittered diamond cells of 64 and 216 atoms (energies, forces, per-atom
virials), --count structures each (default 2048). Prints structures/s and atom-evaluations/s.
Run: python bench/gpu_batch.py [--count N]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import pynepcg
from pynepcg import structures

from gpu_md import shared_model


def rate(fn, count, atoms):
    t0 = time.perf_counter()
    fn()
    dt = time.perf_counter() - t0
    return count / dt, count * atoms / dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=2048)
    args = ap.parse_args()
    ok, why = pynepcg.device.gpu_available()
    if not ok:
        raise SystemExit(f"no GPU: {why}")
    model = shared_model("nep-models/C_2022_NEP4.txt")
    cpu, gpu = pynepcg.NEP(model, device="cpu"), pynepcg.NEP(model, device="cuda")
    print(f"# {gpu._cpp.device_name}; CPU reference: {pynepcg.get_num_threads()} threads")
    rng = np.random.default_rng(1)
    for cells in ((2, 2, 2), (3, 3, 3)):
        g = structures.diamond("C", 3.567, cells)
        batch = []
        for _ in range(args.count):
            s = g.copy()
            s.positions = np.asarray(g.positions) + rng.normal(0, 0.05, (len(g), 3))
            batch.append(s)
        n = len(g)
        gpu.compute_many(batch[:8])  # (warm-up: allocations, list capacity)
        few = batch[: max(1, args.count // 8)]  # (the CPU on a share of them)
        c = rate(lambda: [cpu.compute(s) for s in few], len(few), n)
        o = rate(lambda: [gpu.compute(s) for s in batch], len(batch), n)
        m = rate(lambda: gpu.compute_many(batch), len(batch), n)
        print(f"{n:4d} atoms: CPU {c[0]:9.0f} structures/s ({c[1]:.3g} atom-evals/s) | GPU one at a time "
              f"{o[0]:9.0f} ({o[1]:.3g}) | GPU compute_many {m[0]:9.0f} ({m[1]:.3g}): "
              f"{m[0] / o[0]:.1f}x one at a time, {m[0] / c[0]:.1f}x the CPU", flush=True)


if __name__ == "__main__":
    main()
