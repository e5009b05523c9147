// Chemical elements H ... Pu: symbols, standard atomic masses (amu) and covalent radii (Å).
#pragma once

#include <string>

namespace nepcg {

constexpr int kNumElements = 94;

/// Atomic number of an element symbol (case-sensitive, "H" ... "Pu"); 0 if not an element.
int atomic_number(const std::string& symbol);
/// Symbol of atomic number z (1 ... 94).
const std::string& element_symbol(int z);
/// Standard atomic mass in amu (IUPAC values as tabulated by ASE), z = 1 ... 94.
double atomic_mass(int z);
/// Covalent radius in Å (Cordero et al. 2008, as tabulated by ASE), z = 1 ... 94.
double covalent_radius(int z);

}  // namespace nepcg
