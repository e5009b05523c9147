"""Potentials: NEP (GPUMD nep.txt) and the classical all-atom teachers (Lennard-Jones, EAM,
Tersoff), which add up with ``+``.

Units and signs: energies eV, forces eV/Å, virials eV with GPUMD's sign (W = sum_i r_i (x) F_i,
positive = compressed), stress eV/Å^3 with ASE's sign (stress = -W / V, positive = tensile).
Per-atom virials are 9 values per atom, row-major xx xy xz yx yy yz zx zy zz, partitioned as
GPUMD and calorine do (W_i^ab = sum_j r_ij^a f_ji^b).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from . import _core
from ._core import NepModel, parse_nep_model, read_nep_model
from .device import resolve_device
from .system import System, from_ase

__all__ = ["EAM", "EmulatedDevice", "FusedReplicas", "LennardJones", "NEP", "NepModel", "Potential", "Result", "Sum", "Tersoff", "as_system",
           "parse_nep_model", "read_nep_model"]


def as_system(structure) -> System:
    """A :class:`System` from a System or an ASE ``Atoms``."""
    if isinstance(structure, System):
        return structure
    if hasattr(structure, "get_positions") and hasattr(structure, "cell"):
        return from_ase(structure)
    raise TypeError(f"expected a pynepcg.System or ase.Atoms; got {type(structure).__name__}")


@dataclass
class Result:
    """Energies, forces and virials of one structure."""

    energy: float            #: total potential energy, eV
    energies: np.ndarray     #: (N,) site energies, eV
    forces: np.ndarray       #: (N, 3) eV/Å
    virial: np.ndarray       #: (3, 3) total virial, eV (GPUMD sign)
    virials: np.ndarray      #: (N, 9) per-atom virials, eV
    volume: float            #: cell volume, Å^3 (0 for a non-periodic structure)

    @property
    def stress(self) -> np.ndarray:
        """Stress in eV/Å^3, ASE's sign and Voigt order (xx yy zz yz xz xy): -virial / volume."""
        if not self.volume > 0:
            raise ValueError("stress needs a cell with non-zero volume")
        s = -self.virial / self.volume
        return np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])

    @property
    def stresses(self) -> np.ndarray:
        """Per-atom stresses (N, 6) in eV/Å^3 (ASE's sign, Voigt order): -sym(W_i) / volume."""
        if not self.volume > 0:
            raise ValueError("stresses need a cell with non-zero volume")
        w = self.virials.reshape(-1, 3, 3)
        w = 0.5 * (w + w.transpose(0, 2, 1))
        s = -w / self.volume
        return np.stack([s[:, 0, 0], s[:, 1, 1], s[:, 2, 2], s[:, 1, 2], s[:, 0, 2], s[:, 0, 1]], axis=1)


NepResult = Result  # the name used before classical potentials existed


class Potential:
    """Base class: wraps a C++ potential and keeps a neighbour list between calls (rebuilt only
    when an atom moved more than ``skin``/2 Å), which speeds up MD and relaxations through ASE."""

    def __init__(self, cpp, skin: float = 0.5):
        self._cpp = cpp
        self.skin = float(skin)
        self._list = None

    @property
    def cutoff(self) -> float:
        """Largest interaction range, Å."""
        return self._cpp.cutoff

    def compute(self, structure, per_atom_virials: bool = True) -> Result:
        """Energy, site energies, forces and virials of a System or ASE Atoms.

        ``per_atom_virials=False``: only the total ``virial`` is wanted; the per-atom ``virials``
        then sum to it but are not GPUMD's partition (some potentials, e.g. EAM, are faster so).
        """
        s = as_system(structure)
        if self._list is None:
            self._list = _core.NeighborList(self._cpp.cutoff, self.skin, self._cpp.secondary_cutoff)
        r = self._cpp.compute(s, self._list, bool(per_atom_virials))
        return Result(r["energy"], r["energies"], r["forces"], r["virial"], r["virials"], s.box.volume)

    @property
    def runs_dynamics_on_device(self) -> bool:
        """True when a :class:`~pynepcg.Simulator` runs this potential's thermostat-only steps on
        its device (a GPU NEP, :class:`EmulatedDevice`): such a potential holds device state, so
        concurrent runs need one :meth:`replica` each."""
        return self._cpp.runs_dynamics_on_device

    @property
    def device_updates_cell(self) -> bool:
        """True when barostats and deformation acting every step (``cell_every=1``) also run in
        the device segments (fully periodic cells): :class:`EmulatedDevice` always, a GPU NEP with
        ``NEPCG_DEVICE_CELL=1``. Otherwise a :class:`~pynepcg.Simulator` integrates such runs on
        the host with this potential's forces."""
        return self._cpp.device_updates_cell

    def replica(self) -> "Potential":
        """A potential for another thread's simulations: an independent copy when this one holds
        device state (:attr:`runs_dynamics_on_device`), else this object (CPU potentials hold no
        state between calls and may be shared)."""
        return self

    def __add__(self, other: "Potential") -> "Sum":
        return Sum([self, other])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(cutoff={self.cutoff:g} A)"


