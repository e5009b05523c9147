"""GPU MD throughput of pynepcg (NVE, device-resident segments) beside GPUMD's published numbers.

    python bench/gpu_md.py            # the issue's table (needs a CUDA GPU)
    python bench/gpu_md.py --quick    # small sizes only

Systems (NVE from 300 K, dt = 1 fs, skin 1 Å, no observers: one device segment per run):
  * C_2022_NEP4 on a 32,768-atom diamond cell (shared data nep-models/C_2022_NEP4.txt);
  * a PbTe NEP4 with GPUMD's default hyper-parameters (the PbTe example's nep.in: cutoffs 8/4 Å,
    n_max 4/4, basis 8/8, l_max 4 2 0, 30 neurons) on 32,768 rock-salt atoms; its parameters are
    random (small), since cost does not depend on their values;
  * a one-species CG-like model (the water paper preset: cutoffs 8/5 Å, n_max 6/4, basis 8/8,
    l_max 4 2 0, 30 neurons; random parameters) at the density of CG water (one bead per
    29.9 Å^3), 1k ... 262k beads.
Each system runs in double precision and in single precision (``--precision``; single: the site
kernel's maths in float, as GPUMD's code; accuracy in docs/gpu.md), with the site kernel's default
warp per atom or, with ``--lanes 16`` or ``both``, also two atoms per warp (NEPCG_SITE_LANES).
``--order-compare`` and ``--skin-compare`` add the large systems with the site kernel taking atoms in
the list's bin order (NEPCG_SITE_ORDER) and skipping the list's skin shell (NEPCG_SITE_SKIN), each
beside the default.
The GPUMD column is GPUMD measured on the same machine when --gpumd-log names the output of
bench/gpumd_reference.py (bench/gpu_session.sh compare does this), else the H100 figures quoted in
issue #8 (GPUMD's float32 code, same card type).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

import pynepcg
from pynepcg import ensembles, structures

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from nep_models import write_random_nep  # noqa: E402

GPUMD_H100 = {  # atom-steps/s (or steps/s where noted), from issue #8
    "C_2022_NEP4 diamond": 1.5e7,
    "PbTe NEP4 (defaults)": 3.4e7,
    "CG-like <= 10k": ("steps/s", 1240.0),
    "CG-like 64k": 3.6e7,
}


def measured_gpumd(log: Path) -> dict:
    """GPUMD's atom-steps/s per system label from bench/gpumd_reference.py's output (same machine)."""
    out = {}
    for m in re.finditer(r"^GPUMD (.+?)\s+N=\s*\d+\s+[0-9.]+ steps/s\s+([0-9.eE+-]+) atom-steps/s", log.read_text(), re.M):
        out[m.group(1).strip()] = float(m.group(2))
    return out


def bench_models(folder: Path) -> tuple[Path, Path]:
    """The random PbTe and CG-like NEP files of the benchmark (fixed seeds), written to folder; the
    same files for bench/gpumd_reference.py and bench/gpu_profile.py."""
    pbte = write_random_nep(folder / "pbte_nep.txt", elements=("Te", "Pb"), rc=(8.0, 4.0), n_max=(4, 4),
                            basis=(8, 8), l_max=(4, 2, 0), neurons=(30, 0), seed=1, scale=0.02)
    cg = write_random_nep(folder / "cg_nep.txt", elements=("O",), rc=(8.0, 5.0), n_max=(6, 4), basis=(8, 8),
                          l_max=(4, 2, 0), neurons=(30, 0), seed=2, scale=0.02)
    return pbte, cg


def shared_model(name: str) -> Path:
    for root in (os.environ.get("PYNEPCG_SHARED_DATA"), Path(__file__).resolve().parents[2] / "shared" / "data"):
        if root and (Path(root) / name).exists():
            return Path(root) / name
    raise SystemExit(f"{name} not found: set PYNEPCG_SHARED_DATA")


def rocksalt(a: float, repeat) -> pynepcg.System:
    base = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    frac, names = [], []
    for i in range(repeat[0]):
        for j in range(repeat[1]):
            for k in range(repeat[2]):
                for b in base:
                    frac += [b + (i, j, k), b + (i, j, k) + (0.5, 0, 0)]
                    names += ["Pb", "Te"]
    return pynepcg.System(names, np.array(frac) * a, cell=np.diag(np.array(repeat, float) * a), pbc=True)


def cg_liquid(n: int, seed: int = 0) -> pynepcg.System:
    """n beads on a jittered simple-cubic lattice at one bead per 29.9 Å^3."""
    m = int(round(n ** (1 / 3)))
    spacing = 29.9 ** (1 / 3)
    grid = np.stack(np.meshgrid(*[np.arange(m)] * 3, indexing="ij"), -1).reshape(-1, 3)[:n]
    rng = np.random.default_rng(seed)
    x = (grid + rng.uniform(-0.15, 0.15, grid.shape)) * spacing
    return pynepcg.System(["O"] * len(x), x, cell=np.eye(3) * m * spacing, pbc=True, masses=np.full(len(x), 18.015))


def throughput(system, model, device, steps, warmup=20, precision="double", ensemble=None):
    pot = pynepcg.NEP(model, device=device, precision=precision)
    if device == "cuda" and ensemble is None:
        ms = pot._cpp.time_forces(system, 20)
        print(f"    forces only: {ms:.3f} ms per evaluation ({len(system) / ms * 1e3:.3e} atom-evaluations/s)", flush=True)
    ensemble = ensemble or ensembles.NVE()
    sim = pynepcg.Simulator(system, pot, skin=1.0, seed=1)
    sim.set_temperature(300)
    sim.run(warmup, ensemble, 1.0)
    builds = pot._cpp.neighbor_list_builds if device == "cuda" else 0
    t0 = time.perf_counter()
    sim.run(steps, ensemble, 1.0)
    dt = time.perf_counter() - t0
    if device == "cuda" and not sim.ran_on_device:
        print(f"    integrated on the host; device list builds in the timed steps: "
              f"{pot._cpp.neighbor_list_builds - builds}", flush=True)
    return steps / dt, len(system) * steps / dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cpu", action="store_true", help="also time the CPU backend on the 32k cells (slow)")
    ap.add_argument("--steps", type=int, default=200, help="steps per large system (x10 for <= 10k beads)")
    ap.add_argument("--precision", choices=["double", "single", "both"], default="both")
    ap.add_argument("--gpumd-log", type=Path,
                    help="output of bench/gpumd_reference.py on this machine: GPUMD's measured speeds as the reference")
    ap.add_argument("--npt", action="store_true", help="also CG-like 1k and 10.6k beads with an NPT ensemble")
    ap.add_argument("--lanes", choices=["32", "16", "both"], default="32",
                    help="lanes per atom of the site kernel (NEPCG_SITE_LANES): a warp, half a warp, or each")
    ap.add_argument("--order-compare", action="store_true",
                    help="also CG-like 64k and 262k beads in lattice and in shuffled atom order, with the site kernel "
                         "taking atoms by index and in bin order (NEPCG_SITE_ORDER), single precision")
    ap.add_argument("--skin-compare", action="store_true",
                    help="also PbTe 32k and CG-like 10.6k-262k beads (jittered lattice and uniform random positions) "
                         "with the site kernel taking every list entry and skipping the skin (NEPCG_SITE_SKIN), "
                         "single precision")
    ap.add_argument("--graphs", choices=["on", "off"], default="on",
                    help="off: launch each kernel of a step (NEPCG_CUDA_GRAPHS=0) instead of replaying a CUDA graph")
    args = ap.parse_args()
    os.environ["NEPCG_CUDA_GRAPHS"] = "1" if args.graphs == "on" else "0"
    ok, why = pynepcg.device.gpu_available()
    if not ok:
        raise SystemExit(f"no GPU: {why}")
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    pbte, cg = bench_models(tmp)
    carbon = shared_model("nep-models/C_2022_NEP4.txt")
    rows = []
    gpu_name = pynepcg.NEP(carbon, device="cuda")._cpp.device_name
    precisions = ["double", "single"] if args.precision == "both" else [args.precision]
    lanes = ["32", "16"] if args.lanes == "both" else [args.lanes]
    measured = measured_gpumd(args.gpumd_log) if args.gpumd_log and args.gpumd_log.exists() else {}
    # issue #8's GPUMD figures are from an H100: on another card (the device tool has lent H200s,
    # whose memory is faster) the ratio against them is not like for like; measure GPUMD here
    # (bench/gpu_session.sh compare or gpumd) for that card's ratios
    elsewhere = "" if "H100" in gpu_name else " (H100, not this card)"
    if elsewhere and not measured:
        print(f"# warning: {gpu_name} is not an H100: ratios against issue #8's GPUMD H100 figures are not like for "
              "like; pass --gpumd-log with GPUMD measured on this card", flush=True)
    print(f"# pynepcg {pynepcg.__version__}, {gpu_name}, {'/'.join(precisions)} precision, NVE dt 1 fs, skin 1 A, "
          f"CUDA graphs {args.graphs}, site-kernel lanes per atom {'/'.join(lanes)}", flush=True)
    cases = [("C_2022_NEP4 diamond", structures.diamond("C", 3.567, (16, 16, 16)), carbon, args.steps,
              "C_2022_NEP4 diamond"),
             ("PbTe NEP4 (defaults)", rocksalt(6.46, (16, 16, 16)), pbte, args.steps, "PbTe NEP4 (defaults)")]
    sizes = [1000, 4096, 10648] if args.quick else [1000, 4096, 10648, 64000, 262144]
    for n in sizes:
        ref = "CG-like <= 10k" if n <= 10648 else ("CG-like 64k" if n == 64000 else None)
        cases.append((f"CG-like {n}", cg_liquid(n), cg, 10 * args.steps if n <= 10648 else args.steps, ref))
    if args.quick:
        cases = cases[2:]
    for (label, system, model, steps, ref), precision, lane in [(c, p, k) for c in cases for p in precisions
                                                                for k in lanes]:
        os.environ["NEPCG_SITE_LANES"] = lane
        try:
            sps, asps = throughput(system, model, "cuda", steps, precision=precision)
        except Exception as exc:  # report and go on: one failing case should not hide the others
            print(f"{label:24s} {precision:6s} lanes {lane} FAILED: {type(exc).__name__}: {exc}", flush=True)
            continue
        g = GPUMD_H100.get(ref) if ref else None
        if label in measured:  # GPUMD on this machine
            g = measured[label]
            gtxt, ratio = f"{g:.2e} atom-steps/s (here)", asps / g
        elif isinstance(g, tuple):
            gtxt, ratio = f"{g[1]:.0f} steps/s{elsewhere}", sps / g[1]
        elif g:
            gtxt, ratio = f"{g:.2e} atom-steps/s{elsewhere}", asps / g
        else:
            gtxt, ratio = "-", float("nan")
        rows.append((label, f"{precision}, {lane} lanes", len(system), sps, asps, gtxt, ratio))
        print(f"{label:24s} {precision:6s} {lane} lanes N={len(system):7d}  {sps:9.1f} steps/s  {asps:.3e} atom-steps/s   "
              f"GPUMD {gtxt:24s} ratio {ratio:.2f}", flush=True)
        if args.cpu and precision == "double" and lane == lanes[0] and len(system) >= 32768:
            _, cpu_asps = throughput(system, model, "cpu", 3, warmup=1)
            print(f"{'':24s} CPU ({pynepcg.get_num_threads()} threads): {cpu_asps:.3e} atom-steps/s", flush=True)
    os.environ["NEPCG_SITE_LANES"] = lanes[0]
    if args.npt:
        # NPT (SCR barostat + Bussi), three ways: the barostat every step on the host integrator
        # with forces and the total virial from the GPU (the reference: the CPU's own code);
        # every 10 steps, device segments in between; every step on the device, the cell in
        # device memory (NEPCG_DEVICE_CELL=1). NVT (Bussi) of the same system beside them.
        for n in (1000, 10648):
            sps, asps = throughput(cg_liquid(n), cg, "cuda", 2000, precision="single",
                                   ensemble=ensembles.Bussi(temperature=300, tau=100))
            print(f"{'CG-like ' + str(n) + ' NVT':24s} single N={n:7d}  {sps:9.1f} steps/s  {asps:.3e} atom-steps/s")
        for every, device_cell in ((1, "0"), (10, "0"), (1, "1")):
            os.environ["NEPCG_DEVICE_CELL"] = device_cell
            npt = ensembles.NPT(temperature=300, pressure=0.0, tau_t=100, tau_p=1000, modulus=2.0, cell_every=every)
            for n in (1000, 10648):
                sps, asps = throughput(cg_liquid(n), cg, "cuda", 2000, precision="single", ensemble=npt)
                label = f"CG-like {n} NPT/{every}" + (" device cell" if device_cell == "1" else "")
                print(f"{label:24s} single N={n:7d}  {sps:9.1f} steps/s  {asps:.3e} atom-steps/s", flush=True)
        os.environ.pop("NEPCG_DEVICE_CELL", None)
    if args.order_compare:
        # A diffused liquid has lost its input order: its atoms' neighbours lie anywhere in memory.
        # Shuffled beside lattice order shows what that costs; bin order (the site kernel takes the
        # atoms in the device list's bin order, same bits) is the remedy under test.
        for n in (64000, 262144):
            lattice = cg_liquid(n)
            shuffled = lattice.copy()
            shuffled.positions = np.asarray(lattice.positions)[np.random.default_rng(1).permutation(n)]
            for name, system in (("lattice", lattice), ("shuffled", shuffled)):
                for order in ("index", "bins"):
                    os.environ["NEPCG_SITE_ORDER"] = order
                    sps, asps = throughput(system, cg, "cuda", args.steps, precision="single")
                    label = f"CG-like {n} {name}, {order}"
                    print(f"{label:32s} single N={n:7d}  {sps:9.1f} steps/s  {asps:.3e} atom-steps/s", flush=True)
        os.environ.pop("NEPCG_SITE_ORDER", None)
    if args.skin_compare:
        # The list holds every pair within cutoff + skin (1 Å); the skin shell's entries give zeros
        # but take lanes. A jittered lattice has few of them (CG: ~95 entries for ~76 inside, PbTe
        # rock salt none: no shell between 8 and 9 Å); uniform random positions at the same density
        # have a liquid's share (~102 for ~72), where skipping them (same results to round-off)
        # saves one batch of 32 in four in passes 1 and 3.
        big = [("PbTe 32768", rocksalt(6.46, (16, 16, 16)), pbte)]
        for n in (10648, 64000, 262144):
            lattice = cg_liquid(n)
            rand = lattice.copy()
            rand.positions = np.random.default_rng(2).uniform(0, 1, (n, 3)) @ np.asarray(lattice.cell)
            big += [(f"CG-like {n} lattice", lattice, cg), (f"CG-like {n} random", rand, cg)]
        for label, system, model in big:
            for skin in ("keep", "skip"):
                os.environ["NEPCG_SITE_SKIN"] = skin
                steps = 10 * args.steps if len(system) <= 10648 else args.steps
                sps, asps = throughput(system, model, "cuda", steps, precision="single")
                print(f"{label + ', ' + skin:32s} single N={len(system):7d}  {sps:9.1f} steps/s  {asps:.3e} atom-steps/s",
                      flush=True)
        os.environ.pop("NEPCG_SITE_SKIN", None)
    print("\n| system | precision | N | steps/s | atom-steps/s | GPUMD (here if measured, else issue #8) | ours / GPUMD |")
    print("|---|---|---|---|---|---|---|")
    for label, precision, n, sps, asps, gtxt, ratio in rows:
        print(f"| {label} | {precision} | {n} | {sps:.0f} | {asps:.3e} | {gtxt} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
