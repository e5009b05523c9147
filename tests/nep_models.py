"""Random NEP models and structures for tests.

``write_random_nep`` writes a nep.txt with random parameters from the file format of GPUMD's
manual (written here independently of pynepcg's writer, so that the reader is tested against an
outside description). Supports nep3/nep4/nep5, ZBL (universal, type-wise, flexible), per-element
cutoffs, any l_max flags and one or two hidden layers.
"""
from __future__ import annotations

import numpy as np
from ase import Atoms


# Random-model kinds the GPU warp kernel and the single-precision path take (one hidden layer,
# 1 <= l_max <= 4), as keyword arguments of write_random_nep.
WARP_KERNEL_MODELS = {
    "one-species": dict(elements=("C",)),
    "all-extra-terms": dict(elements=("C", "H"), l_max=(4, 2, 1, 1, 1, 1, 1)),
    "no-4-5-body": dict(elements=("Si", "O"), l_max=(4, 0, 0)),
    "l3-terms": dict(elements=("Si", "O", "C"), l_max=(3, 2, 1, 1, 1)),
    "l1": dict(elements=("C", "H"), l_max=(1, 0, 0)),
    "nep3": dict(version=3, elements=("Si", "O")),
    "nep5-four-species": dict(version=5, elements=("C", "H", "O", "N"), n_max=(3, 2), basis=(3, 3)),
    "zbl-universal": dict(elements=("C", "H"), zbl=(1.0, 2.2)),
    "zbl-typewise": dict(elements=("Pb", "Te"), zbl=(1.2, 2.4, 0.9)),
    "zbl-flexible": dict(elements=("C", "O"), flexible_zbl=True),
    "typewise-cutoffs-zbl": dict(elements=("C", "O"), typewise_rc=[(4.0, 3.0), (4.5, 3.5)], zbl=(0.8, 1.8),
                                 l_max=(4, 2, 0, 1)),
}


def descriptor_dim(n_max, l_max):
    flags = list(l_max[1:]) + [0] * (7 - len(l_max))
    return n_max[0] + 1 + (n_max[1] + 1) * (l_max[0] + sum(1 for f in flags if f))


