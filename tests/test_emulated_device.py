"""The Simulator's device path (the GPU's segments) on the CPU, through potentials.EmulatedDevice.

The emulation runs the GPU's step functions (kernels/md_step.hpp, kernels/thermostat.hpp) in the
GPU's order, so these tests check on every machine what test_gpu.py can only check with a GPU:
that a device run integrates the same dynamics as the host loop (trajectories agree to round-off
for every deterministic thermostat and Bussi's shared random numbers), and that observers which
read only forces (MeanForce) get the same samples from device records as from segments that end
at every sample, bit for bit.
"""
from __future__ import annotations

import numpy as np
import pytest

import pynepcg
from pynepcg import Mapper, ensembles, observers
from pynepcg.potentials import EmulatedDevice

pytestmark = pytest.mark.usefixtures("one_thread")


def gold(repeat=2):
    g = pynepcg.structures.fcc("Au", 4.08, (repeat,) * 3)
    m = Mapper.by_cell(g, (repeat,) * 3, names="Au4")
    return m.with_groups(g, 0), m


def run(potential, ensemble, steps, obs=(), seed=7, dt=2.0, temperature=600.0):
    s, _ = gold()
    sim = pynepcg.Simulator(s, potential, seed=seed)
    sim.set_temperature(temperature)
    sim.run(steps, ensemble, time_step=dt, observers=list(obs))
    return sim


# ensemble, device segments in 200 steps: drift removal, cell updates and observers that need the
# host state (Dump every 100 steps) end segments; Thermo samples are recorded on the device
HOST_ENSEMBLES = {
    "nve": (ensembles.NVE(), 2),
    "nve-beads": (ensembles.NVE(constrain_beads=0), 2),
    "berendsen-beads": (ensembles.Berendsen(temperature=300, tau=40, constrain_beads=0), 2),
    "berendsen-fixed": (ensembles.Berendsen(temperature=300, tau=40, fixed_group=(0, 0)), 2),
    "bussi-ramp": (ensembles.Bussi(temperature=[300, 500], tau=40), 2),
    "bussi-beads": (ensembles.Bussi(temperature=300, tau=40, constrain_beads=0), 2),
    "nose-hoover-beads": (ensembles.NoseHoover(temperature=300, tau=40, constrain_beads=0), 2),
    "nve-drift30": (ensembles.NVE(remove_drift_every=30), 8),  # ends at 30 60 90 100 120 150 180 200
    "npt-scr-every10": (ensembles.NPT(temperature=500, pressure=1.0, tau_t=50, tau_p=300, cell_every=10), 20),
    "npt-nh-triclinic-every4": (ensembles.NPT(temperature=500, pressure=(0, 2.0), tau_t=50, tau_p=300,
                                              thermostat="nose_hoover", coupling="triclinic", cell_every=4), 50),
    "deform-every10": (ensembles.Deform(strain_rate=(2e-5, 0, 0), temperature=500, tau_t=50, cell_every=10), 20),
    # barostats and deformation acting every step: the cell changes inside the device segments
    # (kernels/cell_step.hpp), the stochastic cell rescaling's draws interleaved with Bussi's
    "npt-scr-bussi": (ensembles.NPT(temperature=500, pressure=1.0, tau_t=50, tau_p=300), 2),
    "npt-berendsen-iso-ramp": (ensembles.NPT(temperature=500, pressure=(0.0, 3.0), tau_t=50, tau_p=300,
                                             barostat="berendsen", thermostat="berendsen"), 2),
    "npt-scr-orthorhombic": (ensembles.NPT(temperature=500, pressure=(1.0, 0.5, 2.0), tau_t=50, tau_p=300,
                                           coupling="orthorhombic"), 2),
    "npt-nh-triclinic": (ensembles.NPT(temperature=500, pressure=(0, 2.0), tau_t=50, tau_p=300,
                                       thermostat="nose_hoover", coupling="triclinic"), 2),
    "deform-x-scr-yz": (ensembles.Deform(strain_rate=(5e-5, 0, 0), temperature=500, tau_t=50, pressure=0.0,
                                         tau_p=300), 2),
    "deform-xy-nose-hoover": (ensembles.Deform(strain_rate=(1e-4, -2e-5, 0), temperature=500, tau_t=50,
                                               thermostat="nose_hoover"), 2),
}


