"""Mean-force data generation on a GPU: frames/hour one after another vs concurrent replicas.

Workload: C_2022_NEP4 diamond, 3 x 3 x 3 conventional cells (216 atoms, 27 beads of 8 atoms),
bead-constrained Langevin at 600 K, 500 + 2,000 steps of 1 fs per frame, a sample every 5 steps.
Reference in the same script: the same frames one after another with one GpuNEP and the samples
taken at segment ends (NEPCG_DEVICE_RECORDS=0: a device segment of 5 steps between samples, as
before session 17); then the default (samples recorded on the device: one segment per frame), one
after another and from 4 and 16 threads (each frame its own GpuNEP and CUDA stream); then 16 and 32
threads whose segments run fused (pynepcg.FusedReplicas: one launch per kernel for all frames).
Run: python bench/gpu_datagen.py [--frames N]
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import functools
import os
import tempfile
import time
from pathlib import Path

import numpy as np

import pynepcg
from pynepcg import datagen, structures
from pynepcg.mapping import Mapper

from gpu_md import shared_model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=32)
    args = ap.parse_args()
    ok, why = pynepcg.device.gpu_available()
    if not ok:
        raise SystemExit(f"no GPU: {why}")
    model = shared_model("nep-models/C_2022_NEP4.txt")
    g = structures.diamond("C", 3.567, (3, 3, 3))
    m = Mapper.by_cell(g, (3, 3, 3), names="C8")
    rng = np.random.default_rng(1)
    configs = []
    for _ in range(args.frames):
        c = g.copy()
        c.positions = np.asarray(g.positions) + rng.normal(0, 0.05, (len(g), 3))
        configs.append(c)
    settings = datagen.MeanForceSettings(temperature=600, equilibration=500, steps=2000, sample_interval=5,
                                         block_samples=40, thermostat="langevin", tau=100)
    print(f"# {pynepcg.NEP(model, device='cuda')._cpp.device_name}, {args.frames} frames of {len(g)} atoms, "
          f"{settings.equilibration + settings.steps} steps each")
    with tempfile.TemporaryDirectory() as d:
        for records in ("0", "1"):
            os.environ["NEPCG_DEVICE_RECORDS"] = records
            t0 = time.perf_counter()
            datagen.mean_force(configs, m, pynepcg.NEP(model, device="cuda"), settings, Path(d) / f"seq{records}",
                               progress=False)
            r = args.frames / (time.perf_counter() - t0) * 3600
            if records == "0":
                reference = r
                print(f"one after another, samples at segment ends (reference): {r:9.0f} frames/h", flush=True)
            else:
                rate = r
                print(f"one after another, samples recorded on the device:      {r:9.0f} frames/h "
                      f"({r / reference:.1f}x)", flush=True)
        for threads in (4, 16):
            factory = functools.partial(pynepcg.NEP, str(model), device="cuda")
            t0 = time.perf_counter()
            with cf.ThreadPoolExecutor(threads) as pool:
                datagen.mean_force(configs, m, factory, settings, Path(d) / f"t{threads}", executor=pool,
                                   progress=False)
            r = args.frames / (time.perf_counter() - t0) * 3600
            print(f"{threads:2d} concurrent replicas, recorded samples:           {r:9.0f} frames/h "
                  f"({r / rate:.1f}x the sequential recorded, {r / reference:.1f}x the reference)", flush=True)
        for threads in (16, 32):
            teacher = pynepcg.FusedReplicas(model)
            t0 = time.perf_counter()
            datagen.mean_force(configs, m, teacher, settings, Path(d) / f"f{threads}", progress=False,
                               replicas=threads)
            r = args.frames / (time.perf_counter() - t0) * 3600
            st = teacher.stats
            print(f"{threads:2d} fused replicas (largest batch {st['largest_batch']:2d}, "
                  f"{st['fused_segments']}/{st['segments']} fused): {r:9.0f} frames/h "
                  f"({r / rate:.1f}x the sequential recorded, {r / reference:.1f}x the reference)", flush=True)


if __name__ == "__main__":
    main()
