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
import dataclasses
import hashlib
import json
import os
import warnings
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

    def check(self) -> None:
        """Raises InputError for settings that cannot give a frame (e.g. fewer production steps than
        one sample interval: a frame of zeros)."""
        def need(ok, what):
            if not ok:
                raise InputError(f"MeanForceSettings: {what}")

        need(self.temperature > 0, f"temperature must be > 0 K, not {self.temperature}")
        need(self.time_step > 0, f"time_step must be > 0 fs, not {self.time_step}")
        need(self.tau > 0, f"tau must be > 0 fs, not {self.tau}")
        for name in ("equilibration", "steps", "sample_interval", "block_samples", "check_every"):
            value = getattr(self, name)
            need(isinstance(value, (int, np.integer)) and not isinstance(value, bool),
                 f"{name} must be an integer, not {value!r}")
        need(self.equilibration >= 0, f"equilibration must be >= 0, not {self.equilibration}")
        need(self.sample_interval >= 1, f"sample_interval must be >= 1, not {self.sample_interval}")
        need(self.block_samples >= 1, f"block_samples must be >= 1, not {self.block_samples}")
        need(self.steps >= self.sample_interval,
             f"steps ({self.steps}) must be at least sample_interval ({self.sample_interval}): "
             "a production run without a sample gives no mean force")
        need(self.target_error is None or self.target_error > 0,
             f"target_error must be None or > 0 eV/Å, not {self.target_error}")
        if self.target_error is not None:
            need(self.check_every >= self.sample_interval,
                 f"check_every ({self.check_every}) must be at least sample_interval ({self.sample_interval})")
        self.ensemble(0)  # (the thermostat's name)

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
    settings.check()
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


def _teacher_probe(structure: System, potential) -> dict:
    """What the teacher gives on the first configuration (energy eV, virial eV, the largest force
    and the first atoms' forces eV/Å): recorded with the frames, so that a resume with another
    teacher potential is caught."""
    r = potential.compute(structure, per_atom_virials=False)
    f = np.asarray(r.forces, dtype=float)
    return {"atoms": len(structure), "energy": float(r.energy), "virial": np.asarray(r.virial).ravel().tolist(),
            "max_force": float(np.abs(f).max()) if f.size else 0.0, "forces": f[:8].ravel().tolist()}


def _probe_task(text: str, potential_factory):
    """Process-pool task: the teacher probe of a potential factory, where the frames run."""
    return _teacher_probe(io.parse(text)[0], _resolve_potential(potential_factory))


