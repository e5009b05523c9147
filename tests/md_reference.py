"""Independent references for the MD tests (test_simulator.py, test_simulator_slow.py).

* Units and constants: Å, eV, amu, fs, K; k_B as in GPUMD, LAMMPS ``metal`` and the NEP spec
  (8.617343e-5 eV/K), the mass and pressure conversions from CODATA 2018 (GPUMD and LAMMPS round
  them to 7 and 8 digits).
* Block averaging: standard errors of means and of variances from correlated time series.
* Harmonic analysis: the mass-weighted Hessian from central differences of the forces. For velocity
  Verlet on a harmonic mode of angular frequency w the exactly conserved "shadow" energy is
  H~ = p^2/2 + (1 - (w dt)^2/4) w^2 x^2/2, so the true energy exceeds it by (w dt)^2/4 * U_mode.
  Started from the perfect lattice (U = 0, so E(0) = H~) the total energy therefore oscillates
  above E(0) with the time average  <E - E(0)> = dt^2 k_B T Tr(D) / 8  (D = mass-weighted Hessian,
  Tr(D) = sum of w_k^2; T the kinetic temperature), and never exceeds
  (w_max dt)^2/4 * sum_k U_k <~ 3 N (w_max dt)^2 k_B T / 4  (all modes in phase, U <= 2 <U>).
  These are the energy-conservation bounds used for NVE (no fit, no tuning).
"""
from __future__ import annotations

import numpy as np

KB = 8.617343e-5                                          # eV/K (GPUMD, LAMMPS metal)
MVV2E = 1.66053906660e-27 * 1e-20 / 1e-30 / 1.602176634e-19  # amu Å^2/fs^2 in eV (103.64...)
EV_A3_TO_GPA = 1.602176634e-19 / 1e-30 / 1e9               # eV/Å^3 in GPa (160.2176634)


# ---------------------------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------------------------

def block_mean(x, nblocks: int = 20):
    """(mean, standard error) of a correlated series from `nblocks` block averages."""
    x = np.asarray(x, dtype=float)
    n = len(x) // nblocks * nblocks
    b = x[:n].reshape(nblocks, -1).mean(axis=1)
    return float(x[:n].mean()), float(b.std(ddof=1) / np.sqrt(nblocks))


def block_variance(x, nblocks: int = 20):
    """(variance, standard error) of a correlated series: the mean squared deviation from the
    overall mean is computed per block; the spread of the block values gives the error."""
    x = np.asarray(x, dtype=float)
    n = len(x) // nblocks * nblocks
    m = x[:n].mean()
    v = ((x[:n] - m) ** 2).reshape(nblocks, -1).mean(axis=1)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(nblocks))


# ---------------------------------------------------------------------------------------------
# harmonic analysis
# ---------------------------------------------------------------------------------------------

def mass_weighted_hessian(system, potential, h: float = 1e-3) -> np.ndarray:
    """D_ij = H_ij / sqrt(m_i m_j) in 1/fs^2 (eigenvalues = w^2), from central differences of
    the forces of `potential` (h in Å)."""
    s = system.copy()
    x0 = np.array(s.positions, dtype=float)
    n = len(x0)
    H = np.zeros((3 * n, 3 * n))
    for i in range(n):
        for a in range(3):
            f = []
            for sign in (1.0, -1.0):
                x = x0.copy()
                x[i, a] += sign * h
                s.positions = x
                f.append(potential.compute(s).forces.ravel())
            H[:, 3 * i + a] = -(f[0] - f[1]) / (2 * h)
    H = 0.5 * (H + H.T)
    w = np.repeat(1.0 / np.sqrt(np.asarray(system.masses, dtype=float)), 3)
    return H * w[:, None] * w[None, :] / MVV2E


def verlet_energy_offset(trace_d: float, natoms: int, dt: float, temperature: float) -> float:
    """Predicted time average of (E(t) - E(0)) / N for velocity Verlet started at the perfect
    lattice of a harmonic crystal (module docstring), eV/atom."""
    return dt ** 2 * KB * temperature * trace_d / (8.0 * natoms)


def verlet_energy_bound(omega_max: float, dt: float, temperature: float) -> float:
    """Upper bound of |E(t) - E(0)| / N for velocity Verlet on a harmonic system (module
    docstring), eV/atom."""
    return 0.75 * (omega_max * dt) ** 2 * KB * temperature


def nve_energy_spread(simulator, steps: int, dt: float, every: int = 10):
    """(max |E(t) - E(0)|, |linear drift| x run length) of the total energy (eV) over an NVE run;
    used to compare two force fields (e.g. single vs double precision) from the same start."""
    from pynepcg import ensembles, observers

    thermo = observers.Thermo(every)
    simulator.run(steps, ensembles.NVE(), dt, [thermo])
    e = np.asarray(thermo["total_energy"])
    return np.abs(e - e[0]).max(), abs(np.polyfit(thermo["time"], e, 1)[0]) * steps * dt
