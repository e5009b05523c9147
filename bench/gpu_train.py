"""Training throughput (generations/s) on GPUMD's PbTe example: GPU vs CPU evaluator.

    python bench/gpu_train.py [--generations 50] [--cpu-generations 3]

Data and settings: nep-train-pbte/train.xyz and nep.in of the shared data (25 structures x 250
atoms; GPUMD defaults otherwise: cutoffs 8/4 Å, n_max 4/4, basis 8/8, l_max 4 2 0, 30 neurons,
population 50, batch 1000 = the whole set). Nothing is written to disk (directory=None), one
report at the end. The GPU runs in double and in single precision (Trainer(precision="single")).
GPUMD's number (29 generations/s on an H100 with default settings) is the one quoted in issue #8;
bench/gpumd_reference.py measures GPUMD's nep on the same machine.
"""
from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path

import pynepcg

GPUMD_H100_GEN_PER_S = 29.0


def data_dir() -> Path:
    for root in (os.environ.get("PYNEPCG_SHARED_DATA"), Path(__file__).resolve().parents[2] / "shared" / "data"):
        if root and (Path(root) / "nep-train-pbte" / "train.xyz").exists():
            return Path(root) / "nep-train-pbte"
    raise SystemExit("nep-train-pbte not found: set PYNEPCG_SHARED_DATA")


def rate(device: str, generations: int, precision: str = "double") -> float:
    d = data_dir()
    t = pynepcg.Trainer(d / "nep.in", device=device, precision=precision, generation=generations,
                        output_interval=generations, seed=1)
    t0 = time.perf_counter()
    t.fit(d / "train.xyz", directory=None, progress=False)
    return generations / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--generations", type=int, default=50)
    ap.add_argument("--cpu-generations", type=int, default=3)
    ap.add_argument("--gpumd-log", type=Path, help="output of bench/gpumd_reference.py on this machine")
    args = ap.parse_args()
    reference, where = GPUMD_H100_GEN_PER_S, "issue #8, H100"
    if args.gpumd_log and args.gpumd_log.exists():
        m = re.search(r"GPUMD nep, PbTe example: ([0-9.]+) generations/s", args.gpumd_log.read_text())
        if m:
            reference, where = float(m.group(1)), "measured here"
    print(f"# PbTe example, {pynepcg.get_num_threads()} CPU threads", flush=True)
    rows = []
    if pynepcg.device.gpu_available()[0]:
        rate("cuda", 2)  # warm-up: context, module load
        for precision in ("double", "single"):
            try:
                g = rate("cuda", args.generations, precision)
            except Exception as exc:  # report and go on
                print(f"GPU ({precision}): FAILED {type(exc).__name__}: {exc}", flush=True)
                continue
            rows.append((f"GPU {precision}", g))
            print(f"GPU ({precision}): {g:.1f} generations/s   GPUMD ({where}): {reference} -> "
                  f"ratio {g / reference:.2f}", flush=True)
    if args.cpu_generations > 0:
        c = rate("cpu", args.cpu_generations)
        rows.append(("CPU", c))
        print(f"CPU: {c:.2f} generations/s", flush=True)


if __name__ == "__main__":
    main()
