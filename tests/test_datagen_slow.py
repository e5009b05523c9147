"""Slow validation of the mean force: for two small molecules, the potential of mean force
integrated from bead-constrained mean forces equals the one from the distance histogram of an
unconstrained run (an independent route to the same free energy)."""
from __future__ import annotations

import numpy as np
import pytest

import pynepcg
from pynepcg import Mapper, ensembles, observers

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]  # small systems: one thread

L = 14.0
T = 300.0
KT = pynepcg._core.BOLTZMANN * T




def two_molecules(R, seed=0):
    """Molecules C-O and N-F (strong LJ bonds), attracting each other through a weak C-N LJ
    pair, with bead centres of mass exactly R apart along x."""
    rng = np.random.default_rng(seed)
    s = pynepcg.System(["C", "O", "N", "F"], np.zeros((4, 3)), np.eye(3) * L)
    m = np.asarray(s.masses)
    pos = []
    for k, com in enumerate(([3.0, 7.0, 7.0], [3.0 + R, 7.0, 7.0])):
        d = rng.normal(size=3)
        d /= np.linalg.norm(d)
        m1, m2 = m[2 * k], m[2 * k + 1]
        pos += [np.array(com) + 1.2 * d * m2 / (m1 + m2), np.array(com) - 1.2 * d * m1 / (m1 + m2)]
    s.positions = np.array(pos)
    s.groups = [[0, 0, 1, 1]]
    return s


def potential():
    return pynepcg.LennardJones({("C", "O"): (1.0, 1.1, 3.0), ("N", "F"): (1.0, 1.1, 3.0),
                                 ("C", "N"): (0.05, 3.0, 6.9)})


def test_two_bead_mean_force_integrates_to_the_histogram_pmf():
    mapper = Mapper([0, 0, 1, 1], "X")
    grid = np.arange(3.6, 6.31, 0.3)
    # constrained mean force along the separation at each grid distance
    force, error = [], []
    for k, R in enumerate(grid):
        sim = pynepcg.Simulator(two_molecules(R, seed=k), potential(), seed=k + 1)
        sim.set_temperature(T)
        ens = ensembles.Langevin(temperature=T, tau=200, constrain_beads=0)
        sim.run(2000, ens, time_step=2.0)
        mf = observers.MeanForce(2, 0, block_samples=1000)
        sim.run(100000, ens, time_step=2.0, observers=[mf])
        c = mapper.centres(sim.system)
        assert np.linalg.norm(c[1] - c[0]) == pytest.approx(R, abs=1e-9)
        force.append(mf.forces[1, 0])
        error.append(mf.force_errors[1, 0])
    force, error = np.array(force), np.array(error)
    # PMF relative to the first grid point: A(R) - A(R0) = -integral F dR (trapezoid)
    a_ti = np.concatenate([[0.0], -np.cumsum(0.5 * (force[1:] + force[:-1]) * np.diff(grid))])
    # independent route: histogram of the bead distance in an unconstrained run
    sim = pynepcg.Simulator(two_molecules(5.0), potential(), seed=99)
    sim.set_temperature(T)
    ens = ensembles.Langevin(temperature=T, tau=200)
    distances = []
    for _ in range(150000):
        sim.run(20, ens, time_step=2.0)
        c = mapper.centres(sim.system)
        d = c[1] - c[0]
        d -= L * np.round(d / L)
        distances.append(np.linalg.norm(d))
    counts, _ = np.histogram(distances, np.concatenate([grid - 0.15, [grid[-1] + 0.15]]))
    assert counts.min() > 1000
    a_hist = -KT * np.log(counts / grid ** 2)
    a_hist -= a_hist[0]
    # statistical error of the histogram route ~ kT / sqrt(counts / correlation): a few meV
    assert np.abs(a_ti - a_hist).max() < 0.004, np.c_[grid, a_ti, a_hist]
    # the PMF is not flat: the comparison has something to resolve
    assert np.ptp(a_hist) > 0.015


