"""Per-kernel GPU times of one MD step, for deciding what to optimise next (needs a CUDA GPU).

    ncu --launch-skip 400 --launch-count 40 --metrics gpu__time_duration.sum --csv \\
        python bench/gpu_profile.py --case cg1000 --precision single > profile.csv
    python bench/gpu_profile.py --summarise profile.csv

Each case runs 60 NVE steps (dt 1 fs, skin 1 Å) of one of bench/gpu_md.py's systems in one device
segment, so skipping the first few hundred launches lands on steady-state steps. `--summarise`
prints the mean time per kernel name and the sum per step from Nsight Compute's CSV, beside the
wall-clock time per step measured without the profiler (the gap is launch latency).
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import defaultdict
from pathlib import Path

CASES = ("cg1000", "cg4096", "cg10648", "cg64000", "cg262144", "carbon", "pbte")


def build_case(name: str):
    import os

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from gpu_md import bench_models, cg_liquid, rocksalt, shared_model
    from pynepcg import structures

    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    pbte, cg = bench_models(tmp)
    if name.startswith("cg"):
        return cg_liquid(int(name[2:])), cg
    if name == "pbte":
        return rocksalt(6.46, (16, 16, 16)), pbte
    return structures.diamond("C", 3.567, (16, 16, 16)), shared_model("nep-models/C_2022_NEP4.txt")


def run(case: str, precision: str, steps: int) -> None:
    import pynepcg
    from pynepcg import ensembles

    system, model = build_case(case)
    sim = pynepcg.Simulator(system, pynepcg.NEP(model, device="cuda", precision=precision), skin=1.0, seed=1)
    sim.set_temperature(300)
    t0 = time.perf_counter()
    sim.run(steps, ensembles.NVE(), 1.0)
    wall = time.perf_counter() - t0
    print(f"# {case} {precision}: {len(system)} sites, {steps} steps, {wall / steps * 1e3:.4f} ms per step (wall)",
          file=sys.stderr)


def summarise(path: Path) -> None:
    rows = [r for r in csv.reader(line for line in path.read_text().splitlines() if line.startswith('"'))]
    head = rows[0]
    name_col, value_col = head.index("Kernel Name"), head.index("Metric Value")
    unit_col = head.index("Metric Unit")
    times = defaultdict(list)
    for r in rows[1:]:
        if len(r) <= value_col or not r[value_col].replace(",", "").replace(".", "").isdigit():
            continue
        scale = {"ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3, "nsecond": 1e-3}.get(r[unit_col], 1e-3)
        name = r[name_col].replace("(anonymous namespace)::", "")
        kernel = name.split("(")[0].split("<")[0].strip().removeprefix("void ").split("::")[-1]
        times[kernel].append(float(r[value_col].replace(",", "")) * scale)
    kick = len(times.get("kick_drift", [])) // 2 or 1  # two kick_drift launches per step
    total = 0.0
    print(f"{'kernel':40s} {'launches':>8s} {'mean us':>10s} {'us per step':>12s}")
    for kernel, t in sorted(times.items(), key=lambda kv: -sum(kv[1])):
        per_step = sum(t) / kick
        total += per_step
        print(f"{kernel:40s} {len(t):8d} {sum(t) / len(t):10.2f} {per_step:12.2f}")
    print(f"{'sum of kernel times per step':40s} {'':8s} {'':10s} {total:12.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=CASES, default="cg1000")
    ap.add_argument("--precision", choices=["double", "single"], default="double")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--summarise", type=Path, help="Nsight Compute CSV to summarise")
    args = ap.parse_args()
    if args.summarise:
        summarise(args.summarise)
    else:
        run(args.case, args.precision, args.steps)


if __name__ == "__main__":
    main()
