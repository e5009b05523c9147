"""Per-kernel GPU times of one MD step, for deciding what to optimise next (needs a CUDA GPU).

    ncu --launch-skip 400 --launch-count 40 --metrics gpu__time_duration.sum --csv \\
        python bench/gpu_profile.py --case cg1000 --precision single > profile.csv
    python bench/gpu_profile.py --summarise profile.csv

Each case runs 60 NVE steps (dt 1 fs, skin 1 Å) of one of bench/gpu_md.py's systems in one device
segment, so skipping the first few hundred launches lands on steady-state steps. `--summarise`
prints the mean time per kernel name and the sum per step from Nsight Compute's CSV, beside the
wall-clock time per step measured without the profiler (the gap is launch latency).

    python bench/gpu_profile.py --pass-shares            # every case, single precision
    python bench/gpu_profile.py --pass-shares --cases pbte cg64000 --precision double

`--pass-shares` says where the NEP site kernel's time goes, which Nsight Compute reports only per
kernel: the clock cycles of each pass (GpuNEP.site_pass_cycles: skipping the skin, descriptor
sums, descriptor + network + gradients, partial forces), summed over the lane groups of a few
force evaluations, as shares, with the site kernel taking every list entry and skipping the skin
(NEPCG_SITE_SKIN), beside the time per force evaluation.
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


def pass_shares(cases, precision: str) -> None:
    import os

    import pynepcg

    print(f"{'case':10s} {'precision':9s} {'skin':5s} {'ms/eval':>8s} {'skip skin':>9s} {'sums':>6s} "
          f"{'network':>8s} {'forces':>7s}  (shares of the site kernel's cycles)")
    for case in cases:
        system, model = build_case(case)
        for skin in ("keep", "skip"):
            os.environ["NEPCG_SITE_SKIN"] = skin
            pot = pynepcg.NEP(model, device="cuda", precision=precision, skin=1.0)
            ms = pot._cpp.time_forces(system, 10)
            cycles = pot._cpp.site_pass_cycles(system, 3)
            total = sum(cycles) or 1.0
            shares = " ".join(f"{c / total:{w}.1%}" for c, w in zip(cycles, (9, 6, 8, 7)))
            print(f"{case:10s} {precision:9s} {skin:5s} {ms:8.3f} {shares}", flush=True)
    os.environ.pop("NEPCG_SITE_SKIN", None)


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
    ap.add_argument("--precision", choices=["double", "single"], default=None,
                    help="double (the default), or single (the default of --pass-shares)")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--summarise", type=Path, help="Nsight Compute CSV to summarise")
    ap.add_argument("--pass-shares", action="store_true",
                    help="shares of the site kernel's passes for --cases (default: every case)")
    ap.add_argument("--cases", nargs="+", choices=CASES, help="cases for --pass-shares (default: all)")
    args = ap.parse_args()
    if args.pass_shares:
        pass_shares(args.cases or CASES, args.precision or "single")
    elif args.summarise:
        summarise(args.summarise)
    else:
        run(args.case, args.precision or "double", args.steps)


if __name__ == "__main__":
    main()
