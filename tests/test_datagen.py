"""Bead-constrained dynamics, the mean-force accumulator and mean-force data generation.

Checks: bead centres stay fixed under every thermostat; degrees of freedom 3N - 3N_beads and the
thermostat's temperature; constrained NVE conserves energy; accumulator = averages of the mapped
forces computed step by step; block standard errors = numpy's; the ideal check (non-interacting
molecules: zero mean forces, corrected CG pressure = ideal-gas pressure of the beads, uncorrected
does not); data sets written through an executor, resumed after an interruption, read by the
trainer."""
from __future__ import annotations

import concurrent.futures as cf
import functools
import threading

import numpy as np
import pytest

import pynepcg
from pynepcg import Mapper, datagen, ensembles, observers
from nep_models import jittered_copies

KB = pynepcg._core.BOLTZMANN


# Small systems (tens to hundreds of atoms): one OpenMP thread (see conftest.one_thread).
pytestmark = pytest.mark.usefixtures("one_thread")


def dimers(n=3, spacing=8.0, seed=0):
    """n^3 C-O dimers on a cubic grid, bound by a Lennard-Jones C-O pair; molecules are farther
    apart than the cutoff, so they do not interact."""
    rng = np.random.default_rng(seed)
    pos, sp = [], []
    for c in np.ndindex(n, n, n):
        centre = (np.array(c) + 0.5) * spacing
        d = rng.normal(size=3)
        d /= np.linalg.norm(d)
        pos += [centre + 0.6 * d, centre - 0.6 * d]
        sp += ["C", "O"]
    s = pynepcg.System(sp, np.array(pos), np.eye(3) * n * spacing)
    return s, Mapper.by_molecule(s, atoms_per_molecule=2, names="CO")


def bonded_lj():
    return pynepcg.LennardJones({("C", "O"): (1.0, 1.1, 4.0)})


def gold(repeat=3):
    g = pynepcg.structures.fcc("Au", 4.08, (repeat,) * 3)
    return g, Mapper.by_cell(g, (repeat,) * 3, names="Au4")


@pytest.mark.parametrize("ensemble", [
    ensembles.NVE(constrain_beads=0), ensembles.Langevin(temperature=300, tau=50, constrain_beads=0),
    ensembles.Bussi(temperature=300, tau=50, constrain_beads=0),
    ensembles.NoseHoover(temperature=300, tau=50, constrain_beads=0),
    ensembles.Berendsen(temperature=300, tau=50, constrain_beads=0)])
def test_bead_centres_stay_fixed(ensemble):
    g, m = gold()
    s = m.with_groups(g, 0)
    sim = pynepcg.Simulator(s, pynepcg.EAM.zhou_gold(), seed=2)
    sim.set_temperature(600)
    c0 = m.centres(sim.system)
    sim.run(500, ensemble, time_step=2.0)
    assert np.abs(m.centres(sim.system) - c0).max() < 1e-10
    assert sim._cpp.degrees_of_freedom == 3 * len(g) - 3 * m.num_beads
    # atoms inside the beads did move
    assert np.abs(np.asarray(sim.system.positions) - np.asarray(s.positions)).max() > 0.05


def test_single_atom_beads_are_frozen_and_nve_conserves_energy():
    g, m = gold()
    p = m.partial(g, fraction=0.3, seed=1)
    s = p.with_groups(g, 0)
    sim = pynepcg.Simulator(s, pynepcg.EAM.zhou_gold(), seed=3)
    sim.set_temperature(300)
    sim.run(10, ensembles.NVE(constrain_beads=0), time_step=1.0)
    x0 = np.asarray(sim.system.positions).copy()
    e0 = sim.conserved_energy
    thermo = observers.Thermo(10)
    sim.run(2000, ensembles.NVE(constrain_beads=0), time_step=1.0, observers=[thermo])
    single = np.array([len(p.members(b)) == 1 for b in range(p.num_beads)])[p.labels]
    assert single.any() and np.abs(np.asarray(sim.system.positions)[single] - x0[single]).max() < 1e-12
    drift = np.abs(thermo.data["total_energy"] - e0).max() / len(g)
    assert drift < 2e-5  # eV/atom over 2 ps at dt = 1 fs (shadow-energy fluctuation, no drift)


def test_thermostat_temperature_uses_the_constrained_degrees_of_freedom():
    g, m = gold()
    sim = pynepcg.Simulator(m.with_groups(g, 0), pynepcg.EAM.zhou_gold(), seed=4)
    sim.set_temperature(300)
    ens = ensembles.Bussi(temperature=300, tau=20, constrain_beads=0)
    sim.run(1000, ens, time_step=2.0)
    thermo = observers.Thermo(5)
    sim.run(10000, ens, time_step=2.0, observers=[thermo])
    t = thermo.data["temperature"]
    assert abs(t.mean() - 300) < 6  # 81 beads x 4 atoms, 2 ps correlation: ~1 % statistical


