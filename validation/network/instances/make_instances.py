"""Write the Ising instances of the coherent-Ising-machine study as plain edge lists.

One ``i j J_ij`` per line (0-based spins, ``#`` comments naming the generator and seed), readable
by ``cimqb_traj.network.ising.read_edges``.  Each file is checked on writing: read back, it is the
generator's matrix exactly.  Run from the repository root::

    python validation/network/instances/make_instances.py
"""

import os

import numpy as np
import scipy.sparse as sp

from cimqb_traj.network import ising

HERE = os.path.dirname(os.path.abspath(__file__))

#: file stem -> (generator call as text, matrix)
INSTANCES = {
    "ring_ferro_8": ("ising.ring(8, +1)", lambda: ising.ring(8, +1)),
    "ring_antiferro_8": ("ising.ring(8, -1)", lambda: ising.ring(8, -1)),
    "ring_antiferro_7": ("ising.ring(7, -1) (odd: one frustrated bond)", lambda: ising.ring(7, -1)),
    "triangle": ("ising.triangle()", ising.triangle),
    "mobius_8": ("ising.mobius(8)", lambda: ising.mobius(8)),
    "mobius_16": ("ising.mobius(16)", lambda: ising.mobius(16)),
    "sk_16_seed1": ("ising.sk(16, seed=1)", lambda: ising.sk(16, 1)),
    "sk_16_seed2": ("ising.sk(16, seed=2)", lambda: ising.sk(16, 2)),
    "sk_20_seed1": ("ising.sk(20, seed=1)", lambda: ising.sk(20, 1)),
    "sk_20_seed2": ("ising.sk(20, seed=2)", lambda: ising.sk(20, 2)),
    "sk_100_seed1": ("ising.sk(100, seed=1)", lambda: ising.sk(100, 1)),
    "sk_1000_seed1": ("ising.sk(1000, seed=1)", lambda: ising.sk(1000, 1)),
}


def write(stem: str, how: str, J) -> str:
    """Write ``J``'s upper triangle to ``<stem>.txt`` and check the file reads back as ``J``."""
    J = sp.csr_matrix(J)
    up = sp.triu(J, k=1).tocoo()
    order = np.lexsort((up.col, up.row))
    path = os.path.join(HERE, f"{stem}.txt")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f"# {stem}: N = {J.shape[0]}, {up.nnz} edges; generator cimqb_traj.network.{how}\n")
        fh.write("# E(sigma) = -sum_{i<j} J_ij sigma_i sigma_j; one 'i j J_ij' per line, 0-based spins\n")
        for i, j, w in zip(up.row[order], up.col[order], up.data[order]):
            fh.write(f"{i} {j} {w:g}\n")
    back = ising.read_edges(path)
    if back.shape != J.shape or abs(back - J).max() != 0:
        raise RuntimeError(f"{path} does not read back as the generator's matrix")
    return path


if __name__ == "__main__":
    for stem, (how, make) in INSTANCES.items():
        print(write(stem, how, make()))