def small_water_teacher():
    # a cheap but complete SPC/Fw teacher (DSF, 6 Å cut-offs): the identities tested hold for any teacher
    return pynepcg.SPCFw(coulomb="dsf", coulomb_cutoff=6.0, lj_cutoff=6.0, dsf_alpha=0.3)


def test_water_constrained_pressure_noise_and_error_decay():
    """SPC/Fw water, 64 molecules, one bead per molecule:
    (1) the CG pressure from the corrected mean virial, averaged over configurations of an
        unconstrained NVT run, equals that run's pressure within the statistical error;
    (2) the standard error of the mean force falls as 1/sqrt(averaging time);
    (3) mean-force labels are more than 10x less noisy than instantaneous mapped forces."""
    from pynepcg import datagen, structures

    water = structures.water_box(64, density=1.0, seed=3)
    mapper = Mapper.by_molecule(water, names="W")
    pot = small_water_teacher()
    sim = pynepcg.Simulator(water, pot, seed=1)
    sim.set_temperature(300)
    nvt = ensembles.Bussi(temperature=300, tau=100)
    sim.run(2000, nvt, time_step=0.5)
    thermo = observers.Thermo(10)
    configs = []
    # 30 configurations: the CG pressure of one scatters by ~0.2 GPa, and the mean must resolve
    # the 0.28 GPa kinetic term below with room to spare
    for _ in range(30):
        sim.run(2000, nvt, time_step=0.5, observers=[thermo])
        configs.append(sim.system.copy())
    p_aa = thermo.data["pressure"]  # GPa
    blocks = p_aa[: len(p_aa) // 20 * 20].reshape(20, -1).mean(1)
    p_aa_mean, p_aa_err = blocks.mean(), blocks.std(ddof=1) / np.sqrt(20)

    settings = datagen.MeanForceSettings(temperature=300, time_step=0.5, equilibration=400, steps=3000,
                                         thermostat="bussi", tau=100, sample_interval=2, block_samples=100)
    volume = abs(np.linalg.det(np.asarray(water.cell)))
    kt = pynepcg._core.BOLTZMANN * 300
    p_cg = []
    for k, c in enumerate(configs):
        frame = datagen.mean_force_frame(c, mapper, pot, settings, seed=k)
        w = np.asarray(frame.info["virial"]).reshape(3, 3)
        p_cg.append((np.trace(w) / 3 + mapper.num_beads * kt) / volume * pynepcg._core.EV_PER_A3_TO_GPA)
    p_cg = np.array(p_cg)
    p_cg_err = p_cg.std(ddof=1) / np.sqrt(len(p_cg))
    print(f"\nCG pressure {p_cg.mean():.3f} +- {p_cg_err:.3f} GPa, AA {p_aa_mean:.3f} +- {p_aa_err:.3f} GPa")
    assert abs(p_cg.mean() - p_aa_mean) < 3 * np.hypot(p_cg_err, p_aa_err), (p_cg.mean(), p_aa_mean, p_cg_err, p_aa_err)
    # without the correction the CG pressure would miss the internal kinetic term (0.28 GPa here):
    # the agreement above resolves it
    missing = (len(water) - mapper.num_beads) * kt / volume * pynepcg._core.EV_PER_A3_TO_GPA
    assert missing > 4 * np.hypot(p_cg_err, p_aa_err)

    # (2) and (3) on one configuration
    aa = mapper.with_groups(configs[0], 0)
    run = pynepcg.Simulator(aa, pot, seed=7)
    ens = ensembles.Bussi(temperature=300, tau=100, constrain_beads=0)
    run.run(400, ens, time_step=0.5)
    mf = observers.MeanForce(2, 0, block_samples=50)
    run.run(2000, ens, time_step=0.5, observers=[mf])
    err_short = np.sqrt(np.mean(mf.force_errors ** 2))
    run.run(6000, ens, time_step=0.5, observers=[mf])
    err_long = np.sqrt(np.mean(mf.force_errors ** 2))
    assert err_long / err_short == pytest.approx(0.5, abs=0.1)  # 4x the time: half the error
    noise = np.sqrt(np.mean((mf.last_forces - mf.forces) ** 2))
    assert noise > 10 * err_long
