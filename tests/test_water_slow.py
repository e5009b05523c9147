"""Slow validation of the water teacher (``pytest -m slow``): NPT density of 256 SPC/Fw molecules
at 300 K, at 1 bar and at 0.5 GPa, against LAMMPS running the same model with the same
electrostatics (smooth PME vs ``pppm``, accuracy 1e-5, r_c 9 Å; shifted LJ, no tail correction;
LAMMPS's default Coulomb table, ~1e-6 relative, for speed).

The two codes use different NPT algorithms on purpose (ours: Bussi thermostat + stochastic cell
rescaling; LAMMPS: ``fix npt``, Nosé-Hoover + MTK barostat): both sample the isothermal-isobaric
ensemble, so their mean densities must agree within the statistical error. Each pressure starts
from a box built near its equilibrium density (the start only shortens equilibration; nothing is
compared with it), 2 ps of equilibration, 5 ps of production, densities every 50 fs, standard
errors from 5 blocks of 1 ps (barostat time constants 0.5 ps).

LAMMPS runs the two pressures in two more processes while ours runs them here, one after the
other, on one thread (LAMMPS is the slower of the two on this system, ~62 against 93 steps/s for
512 molecules on one Zen 3 core; three single-threaded processes keep 2 cores busy to the end).
384 molecules (box ~22-23 Å, more than twice the 10 Å cutoff) instead of 512 and the parallel
LAMMPS runs and 5 ps of production instead of 7 cut the test from 9 to about 6 minutes on 2 Zen 3 cores (session 11, to keep the
whole suite within CI's 20 minutes there). It still took 7.6 minutes on 2 Cascade Lake vCPUs, 43 %
of the suite, so session 23 went to 256 molecules and r_c 9 Å (box ~19-20 Å, still more than twice
the cutoff; 2.1 times the steps/s): 3.4 minutes there. Run with ``-s`` to print the numbers.
"""
from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

import pynepcg
from pynepcg import ensembles as ens
from pynepcg import observers as obs
from lammps_ref import require_lammps
from lammps_water import lammps_npt_density
from md_reference import block_mean

pytestmark = pytest.mark.slow

DT = 0.5  # fs
EQUILIBRATION, PRODUCTION, EVERY = 4000, 10000, 100  # steps
TAU_P = 0.5  # ps, both barostats
# (pressure GPa, start density g/cm^3): each state starts near the density these short runs
# settle at with these settings (the builder's random placement relaxes into a liquid during the
# first picoseconds; session 23 measured 0.94-0.95 and 1.12-1.13 in both codes). Starting there
# instead of at the 100-ps densities (0.98, 1.14) leaves less drift in the production blocks: the
# 1 bar standard error fell from 0.012 to 0.008 g/cm^3. Both codes start from the same box, which
# is what is compared. min_distance 1.5 Å lets the builder reach these densities.
STATES = [(1e-4, 0.95), (0.5, 1.12)]


def _box_args(density):
    return dict(n_molecules=256, density=density, seed=1, min_distance=1.5)


def _ours(pot, pressure, density):
    system = pynepcg.structures.water_box(**_box_args(density))
    sim = pynepcg.Simulator(system, pot, skin=1.0, seed=7)
    sim.set_temperature(300.0)
    npt = ens.NPT(temperature=300.0, pressure=pressure, tau_t=100.0, tau_p=TAU_P * 1000.0, modulus=2.2)
    sim.run(EQUILIBRATION, npt, DT)
    thermo = obs.Thermo(EVERY)
    sim.run(PRODUCTION, npt, DT, [thermo])
    return np.asarray(thermo["density"]), float(np.mean(thermo["temperature"]))


def test_npt_density_matches_lammps():
    require_lammps()
    pot = pynepcg.SPCFw(coulomb="pme", accuracy=1e-5, coulomb_cutoff=9.0, lj_cutoff=9.0)
    ctx = multiprocessing.get_context("spawn")
    threads = pynepcg.get_num_threads()
    with ctx.Pool(len(STATES)) as pool:
        pending = [pool.apply_async(lammps_npt_density,
                                    (_box_args(d), pot.parameters, "pme", p),
                                    dict(equilibration=EQUILIBRATION, production=PRODUCTION, every=EVERY,
                                         pdamp=TAU_P, tdamp=0.1, table_bits=12))
                   for p, d in STATES]
        pynepcg.set_num_threads(1)
        try:
            ours = [_ours(pot, p, d) for p, d in STATES]
        finally:
            pynepcg.set_num_threads(threads)
        theirs = [r.get() for r in pending]

    for (p, _), (rho, t), (rho_l, t_l) in zip(STATES, ours, theirs):
        m, e = block_mean(rho, 5)
        ml, el = block_mean(rho_l, 5)
        print(f"\n{p:g} GPa: pynepcg {m:.4f} +- {e:.4f} g/cm^3 ({t:.1f} K), LAMMPS {ml:.4f} +- {el:.4f} "
              f"({t_l:.1f} K), difference {m - ml:+.4f} +- {np.hypot(e, el):.4f}")
        assert abs(t - 300.0) < 5.0 and abs(t_l - 300.0) < 5.0
        # 4 combined standard errors (5-block errors are themselves uncertain by ~35 %), and
        # 0.2 % for what 5 ps cannot resolve
        assert abs(m - ml) < 4 * np.hypot(e, el) + 0.002 * ml, (p, m, ml)
    # the two states differ as water does (about 17 % denser at 0.5 GPa), in both codes
    assert ours[1][0].mean() / ours[0][0].mean() == pytest.approx(theirs[1][0].mean() / theirs[0][0].mean(), rel=0.02)
