"""NEP in single precision (``NEP(..., precision="single")``) on the CPU.

The GPU's single-precision kernel and the CPU's ``NepDirect`` evaluator instantiate the same shared
kernels (core/include/nepcg/kernels) in float, with pair vectors from double positions and
energies, forces and virials accumulated in double. So what is measured here is the accuracy of
the GPU's single-precision path up to summation order, on a machine without a GPU:

* ``NepDirect`` in double (the GPU kernel's algorithm without cached pair terms) must equal the
  reference ``NEP`` to round-off, which checks the direct building blocks on the CPU;
* single against double: every site energy, force and virial within ``SINGLE_REL`` of the size of
  the terms that quantity sums (``nep_models.single_precision_errors``: for site energies the
  network's output bound sum |w1| + |b| or the largest |U_i| with ZBL, for forces and per-atom
  virials their largest magnitude, for the total virial the per-atom virials' sizes summed).
  float32's unit round-off is 6e-8; a NEP site energy chains sums over ~100 neighbours and a D x N
  network, so errors of tens of ulp are expected. Measured worst over the 11 models below and 300
  random structures of each of the 5 shapes of tests/test_gpu.py (session 20): 8e-7 for site
  energies, 5e-6 for forces, 4e-6 for per-atom and 2e-6 for total virials (3-atom cells); the
  tolerance is 1e-5;
* GPUMD's own float32 results (H100, shared data) are compared too: ours are closer to double
  than GPUMD's (the pair vectors and the force gathering stay double here);
* NVE energy conservation with single-precision forces is as good as with double ones.
"""
from __future__ import annotations

import numpy as np
import pytest

import pynepcg
from pynepcg import structures
from pynepcg.ase import NEPCalculator
from pynepcg.potentials import Potential
from pynepcg.system import to_ase
from md_reference import nve_energy_spread
from nep_models import WARP_KERNEL_MODELS, random_structure, single_precision_errors, write_random_nep

SINGLE_REL = 1e-5  # single vs double, relative to the size of the summed terms (docs/gpu.md)

MODELS = WARP_KERNEL_MODELS  # the models the single-precision kernel takes
STRUCTURES = {  # (atoms, cell edge Å, pbc)
    "large": (60, 9.0, True),
    "tiny": (3, 2.6, True),
    "slab": (30, 8.0, [True, True, False]),
}


def _max_rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)


def _model(tmp_path, kind):
    return write_random_nep(tmp_path / f"{kind}.txt", seed=sorted(MODELS).index(kind), **MODELS[kind])


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_direct_double_equals_the_reference(tmp_path, kind):
    path = _model(tmp_path, kind)
    ref = pynepcg.NEP(path, device="cpu")
    direct = Potential(pynepcg._core.NepDirect(ref.model, "double"))
    for shape, (n, edge, pbc) in STRUCTURES.items():
        atoms = random_structure(MODELS[kind]["elements"], n, edge, seed=5, pbc=pbc)
        a, b = ref.compute(atoms), direct.compute(atoms)
        assert b.energy == pytest.approx(a.energy, rel=1e-12, abs=1e-12), shape
        for what in ("energies", "forces", "virials"):
            assert _max_rel(getattr(b, what), getattr(a, what)) < 1e-12, (shape, what)


@pytest.mark.parametrize("kind", sorted(MODELS))
@pytest.mark.parametrize("shape", sorted(STRUCTURES))
def test_single_precision_within_stated_tolerance(tmp_path, kind, shape):
    path = _model(tmp_path, kind)
    double = pynepcg.NEP(path, device="cpu")
    single = pynepcg.NEP(path, device="cpu", precision="single")
    assert single.precision == "single" and "single" in repr(single)
    n, edge, pbc = STRUCTURES[shape]
    atoms = random_structure(MODELS[kind]["elements"], n, edge, seed=11, pbc=pbc)
    a, b = double.compute(atoms), single.compute(atoms)
    errors = single_precision_errors(b, a, path)
    assert max(errors.values()) < SINGLE_REL, errors
    # Really float maths (not the double path by mistake): some difference above double round-off.
    assert max(errors.values()) > 1e-9, errors


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_single_precision_tolerance_holds_over_many_structures(tmp_path, kind):
    # The tolerance is a bound, not a typical value: 40 random structures of each shape, including
    # dense 3-atom cells whose site energies or total virial nearly cancel.
    path = _model(tmp_path, kind)
    double = pynepcg.NEP(path, device="cpu")
    single = pynepcg.NEP(path, device="cpu", precision="single")
    worst = {}
    for shape, (n, edge, pbc) in STRUCTURES.items():
        for seed in range(40):
            atoms = random_structure(MODELS[kind]["elements"], n, edge, seed=100 + seed, pbc=pbc)
            for what, e in single_precision_errors(single.compute(atoms), double.compute(atoms), path).items():
                worst[what] = max(worst.get(what, 0.0), e)
    assert max(worst.values()) < SINGLE_REL, worst