def test_accumulator_equals_stepwise_mapped_forces_and_numpy_blocks():
    g, m = gold(2)
    s = m.with_groups(g, 0)
    ens = ensembles.Langevin(temperature=300, tau=50, constrain_beads=0)
    a = pynepcg.Simulator(s, pynepcg.EAM.zhou_gold(), seed=5)
    a.set_temperature(300)
    mf = observers.MeanForce(1, 0, block_samples=4)
    a.run(40, ens, time_step=2.0, observers=[mf])
    b = pynepcg.Simulator(s, pynepcg.EAM.zhou_gold(), seed=5)
    b.set_temperature(300)
    forces, energies = [], []
    for _ in range(40):
        b.run(1, ens, time_step=2.0)
        forces.append(m.map_forces(b.forces))
        energies.append(b.potential_energy)
    forces = np.array(forces)
    assert mf.num_samples == 40 and mf.num_blocks == 10
    assert np.allclose(mf.forces, forces.mean(0), rtol=0, atol=1e-12)
    assert mf.energy == pytest.approx(np.mean(energies), rel=1e-13)
    blocks = forces.reshape(10, 4, -1, 3).mean(1)
    assert np.allclose(mf.force_errors, blocks.std(0, ddof=1) / np.sqrt(10), rtol=1e-8, atol=1e-14)
    assert np.allclose(mf.last_forces, forces[-1])
    assert abs(mf.forces.sum(0)).max() < 1e-9  # Newton's third law over all beads


def test_ideal_molecules_pressure_needs_the_kinetic_correction():
    """Non-interacting molecules: mean bead forces vanish, and with the correction the CG
    pressure (W + N_beads kT)/V equals the ideal-gas pressure N_beads kT/V of the molecules
    (the AA pressure); without it, it does not (by the internal virial -(N_atoms - N_beads) kT)."""
    s, m = dimers()
    settings = datagen.MeanForceSettings(temperature=300, time_step=1.0, equilibration=2000, steps=40000,
                                         thermostat="langevin", tau=100, sample_interval=5, block_samples=200)
    frame = datagen.mean_force_frame(s, m, bonded_lj(), settings, seed=1)
    volume = abs(np.linalg.det(np.asarray(s.cell)))
    kt = KB * 300
    nb, na = m.num_beads, len(s)
    assert np.abs(frame.arrays["forces"]).max() < 1e-10
    w = np.asarray(frame.info["virial"]).reshape(3, 3)
    p_cg = (np.trace(w) / 3 + nb * kt) / volume
    p_ideal = nb * kt / volume
    # statistical error of the mean internal virial (independent dimers): ~ kT sqrt(2 / samples)
    assert p_cg == pytest.approx(p_ideal, rel=0.05)
    p_uncorrected = p_cg - (na - nb) * kt / volume
    assert abs(p_uncorrected - p_ideal) > 0.5 * p_ideal


