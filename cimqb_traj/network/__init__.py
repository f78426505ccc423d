"""Coherent Ising machine: N coupled DOPOs selecting the phases of an Ising instance (issue 14, in
progress).

``ising``: instances (rings, the Moebius ladder, Sherrington-Kirkpatrick, edge-list files), the
Ising energy, brute-force ground states (N <= 24), Clopper-Pearson ground-state probabilities and the
time to solution.  ``sde``: the network's mean-field and positive-P equations (each spin the
package's single-spin DOPO, edges coupled by the dissipative channels
L_ij = sqrt(eta |J_ij|) (a_i - sgn(J_ij) a_j), i.e. the drift -(eta/2)(D - J) alpha) and the
linear threshold from the signed Laplacian.  ``exact``: the qutip Lindblad solver of the network
for small N and truncations (``from cimqb_traj.network import exact``; ``exact.charge``, the truth
for N = 2; not imported here, so that the samplers do not load qutip).  Not yet: truncated
Wigner, trajectory solvers for N = 2..3, the ensemble runner, the network battery and the command
line.
"""

from .ising import (BRUTE_FORCE_MAX_N, GroundStates, PGround, clopper_pearson, energy,  # noqa: F401
                    energy_histogram, ground_states, mobius, p_ground, parse_instance, read_edges,
                    ring, sk, time_to_solution, triangle, tts_interval)
from .sde import (NetworkPositiveP, check_couplings, coupling_drift, integrate_meanfield,  # noqa: F401
                  linear_threshold, meanfield_rhs, positive_p, signed_laplacian)