@pytest.mark.parametrize("name", sorted(HOST_ENSEMBLES))
def test_device_path_integrates_the_host_dynamics(name, tmp_path):
    ensemble, segments = HOST_ENSEMBLES[name]
    eam = pynepcg.EAM.zhou_gold()
    th_host, th_dev = observers.Thermo(10), observers.Thermo(10)
    host = run(eam, ensemble, 200, obs=[th_host])
    dev_pot = EmulatedDevice(eam)
    dev = run(dev_pot, ensemble, 200, obs=[th_dev, observers.Dump(100, tmp_path / "d.xyz")])
    assert dev.ran_on_device and not host.ran_on_device
    assert dev_pot.segments == segments
    # the recorded thermodynamics (kinetic tensor, bath and chain terms of each sample step) are
    # the host's
    for col in th_host.data:
        assert np.allclose(th_dev[col], th_host[col], rtol=1e-10, atol=1e-9), col
    assert np.allclose(dev.system.cell, host.system.cell, rtol=0, atol=1e-9)
    # 400 fs of a hot crystal: round-off differences (a F dt / m vs F dt / m) grow only slowly
    x_h, x_d = np.asarray(host.system.positions), np.asarray(dev.system.positions)
    v_h, v_d = np.asarray(host.system.velocities), np.asarray(dev.system.velocities)
    assert np.abs(x_h - x_d).max() < 1e-9
    assert np.abs(v_h - v_d).max() < 1e-11
    assert dev.conserved_energy == pytest.approx(host.conserved_energy, abs=1e-9)
    assert dev.potential_energy == pytest.approx(host.potential_energy, abs=1e-9)
    assert np.allclose(dev.pressure_tensor, host.pressure_tensor, rtol=0, atol=1e-9)


def test_device_langevin_keeps_beads_and_temperature():
    # Langevin noise comes from the GPU's Philox stream: not the host's numbers, the same physics
    pot = EmulatedDevice(pynepcg.EAM.zhou_gold())
    s, m = gold(3)
    sim = pynepcg.Simulator(s, pot, seed=3)
    sim.set_temperature(300)
    ens = ensembles.Langevin(temperature=300, tau=50, constrain_beads=0)
    sim.run(10, ens, time_step=2.0)  # (the run's start removes the beads' own velocities)
    c0 = m.centres(sim.system)
    e0 = sim.conserved_energy
    thermo = observers.Thermo(5)
    sim.run(4000, ens, time_step=2.0, observers=[thermo])
    assert sim.ran_on_device and pot.segments == 2  # the Thermo samples were recorded
    assert np.abs(m.centres(sim.system) - c0).max() < 1e-10
    t = thermo.data["temperature"][100:]
    assert abs(t.mean() - 300) < 12  # 324 constrained degrees of freedom x ~4 ps correlation
    # the bath bookkeeping (noise, friction and what the constraint removes) conserves energy, at
    # the end and in every recorded sample
    assert abs(sim.conserved_energy - e0) / len(s) < 1e-5  # eV/atom over 8 ps (host path: ~4e-7)
    assert np.abs(thermo["conserved_energy"] - e0).max() / len(s) < 1e-5
    assert thermo["conserved_energy"][-1] == pytest.approx(sim.conserved_energy, abs=1e-9)
    assert np.array_equal(thermo["step"], np.arange(15, 4011, 5))


@pytest.mark.parametrize("ensemble", [
    ensembles.NVE(constrain_beads=0), ensembles.Bussi(temperature=300, tau=40, constrain_beads=0),
    ensembles.NoseHoover(temperature=300, tau=40, constrain_beads=0)], ids=["nve", "bussi", "nose-hoover"])
def test_recorded_samples_are_the_segment_end_samples(ensemble, monkeypatch):
    """MeanForce and Thermo samples are recorded on the device instead of ending a segment at
    each. Both ways must give the same trajectory and MeanForce samples, bit for bit, and the same
    thermodynamics (to round-off: the kinetic tensor is summed on its own, then added to the
    virial)."""
    results = {}
    for records in ("1", "0"):
        monkeypatch.setenv("NEPCG_DEVICE_RECORDS", records)
        pot = EmulatedDevice(pynepcg.EAM.zhou_gold())
        mf = observers.MeanForce(3, 0, block_samples=4)
        thermo = observers.Thermo(50)
        sim = run(pot, ensemble, 200, obs=[mf, thermo])
        results[records] = (pot.segments, mf, np.asarray(sim.system.positions).copy(), thermo.data)
    seg_rec, mf_rec, x_rec, th_rec = results["1"]
    seg_end, mf_end, x_end, th_end = results["0"]
    assert seg_rec == 1  # nothing ends the segment
    assert seg_end == 4 + 200 // 3 - 200 // 150  # without records, every sample does
    assert mf_rec.num_samples == mf_end.num_samples == 200 // 3
    assert np.array_equal(mf_rec.forces, mf_end.forces)
    assert np.array_equal(mf_rec.force_errors, mf_end.force_errors)
    assert np.array_equal(mf_rec.last_forces, mf_end.last_forces)
    assert mf_rec.energy == mf_end.energy and np.array_equal(mf_rec.virial, mf_end.virial)
    assert np.array_equal(x_rec, x_end)
    for col in th_end:
        exact = col in ("step", "time", "kinetic_energy", "potential_energy", "volume", "density", "temperature")
        if exact:
            assert np.array_equal(th_rec[col], th_end[col]), col
        else:
            assert np.allclose(th_rec[col], th_end[col], rtol=1e-11, atol=1e-11), col