class Sum(Potential):
    """The sum of several potentials (energies, forces and virials add)."""

    def __init__(self, terms, skin: float = 0.5):
        flat = []
        for t in terms:
            flat.extend(t.terms if isinstance(t, Sum) else [t])
        self.terms = flat
        super().__init__(_core.SumPotential([t._cpp for t in flat]), skin)


class EmulatedDevice(Potential):
    """Another potential whose :class:`~pynepcg.Simulator` runs take the GPU's path on the host.

    The steps of thermostat-only ensembles, and of barostats and deformation in fully periodic
    cells, then run in device segments as with a GPU NEP (the cell updated inside the segments as
    a GPU NEP does with ``NEPCG_DEVICE_CELL=1``), but on the CPU, with the GPU's own step and
    cell-step functions in its order: its thermostat placement, bead constraint, Philox Langevin
    noise and recorded samples. It is the CPU oracle of the
    GPU's dynamics (the tests run the Simulator's device path with it on machines without a GPU);
    results agree with an ordinary CPU run to round-off, except Langevin noise, which comes from
    the GPU's generator. ``skin`` (Å): the segments' Verlet-list skin."""

    def __init__(self, potential: Potential, skin: float = 1.0):
        if not isinstance(potential, Potential):
            raise TypeError("EmulatedDevice: expected a pynepcg potential")
        self.wrapped = potential
        self.segment_skin = float(skin)
        super().__init__(_core.EmulatedDevicePotential(potential._cpp, float(skin)), potential.skin)

    def replica(self) -> "EmulatedDevice":
        return EmulatedDevice(self.wrapped.replica(), self.segment_skin)

    @property
    def segments(self) -> int:
        """Device segments run so far."""
        return self._cpp.segments