def test_mean_force_dataset_executor_resume_and_training(tmp_path):
    g, m = gold(2)
    confs = datagen.sample_configurations(g, pynepcg.EAM.zhou_gold(), [{"temperature": 300}], count=3, interval=100,
                                          equilibration=200, time_step=2.0, seed=1)
    settings = datagen.MeanForceSettings(temperature=300, time_step=2.0, equilibration=100, steps=400,
                                         sample_interval=2, block_samples=20, instantaneous=True)
    before = pynepcg.get_num_threads()
    pynepcg.set_num_threads(1)
    try:
        out = datagen.mean_force(confs, m, pynepcg.EAM.zhou_gold(), settings, directory=tmp_path / "a",
                                 progress=False, seed=10)
    finally:
        pynepcg.set_num_threads(before)
    frames = pynepcg.io.read(out, ":")
    assert len(frames) == 3 and all(len(f) == m.num_beads for f in frames)
    f0 = frames[0]
    assert f0.info["samples"] == 200 and f0.info["averaging_time"] == 800.0
    assert f0.info["temperature_state"] == 300.0
    # the virial carries the kinetic correction on its diagonal only
    w = np.asarray(f0.info["virial"]).reshape(3, 3)
    assert np.allclose(w - w.T, 0, atol=1e-6)
    # the same frames through a process pool with a potential factory (one thread per worker)
    import concurrent.futures as cf
    with cf.ProcessPoolExecutor(2, initializer=datagen._one_thread) as ex:
        out_b = datagen.mean_force(confs, m, functools.partial(pynepcg.EAM.zhou_gold), settings,
                                   directory=tmp_path / "b", executor=ex, progress=False, seed=10)
    assert out_b.read_text() == out.read_text()
    # resume: delete one frame, the others are kept (not recomputed) and the data set is the same
    frame1 = tmp_path / "a" / "frames" / "frame_00001.xyz"
    frame1.unlink()
    mtime0 = (tmp_path / "a" / "frames" / "frame_00000.xyz").stat().st_mtime_ns
    pynepcg.set_num_threads(1)
    try:
        datagen.mean_force(confs, m, pynepcg.EAM.zhou_gold(), settings, directory=tmp_path / "a", progress=False,
                           seed=10)
    finally:
        pynepcg.set_num_threads(before)
    assert (tmp_path / "a" / "frames" / "frame_00000.xyz").stat().st_mtime_ns == mtime0
    assert out.read_text() == out_b.read_text()
    # the trainer reads it (bead names, masses, energy, virial, forces)
    data = pynepcg.trainer.read_training_set(out)
    assert len(data) == 3 and data[0].has_virial and data[0].has_forces and data[0].has_energy
    assert np.allclose(data[0].forces, f0.arrays["forces"])
    # mean forces are less noisy than the instantaneous mapped forces
    err_mean = f0.info["force_error"]
    noise_inst = np.sqrt(np.mean((f0.arrays["forces_instant"] - f0.arrays["forces"]) ** 2))
    assert err_mean < 0.5 * noise_inst


def test_device_potentials_run_frames_as_concurrent_replicas(tmp_path):
    # A potential that runs its dynamics on a device (a GPU NEP; here the CPU emulation of that
    # path) runs the frames from threads, one replica each: the same frames as one after another.
    from pynepcg.potentials import EmulatedDevice

    g, m = gold(2)
    confs = jittered_copies(g, 4, seed=4)
    settings = datagen.MeanForceSettings(temperature=300, time_step=2.0, equilibration=20, steps=100,
                                         sample_interval=2, block_samples=10, thermostat="langevin", tau=50)
    # (Lennard-Jones: its forces do not depend on the OpenMP thread count, which new threads reset)
    lj = pynepcg.LennardJones({("Au", "Au"): (0.23, 2.6, 6.0)})
    pot = EmulatedDevice(lj)
    assert pot.runs_dynamics_on_device and not lj.runs_dynamics_on_device
    made = []  # (replica, thread) of every replica datagen makes

    class Counted(EmulatedDevice):
        def replica(self):
            r = super().replica()
            made.append((r, threading.get_ident()))
            return r

    pot = Counted(lj)
    one = datagen.mean_force(confs, m, pot, settings, directory=tmp_path / "one", progress=False, seed=3,
                             replicas=1)
    assert len(made) == 4 and len({t for _, t in made}) == 1  # a fresh replica per frame, one thread
    assert all(r.segments == 2 for r, _ in made)  # equilibration and averaging: one segment each
    made.clear()
    many = datagen.mean_force(confs, m, pot, settings, directory=tmp_path / "many", progress=False, seed=3)
    assert len(made) == 4 and threading.get_ident() not in {t for _, t in made}  # from the pool's threads
    assert pot.segments == 0  # the object itself never ran
    assert many.read_text() == one.read_text()
    # a plain run on the object (no replica) gives the same frames too
    plain = datagen.mean_force_frame(confs[0], m, pot, settings, seed=3)
    assert np.array_equal(plain.arrays["forces"], pynepcg.io.read(one, 0).arrays["forces"])
    frames = pynepcg.io.read(many, ":")
    assert all(f.info["samples"] == 50 for f in frames)
    with pytest.raises(pynepcg.InputError, match="replicas must be"):
        datagen.mean_force(confs, m, pot, settings, directory=tmp_path / "x", progress=False, replicas=0)
    with pytest.raises(pynepcg.InputError, match="needs a potential that runs its dynamics on a GPU"):
        datagen.mean_force(confs, m, pynepcg.EAM.zhou_gold(), settings, directory=tmp_path / "y", progress=False,
                           replicas=2)


