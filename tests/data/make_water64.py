"""Regenerates water64_spcfw_300K.extxyz (a manual step; the tests only read the file):
64 SPC/Fw molecules from pynepcg.structures.water_box(64, density=1.0, seed=7), equilibrated with
pynepcg itself (SPC/Fw, Ewald accuracy 1e-5, 10 Å cutoffs): 4 ps Bussi NVT at 300 K with
dt = 0.5 fs (tau 100 fs) from velocities at 300 K. Positions, velocities (Å/fs) and mol_id."""
import sys

import pynepcg
from pynepcg import ensembles, io

s = pynepcg.structures.water_box(64, density=1.0, seed=7)
sim = pynepcg.Simulator(s, pynepcg.SPCFw(coulomb="ewald", accuracy=1e-5), seed=7)
sim.set_temperature(300.0)
sim.run(8000, ensembles.Bussi(temperature=300.0, tau=100.0), time_step=0.5)
print("T", sim.temperature, "E_pot", sim.potential_energy)
io.write(sys.argv[1] if len(sys.argv) > 1 else "water64_spcfw_300K.extxyz", sim.system)
