"""Host work per training generation (search directions, regularisation, ranking, SNES update),
the part of a generation that stays on the CPU when a GPU evaluates the population.

Workload: GPUMD's PbTe architecture (2 types, n_max 4/4, basis 8/8, l_max 4 2 0, 30 neurons:
3,033 parameters), population 50, and a training set of one 2-atom structure, so the evaluation
costs almost nothing and generations/s measures the host work. Reference in the same script: the
same sampling and SNES update written in numpy (vectorised, one thread for the random numbers).
Run: python bench/train_host.py [--generations N]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

import pynepcg
from bench_common import cpu_name


def trainer(threads):
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    a = Atoms("PbTe", positions=[[0, 0, 0], [1.7, 1.6, 1.5]], cell=np.eye(3) * 9.0, pbc=True)
    a.calc = SinglePointCalculator(a, energy=-1.0, forces=np.zeros((2, 3)), stress=np.zeros(6))
    pynepcg.set_num_threads(threads)
    t = pynepcg.Trainer(type=["Te", "Pb"], generation=0, seed=1)
    opts = pynepcg._core.parse_nep_in(t.nep_in.replace("generation 0", "generation 1000000"))
    core = pynepcg._core.Trainer(opts, [pynepcg._core.make_training_structure(pynepcg.System.from_ase(a))], [], "",
                                 False)
    core.run(1)
    return core


def numpy_reference(npar, population, generations):
    rng = np.random.default_rng(1)
    mu, sigma = rng.uniform(-1, 1, npar), np.full(npar, 0.1)
    u = np.maximum(0, np.log(population / 2 + 1) - np.log(np.arange(1, population + 1)))
    u = u / u.sum() - 1 / population
    eta = (3 + np.log(npar / 2)) / (10 * np.sqrt(npar / 2))
    t0 = time.perf_counter()
    for _ in range(generations):
        s = rng.standard_normal((population, npar))
        z = mu + sigma * s
        loss = np.abs(z).sum(axis=1)  # regularisation-like, one type
        s = s[np.argsort(loss, kind="stable")]
        mu = mu + sigma * (u @ s)
        sigma = np.minimum(sigma * np.exp(eta * (u @ (s * s - 1))), 1.0)
    return generations / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--generations", type=int, default=300)
    args = ap.parse_args()
    print(f"# host work per generation, {cpu_name()}, {os.cpu_count()} logical CPUs")
    for threads in sorted({1, os.cpu_count() or 1}):
        core = trainer(threads)
        t0 = time.perf_counter()
        core.run(args.generations)
        rate = args.generations / (time.perf_counter() - t0)
        print(f"pynepcg Trainer, {threads:2d} threads: {rate:8.1f} generations/s ({1e3 / rate:.2f} ms host work each; "
              f"{core.num_parameters} parameters, population 50)")
    ref = numpy_reference(3033, 50, args.generations)
    print(f"numpy SNES loop (reference): {ref:8.1f} generations/s ({1e3 / ref:.2f} ms each)")


if __name__ == "__main__":
    main()
