"""Checks of a finished water run's mean-force labels and models (docs/water_cg.md, "What limits
the corrected model"):

1. per training pressure, the CG pressure of the labels, (tr W / 3 + N k_B T) / V, and the
   model's on the same frames (GPa);
2. the noise of the mean forces: frame 0 rerun with new velocities (another thermostat seed), its
   two halves kept apart, compared with the stored label (eV/Å). ~6 min of one core for the paper
   preset's 10-ps frames.

    python validation/water_label_checks.py runs/water-paper-seed2 paper          # both
    python validation/water_label_checks.py runs/water-paper-seed2 paper labels   # 1. only
"""
import json
import sys

import numpy as np

from pynepcg import NEP, Simulator, _core, datagen, io, observers
from pynepcg.cases import water
from pynepcg.mapping import Mapper

run, preset_name = sys.argv[1], sys.argv[2]
preset = water.PRESETS[preset_name]
kt = _core.BOLTZMANN * preset.temperature

for name, data in (("corrected", "train.xyz"), ("uncorrected", "train_nocorr.xyz")):
    model = NEP(f"{run}/model_{name}/nep.txt")
    by_p = {}
    for f in io.read(f"{run}/data/{data}", ":"):
        volume, n = abs(np.linalg.det(np.asarray(f.cell))), len(f.species)
        label = np.trace(np.asarray(f.info["virial"]).reshape(3, 3))
        fit = np.trace(model.compute(f).virial)
        to_gpa = _core.EV_PER_A3_TO_GPA / volume
        by_p.setdefault(f.info["pressure"], []).append(((label / 3 + n * kt) * to_gpa, (fit / 3 + n * kt) * to_gpa))
    for p, v in sorted(by_p.items()):
        v = np.array(v)
        se = np.sqrt(len(v))
        print(f"{name} {p:g} GPa: labels {v[:, 0].mean():.4f} +- {v[:, 0].std() / se:.4f} GPa, model "
              f"{v[:, 1].mean():.4f}, model - labels {(v[:, 1] - v[:, 0]).mean():+.4f} +- "
              f"{(v[:, 1] - v[:, 0]).std() / se:.4f} GPa")

if sys.argv[3:] == ["labels"]:
    sys.exit()
_core.set_num_threads(1)
config = io.read(f"{run}/aa/configs_{preset.train_pressures[0]:g}.xyz", 0)
label = io.read(f"{run}/data/frames/frame_00000.xyz", 0)
mapper = Mapper.by_molecule(config, names="W")
aa = mapper.with_groups(config)
method = len(aa.groups) - 1
settings = datagen.MeanForceSettings(temperature=preset.temperature, time_step=preset.aa_time_step,
                                     thermostat="bussi", tau=100.0)
sim = Simulator(aa, water._teacher(preset, None), seed=777)
sim.set_temperature(preset.temperature)
ens = settings.ensemble(method)
sim.run(preset.mf_equilibration, ens, time_step=preset.aa_time_step)
halves = []
for _ in range(2):
    mf = observers.MeanForce(2, method, 50)
    sim.run(preset.mf_steps // 2, ens, time_step=preset.aa_time_step, observers=[mf])
    halves.append(mf.forces.copy())
rms = lambda x: float(np.sqrt(np.mean(x ** 2)))
print(json.dumps({"rms_label_force": rms(label.arrays["forces"]),
                  "label_block_error": float(label.info["force_error"]),
                  "rms_rerun_minus_label": rms(0.5 * (halves[0] + halves[1]) - label.arrays["forces"]),
                  "rms_half1_minus_half2": rms(halves[0] - halves[1])}, indent=1))
