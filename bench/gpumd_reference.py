"""GPUMD on the same machine as bench/gpu_md.py and bench/gpu_train.py: the reference column of
issue #8's table, measured instead of quoted.

    python bench/gpumd_reference.py --bin /path/to/GPUMD/src [--quick] [--steps 200]
    python bench/gpumd_reference.py --dry-run           # only write the inputs (no GPU needed)

GPUMD itself is not part of this repository (GPL): build it from its own source, e.g. on the lent
GPU machine with `bash bench/gpu_session.sh gpumd` (expects a source tarball in
.devdata/gpumd-src.tar.gz). This script writes GPUMD inputs for the same systems as gpu_md.py
(model.xyz from pynepcg's writer, the same NEP files, run.in: velocity 300 K, NVE, dt 1 fs, no
dumps; GPUMD's default neighbour list), runs `gpumd` in a scratch folder per case and reads its
"Speed of this run = ... atom*step/second" line. Training: GPUMD's `nep` on the shared PbTe
example (nep.in with `generation` set), generations/s from the wall-clock difference of a long
and a short run (start-up and file output cancel).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pynepcg
from pynepcg import structures

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from gpu_md import cg_liquid, rocksalt, shared_model  # noqa: E402
from nep_models import write_random_nep  # noqa: E402

SPEED = re.compile(r"Speed of this run = ([0-9.eE+-]+) atom\*step/second")


def md_case(folder: Path, system, model: Path, steps: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pynepcg.io.write(folder / "model.xyz", system)
    shutil.copy(model, folder / "nep.txt")
    (folder / "run.in").write_text(f"potential nep.txt\nvelocity 300\nensemble nve\ntime_step 1\nrun {steps}\n")


def run_gpumd(binary: Path, folder: Path, timeout: float) -> float:
    out = subprocess.run([str(binary)], cwd=folder, capture_output=True, text=True, timeout=timeout)
    (folder / "gpumd.log").write_text(out.stdout + out.stderr)
    m = SPEED.findall(out.stdout)
    if out.returncode != 0 or not m:
        raise RuntimeError(f"gpumd failed in {folder} (exit {out.returncode}): {out.stdout[-800:]}{out.stderr[-800:]}")
    return float(m[-1])


def nep_rate(binary: Path, folder: Path, generations: tuple[int, int], timeout: float) -> float:
    """generations/s of GPUMD's nep on the PbTe example: (g2 - g1) / (t2 - t1)."""
    src = shared_model("nep-train-pbte/train.xyz").parent
    times = []
    for g in generations:
        d = folder / f"nep_{g}"
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / "train.xyz", d / "train.xyz")
        text = (src / "nep.in").read_text()
        text = re.sub(r"(?m)^\s*generation\b.*$", "", text) + f"\ngeneration {g}\n"
        (d / "nep.in").write_text(text)
        t0 = time.perf_counter()
        out = subprocess.run([str(binary)], cwd=d, capture_output=True, text=True, timeout=timeout)
        times.append(time.perf_counter() - t0)
        (d / "nep.log").write_text(out.stdout + out.stderr)
        if out.returncode != 0:
            raise RuntimeError(f"nep failed in {d}: {out.stdout[-800:]}{out.stderr[-800:]}")
    return (generations[1] - generations[0]) / (times[1] - times[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", type=Path, help="folder with GPUMD's gpumd and nep executables")
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "gpumd_reference")
    ap.add_argument("--quick", action="store_true", help="CG-like 1k ... 10k only")
    ap.add_argument("--steps", type=int, default=200, help="steps per large system (x10 for <= 10k beads)")
    ap.add_argument("--generations", type=int, nargs=2, default=(100, 600))
    ap.add_argument("--dry-run", action="store_true", help="write the inputs, run nothing")
    ap.add_argument("--timeout", type=float, default=300.0)
    args = ap.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    # the same models as gpu_md.py (same seeds)
    pbte = write_random_nep(work / "pbte_nep.txt", elements=("Te", "Pb"), rc=(8.0, 4.0), n_max=(4, 4),
                            basis=(8, 8), l_max=(4, 2, 0), neurons=(30, 0), seed=1, scale=0.02)
    cg = write_random_nep(work / "cg_nep.txt", elements=("O",), rc=(8.0, 5.0), n_max=(6, 4), basis=(8, 8),
                          l_max=(4, 2, 0), neurons=(30, 0), seed=2, scale=0.02)
    cases = [("C_2022_NEP4 diamond", structures.diamond("C", 3.567, (16, 16, 16)),
              shared_model("nep-models/C_2022_NEP4.txt"), args.steps),
             ("PbTe NEP4 (defaults)", rocksalt(6.46, (16, 16, 16)), pbte, args.steps)]
    if args.quick:
        cases = []
    for n in ([1000, 4096, 10648] if args.quick else [1000, 4096, 10648, 64000, 262144]):
        cases.append((f"CG-like {n}", cg_liquid(n), cg, 10 * args.steps if n <= 10648 else args.steps))
    rows = []
    for label, system, model, steps in cases:
        folder = work / re.sub(r"[^A-Za-z0-9]+", "_", label)
        md_case(folder, system, model, steps)
        if args.dry_run:
            print(f"{label}: inputs in {folder}")
            continue
        asps = run_gpumd(args.bin / "gpumd", folder, args.timeout)
        rows.append((label, len(system), asps / len(system), asps))
        print(f"GPUMD {label:24s} N={len(system):7d}  {asps / len(system):9.1f} steps/s  {asps:.3e} atom-steps/s",
              flush=True)
    if not args.dry_run:
        rate = nep_rate(args.bin / "nep", work, tuple(args.generations), args.timeout)
        print(f"GPUMD nep, PbTe example: {rate:.1f} generations/s", flush=True)
        print("\n| system | N | GPUMD steps/s | GPUMD atom-steps/s |\n|---|---|---|---|")
        for label, n, sps, asps in rows:
            print(f"| {label} | {n} | {sps:.0f} | {asps:.3e} |")


if __name__ == "__main__":
    main()
