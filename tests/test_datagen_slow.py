"""Slow validation of the mean force: for two small molecules, the potential of mean force
integrated from bead-constrained mean forces equals the one from the distance histogram of an
unconstrained run (an independent route to the same free energy)."""
from __future__ import annotations

import numpy as np
import pytest

import pynepcg
from pynepcg import Mapper, ensembles, observers

pytestmark = pytest.mark.slow

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