def test_stop_when_the_standard_error_is_small_enough():
    g, m = gold(2)
    kw = dict(temperature=300, time_step=2.0, equilibration=100, steps=4000, sample_interval=2, block_samples=20,
              check_every=200)
    loose = datagen.mean_force_frame(g, m, pynepcg.EAM.zhou_gold(), datagen.MeanForceSettings(target_error=1.0, **kw))
    full = datagen.mean_force_frame(g, m, pynepcg.EAM.zhou_gold(), datagen.MeanForceSettings(**kw))
    assert loose.info["averaging_time"] == 200 * 2.0  # stopped at the first check (5 blocks of 20 samples)
    assert full.info["averaging_time"] == 4000 * 2.0
    assert loose.info["force_error"] < 1.0 and full.info["force_error"] < loose.info["force_error"]


def test_mdanalysis_selections():
    mda = pytest.importorskip("MDAnalysis")
    from pynepcg.structures import water_box
    w = water_box(4, density=1.0, seed=1)
    mol = np.asarray(w.arrays["mol_id"]).ravel()
    u = mda.Universe.empty(len(w), n_residues=4, atom_resindex=mol, trajectory=True)
    u.add_TopologyAttr("name", list(w.species))
    u.atoms.positions = np.asarray(w.positions)
    m = Mapper.from_mdanalysis(u, ["name O or name H"], names=["W"])
    assert np.array_equal(m.labels, Mapper.by_molecule(w).labels) and m.names == ["W"] * 4
    oxygens = Mapper.from_mdanalysis(u, ["name O"], names=["Ox"])  # atoms outside the selection: own beads
    assert oxygens.num_beads == 4 + 8 and oxygens.names == ["Ox"] * 4 + ["H"] * 8


def test_water_workflow_end_to_end(tmp_path):
    """The water case with the 'tiny' preset: every stage runs and every artefact is valid; a
    re-run resumes (nothing is recomputed)."""
    pytest.importorskip("matplotlib")
    from pynepcg.cases import water

    out = tmp_path / "water"
    # in two parts, as for data made on one machine and models trained on another
    assert water.run(out, "tiny", stop_after="data") is None
    assert (out / "data" / "done").is_file() and not (out / "model_corrected").exists()
    assert not (out / "report.md").exists()
    with pytest.raises(ValueError, match="stop_after"):
        water.run(out, "tiny", stop_after="cg")
    # a folder is not resumed with settings other than those its finished stages were made with
    with pytest.raises(ValueError, match=r"stage 'aa'.*molecules: 32 -> 40"):
        water.run(out, "tiny", molecules=40)
    with pytest.raises(ValueError, match=r"stage 'data'.*mf_steps"):
        water.run(out, "tiny", mf_steps=301)
    with pytest.raises(ValueError, match=r"stage 'aa'.*seed: 1 -> 2"):
        water.run(out, "tiny", seed=2)
    # settings of stages not started yet may change (here training's, then back)
    assert water.run(out, "tiny", nep=dict(water.PRESETS["tiny"].nep, generation=31), stop_after="data") is None
    report = water.run(out, "tiny")
    text = report.read_text()
    preset = water.PRESETS["tiny"]
    for p in preset.validate_pressures:
        assert f"| {p:g}" in text
    assert "- CG with the kinetic virial correction: " in text and "- CG without it: " in text
    for name in ("eos.png", "rdf.png", "model_corrected/loss.png", "model_uncorrected/parity.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG", name
    data = pynepcg.trainer.read_training_set(out / "data" / "train.xyz")
    nocorr = pynepcg.trainer.read_training_set(out / "data" / "train_nocorr.xyz")
    assert len(data) == len(preset.train_pressures) * preset.configs_per_pressure
    kt = pynepcg._core.BOLTZMANN * preset.temperature
    shift = (3 * preset.molecules - preset.molecules) * kt
    assert np.allclose(np.asarray(data[0].virial)[:3] - np.asarray(nocorr[0].virial)[:3], shift, rtol=1e-6)
    # even the tiny preset's 150-fs frames get enough blocks for a standard error
    frame = pynepcg.io.read(out / "data" / "train.xyz", 0)
    assert np.isfinite(frame.info["force_error"]) and np.all(np.isfinite(frame.arrays["force_errors"]))
    for name in ("model_corrected", "model_uncorrected"):
        model = pynepcg.NEP(out / name / "nep.txt")
        assert model.elements == ["W"]
        assert (out / name / "nep_gpumd.txt.names").read_text() == "W W\n"  # W is an element symbol already
    stamp = (out / "cg" / "corrected_0.5.json").stat().st_mtime_ns
    water.run(out, "tiny")
    assert (out / "cg" / "corrected_0.5.json").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match=r"stage 'train'.*use another output folder"):
        water.run(out, "tiny", nep=dict(water.PRESETS["tiny"].nep, generation=31))


