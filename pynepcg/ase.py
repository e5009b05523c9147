"""ASE calculators: ``atoms.calc = NEPCalculator("nep.txt")`` or, for any pynepcg potential,
``atoms.calc = PotentialCalculator(pynepcg.EAM.zhou_gold())``.

Implements energy, free_energy (equal to the energy), energies (per atom), forces, stress and
stresses (eV/Å^3, ASE's sign: -virial / volume), so ASE optimisers, MD and EOS tools work.
"""
from __future__ import annotations

from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from .errors import InputError
from .potentials import NEP, Potential

__all__ = ["NEPCalculator", "PotentialCalculator"]


class PotentialCalculator(Calculator):
    """ASE calculator backed by any :class:`pynepcg.potentials.Potential` (CPU, double precision)."""

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress", "stresses"]

    def __init__(self, potential: Potential, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(potential, Potential):
            raise TypeError("PotentialCalculator: expected a pynepcg potential")
        self.potential = potential

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        r = self.potential.compute(self.atoms)
        self.results = {
            "energy": r.energy,
            "free_energy": r.energy,
            "energies": r.energies.copy(),
            "forces": r.forces.copy(),
        }
        if r.volume > 0:
            self.results["stress"] = r.stress
            self.results["stresses"] = r.stresses
        elif "stress" in properties or "stresses" in properties:
            raise PropertyNotImplementedError("stress needs a periodic cell with non-zero volume")


class NEPCalculator(PotentialCalculator):
    """ASE calculator for a NEP model: a path to nep.txt, a NepModel or a :class:`pynepcg.NEP`.
    ``device`` and ``precision`` are those of :class:`pynepcg.NEP` (defaults "auto" and "double"
    for a path or a NepModel; a NEP object keeps its own, and naming others is an error)."""

    def __init__(self, model, skin: float = 0.5, device: str | None = None, precision: str | None = None,
                 **kwargs):
        if isinstance(model, NEP):
            if device is not None and device != "auto" and device != model.device:
                raise InputError(f"NEPCalculator: the NEP given runs on {model.device!r}, not {device!r}; "
                                 f"use nep.to({device!r})")
            if precision is not None and precision != model.precision:
                raise InputError(f"NEPCalculator: the NEP given has precision {model.precision!r}, not {precision!r}")
            nep = model
        else:
            nep = NEP(model, skin=skin, device=device or "auto", precision=precision or "double")
        super().__init__(nep, **kwargs)

    @property
    def nep(self) -> NEP:
        return self.potential
