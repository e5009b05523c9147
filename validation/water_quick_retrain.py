"""Training-seed spread of the quick preset's corrected model (docs/water_cg.md, "How much of that
is luck"): retrains the corrected model of a finished quick run on its own frames with other
trainer settings and measures each model's CG NPT density at 1 bar, 0.25, 0.5 and 1 GPa against
that run's teacher. Not a test: minutes per setting on 2 cores.

    pynepcg water --preset quick --output water-quick
    python validation/water_quick_retrain.py water-quick retrain \
        '{"g1500_s2": {"seed": 2, "nep": {"generation": 1500}}, "g3000_s3": {"seed": 3}}'

Each setting: "seed" (training seed, default 1), "precision" (default the preset's) and "nep"
(overrides of the preset's nep keywords). Prints one line per setting: training time, density
deviation from the teacher (%) per pressure, and the fitted model's mean virial error (trace / 3,
meV/bead) on each training pressure's frames.
"""
import json
import sys
import time
from pathlib import Path

import numpy as np

from pynepcg import Trainer, io
from pynepcg.cases import water

PRESSURES = (water.BAR, 0.25, 0.5, 1.0)


def main(run: Path, out_root: Path, settings: dict) -> None:
    preset = water.PRESETS["quick"]
    aa = {p: json.loads((run / "aa" / f"npt_{p:g}.json").read_text())["density"] for p in PRESSURES}
    start = io.format([water.cg_start(run / "data" / "train.xyz")])
    for label, cfg in settings.items():
        out = out_root / label
        (out / "cg").mkdir(parents=True, exist_ok=True)
        nep = {**preset.nep, **cfg.get("nep", {})}
        t0 = time.time()
        trainer = Trainer(type=["W"], seed=cfg.get("seed", 1), output_interval=max(1, nep["generation"] // 20),
                          precision=cfg.get("precision", preset.train_precision), **nep)
        trainer.fit(run / "data" / "train.xyz", directory=out / "model", progress=False)
        seconds = time.time() - t0
        dev = []
        for k, p in enumerate(PRESSURES):
            r = water._cg_pressure(out, preset, "model", str(out / "model" / "nep.txt"), start, 1, k, p)
            dev.append(100 * (r["density"] / aa[p] - 1))
        v = np.loadtxt(out / "model" / "virial_train.out")  # predicted xx yy zz ..., then the labels'
        bias = 1000 * (v[:, :3].mean(1) - v[:, 6:9].mean(1)).reshape(len(preset.train_pressures), -1).mean(1)
        print(f"{label}: training {seconds:.0f} s; density deviation (%) " + " / ".join(f"{d:+.1f}" for d in dev)
              + "; virial bias per training pressure (meV/bead) " + " ".join(f"{b:+.1f}" for b in bias), flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3]))
