"""ASE calculator for NEP models: ``atoms.calc = NEPCalculator("nep.txt")``.

Implements energy, free_energy (equal to the energy), energies (per atom), forces, stress and
stresses (eV/Å^3, ASE's sign: -virial / volume), so ASE optimisers, MD and EOS tools work.
"""
from __future__ import annotations

from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from .potentials import NEP

__all__ = ["NEPCalculator"]


class NEPCalculator(Calculator):
    """ASE calculator backed by :class:`pynepcg.NEP` (CPU, double precision)."""

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress", "stresses"]

    def __init__(self, model, skin: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.nep = model if isinstance(model, NEP) else NEP(model, skin=skin)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        r = self.nep.compute(self.atoms)
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