def test_water_npt_checkpoint_resumes_bit_for_bit(tmp_path):
    """A workflow NPT run interrupted after a chunk, or between writing a chunk's files and its
    progress.json, continues from its checkpoint folder to the same log and snapshots as an
    uninterrupted run, bit for bit."""
    from pynepcg.cases import water

    preset = water.PRESETS["tiny"]
    box = pynepcg.structures.water_box(16, density=1.0, seed=3)
    pot = water._teacher(preset, None)

    def npt(checkpoint=None, stop_at=None, seen=None):
        snaps = [] if seen is None else seen

        def on_chunk(c, snap):
            snaps.append((c, np.asarray(snap.positions).copy(), np.asarray(snap.cell).copy()))
            if c == stop_at:
                raise KeyboardInterrupt
        log, seconds = water._npt_run(box, pot, preset, 0.3, 5, 40, 120, 0.5, 4, on_chunk, checkpoint=checkpoint)
        return log, seconds, snaps

    ref_log, _, ref_snaps = npt()
    assert len(ref_log["density"]) == 12 and len(ref_snaps) == 4

    def same(log, snaps):
        assert all(np.array_equal(log[k], ref_log[k]) for k in ref_log)
        assert [c for c, _, _ in snaps] == [0, 1, 2, 3]
        for (_, x, h), (_, x0, h0) in zip(snaps, ref_snaps):
            assert np.array_equal(x, x0) and np.array_equal(h, h0)

    # interrupted after chunk 1 (its checkpoint written), then resumed
    ck = tmp_path / "a"
    with pytest.raises(KeyboardInterrupt):
        npt(ck, stop_at=1)
    assert (ck / "progress.json").is_file() and sorted(p.name for p in ck.glob("restart_*")) == ["restart_2.txt"]
    log, seconds, snaps = npt(ck)
    same(log, snaps)
    assert 0 < seconds["production"] < seconds["total"]
    # killed after chunk 2's snapshot and log were written but before its progress.json: the
    # checkpoint of chunk 1 still stands (the log file is ahead of it by one chunk)
    ck = tmp_path / "b"
    kept = {}

    def keep_progress(c, snap):
        if c == 1:
            kept.update({p.name: p.read_bytes() for p in (ck / "progress.json", ck / "restart_2.txt")})
        if c == 2:
            (ck / "progress.json").unlink()
            for name, data in kept.items():
                (ck / name).write_bytes(data)
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        water._npt_run(box, pot, preset, 0.3, 5, 40, 120, 0.5, 4, keep_progress, checkpoint=ck)
    assert len(np.load(ck / "thermo.npy")) == 9
    log, _, snaps = npt(ck)
    same(log, snaps)


def _threads():  # (a nanobind function does not pickle)
    return pynepcg.get_num_threads()


def test_pools_share_the_cores_out(monkeypatch):
    """The workflow's side-by-side runs (and datagen's default pool): one worker per usable core, at
    most one per item, the cores left over as OpenMP threads; one core or one item: in process."""
    import os

    from pynepcg.cases import water

    monkeypatch.setattr(datagen, "_usable_cores", lambda: 5)
    assert water._side_by_side(_threads, [(), ()], in_process=False) == [2, 2]
    assert water._side_by_side(_threads, [()] * 7, in_process=False) == [1] * 7
    pids = water._side_by_side(os.getpid, [()] * 3, in_process=False)
    assert os.getpid() not in pids
    assert water._side_by_side(os.getpid, [()] * 3, in_process=True) == [os.getpid()] * 3
    monkeypatch.setattr(datagen, "_usable_cores", lambda: 1)
    assert water._side_by_side(os.getpid, [(), ()], in_process=False) == [os.getpid()] * 2


def test_water_report_verdicts(tmp_path):
    """report.md states, per model, the largest density deviation from the teacher and whether it is
    within the 2 % target at every pressure (a collapsed run counts as a miss)."""
    from pynepcg.cases import water

    preset = water.PRESETS["tiny"]  # validation at 1 bar, 0.5 and 1 GPa
    rdf = {"rdf_r": [0.05, 0.15], "rdf_g": [0.0, 1.0]}
    speed = {"ns_per_day": 12.5, "where": "CPU, 2 threads"}

    def results(densities):
        return {p: {"density": d, "density_error": 0.001, "stable": True, **rdf}
                for p, d in zip(preset.validate_pressures, densities)}
    aa = results([1.0, 1.1, 1.2])
    text = water._report(tmp_path, preset, "tiny", aa, results([1.01, 1.1 * 0.985, 1.2 * 1.019]),
                         results([1.05, 1.1 * 1.06, 1.2 * 1.02]), speed, "test", 1.0).read_text()
    assert "- CG with the kinetic virial correction: largest deviation +1.9 % over 3 pressures; within ±2 %" in text
    assert "CG speed (NEP-CG, 32 beads, CPU, 2 threads): 12.5 ns/day" in text
    assert "- CG without it: largest deviation +6.0 % over 3 pressures; not within ±2 %" in text
    text = water._report(tmp_path, preset, "tiny", aa, results([1.01, 1.1 * 1.021, 1.2]),
                         results([1.0, 2.0, 1.2]), speed, "test", 1.0).read_text()
    assert "correction: largest deviation +2.1 % over 3 pressures; not within" in text
    assert "without it: largest deviation +0.0 % over 2 pressures, 1 collapsed; not within" in text


