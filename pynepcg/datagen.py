"""Mean-force data generation: the NEP-CG training data (Fan, Dong et al., 2026).

For each all-atom configuration: hold every bead's centre of mass fixed while the atoms inside
move (thermostatted, :class:`pynepcg.ensembles` with ``constrain_beads``), equilibrate, then
time-average the bead forces (minus the gradient of the potential of mean force), the potential
energy and the virial. The averaged virial gets ``(N_atoms - N_beads) k_B T`` on its diagonal so
that the CG pressure, ``(W + N_beads k_B T) / V``, equals the AA pressure
``(<W_AA> + N_atoms k_B T) / V``. Each configuration gives one CG frame of a GPUMD ``train.xyz``.

Frames are independent tasks run through any ``concurrent.futures.Executor`` (a process pool by
default when ``potential`` is a picklable factory; Dask's or mpi4py's executors work unchanged).
Each finished frame is written to ``<directory>/frames/frame_<k>.xyz`` at once, so an interrupted
generation resumes without redoing finished frames.

Units: Å, eV, eV/Å, amu, fs, K, GPa.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from . import _core, ensembles, io, observers
from .errors import InputError
from .mapping import Mapper
from .simulator import Simulator
from .system import System

__all__ = ["MeanForceSettings", "mean_force_frame", "mean_force", "sample_configurations"]


@dataclass
class MeanForceSettings:
    """Settings of one constrained run.

    temperature (K); time_step (fs); equilibration and production steps; thermostat
    ``"langevin" | "bussi" | "nose_hoover"`` with time constant tau (fs); sample_interval (steps
    between samples); block_samples (samples per block for standard errors); target_error: stop
    production early once the RMS standard error of the mean bead forces is below it (eV/Å),
    checked every check_every steps; instantaneous: also store the bead forces of the last sample
    (``forces_instant``) to compare noise."""

    temperature: float = 300.0
    time_step: float = 1.0
    equilibration: int = 2000
    steps: int = 20000
    thermostat: str = "langevin"
    tau: float = 100.0
    sample_interval: int = 5
    block_samples: int = 100
    target_error: float | None = None
    check_every: int = 2000
    instantaneous: bool = False
    skin: float = 1.0

    def ensemble(self, method: int):
        kinds = {"langevin": ensembles.Langevin, "bussi": ensembles.Bussi, "nose_hoover": ensembles.NoseHoover,
                 "berendsen": ensembles.Berendsen}
        if self.thermostat not in kinds:
            raise InputError(f"MeanForceSettings: thermostat must be one of {sorted(kinds)}")
        return kinds[self.thermostat](temperature=self.temperature, tau=self.tau, constrain_beads=method)


def _resolve_potential(potential):
    """A Potential, or a zero-argument factory that builds one (picklable for process pools)."""
    from .potentials import Potential

    if isinstance(potential, Potential):
        return potential
    if callable(potential):
        p = potential()
        if not isinstance(p, Potential):
            raise InputError("mean_force: the potential factory must return a pynepcg potential")
        return p
    raise InputError("mean_force: potential must be a pynepcg potential or a factory returning one")


def mean_force_frame(structure, mapper: Mapper, potential, settings: MeanForceSettings = MeanForceSettings(),
                     seed: int = 0, info: dict | None = None) -> System:
    """One CG training frame from one AA configuration (velocities taken from the structure when
    present, else drawn at the temperature). Returns the CG System with ``info``: energy (eV),
    virial (eV, 9 values, kinetic correction included), temperature, averaging_time (fs),
    samples, force_error (RMS standard error, eV/Å), energy_error; ``arrays``: forces (mean),
    force_errors, and forces_instant if requested."""
    s = mapper._check(structure)
    pot = _resolve_potential(potential)
    aa = mapper.with_groups(s)
    method = len(aa.groups) - 1
    sim = Simulator(aa, pot, skin=settings.skin, seed=seed)
    if s.velocities is None:
        sim.set_temperature(settings.temperature)
    ens = settings.ensemble(method)
    centres = mapper.centres(sim.system)
    if settings.equilibration > 0:
        sim.run(settings.equilibration, ens, time_step=settings.time_step)
    mf = observers.MeanForce(settings.sample_interval, method, settings.block_samples)
    done = 0
    chunk = settings.check_every if settings.target_error else settings.steps
    while done < settings.steps:
        n = min(chunk, settings.steps - done)
        sim.run(n, ens, time_step=settings.time_step, observers=[mf])
        done += n
        if settings.target_error and mf.num_blocks >= 2:
            if np.sqrt(np.mean(mf.force_errors ** 2)) < settings.target_error:
                break
    n_atoms, n_beads = len(s), mapper.num_beads
    kt = _core.BOLTZMANN * settings.temperature
    virial = mf.virial + np.eye(3) * (n_atoms - n_beads) * kt
    cg = System(mapper.names, centres, np.asarray(s.cell), masses=mapper.bead_masses(s), pbc=s.pbc)
    cg.arrays["forces"] = mf.forces
    errors = mf.force_errors
    cg.arrays["force_errors"] = errors
    if settings.instantaneous:
        cg.arrays["forces_instant"] = mf.last_forces
    cg.info["energy"] = float(mf.energy)
    cg.info["virial"] = virial.ravel()
    cg.info["temperature"] = float(settings.temperature)
    cg.info["averaging_time"] = float(done * settings.time_step)
    cg.info["samples"] = int(mf.num_samples)
    cg.info["force_error"] = float(np.sqrt(np.mean(errors ** 2))) if mf.num_blocks >= 2 else float("nan")
    cg.info["energy_error"] = float(mf.energy_error)
    for key, value in (info or {}).items():
        cg.info[key] = value
    return cg


def _frame_task(text: str, labels, names, potential, settings, seed, info):
    """Process-pool task: extxyz text in, extxyz text out (Systems do not pickle)."""
    structure = io.parse(text)[0]
    frame = mean_force_frame(structure, Mapper(labels, names), potential, settings, seed, info)
    return io.format([frame])


def mean_force(configurations: Sequence, mapper: Mapper, potential, settings: MeanForceSettings = MeanForceSettings(),
               directory="cg-data", output: str = "train.xyz", executor: cf.Executor | None = None,
               seed: int = 0, progress: bool = True, resume: bool = True, replicas: int | None = None) -> Path:
    """Runs :func:`mean_force_frame` for every configuration and writes ``<directory>/<output>``
    (GPUMD train.xyz of the CG frames, in configuration order). ``potential``: a pynepcg potential
    (frames then run in this process: on the CPU one after another, each using all OpenMP threads;
    on a GPU as ``replicas`` concurrent replicas, see below) or a picklable zero-argument factory
    (frames run in ``executor``, default a process pool with one worker per usable core (CPU
    affinity) and at most one per frame, the cores shared out as OpenMP threads, NEP models on the
    CPU). ``replicas``: for a potential that runs its dynamics on a GPU (a NEP on "cuda"), the
    frames run from that many threads, each frame on its own
    :meth:`~pynepcg.potentials.Potential.replica` (its own CUDA stream, list and graphs), so that
    small systems fill the GPU; default min(8, frames); 1 runs them one after another. Every way
    gives the same frames, bit for bit. (A factory
    with a ``concurrent.futures.ThreadPoolExecutor`` does the same by hand.) Frame k uses seed
    ``seed + k``; frames
    already in ``<directory>/frames`` are kept when ``resume``. Configuration ``info`` items
    (e.g. temperature, pressure of the state point) are copied to the frame."""
    from .potentials import Potential

    d = Path(directory)
    (d / "frames").mkdir(parents=True, exist_ok=True)
    configs = list(configurations)
    if not configs:
        raise InputError("mean_force: no configurations")
    todo = []
    for k in range(len(configs)):
        path = d / "frames" / f"frame_{k:05d}.xyz"
        if resume and path.is_file() and path.stat().st_size > 0:
            continue
        todo.append(k)

    def state_info(c):
        c = c if isinstance(c, System) else System.from_ase(c)
        out = {}
        for key in ("temperature_state", "pressure", "strain", "config_type"):
            if key in c.info:
                out[key] = c.info[key]
        return out

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(configs), initial=len(configs) - len(todo), unit="frame", desc="mean-force frames")

    def finish(k, text):
        tmp = d / "frames" / f"frame_{k:05d}.xyz.tmp"
        tmp.write_text(text)
        os.replace(tmp, d / "frames" / f"frame_{k:05d}.xyz")
        if bar is not None:
            bar.update(1)

    def one_frame(k):
        # A potential with device state runs each frame on a fresh replica: a device list that
        # served other frames before could order a frame's sums differently (round-off), and the
        # frames must not depend on which ran where.
        pot = potential.replica() if potential.runs_dynamics_on_device else potential
        return io.format([mean_force_frame(configs[k], mapper, pot, settings, seed + k, state_info(configs[k]))])

    try:
        if isinstance(potential, Potential) and executor is None:
            threads = _replica_threads(potential, replicas, len(todo))
            if threads <= 1:
                for k in todo:
                    finish(k, one_frame(k))
            else:
                with cf.ThreadPoolExecutor(threads) as pool:
                    futures = {pool.submit(one_frame, k): k for k in todo}
                    for fut in cf.as_completed(futures):
                        finish(futures[fut], fut.result())
        else:
            if replicas is not None:
                raise InputError("mean_force: replicas are for a potential object; with a factory the executor "
                                 "decides the concurrency")
            if isinstance(potential, Potential):
                raise InputError("mean_force: an executor needs a picklable potential factory, e.g. "
                                 "functools.partial(pynepcg.NEP, 'nep.txt')")
            own = executor is None
            if own:
                executor = cpu_pool(len(todo))
            try:
                futures = {}
                for k in todo:
                    c = configs[k] if isinstance(configs[k], System) else System.from_ase(configs[k])
                    futures[executor.submit(_frame_task, io.format([c]), mapper.labels.tolist(), mapper.names,
                                            potential, settings, seed + k, state_info(c))] = k
                for fut in cf.as_completed(futures):
                    finish(futures[fut], fut.result())
            finally:
                if own:
                    executor.shutdown()
    finally:
        if bar is not None:
            bar.close()
    out = d / output
    with open(out, "w") as f:
        for k in range(len(configs)):
            f.write((d / "frames" / f"frame_{k:05d}.xyz").read_text())
    return out


def _replica_threads(potential, replicas: int | None, frames: int) -> int:
    """Threads for the frames of a potential object: `replicas` (default min(8, frames)) for one
    that runs its dynamics on a device, 1 otherwise (CPU frames use OpenMP inside each frame)."""
    if replicas is not None:
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
            raise InputError(f"mean_force: replicas must be an integer >= 1, not {replicas!r}")
        if replicas > 1 and not potential.runs_dynamics_on_device:
            raise InputError("mean_force: replicas > 1 needs a potential that runs its dynamics on a GPU (a NEP on "
                             "'cuda'); CPU frames run in parallel from a factory in a process pool")
        return min(replicas, max(frames, 1))
    return min(8, frames) if potential.runs_dynamics_on_device else 1


def _usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a container's or a batch job's share),
    not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # (macOS, Windows)
        return os.cpu_count() or 1


def cpu_pool(items: int) -> cf.ProcessPoolExecutor:
    """A process pool for `items` independent CPU jobs: one worker per usable core, at most one per
    item, the cores left over shared out as OpenMP threads."""
    workers = max(1, min(items, _usable_cores()))
    return cf.ProcessPoolExecutor(max_workers=workers, initializer=_worker_setup,
                                  initargs=(_usable_cores() // workers,))


def _worker_setup(threads: int = 1):
    # Worker of a default pool: `threads` OpenMP threads (the cores shared out among the workers),
    # on the CPU (a forked child cannot use a CUDA context of its parent; NEPCG_DEVICE set by the
    # user wins).
    _core.set_num_threads(max(1, threads))
    os.environ.setdefault("NEPCG_DEVICE", "cpu")


def _one_thread():
    _worker_setup(1)


def sample_configurations(structure, potential, state_points: Sequence[dict], count: int, interval: int,
                          equilibration: int = 5000, time_step: float = 1.0, seed: int = 0,
                          thermostat_tau: float = 100.0, barostat_tau: float = 1000.0, modulus: float = 10.0,
                          progress: bool = False) -> list[System]:
    """All-atom configurations from teacher runs: for each state point ``{"temperature": K,
    "pressure": GPa}`` (NPT, stochastic cell rescaling, isotropic) or ``{"temperature": K}`` (NVT,
    Bussi), optionally with ``"strain": (e_x, e_y, e_z)`` (engineering strain applied to the cell and
    the atoms before an NVT run; not with a pressure), equilibrate, then take ``count`` snapshots
    ``interval`` steps apart. Each snapshot keeps its velocities and gets
    ``info['temperature_state']`` and, when given, ``info['pressure']`` / ``info['strain']``."""
    out = []
    pot = _resolve_potential(potential)
    base = structure if isinstance(structure, System) else System.from_ase(structure)
    for n, point in enumerate(state_points):
        t = float(point["temperature"])
        start = base
        if "strain" in point:
            if "pressure" in point:
                raise InputError("sample_configurations: a state point has either a pressure or a strain")
            e = np.asarray(point["strain"], dtype=float)
            if e.shape != (3,) or np.any(e <= -1):
                raise InputError("sample_configurations: strain must be three numbers > -1")
            atoms = base.to_ase()
            atoms.set_cell(np.asarray(atoms.cell) * (1.0 + e)[:, None], scale_atoms=True)
            start = System.from_ase(atoms)
        sim = Simulator(start, pot, seed=seed + n)
        sim.set_temperature(t)
        if "pressure" in point:
            ens = ensembles.NPT(temperature=t, pressure=float(point["pressure"]), tau_t=thermostat_tau,
                                tau_p=barostat_tau, modulus=modulus)
        else:
            ens = ensembles.Bussi(temperature=t, tau=thermostat_tau)
        sim.run(equilibration, ens, time_step=time_step)
        for _ in range(count):
            sim.run(interval, ens, time_step=time_step)
            snap = sim.system.copy()
            snap.info["temperature_state"] = t
            if "pressure" in point:
                snap.info["pressure"] = float(point["pressure"])
            if "strain" in point:
                snap.info["strain"] = np.asarray(point["strain"], dtype=float)
            out.append(snap)
    return out