def write_random_nep(path, version=4, elements=("C",), rc=(4.0, 3.0), n_max=(4, 3), basis=(5, 4),
                     l_max=(4, 2, 1), neurons=(8, 0), zbl=None, typewise_rc=None, flexible_zbl=False,
                     seed=0, scale=0.5):
    rng = np.random.default_rng(seed)
    T = len(elements)
    D = descriptor_dim(n_max, l_max)
    N1, N2 = neurons
    token = f"nep{version}" + ("_zbl" if (zbl is not None or flexible_zbl) else "")
    lines = [f"{token} {T} " + " ".join(elements)]
    if flexible_zbl:
        lines.append("zbl 0 0")
    elif zbl is not None:
        lines.append("zbl " + " ".join(str(z) for z in zbl))
    if typewise_rc:
        lines.append("cutoff " + " ".join(f"{a} {b}" for a, b in typewise_rc) + " 100 80")
    else:
        lines.append(f"cutoff {rc[0]} {rc[1]} 100 80")
    lines += [f"n_max {n_max[0]} {n_max[1]}", f"basis_size {basis[0]} {basis[1]}",
              "l_max " + " ".join(str(x) for x in l_max), f"ANN {N1} {N2}"]
    if version == 3:
        n_ann = (D + 2) * N1 + 1
    elif version == 5:
        n_ann = ((D + 2) * N1 + 1) * T + 1
    elif N2 > 0:
        n_ann = ((D + 1) * N1 + (N1 + 2) * N2) * T + 1
    else:
        n_ann = (D + 2) * N1 * T + 1
    n_c = T * T * ((n_max[0] + 1) * (basis[0] + 1) + (n_max[1] + 1) * (basis[1] + 1))
    values = list(rng.uniform(-1, 1, n_ann) * scale) + list(rng.uniform(-1, 1, n_c)) + list(rng.uniform(0.05, 1.0, D))
    if flexible_zbl:
        for _ in range(T * (T + 1) // 2):
            r1 = rng.uniform(0.5, 1.0)
            values += [r1, r1 + rng.uniform(0.5, 1.0)]
            values += list(np.ravel([[rng.uniform(0.02, 0.5), rng.uniform(0.2, 3.0)] for _ in range(4)]))
    lines += [f"{v:.17g}" for v in values]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def network_output_bound(path) -> float:
    """The largest |U| a site energy of the nep.txt at `path` can take without ZBL: over the types,
    sum_mu |w1_mu| + |biases| (|tanh| <= 1; one hidden layer). It is also the size of the terms a
    site energy sums, so float round-off in a site energy scales with it rather than with |U|,
    which cancellation can make small (single-precision tests compare site energies against it)."""
    with open(path) as f:
        lines = [ln.split() for ln in f if ln.strip()]
    version = int(lines[0][0][3])
    num_types = int(lines[0][1])
    header = {ln[0]: ln[1:] for ln in lines[1:8] if not _is_number(ln[0])}
    n_max = [int(v) for v in header["n_max"]]
    l_max = [int(v) for v in header["l_max"]]
    n1, n2 = (int(v) for v in header["ANN"])
    if n2:
        raise ValueError("network_output_bound: one hidden layer only")
    d = descriptor_dim(n_max, l_max)
    values = np.array([float(ln[0]) for ln in lines[1 + len(header):]])
    blocks = 1 if version == 3 else num_types
    block = (d + 2) * n1 + (1 if version == 5 else 0)  # W0, b0, w1 (and NEP5's per-type bias)
    shared_bias = abs(values[blocks * block])
    bound = 0.0
    for t in range(blocks):
        w1 = values[t * block + (d + 1) * n1: t * block + (d + 2) * n1]
        own_bias = abs(values[t * block + (d + 2) * n1]) if version == 5 else 0.0
        bound = max(bound, np.abs(w1).sum() + own_bias + shared_bias)
    return float(bound)


def single_precision_errors(result, reference, model_path) -> dict:
    """Errors of a single-precision NEP result against a reference result (double, or the other
    float evaluator), each relative to the size of the terms the quantity sums, where float
    round-off lives: site energies to max(network_output_bound, largest |U_i|) (the network's
    terms, and ZBL's when larger), forces and per-atom virials to their largest magnitude, the total
    virial to the sum over atoms of each atom's largest virial component. (Relative to their own
    largest magnitude instead, site energies or a total virial that cancel to near zero show errors
    of 2-5e-5 in ~4 % of random 3-atom cells: measured, session 20.)"""
    a = {w: np.asarray(getattr(result, w)) for w in ("energies", "forces", "virials", "virial")}
    b = {w: np.asarray(getattr(reference, w)) for w in a}
    scale = {
        "energies": max(network_output_bound(model_path), np.abs(b["energies"]).max()),
        "forces": np.abs(b["forces"]).max(),
        "virials": np.abs(b["virials"]).max(),
        "virial": np.abs(b["virials"]).max(axis=1).sum(),
    }
    return {w: float(np.abs(a[w] - b[w]).max() / max(scale[w], 1e-300)) for w in a}


def _is_number(token: str) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False


def jittered_copies(structure, count, sigma=0.05, seed=0):
    """`count` copies of a pynepcg System with every position displaced by a normal of width sigma
    (Å): independent starting frames."""
    rng = np.random.default_rng(seed)
    copies = []
    for _ in range(count):
        c = structure.copy()
        c.positions = np.asarray(structure.positions) + rng.normal(0, sigma, (len(structure), 3))
        copies.append(c)
    return copies


def random_structure(species, n, length, seed, skew=0.25, min_distance=0.9, pbc=True):
    """n atoms (species cycled) in a random triclinic cell of edge ~length Å with no pair closer
    than min_distance (Å) in any periodic image."""
    rng = np.random.default_rng(seed)
    cell = np.eye(3) * length + rng.uniform(-skew, skew, (3, 3)) * length
    atoms = Atoms(symbols=[species[i % len(species)] for i in range(n)], cell=cell, pbc=pbc)
    frac = []
    while len(frac) < n:
        f = rng.uniform(0, 1, 3)
        ok = True
        for g in frac:
            d = f - g
            if pbc is True or (isinstance(pbc, (list, tuple)) and all(pbc)):
                d -= np.round(d)
            if np.linalg.norm(d @ cell) < min_distance:
                ok = False
                break
        if ok:
            frac.append(f)
    atoms.set_scaled_positions(np.array(frac))
    return atoms