def test_single_precision_against_gpumd_float32(shared_data):
    """GPUMD's float32 code (H100) and ours both approximate double; ours is at least as close."""
    gp = pynepcg.io.read(shared_data("nep-models/gpumd_h100_float32/C64_strained_displaced_gpumd.xyz"))
    model = shared_data("nep-models/C_2022_NEP4.txt")
    s = pynepcg.io.read(shared_data("nep-models/C64_strained_displaced.xyz"))
    d = pynepcg.NEP(model, device="cpu").compute(s)
    f = pynepcg.NEP(model, device="cpu", precision="single").compute(s)
    gpumd_error = np.abs(gp.arrays["forces"] - d.forces).max()
    ours = np.abs(f.forces - d.forces).max()
    assert ours < gpumd_error, (ours, gpumd_error)
    assert abs(f.energy - d.energy) < abs(gp.info["energy"] - d.energy)
    np.testing.assert_allclose(f.forces, gp.arrays["forces"], atol=5e-5)


def test_single_precision_nve_conserves_energy_like_double(shared_data):
    model = shared_data("nep-models/C_2022_NEP4.txt")
    s = structures.diamond("C", 3.567, (2, 2, 2))
    result = {}
    for precision in ("double", "single"):
        sim = pynepcg.Simulator(s, pynepcg.NEP(model, device="cpu", precision=precision), seed=7)
        sim.set_temperature(1200)
        result[precision] = nve_energy_spread(sim, 3000, 0.5)
    (fd, dd), (fs, ds) = result["double"], result["single"]
    # Same start, trajectories decorrelate: the energy error may not be systematically larger, and
    # float forces (not exactly a gradient) may not add a drift beyond the integration noise.
    assert fs <= 1.5 * fd, result
    assert ds <= max(2 * dd, 0.5 * fd), result
    # Momentum: forces are gathered in double from antisymmetric pair terms, so they still sum to 0.
    p = (np.asarray(sim.system.velocities) * np.asarray(sim.system.masses)[:, None]).sum(axis=0)
    assert np.abs(p).max() < 1e-9


def test_models_the_single_kernel_does_not_take_raise(tmp_path):
    for params, why in [(dict(elements=("Pb", "Te"), l_max=(6, 2, 0)), "l_max 6"),
                        (dict(elements=("C",), neurons=(6, 4)), "2 hidden layers")]:
        path = write_random_nep(tmp_path / "m.txt", **params)
        with pytest.raises(pynepcg.errors.InputError, match=why):
            pynepcg.NEP(path, device="cpu", precision="single")
    with pytest.raises(ValueError, match="precision"):
        pynepcg.NEP(write_random_nep(tmp_path / "m.txt"), device="cpu", precision="half")


def test_training_precision_is_double_or_single():
    # single on the CPU: tests/test_trainer.py (float lanes)
    assert pynepcg.Trainer(device="cpu", precision="single").precision == "single"
    with pytest.raises(pynepcg.errors.InputError, match="precision"):
        pynepcg.Trainer(device="cpu", precision="half")


def test_single_precision_moves_between_devices_and_runs_in_ase(shared_data):
    model = shared_data("nep-models/C_2022_NEP4.txt")
    nep = pynepcg.NEP(model, device="cpu", precision="single")
    assert nep.to("cpu") is nep
    atoms = to_ase(structures.diamond("C", 3.567, (2, 2, 2)))
    atoms.rattle(0.05, seed=3)
    atoms.calc = NEPCalculator(nep)
    ref = pynepcg.NEP(model, device="cpu").compute(atoms)
    assert atoms.get_potential_energy() == pytest.approx(ref.energy, rel=1e-6)
    assert _max_rel(atoms.get_forces(), ref.forces) < SINGLE_REL
    # from a path, device= and precision= reach the NEP (they were once stored and ignored)
    calc = NEPCalculator(model, device="cpu", precision="single")
    assert calc.nep.precision == "single" and calc.nep.device == "cpu"
    atoms.calc = calc
    assert atoms.get_potential_energy() == pytest.approx(nep.compute(atoms).energy, rel=1e-15)
    with pytest.raises(pynepcg.InputError, match="precision"):
        NEPCalculator(nep, precision="double")
    with pytest.raises(pynepcg.InputError, match="device"):
        pynepcg.NEP(model, device="gpu")


def test_nepcg_precision_environment_loads_single(shared_data, monkeypatch):
    """`nepcg run` and load_potential: NEPCG_PRECISION=single gives the single-precision NEP."""
    path = str(shared_data("nep-models/C_2022_NEP4.txt"))
    monkeypatch.setenv("NEPCG_DEVICE", "cpu")
    monkeypatch.setenv("NEPCG_PRECISION", "single")
    assert pynepcg._core.load_potential(path).name == "NEP (single)"
    monkeypatch.setenv("NEPCG_PRECISION", "double")
    assert pynepcg._core.load_potential(path).name == "NEP"
    monkeypatch.setenv("NEPCG_PRECISION", "half")
    with pytest.raises(pynepcg.errors.InputError, match="NEPCG_PRECISION"):
        pynepcg._core.load_potential(path)