def test_recorded_mean_forces_equal_the_host_run():
    ens = ensembles.NVE(constrain_beads=0)
    mf_host, mf_dev = observers.MeanForce(2, 0, block_samples=5), observers.MeanForce(2, 0, block_samples=5)
    run(pynepcg.EAM.zhou_gold(), ens, 100, obs=[mf_host])
    pot = EmulatedDevice(pynepcg.EAM.zhou_gold())
    run(pot, ens, 100, obs=[mf_dev])
    assert pot.segments == 1  # one stretch of 100 steps, 50 samples recorded on the way
    assert mf_dev.num_samples == mf_host.num_samples == 50 and mf_dev.num_blocks == 10
    assert np.allclose(mf_dev.forces, mf_host.forces, rtol=0, atol=1e-10)
    assert np.allclose(mf_dev.force_errors, mf_host.force_errors, rtol=0, atol=1e-10)
    assert mf_dev.energy == pytest.approx(mf_host.energy, abs=1e-10)
    assert np.allclose(mf_dev.virial, mf_host.virial, rtol=0, atol=1e-9)
    assert abs(mf_dev.forces.sum(0)).max() < 1e-9  # Newton's third law over all beads


def test_fixed_atoms_do_not_move_on_the_device_path():
    s, _ = gold()
    fixed = np.asarray(s.groups[0]) == 0  # the 4 atoms of bead 0
    pot = EmulatedDevice(pynepcg.EAM.zhou_gold())
    sim = pynepcg.Simulator(s, pot, seed=1)
    sim.set_temperature(600)
    x0 = np.asarray(sim.system.positions).copy()
    sim.run(100, ensembles.Langevin(temperature=300, tau=50, fixed_group=(0, 0)), time_step=2.0)
    x = np.asarray(sim.system.positions)
    assert sim.ran_on_device and fixed.sum() == 4
    assert np.array_equal(x[fixed], x0[fixed]) and np.all(np.asarray(sim.system.velocities)[fixed] == 0)
    assert np.abs(x[~fixed] - x0[~fixed]).max() > 0.05


def test_emulated_device_rejects_bad_input():
    with pytest.raises(TypeError):
        EmulatedDevice("not a potential")
    with pytest.raises(ValueError, match="skin"):
        EmulatedDevice(pynepcg.EAM.zhou_gold(), skin=-1)


def test_cell_changes_in_a_partly_periodic_cell_stay_on_the_host():
    # Barostats and deformation acting every step run in device segments only in cells periodic
    # along all three axes (the device list's live cell); a slab integrates on the host instead,
    # with the same dynamics.
    g, _ = gold()
    slab = pynepcg.System(list(g.species), np.asarray(g.positions), cell=np.asarray(g.cell) * [1, 1, 2],
                          pbc=[True, True, False])
    pot = EmulatedDevice(pynepcg.EAM.zhou_gold())
    assert pot.device_updates_cell and not pynepcg.EAM.zhou_gold().device_updates_cell
    ens = ensembles.Deform(strain_rate=(1e-4, 0, 0), temperature=500, tau_t=50)
    sims = []
    for p in (pynepcg.EAM.zhou_gold(), pot):
        sim = pynepcg.Simulator(slab, p, seed=3)
        sim.set_temperature(500)
        sim.run(50, ens, time_step=2.0)
        sims.append(sim)
    assert not sims[1].ran_on_device and pot.segments == 0
    assert np.array_equal(np.asarray(sims[0].system.positions), np.asarray(sims[1].system.positions))
    assert np.asarray(sims[1].system.cell)[0, 0] == pytest.approx(2 * 4.08 * (1 + 1e-4 * 100))


def test_restart_inside_a_device_npt_run_continues_it(tmp_path):
    # Every-step SCR barostat with a Bussi ramp on the device path: a restart written at step 120
    # (a Restart observer ends a segment there) and read into a new Simulator continues the same
    # run: the cell, the barostat's and Bussi's random numbers and the ramps pick up where they were.
    ens = ensembles.NPT(temperature=(400, 600), pressure=(0.0, 2.0), tau_t=50, tau_p=300)
    path = tmp_path / "restart.txt"
    s, _ = gold()
    full = pynepcg.Simulator(s, EmulatedDevice(pynepcg.EAM.zhou_gold()), seed=5)
    full.set_temperature(500)
    th_full = observers.Thermo(10)
    full.run(200, ens, time_step=2.0, observers=[th_full, observers.Restart(120, path)])
    cont = pynepcg.Simulator(s, EmulatedDevice(pynepcg.EAM.zhou_gold()), seed=99)
    cont.read_restart(path)
    th_cont = observers.Thermo(10)
    cont.run(80, ens, time_step=2.0, observers=[th_cont])
    assert full.ran_on_device and cont.ran_on_device and cont.step == 200
    tail = th_full["step"] > 120
    assert np.array_equal(th_full["step"][tail], th_cont["step"])
    # (the continuation's first forces come from a fresh neighbour list: round-off apart)
    assert np.abs(np.asarray(full.system.cell) - np.asarray(cont.system.cell)).max() < 1e-11
    assert np.abs(np.asarray(full.system.positions) - np.asarray(cont.system.positions)).max() < 1e-10
    for col in ("temperature", "pressure", "volume", "ax", "by", "cz", "conserved_energy"):
        assert np.allclose(th_full[col][tail], th_cont[col], rtol=1e-11, atol=1e-10), col
    assert np.ptp(th_full["volume"]) > 1.0
