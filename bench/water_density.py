"""NPT density of SPC/Fw water: pynepcg vs LAMMPS with the same model and electrostatics.

N molecules (default 512) from pynepcg.structures.water_box (1 g/cm^3, seed 1) at 300 K and each
pressure given (GPa; default 1 bar = 1e-4 GPa and 0.5 GPa), dt = 0.5 fs:
* pynepcg: Bussi thermostat (tau 100 fs) + stochastic cell rescaling (isotropic, tau_p 1 ps,
  modulus 2.2 GPa);
* LAMMPS: fix npt (Nose-Hoover, Tdamp 0.1 ps, Pdamp 1 ps, iso), same start configuration.
Both ensembles sample NPT, so the mean densities must agree within their statistical errors
(standard errors from 5 blocks of the production run). Electrostatics: --coulomb dsf (alpha 0.2,
rc 12 Å; LAMMPS lj/cut/coul/dsf) or pme (accuracy 1e-5, rc 10 Å; LAMMPS pppm). LJ cutoff 10 Å,
shifted (pair_modify shift yes), no tail correction.

Run: python bench/water_density.py [--molecules 512] [--coulomb dsf] [--equil-ps 10] [--prod-ps 40]
     [--pressures 1e-4 0.5] [--no-lammps]
Takes hours at 512 molecules on one core for the defaults; use --molecules 128 --prod-ps 10 for
a quick look.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import pynepcg
from pynepcg import ensembles, observers

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from lammps_water import lammps_npt_density  # noqa: E402



def block_mean(x, blocks=5):
    x = np.asarray(x)
    b = np.array_split(x, blocks)
    means = np.array([c.mean() for c in b])
    return x.mean(), means.std(ddof=1) / np.sqrt(blocks)


def ours(system, pot, pressure, equil, prod, every=100):
    sim = pynepcg.Simulator(system, pot, skin=1.0, seed=1)
    sim.set_temperature(300.0)
    e = ensembles.NPT(temperature=300.0, pressure=pressure, tau_t=100.0, tau_p=1000.0, modulus=2.2)
    sim.run(equil, e, 0.5)
    th = observers.Thermo(every)
    sim.run(prod, e, 0.5, [th])
    return th["density"], th["temperature"].mean()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--molecules", type=int, default=512)
    ap.add_argument("--coulomb", choices=["dsf", "pme"], default="dsf")
    ap.add_argument("--equil-ps", type=float, default=10.0)
    ap.add_argument("--prod-ps", type=float, default=40.0)
    ap.add_argument("--pressures", type=float, nargs="+", default=[1e-4, 0.5])
    ap.add_argument("--no-lammps", action="store_true")
    args = ap.parse_args()
    equil, prod = int(args.equil_ps * 2000), int(args.prod_ps * 2000)
    box_args = dict(n_molecules=args.molecules, density=1.0, seed=1)
    system = pynepcg.structures.water_box(**box_args)
    pot = pynepcg.SPCFw(coulomb=args.coulomb, accuracy=1e-5)
    print(f"SPC/Fw {args.molecules} molecules, {args.coulomb}, 300 K, {args.equil_ps:g} ps equilibration + "
          f"{args.prod_ps:g} ps production, dt 0.5 fs")
    for p in args.pressures:
        t = time.time()
        d, temp = ours(system, pot, p, equil, prod)
        m, e = block_mean(d)
        line = f"P = {p:g} GPa: pynepcg rho = {m:.4f} +- {e:.4f} g/cm^3 (T {temp:.1f} K, {time.time() - t:.0f} s)"
        if not args.no_lammps:
            t = time.time()
            dl, tl = lammps_npt_density(box_args, pot.parameters, args.coulomb, p, equilibration=equil,
                                        production=prod)
            ml, el = block_mean(dl)
            line += (f"; LAMMPS rho = {ml:.4f} +- {el:.4f} (T {tl:.1f} K, {time.time() - t:.0f} s); "
                     f"difference {m - ml:+.4f} +- {np.hypot(e, el):.4f}")
        print(line, flush=True)


if __name__ == "__main__":
    main()
