"""Molecular dynamics: ``pynepcg.Simulator(system, potential).run(steps, ensemble, observers)``.

Units: time_step in fs, temperatures K, positions Å, velocities Å/fs; thermo output in eV, GPa.
The simulator works on its own copy of the system (``sim.system``, updated in place).
"""
from __future__ import annotations

from . import _core
from .ensembles import NVE, _Ensemble
from .errors import InputError
from .potentials import NEP, FusedReplicas, Potential, as_system

__all__ = ["Simulator"]


class Simulator:
    """MD engine. ``device``: where the forces and, for ensembles that keep the cell, the steps
    run: "auto" keeps the potential's own device (a NEP on "auto" uses the GPU when one is usable),
    "cpu" or "cuda" moves a NEP there (classical potentials run on the CPU only). On the GPU, NVE
    and every thermostat (Berendsen, Bussi, Langevin, Nose-Hoover chains), with fixed atoms and the
    bead constraint of mean-force runs, advance between observer samples without returning to the
    host; barostats and deformation integrate on the CPU with forces from the GPU. ``skin`` (Å):
    Verlet-list skin. ``seed``: every stochastic part (initial velocities, thermostats, barostats);
    the same seed gives the same trajectory on the same device."""

    def __init__(self, system, potential: Potential, device: str = "auto", skin: float = 1.0, seed: int = 0):
        if not isinstance(potential, Potential):
            raise TypeError("Simulator: potential must be a pynepcg potential (NEP, EAM, Tersoff, ...)")
        if device not in ("auto", "cpu", "cuda"):
            raise ValueError("Simulator: device must be 'auto', 'cpu' or 'cuda'")
        if isinstance(potential, NEP):
            if device != "auto":
                potential = potential.to(device)
            self.device = potential.device
        elif isinstance(potential, FusedReplicas):
            if device == "cpu":
                raise ValueError("Simulator: FusedReplicas runs on the GPU; for the CPU use pynepcg.NEP(..., device='cpu')")
            self.device = "cuda"
        elif device == "cuda":
            raise ValueError(f"Simulator: {type(potential).__name__} runs on the CPU only; use device='cpu' "
                             "(NEP models run on the GPU)")
        else:
            self.device = "cpu"
        self.potential = potential
        if isinstance(seed, bool) or int(seed) != seed or not 0 <= int(seed) < 2**64:
            raise InputError(f"Simulator: seed must be an integer in [0, 2**64), not {seed!r}")
        self._cpp = _core.Simulator(as_system(system).copy(), potential._cpp, float(skin), int(seed))

    @property
    def system(self):
        """The current state (a System whose arrays are views of the simulator's storage)."""
        return self._cpp.system

    def set_temperature(self, temperature: float) -> None:
        """Seeded Maxwell-Boltzmann velocities at `temperature` K with zero total momentum (and
        zero angular momentum in a cell periodic along no axis: a cluster does not spin)."""
        self._cpp.set_temperature(float(temperature))

    def run(self, steps: int, ensemble=None, time_step: float = 1.0, observers=()):
        """Runs `steps` steps of `time_step` fs in `ensemble` (default NVE); returns the observers."""
        ensemble = ensemble if ensemble is not None else NVE()
        if not isinstance(ensemble, _Ensemble):
            raise InputError(f"Simulator.run: ensemble must be one of pynepcg.ensembles (NVE(), Langevin(...), "
                             f"...), not {ensemble!r}")
        observers = list(observers)
        for o in observers:
            if not isinstance(getattr(o, "_cpp", None), _core.Observer):
                raise InputError(f"Simulator.run: {o!r} is not an observer of pynepcg.observers")
        if isinstance(steps, bool) or int(steps) != steps or not 0 <= int(steps) < 2**62:
            raise InputError(f"Simulator.run: steps must be an integer >= 0, not {steps!r}")
        self._cpp.run(int(steps), ensemble._to_cpp(), float(time_step), [o._cpp for o in observers])
        return observers

    # Current state
    @property
    def temperature(self) -> float:
        return self._cpp.temperature

    @property
    def degrees_of_freedom(self) -> int:
        """N_f of the temperature: 3 N_moving, minus 3 when momentum is conserved, or 3 N - 3 N_beads
        in a bead-constrained run."""
        return self._cpp.degrees_of_freedom

    @property
    def kinetic_energy(self) -> float:
        return self._cpp.kinetic_energy

    @property
    def potential_energy(self) -> float:
        return self._cpp.potential_energy

    @property
    def conserved_energy(self) -> float:
        return self._cpp.conserved_energy

    @property
    def pressure_tensor(self):
        """(3, 3) GPa, kinetic part included, positive = compressive."""
        return self._cpp.pressure_tensor * _core.EV_PER_A3_TO_GPA

    @property
    def forces(self):
        return self._cpp.forces

    @property
    def step(self) -> int:
        return self._cpp.step

    @property
    def time(self) -> float:
        return self._cpp.time

    @property
    def ran_on_device(self) -> bool:
        """True when the steps of the last run ran on the GPU (a CUDA NEP with NVE or a thermostat,
        fixed atoms and bead constraints included; barostats and deformation with ``cell_every``
        > 1, or every step where the potential's ``device_updates_cell``); False when they were
        integrated on the CPU (CPU potentials, barostats and deformation acting every step)."""
        return self._cpp.ran_on_device

    def write_restart(self, path) -> None:
        """Positions, velocities, box, thermostat/barostat and random state: continuing from it with
        :meth:`read_restart` then `run` of the remaining steps is bit-identical."""
        self._cpp.write_restart(path)

    def read_restart(self, path) -> None:
        self._cpp.read_restart(path)
