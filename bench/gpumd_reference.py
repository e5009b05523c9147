"""GPUMD on the same machine as bench/gpu_md.py and bench/gpu_train.py: the reference column of
issue #8's table, measured instead of quoted.

    python bench/gpumd_reference.py --bin /path/to/GPUMD/src [--quick] [--steps 200]
    python bench/gpumd_reference.py --dry-run --work DIR   # only write the inputs (no GPU needed)
    python bench/gpumd_reference.py --prepared --work DIR --bin BIN   # run inputs written earlier

--prepared needs neither pynepcg nor numpy (standard library only), so GPUMD can be timed on a
machine where pynepcg is not (yet) installed, e.g. while it compiles.

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

SPEED = re.compile(r"Speed of this run = ([0-9.eE+-]+) atom\*step/second")
TRAINING_TIME = re.compile(r"Time used for training = ([0-9.eE+-]+) s")
MANIFEST = "cases.tsv"  # label, number of atoms, folder (relative to --work), one case per line


def md_case(folder: Path, system, model: Path, steps: int) -> None:
    import pynepcg

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


def nep_case(folder: Path, generations: int) -> Path:
    """GPUMD's nep input on the shared PbTe example with `generation` set."""
    from gpu_md import shared_model

    src = shared_model("nep-train-pbte/train.xyz").parent
    d = folder / f"nep_{generations}"
    d.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "train.xyz", d / "train.xyz")
    text = (src / "nep.in").read_text()
    text = re.sub(r"(?m)^\s*generation\b.*$", "", text) + f"\ngeneration {generations}\n"
    (d / "nep.in").write_text(text)
    return d


def nep_rate(binary: Path, folder: Path, generations: tuple[int, int], timeout: float) -> float:
    """generations/s of GPUMD's nep on the PbTe example: (g2 - g1) / (t2 - t1), t from nep's own
    "Time used for training" line (wall clock of the whole process where that line is missing)."""
    times = []
    for g in generations:
        d = folder / f"nep_{g}"
        t0 = time.perf_counter()
        out = subprocess.run([str(binary)], cwd=d, capture_output=True, text=True, timeout=timeout)
        wall = time.perf_counter() - t0
        (d / "nep.log").write_text(out.stdout + out.stderr)
        if out.returncode != 0:
            raise RuntimeError(f"nep failed in {d}: {out.stdout[-800:]}{out.stderr[-800:]}")
        m = TRAINING_TIME.findall(out.stdout)
        times.append(float(m[-1]) if m else wall)
    return (generations[1] - generations[0]) / (times[1] - times[0])


def prepare(work: Path, quick: bool, steps: int, generations) -> None:
    """Write every case folder and the manifest (needs pynepcg, numpy and the shared data)."""
    from gpu_md import bench_models, cg_liquid, rocksalt, shared_model
    from pynepcg import structures

    pbte, cg = bench_models(work)  # the same models as gpu_md.py
    cases = [] if quick else [
        ("C_2022_NEP4 diamond", structures.diamond("C", 3.567, (16, 16, 16)),
         shared_model("nep-models/C_2022_NEP4.txt"), steps),
        ("PbTe NEP4 (defaults)", rocksalt(6.46, (16, 16, 16)), pbte, steps)]
    for n in ([1000, 4096, 10648] if quick else [1000, 4096, 10648, 64000, 262144]):
        cases.append((f"CG-like {n}", cg_liquid(n), cg, 10 * steps if n <= 10648 else steps))
    lines = []
    for label, system, model, case_steps in cases:
        name = re.sub(r"[^A-Za-z0-9]+", "_", label)
        md_case(work / name, system, model, case_steps)
        lines.append(f"{label}\t{len(system)}\t{name}\n")
        print(f"{label}: inputs in {work / name}", flush=True)
    for g in generations:
        nep_case(work, g)
    (work / MANIFEST).write_text("".join(lines))


def run_all(work: Path, binaries: Path, generations, timeout: float) -> None:
    rows = []
    for line in (work / MANIFEST).read_text().splitlines():
        label, n, name = line.split("\t")
        n = int(n)
        try:
            asps = run_gpumd(binaries / "gpumd", work / name, timeout)
        except Exception as exc:  # one failing case should not hide the others
            print(f"GPUMD {label}: FAILED {exc}", flush=True)
            continue
        rows.append((label, n, asps / n, asps))
        print(f"GPUMD {label:24s} N={n:7d}  {asps / n:9.1f} steps/s  {asps:.3e} atom-steps/s", flush=True)
    try:
        rate = nep_rate(binaries / "nep", work, tuple(generations), timeout)
        print(f"GPUMD nep, PbTe example: {rate:.1f} generations/s", flush=True)
    except Exception as exc:
        print(f"GPUMD nep: FAILED {exc}", flush=True)
    print("\n| system | N | GPUMD steps/s | GPUMD atom-steps/s |\n|---|---|---|---|")
    for label, n, sps, asps in rows:
        print(f"| {label} | {n} | {sps:.0f} | {asps:.3e} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", type=Path, help="folder with GPUMD's gpumd and nep executables")
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "gpumd_reference")
    ap.add_argument("--quick", action="store_true", help="CG-like 1k ... 10k only")
    ap.add_argument("--steps", type=int, default=200, help="steps per large system (x10 for <= 10k beads)")
    ap.add_argument("--generations", type=int, nargs=2, default=(100, 600))
    ap.add_argument("--dry-run", action="store_true", help="write the inputs, run nothing")
    ap.add_argument("--prepared", action="store_true", help="run the inputs already in --work")
    ap.add_argument("--timeout", type=float, default=300.0)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if not args.prepared:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        prepare(args.work, args.quick, args.steps, args.generations)
    if not args.dry_run:
        if args.bin is None:
            raise SystemExit("--bin is needed to run GPUMD")
        run_all(args.work, args.bin.resolve(), args.generations, args.timeout)


if __name__ == "__main__":
    main()
