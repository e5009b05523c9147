"""ASE calculators: ``atoms.calc = NEPCalculator("nep.txt")`` or, for any pynepcg potential,
``atoms.calc = PotentialCalculator(pynepcg.EAM.zhou_gold())``.

Implements energy, free_energy (equal to the energy), energies (per atom), forces, stress and
stresses (eV/Å^3, ASE's sign: -virial / volume), so ASE optimisers, MD and EOS tools work.
"""
from __future__ import annotations

from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

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
    """ASE calculator for a NEP model: a path to nep.txt, a NepModel or a :class:`pynepcg.NEP`."""

    def __init__(self, model, skin: float = 0.5, **kwargs):
        super().__init__(model if isinstance(model, NEP) else NEP(model, skin=skin), **kwargs)

    @property
    def nep(self) -> NEP:
        return self.potential