def test_sampling_at_strained_state_points():
    g, m = gold(2)
    pot = pynepcg.EAM.zhou_gold()
    confs = datagen.sample_configurations(g, pot, [{"temperature": 300, "strain": (0.02, 0.0, -0.01)},
                                                   {"temperature": 300, "pressure": 1.0}],
                                          count=1, interval=20, equilibration=20, time_step=2.0)
    cell = np.asarray(confs[0].cell)
    assert np.allclose(np.diag(cell), np.diag(np.asarray(g.cell)) * [1.02, 1.0, 0.99])
    assert np.allclose(confs[0].info["strain"], [0.02, 0.0, -0.01]) and confs[1].info["pressure"] == 1.0
    with pytest.raises(ValueError, match="either a pressure or a strain"):
        datagen.sample_configurations(g, pot, [{"temperature": 300, "strain": (0.01, 0, 0), "pressure": 0.0}],
                                      count=1, interval=1)


def test_mean_and_error_of_a_correlated_series():
    """The workflow's density error bars: an AR(1) series x_t = phi x_{t-1} + e_t has the
    statistical inefficiency g = (1 + phi) / (1 - phi); the reported standard error must match
    both that formula and the actual spread of the means of independent series."""
    from pynepcg.cases.water import mean_and_error

    rng = np.random.default_rng(4)
    phi, n, runs = 0.9, 4000, 300
    e = rng.normal(size=(runs, n))
    x = np.empty_like(e)
    x[:, 0] = e[:, 0] / np.sqrt(1 - phi**2)
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    means, errors = zip(*(mean_and_error(row) for row in x))
    sigma = 1 / np.sqrt(1 - phi**2)
    expected = sigma * np.sqrt((1 + phi) / (1 - phi) / n)
    assert np.mean(errors) == pytest.approx(expected, rel=0.1)
    assert np.std(means) == pytest.approx(expected, rel=0.15)
    # naive independent-sample errors would be sqrt(19) = 4.4x too small
    assert np.mean(errors) > 3 * sigma / np.sqrt(n)
    assert mean_and_error([1.0, 1.0, 1.0, 1.0, 1.0]) == (1.0, 0.0)


def test_settings_that_give_no_sample_are_refused():
    g, m = gold(2)
    with pytest.raises(pynepcg.InputError, match=r"steps \(3\) must be at least sample_interval \(5\)"):
        datagen.mean_force_frame(g, m, pynepcg.EAM.zhou_gold(),
                                 datagen.MeanForceSettings(equilibration=0, steps=3, sample_interval=5))
    for bad, match in ((dict(steps=0), "steps"), (dict(temperature=0), "temperature"),
                       (dict(sample_interval=0), "sample_interval"), (dict(steps=10.5), "integer"),
                       (dict(target_error=-1), "target_error"), (dict(thermostat="nvt"), "thermostat")):
        with pytest.raises(pynepcg.InputError, match=match):
            datagen.MeanForceSettings(**bad).check()