def _same_teacher(old: dict, new: dict) -> bool:
    """Probes of one teacher agree to what a change of device, thread count or float precision
    leaves (1e-5 of the energy scale, 1e-4 of the largest force); another model, other parameters
    or another electrostatics accuracy usually does not."""
    if old.get("atoms") != new["atoms"]:
        return False
    e_scale = max(abs(old["energy"]), abs(new["energy"]), 1e-3 * new["atoms"])
    f_scale = max(old["max_force"], new["max_force"], 1e-6)
    w_old, w_new = np.asarray(old["virial"]), np.asarray(new["virial"])
    return (abs(old["energy"] - new["energy"]) <= 1e-5 * e_scale
            and np.abs(w_old - w_new).max() <= 1e-4 * max(np.abs(w_old).max(), np.abs(w_new).max(), e_scale)
            and np.abs(np.asarray(old["forces"]) - np.asarray(new["forces"])).max(initial=0.0) <= 1e-4 * f_scale)


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
    already in ``<directory>/frames`` are kept when ``resume``, and refused (InputError) when another
    task made them: other settings, mapping, seed, configurations or teacher (``frames/task.json``
    records them; the teacher as its energy, virial and forces on the first configuration).
    Configuration ``info`` items
    (e.g. temperature, pressure of the state point) are copied to the frame."""
    from .potentials import Potential

    settings.check()
    d = Path(directory)
    (d / "frames").mkdir(parents=True, exist_ok=True)
    configs = [c if isinstance(c, System) else System.from_ase(c) for c in configurations]
    if not configs:
        raise InputError("mean_force: no configurations")
    _warn_other_temperatures(configs, settings)
    if isinstance(potential, Potential) and executor is not None:
        raise InputError("mean_force: an executor needs a picklable potential factory, e.g. "
                         "functools.partial(pynepcg.NEP, 'nep.txt')")
    if not isinstance(potential, Potential) and replicas is not None:
        raise InputError("mean_force: replicas are for a potential object; with a factory the executor "
                         "decides the concurrency")
    todo = []
    for k in range(len(configs)):
        path = d / "frames" / f"frame_{k:05d}.xyz"
        if resume and path.is_file() and path.stat().st_size > 0:
            continue
        todo.append(k)

    def state_info(c):
        out = {}
        for key in ("temperature_state", "pressure", "strain", "config_type"):
            if key in c.info:
                out[key] = c.info[key]
        return out

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

    on_object = isinstance(potential, Potential)
    own = not on_object and executor is None
    if own:
        executor = cpu_pool(max(1, len(todo)))
    bar = None
    try:
        # the teacher's probe, where the frames run (a factory's worker may choose another device)
        if on_object:
            probe = _teacher_probe(configs[0], potential)
        else:
            probe = executor.submit(_probe_task, io.format([configs[0]]), potential).result()
        _check_and_record_task(d / "frames", configs, mapper, settings, seed, resume, probe)
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(configs), initial=len(configs) - len(todo), unit="frame", desc="mean-force frames")
        if on_object:
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
            futures = {}
            for k in todo:
                c = configs[k]
                futures[executor.submit(_frame_task, io.format([c]), mapper.labels.tolist(), mapper.names,
                                        potential, settings, seed + k, state_info(c))] = k
            for fut in cf.as_completed(futures):
                finish(futures[fut], fut.result())
    finally:
        if bar is not None:
            bar.close()
        if own:
            executor.shutdown()
    out = d / output
    with open(out, "w") as f:
        for k in range(len(configs)):
            f.write((d / "frames" / f"frame_{k:05d}.xyz").read_text())
    return out


def _configuration_digest(c: System) -> str:
    """SHA-256 of what a frame is made from: species, positions, cell, periodicity, velocities."""
    h = hashlib.sha256()
    h.update("\0".join(c.species).encode())
    for a in (c.positions, c.cell, np.asarray(c.pbc, dtype=np.int8)):
        h.update(np.ascontiguousarray(a).tobytes())
    if c.velocities is not None:
        h.update(np.ascontiguousarray(c.velocities).tobytes())
    return h.hexdigest()[:32]


_TASK_FILE = "task.json"


def _check_and_record_task(frames: Path, configs, mapper: Mapper, settings: MeanForceSettings, seed: int,
                           resume: bool, probe: dict) -> None:
    """Keeps frames/task.json: the settings, mapping and seed of the frames in `frames`, a digest
    of each configuration and the teacher's probe (its energy, virial and forces on the first
    configuration). On resume, frames made by another task (other settings, mapping, seed, teacher,
    or another configuration at the same index) are refused instead of being mixed in silently."""
    task = {
        "settings": dataclasses.asdict(settings),
        "mapper": {"names": list(mapper.names),
                   "labels": hashlib.sha256(np.ascontiguousarray(mapper.labels, dtype=np.int64).tobytes()).hexdigest()[:32]},
        "seed": int(seed),
        "configurations": [_configuration_digest(c) for c in configs],
        "teacher": probe,
    }
    path = frames / _TASK_FILE
    existing = sorted(frames.glob("frame_*.xyz"))
    if resume and path.is_file():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise InputError(f"{path}: unreadable ({err}); delete it to reuse the frames, or pass resume=False") from err
        changed = [f"{key}" for key in ("mapper", "seed") if old.get(key) != task[key]]
        changed += [f"settings.{k} ({old.get('settings', {}).get(k)!r} -> {v!r})"
                    for k, v in task["settings"].items() if old.get("settings", {}).get(k) != v]
        same_first = old.get("configurations", [None])[:1] == task["configurations"][:1]
        if "teacher" in old and existing and same_first and not _same_teacher(old["teacher"], probe):
            changed.append(f"teacher potential (energy of configuration 0: {old['teacher'].get('energy')!r} eV "
                           f"-> {probe['energy']!r} eV)")
        if changed:
            raise InputError(f"mean_force: the frames in {frames} were made with other {', '.join(changed)}; "
                             "pass resume=False to replace them, or use another directory")
        previous = old.get("configurations", [])
        for k, digest in enumerate(task["configurations"][:len(previous)]):
            if previous[k] != digest and (frames / f"frame_{k:05d}.xyz").is_file():
                raise InputError(f"mean_force: configuration {k} is not the one frame_{k:05d}.xyz in {frames} was "
                                 "made from; pass resume=False to replace the frames, or use another directory")
    elif resume and existing:
        warnings.warn(f"mean_force: {frames} holds {len(existing)} frames without {_TASK_FILE} (written before "
                      "this check existed): they are kept as they are, unchecked", stacklevel=3)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(task, indent=1))
    os.replace(tmp, path)


def _warn_other_temperatures(configs, settings: MeanForceSettings) -> None:
    """Every frame runs at settings.temperature; configurations drawn at another temperature
    (info['temperature_state'], from sample_configurations) are re-thermalised to it."""
    other = sorted({float(c.info["temperature_state"]) for c in configs if "temperature_state" in c.info
                    and abs(float(c.info["temperature_state"]) - settings.temperature) > 1e-6 * settings.temperature})
    if other:
        warnings.warn(f"mean_force: configurations sampled at {', '.join(f'{t:g}' for t in other)} K run at "
                      f"settings.temperature = {settings.temperature:g} K (the frames' temperature and kinetic "
                      "correction); run mean_force once per temperature with its own settings to keep state points",
                      stacklevel=3)


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
    # user wins). On Linux the worker also ends when its parent dies: a parent killed by SIGTERM
    # or SIGKILL (a batch system's time limit) runs no clean-up, and its workers would otherwise
    # wait for work forever.
    _core.set_num_threads(max(1, threads))
    os.environ.setdefault("NEPCG_DEVICE", "cpu")
    _end_with_parent()


def _end_with_parent() -> None:
    """Linux: SIGTERM to this process when its parent exits (prctl PR_SET_PDEATHSIG); else nothing."""
    import sys

    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):  # (no prctl: keep the old behaviour)
        pass


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