class NEP(Potential):
    """A NEP model evaluated on the CPU (OpenMP) or on a CUDA GPU.

    ``model``: a path to a GPUMD ``nep.txt`` (NEP3/NEP4/NEP5, with or without ZBL) or a
    :class:`NepModel`. ``device``: "cpu", "cuda" or "auto" (the GPU when one is usable; see
    :mod:`pynepcg.device`). Both devices run the same maths and agree to round-off; on the GPU the
    neighbour list is built on the device too, and a :class:`~pynepcg.Simulator` runs the steps of
    thermostat-only ensembles there without returning to the host between samples.
    ``skin`` (Å): Verlet-list skin.

    ``precision``: "double" (default, the reference) or "single": the per-atom NEP maths
    (descriptor, network, partial forces) in float, as GPUMD does, while positions, integration,
    force and virial sums stay double. Single precision takes models with one hidden layer and
    1 <= l_max <= 4. On the GPU it is the fast path; on the CPU it runs the same float maths
    (:class:`NepDirect`-style, slow) so that its accuracy can be checked anywhere; measured
    accuracy and tolerances in docs/gpu.md.
    """

    def __init__(self, model, skin: float = 0.5, device: str = "auto", precision: str = "double"):
        if isinstance(model, (str, os.PathLike)):
            model = read_nep_model(str(model))
        elif not isinstance(model, NepModel):
            raise TypeError("NEP: expected a path to nep.txt or a NepModel")
        if precision not in ("double", "single"):
            raise ValueError(f"NEP: precision must be 'double' or 'single', not {precision!r}")
        self.device = resolve_device(device)
        self.precision = precision
        if self.device == "cuda":
            cpp = _core.GpuNEP(model, float(skin), precision)
        elif precision == "single":
            cpp = _core.NepDirect(model, "single")
        else:
            cpp = _core.NEP(model)
        super().__init__(cpp, skin)

    def replica(self) -> "NEP":
        """On the GPU a new GpuNEP of the same model (its own CUDA stream, list and graphs); on the
        CPU this object."""
        return NEP(self.model, self.skin, "cuda", self.precision) if self.device == "cuda" else self

    def to(self, device: str) -> "NEP":
        """The same model on another device ("cpu", "cuda" or "auto"); self if already there."""
        if resolve_device(device) == self.device:
            return self
        return NEP(self.model, self.skin, device, self.precision)

    def compute(self, structure, per_atom_virials: bool = True) -> Result:
        if self.device != "cuda":
            return super().compute(structure, per_atom_virials)
        s = as_system(structure)
        r = self._cpp.compute_on_device(s, bool(per_atom_virials))
        return Result(r["energy"], r["energies"], r["forces"], r["virial"], r["virials"], s.box.volume)

    def compute_many(self, structures) -> list[Result]:
        """Results of many independent structures (Systems or ASE Atoms, any sizes, cells and
        periodicity), in order, as :meth:`compute` gives them one by one.

        On the GPU they are evaluated together: all structures in one device neighbour list,
        each binned in its own cell (no pair joins two structures), and one launch of each NEP
        kernel for all, instead of a few launches per structure that leave most of the GPU idle
        when structures are small. Results equal :meth:`compute`'s to round-off (same neighbour
        order; sums over an atom's pairs may be split differently). On the CPU, a loop over
        :meth:`compute` (each evaluation already uses every thread).
        """
        systems = [as_system(s) for s in structures]
        if self.device != "cuda":
            return [self.compute(s) for s in systems]
        results = self._cpp.compute_replicas(systems)
        return [Result(r["energy"], r["energies"], r["forces"], r["virial"], r["virials"], s.box.volume)
                for r, s in zip(results, systems)]

    def fused_replicas(self, wait_ms: float = 5.0) -> "FusedReplicas":
        """This model (on the GPU) as the first member of a group of replicas whose MD segments run
        fused: see :class:`FusedReplicas`."""
        if self.device != "cuda":
            raise ValueError("NEP.fused_replicas: replicas fuse on the GPU only (device='cuda')")
        return FusedReplicas(self.model, self.skin, self.precision, wait_ms)

    @property
    def model(self) -> NepModel:
        """A copy of the model parameters."""
        return self._cpp.model

    @property
    def elements(self) -> list[str]:
        return list(self._cpp.model.elements)

    def descriptors(self, structure, scaled: bool = False) -> np.ndarray:
        """Descriptor of every atom, shape (N, D), in GPUMD's component order; multiplied by the
        model's q_scaler (the network input) when ``scaled``."""
        return self._cpp.descriptors(as_system(structure), scaled)

    def __repr__(self) -> str:
        m = self._cpp.model
        return (f"NEP(nep{m.version}, elements={list(m.elements)}, cutoff={m.cutoff_radial[0]:g}/"
                f"{m.cutoff_angular[0]:g} A, device={self.device!r}, precision={self.precision!r})")


class FusedReplicas(Potential):
    """A NEP on the GPU for many independent simulations at once, each on its own thread: their
    device segments run fused, one launch per kernel for all of them (many small systems, e.g.
    the constrained runs of mean-force data, where one system alone leaves most of the GPU idle).

    Each :meth:`replica` is a member of the same group, for one :class:`~pynepcg.Simulator` on
    one thread (``datagen.mean_force`` takes one per frame by itself: pass this object as the
    teacher, with ``replicas`` threads). A member's segment waits until every live member has
    queued one, or ``wait_ms`` (ms) passed without news (a member busy elsewhere is not waited
    for); segments that fuse (NVE or Langevin, the same steps, time step, target temperature and
    samples, no cell change; see ``GpuNEP.segments_fuse``) then run as one, others alone. Every
    simulation gets what it would get alone, its Langevin noise included, up to the round-off of
    sums split differently over GPU lanes (so trajectories agree to round-off at first and then
    decorrelate, as any two runs on different hardware do). What a simulation gets does not
    depend on which others ran beside it (its neighbour list is built at each segment's start
    and rebuilt when its own atoms ask; every sum runs over its own atoms): the same bits fused
    with any replicas or alone, so mean-force data are reproducible whatever the timing of the
    threads. Force evaluations outside segments run on the group's GPU one at a time, each with
    a list built afresh for its system (so a barostat on the host integrator, every step, builds
    a list every step: ``cell_every`` > 1 keeps the steps between cell updates in segments).
    ``model``, ``skin`` (Å, the device list's Verlet skin)
    and ``precision`` as for :class:`NEP`, with the same defaults (the skin orders each atom's
    neighbours, hence the round-off of its sums: equal skins give equal results).
    """

    def __init__(self, model, skin: float = 0.5, precision: str = "double", wait_ms: float = 5.0, *,
                 _group=None, _engine=None):
        if _group is None:
            if isinstance(model, (str, os.PathLike)):
                model = read_nep_model(str(model))
            resolve_device("cuda")  # (RuntimeError without a usable GPU)
            _engine = _core.GpuNEP(model, float(skin), precision)
            _group = _core.FusedReplicaGroup(_engine, float(wait_ms))
        self._engine, self._group = _engine, _group
        self.precision = _engine.precision
        self.skin = float(skin)
        self._list = None
        # The object the user made is a member only once a Simulator uses it (its C++ potential is
        # asked for): the group does not wait for a handle that only hands out replicas.
        self._member = None if model is not None else _group.member()

    @property
    def _cpp(self):
        if self._member is None:
            self._member = self._group.member()
        return self._member

    def replica(self) -> "FusedReplicas":
        """Another member of this group (for another thread's simulation)."""
        return FusedReplicas(None, self.skin, _group=self._group, _engine=self._engine)

    @property
    def cutoff(self) -> float:
        return self._engine.cutoff

    @property
    def runs_dynamics_on_device(self) -> bool:
        return True

    @property
    def device_updates_cell(self) -> bool:
        return False

    def compute(self, structure, per_atom_virials: bool = True) -> Result:
        s = as_system(structure)
        # (a list built afresh: the same bits whatever the group's GPU evaluated before)
        r = self._engine.compute_on_device(s, bool(per_atom_virials), True)
        return Result(r["energy"], r["energies"], r["forces"], r["virial"], r["virials"], s.box.volume)

    @property
    def model(self) -> NepModel:
        return self._engine.model

    @property
    def stats(self) -> dict:
        """The group's counters: live members, segments run (per replica), how many of them ran
        fused with others, and the most replicas fused into one segment."""
        g = self._group
        return {"members": g.members, "segments": g.segments, "fused_segments": g.fused_segments,
                "largest_batch": g.largest_batch}

    def __repr__(self) -> str:
        return f"FusedReplicas(members={self._group.members}, precision={self.precision!r})"