def test_resume_refuses_frames_of_another_task(tmp_path):
    """Frames left in a directory by a run with other settings, mapping, seed, configurations or
    teacher are refused on resume (before, the old frames were returned as the new data set)."""
    g, m = gold(2)
    confs = jittered_copies(g, 3, sigma=0.02, seed=4)
    settings = datagen.MeanForceSettings(temperature=300, time_step=2.0, equilibration=10, steps=20,
                                         sample_interval=2, block_samples=5)
    run = functools.partial(datagen.mean_force, mapper=m, potential=pynepcg.EAM.zhou_gold(), directory=tmp_path,
                            progress=False)
    first = run(confs[:2], settings=settings, seed=1).read_text()
    hot = datagen.MeanForceSettings(**{**settings.__dict__, "temperature": 900})
    with pytest.raises(pynepcg.InputError, match=r"other settings.temperature \(300 -> 900\)"):
        run(confs[:2], settings=hot, seed=1)
    with pytest.raises(pynepcg.InputError, match="other seed"):
        run(confs[:2], settings=settings, seed=2)
    with pytest.raises(pynepcg.InputError, match="other mapper"):
        run(confs[:2], mapper=m.renamed("Au"), settings=settings, seed=1)
    with pytest.raises(pynepcg.InputError, match="configuration 1 is not the one frame_00001.xyz"):
        run([confs[0], confs[2]], settings=settings, seed=1)
    # Another teacher (the same EAM cut at 5.5 Å instead of 6.2) is refused, also as a factory
    # run in an executor; the same teacher on one thread (other round-off) or in an executor passes.
    with pytest.raises(pynepcg.InputError, match="other teacher potential"):
        run(confs[:2], potential=pynepcg.EAM.zhou_gold(cutoff=5.5), settings=settings, seed=1)
    with cf.ThreadPoolExecutor(1) as pool, pytest.raises(pynepcg.InputError, match="other teacher potential"):
        run(confs[:2], potential=functools.partial(pynepcg.EAM.zhou_gold, cutoff=5.5), executor=pool,
            settings=settings, seed=1)
    threads = pynepcg.get_num_threads()
    pynepcg.set_num_threads(1)
    try:
        assert run(confs[:2], settings=settings, seed=1).read_text() == first
    finally:
        pynepcg.set_num_threads(threads)
    with cf.ThreadPoolExecutor(1) as pool:
        assert run(confs[:2], potential=pynepcg.EAM.zhou_gold, executor=pool, settings=settings,
                   seed=1).read_text() == first
    # More configurations: the finished frames are kept, the new one is made.
    out = run(confs, settings=settings, seed=1).read_text()
    assert out.startswith(first) and len(pynepcg.io.parse(out)) == 3
    # resume=False replaces the frames with the new task's.
    hot_out = run(confs[:2], settings=hot, seed=1, resume=False).read_text()
    assert pynepcg.io.parse(hot_out)[0].info["temperature"] == 900.0


