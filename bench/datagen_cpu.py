"""Mean-force data generation speed on the CPU: CG frames per hour for 256-molecule SPC/Fw water.

One frame = a bead-constrained run of 768 atoms (one bead per molecule, Bussi thermostat at 300 K,
dt 0.5 fs): `--equilibration` steps (default 2,000 = 1 ps) then `--production` steps (default
10,000 = 5 ps) of averaging. The script times `--timed` steps of each phase and extrapolates to
frames/hour, on 1 thread and on all cores (one frame per core in a process pool gives cores x the
1-thread rate; printed too). Reference in the same run: the unconstrained NVT speed of the same
teacher (the constraint and the accumulator should cost nothing noticeable).
Run: python bench/datagen_cpu.py [--coulomb pme|dsf] [--timed N]
"""
from __future__ import annotations

import argparse
import os
import time

import pynepcg
from bench_common import cpu_name
from pynepcg import Mapper, ensembles, observers, structures


def steps_per_second(water, pot, ensemble, steps, threads, observe=None):
    pynepcg.set_num_threads(threads)
    sim = pynepcg.Simulator(water, pot, seed=1)
    sim.set_temperature(300)
    sim.run(20, ensemble, time_step=0.5)
    t = time.perf_counter()
    sim.run(steps, ensemble, time_step=0.5, observers=observe or [])
    dt = time.perf_counter() - t
    pynepcg.set_num_threads(0)
    return steps / dt


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--coulomb", default="pme", choices=["pme", "dsf", "ewald"])
    ap.add_argument("--timed", type=int, default=400)
    ap.add_argument("--equilibration", type=int, default=2000)
    ap.add_argument("--production", type=int, default=10000)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    water = structures.water_box(256, density=1.0, seed=1)
    mapper = Mapper.by_molecule(water, names="W")
    aa = mapper.with_groups(water, 0)
    pot = pynepcg.SPCFw(coulomb=args.coulomb)
    steps = args.equilibration + args.production
    print(f"machine: {cpu_name()}, {cores} cores; {len(water)} atoms, {mapper.num_beads} beads, SPC/Fw {pot}")
    print(f"frame = {args.equilibration} + {args.production} steps of 0.5 fs")
    print(f"{'run':44s}{'steps/s':>10s}{'atom-steps/s':>14s}{'frames/hour':>13s}")
    for threads in sorted({1, cores}):
        free = steps_per_second(water, pot, ensembles.Bussi(temperature=300, tau=100), args.timed, threads)
        mf = observers.MeanForce(2, 0, 100)
        cons = steps_per_second(aa, pot, ensembles.Bussi(temperature=300, tau=100, constrain_beads=0), args.timed,
                                threads, [mf])
        print(f"{'unconstrained NVT (reference), ' + str(threads) + ' thread(s)':44s}{free:10.1f}"
              f"{free * len(water):14.3e}{'':>13s}")
        print(f"{'constrained + mean force, ' + str(threads) + ' thread(s)':44s}{cons:10.1f}"
              f"{cons * len(water):14.3e}{3600 * cons / steps:13.2f}")
        if threads == 1 and cores > 1:
            print(f"{'  -> process pool, ' + str(cores) + ' workers x 1 thread':44s}{'':10s}{'':14s}"
                  f"{cores * 3600 * cons / steps:13.2f}")


if __name__ == "__main__":
    main()