class LennardJones(Potential):
    """Lennard-Jones pairs ``{(species_a, species_b): (epsilon eV, sigma Å, cutoff Å)}``,
    shifted to zero energy at the cutoff when ``shift``. Pairs not listed do not interact."""

    def __init__(self, pairs: dict, shift: bool = True, skin: float = 0.5):
        items = [(a, b, float(e), float(s), float(c)) for (a, b), (e, s, c) in pairs.items()]
        super().__init__(_core.LennardJones(items, shift), skin)


class EAM(Potential):
    """Embedded-atom method from a LAMMPS file or tables.

    ``EAM("Au.eam.alloy")`` reads a setfl file (``*.eam.alloy``, ``*.setfl``); funcfl files
    (``*.eam``) are read with ``EAM.from_funcfl(path, ...)``; ``EAM.zhou_gold()`` tabulates the
    Zhou-Johnson-Wadley (2004) analytic gold model. Interpolation matches LAMMPS.
    """

    def __init__(self, source, skin: float = 0.5):
        if isinstance(source, _core.EamTables):
            tables = source
        else:
            path = str(source)
            tables = _core.read_funcfl([path]) if path.endswith(".eam") else _core.read_setfl(path)
        self.tables = tables
        super().__init__(_core.EAM(tables), skin)

    @classmethod
    def from_funcfl(cls, *paths, skin: float = 0.5) -> "EAM":
        return cls(_core.read_funcfl([str(p) for p in paths]), skin)

    @classmethod
    def zhou_gold(cls, nr: int = 2000, nrho: int = 2000, cutoff: float = 6.2, skin: float = 0.5) -> "EAM":
        """Zhou, Johnson & Wadley, PRB 69, 144113 (2004), gold; cutoff in Å."""
        return cls(_core.zhou_2004_gold(nr, nrho, cutoff), skin)

    def write_setfl(self, path, comment: str = "") -> None:
        """Writes the tables as a LAMMPS setfl (eam/alloy) file."""
        self.tables.write_setfl(path, comment)


class Tersoff(Potential):
    """Tersoff potential from a LAMMPS ``.tersoff`` file, or ``Tersoff.carbon_1989()``."""

    def __init__(self, source, skin: float = 0.5):
        cpp = source if isinstance(source, _core.Tersoff) else _core.Tersoff.from_file(str(source))
        super().__init__(cpp, skin)

    @classmethod
    def carbon_1989(cls, widened_switch: bool = False, skin: float = 0.5) -> "Tersoff":
        """Tersoff 1989 carbon; ``widened_switch`` moves the cutoff switch to 1.95-2.15 Å (the qHP
        C60 teacher: keeps the [2+2] rings intact at 300 K)."""
        return cls(_core.Tersoff.carbon_1989(widened_switch), skin)

    def write(self, path) -> None:
        """Writes the parameters as a LAMMPS .tersoff file."""
        self._cpp.write(path)