def test_configurations_from_other_temperatures_warn(tmp_path):
    g, m = gold(2)
    c = g.copy()
    c.info["temperature_state"] = 600.0
    settings = datagen.MeanForceSettings(temperature=300, time_step=2.0, equilibration=0, steps=4, sample_interval=2)
    with pytest.warns(UserWarning, match=r"sampled at 600 K run at settings.temperature = 300 K"):
        datagen.mean_force([c], m, pynepcg.EAM.zhou_gold(), settings, directory=tmp_path, progress=False)


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG) is Linux's")
def test_pool_workers_end_when_the_parent_is_killed(tmp_path):
    """A mean_force parent killed by SIGTERM (no clean-up runs) leaves no workers waiting forever."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(
        "import functools, pynepcg\n"
        "from pynepcg import datagen, Mapper\n"
        "g = pynepcg.structures.fcc('Au', 4.08, (2, 2, 2))\n"
        "m = Mapper.by_cell(g, (2, 2, 2))\n"
        "s = datagen.MeanForceSettings(equilibration=0, steps=10**7, sample_interval=10)\n"
        f"datagen.mean_force([g, g.copy()], m, functools.partial(pynepcg.EAM.zhou_gold), s, directory=r'{tmp_path}',"
        " progress=False)\n")
    parent = subprocess.Popen([sys.executable, str(script)])

    def workers():
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(parent.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    deadline = time.time() + 60
    while not workers() and time.time() < deadline:
        time.sleep(0.2)
    kids = workers()
    assert kids, "no pool workers started"
    time.sleep(1.0)  # (the workers have run their initializer)
    parent.send_signal(signal.SIGTERM)
    parent.wait(timeout=30)
    deadline = time.time() + 20
    alive = kids
    while alive and time.time() < deadline:
        time.sleep(0.2)
        alive = [p for p in kids if os.path.exists(f"/proc/{p}") and
                 open(f"/proc/{p}/stat").read().split(")")[-1].split()[0] != "Z"]
    for p in alive:  # (clean up whatever a failure left)
        os.kill(p, signal.SIGKILL)
    assert not alive, f"workers {alive} outlived their parent"


DUMP_CG_RUN_IN = """potential Au.eam.alloy
velocity 300 seed 3
time_step 2
ensemble nvt_ber 300 280 50
run 60
ensemble nve
dump_cg 5 0
run 40
"""


def test_gpumd_dump_cg_run_in_writes_the_mean_force_frame(tmp_path):
    """GPUMD's NEP-CG input (run.in with dump_cg, model.xyz with a group column, bead_name.txt)
    runs unchanged with `nepcg run`: the beads of grouping method 0 are held during the dump_cg
    run and one frame is appended to train.xyz: bead centres (fixed), names of each bead's first
    atom, mean energy, forces and virial, plus (N_atoms - N_beads) k_B T_2 on the virial's
    diagonal with T_2 = 280 K, the target left by the last thermostat (GPUMD's, for nve). The
    same run through the Python API (Simulator, MeanForce) gives the same numbers."""
    from md_reference import KB as KB_GPUMD  # 8.617343e-5 eV/K, GPUMD's and LAMMPS's

    g, m = gold(2)  # 32 atoms, 8 beads of 4
    aa = m.with_groups(g)
    pynepcg.io.write(tmp_path / "model.xyz", aa)
    pot = pynepcg.EAM.zhou_gold()
    pot.write_setfl(tmp_path / "Au.eam.alloy")
    (tmp_path / "bead_name.txt").write_text("".join(("Xa\n" if i % 4 == 0 else "Au\n") for i in range(len(g))))
    (tmp_path / "run.in").write_text(DUMP_CG_RUN_IN)
    pynepcg._core.run_gpumd_input(str(tmp_path / "run.in"), str(tmp_path), False)
    frames = pynepcg.io.read(tmp_path / "train.xyz", ":")
    assert len(frames) == 1
    cg = frames[0]
    first = [int(np.flatnonzero(m.labels == b)[0]) for b in range(m.num_beads)]
    assert list(cg.species) == ["Xa" if i % 4 == 0 else "Au" for i in first]
    f = np.asarray(cg.arrays["forces"])
    assert f.shape == (8, 3) and np.abs(f.sum(axis=0)).max() < 1e-9 and np.abs(f).max() > 1e-3

    # the same two runs through the Python API
    sim = pynepcg.Simulator(aa, pot, skin=1.0, seed=3)
    sim.set_temperature(300.0)
    sim.run(60, ensembles.Berendsen(temperature=(300.0, 280.0), tau=100.0), 2.0)
    start = m.centres(sim.system)
    assert np.abs(start - m.centres(g)).max() > 1e-3  # the beads moved during the free run
    mf = observers.MeanForce(5, 0, 1)
    sim.run(40, ensembles.NVE(constrain_beads=0), 2.0, [mf])
    assert mf.num_samples == 8
    np.testing.assert_allclose(cg.positions, start, atol=1e-9)  # held where the dump_cg run began
    np.testing.assert_allclose(f, mf.forces, rtol=1e-12, atol=1e-12)
    assert cg.info["energy"] == pytest.approx(mf.energy, rel=1e-12)
    expected = mf.virial + np.eye(3) * (32 - 8) * KB_GPUMD * 280.0
    np.testing.assert_allclose(np.reshape(cg.info["virial"], (3, 3)), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("change, message", [
    (lambda d: (d / "bead_name.txt").unlink(), "dump_cg needs .*bead_name.txt"),
    (lambda d: (d / "bead_name.txt").write_text("Au\n" * 31), "bead_name.txt.*has 31 names; model.xyz has 32"),
    (lambda d: (d / "run.in").write_text(DUMP_CG_RUN_IN.replace("dump_cg 5 0", "dump_cg 5 2")),
     r"run.in:8: .*grouping method 2 does not exist"),
    (lambda d: (d / "run.in").write_text(DUMP_CG_RUN_IN.replace("dump_cg 5 0", "dump_cg 50 0")),
     r"run.in:8: .*ended before its first sample"),
    (lambda d: pynepcg.io.write(d / "model.xyz", pynepcg.System(["Au"] * 32, gold(2)[0].positions, gold(2)[0].cell)),
     "dump_cg needs beads: a group column"),
    (lambda d: (d / "run.in").write_text("replicate 1 1 2\n" + DUMP_CG_RUN_IN), r"run.in:9: .*dump_cg after replicate"),
])
def test_gpumd_dump_cg_errors_name_the_file(tmp_path, change, message):
    g, m = gold(2)
    pynepcg.io.write(tmp_path / "model.xyz", m.with_groups(g))
    pynepcg.EAM.zhou_gold().write_setfl(tmp_path / "Au.eam.alloy")
    (tmp_path / "bead_name.txt").write_text("Au\n" * len(g))
    (tmp_path / "run.in").write_text(DUMP_CG_RUN_IN)
    change(tmp_path)
    with pytest.raises(pynepcg.FileFormatError, match=message):
        pynepcg._core.run_gpumd_input(str(tmp_path / "run.in"), str(tmp_path), False)
