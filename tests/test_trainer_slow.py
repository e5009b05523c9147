"""Slow trainer validations: a student learns a random NEP teacher; GPUMD's PbTe example trains
with a decreasing loss and resumes bit-identically."""
from __future__ import annotations

import numpy as np
import pytest

import pynepcg
from pynepcg import trainer as tr

from test_trainer import ARCH, labelled_frames, teacher  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow


def test_student_learns_random_teacher(tmp_path, teacher):
    """Teacher-student: a student of the teacher's architecture trained from scratch reaches a
    force RMSE below 5% of the force standard deviation."""
    frames = labelled_frames(teacher, 12)
    forces = np.concatenate([a.get_forces().ravel() for a in frames])
    model, loss = pynepcg.Trainer(type=["Si", "C"], generation=4000, output_interval=500, seed=1, **ARCH).fit(
        frames, directory=tmp_path, progress=False)
    assert loss["RMSE_F_train"][-1] < 0.05 * forces.std()
    assert np.all(np.diff(loss["RMSE_F_train"]) < 0.01 * forces.std())  # no large relapses
    # and it generalises to structures it has not seen
    unseen = labelled_frames(teacher, 4, seed0=100)
    pred = tr.predict(model, unseen)
    err = np.concatenate([p["forces"] - a.get_forces() for p, a in zip(pred, unseen)])
    assert np.sqrt(np.mean(err ** 2)) < 0.1 * forces.std()
    # its nep.txt loads in calorine with energies identical to ours
    from calorine.calculators import CPUNEP
    for a in unseen:
        b = a.copy()
        b.calc = CPUNEP(str(tmp_path / "nep.txt"))
        assert b.get_potential_energy() == pytest.approx(model.compute(a).energy, rel=1e-12)




def test_pbte_loss_decreases_and_restart_is_bit_identical(tmp_path, shared_data):
    """GPUMD's PbTe example (4 of its 25 structures, default hyper-parameters): the loss of the
    best individual, recorded every generation and averaged over blocks of 40 generations (it
    fluctuates from one generation to the next), decreases from every block to the next, and a run stopped part-way and resumed writes the same
    files as an uninterrupted one."""
    data = tr.read_training_set(shared_data("nep-train-pbte/train.xyz"))[:4]
    opts = dict(type=["Te", "Pb"], generation=201, output_interval=1, seed=5)
    _, loss = pynepcg.Trainer(**opts).fit(data, directory=tmp_path / "a", progress=False)
    # generation 1 is ranked by regularisation alone (GPUMD evaluates no data at generation 0)
    total = loss["total_loss"][1:].reshape(5, 40)
    assert np.all(np.diff(total.mean(axis=1)) < 0), total.mean(axis=1)
    force = loss["RMSE_F_train"][1:].reshape(5, 40)
    assert force[-1].mean() < 0.7 * force[0].mean()
    pynepcg.Trainer(**{**opts, "generation": 120}).fit(data, directory=tmp_path / "b", progress=False)
    pynepcg.Trainer(**opts).fit(data, directory=tmp_path / "b", progress=False)
    for name in ("nep.txt", "loss.out", "nep.restart", "nepcg.checkpoint", "force_train.out"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
