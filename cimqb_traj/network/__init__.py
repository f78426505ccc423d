"""Coherent Ising machine: N coupled DOPOs selecting the phases of an Ising instance (issue 14, in
progress).

``ising``: instances (rings, the Moebius ladder, Sherrington-Kirkpatrick, edge-list files), the
Ising energy, brute-force ground states (N <= 24), Clopper-Pearson ground-state probabilities and the
time to solution.  ``sde``: the network's mean-field and positive-P equations (each spin the
package's single-spin DOPO, edges coupled by the dissipative channels
L_ij = sqrt(eta |J_ij|) (a_i - sgn(J_ij) a_j), i.e. the drift -(eta/2)(D - J) alpha) and the
linear threshold from the signed Laplacian.  ``phasespace``: the positive-P and truncated-Wigner
samplers (numba kernels, couplings as CSR; groups seeded by SeedSequence(seed).spawn(G), joblib /
Dask over groups, bitwise independent of n_jobs; moment sums only).  ``exact``: the qutip Lindblad solver of the network
for small N and truncations (``from cimqb_traj.network import exact``; ``exact.charge``, the truth
for N = 2; not imported here, so that the samplers do not load qutip).  Not yet: trajectory solvers for N = 2..3, the ensemble runner, the network battery and the command
line.
"""

from .ising import (BRUTE_FORCE_MAX_N, GroundStates, PGround, clopper_pearson, energy,  # noqa: F401
                    energy_histogram, ground_states, mobius, p_ground, parse_instance, random_regular,
                    read_edges, ring, sk, time_to_solution, triangle, tts_interval)
from .sde import (check_couplings, coupling_drift, integrate_meanfield, linear_threshold,  # noqa: F401
                  meanfield_rhs, signed_laplacian)
# after sde: sde re-exports the samplers from phasespace, which imports sde's checks
from .phasespace import NetworkPhaseSpace, NetworkPositiveP, positive_p, truncated_wigner  # noqa: F401
