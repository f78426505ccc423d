"""Coherent Ising machine: N coupled DOPOs selecting the phases of an Ising instance (issue 14).

``ising``: instances (rings, the Moebius ladder, Sherrington-Kirkpatrick, random regular graphs,
edge-list files), the Ising energy, brute-force ground states (N <= 24), Clopper-Pearson
ground-state probabilities and the time to solution.  ``sde``: the network's mean-field equations
(each spin the package's single-spin DOPO, edges coupled by the dissipative channels
L_ij = sqrt(eta |J_ij|) (a_i - sgn(J_ij) a_j), i.e. the drift -(eta/2)(D - J) alpha) and the
linear threshold from the signed Laplacian.  ``phasespace``: the positive-P and truncated-Wigner
samplers (which noise each coupling channel adds is derived there; numba kernels, couplings as
CSR; groups seeded by SeedSequence(seed).spawn(G), joblib / Dask over groups, bitwise independent
of n_jobs; moment sums only).  ``spins``: the joint quadrature-sign distribution P(sigma) from an
exact state, positive-P or Wigner samples.

Not imported here, so that the samplers do not load qutip: ``exact`` (the qutip Lindblad solver
for small N and truncations, the truth for N = 2), ``trajectories`` (homodyne shots of N = 2..3
through the package's homodyne integrator and ensemble runner), ``battery`` (per-spin energy, W,
W_c, W_i: exact, or from the samplers' sign-conditioned Gaussian moments), ``switching`` (the
Liouvillian's slowest rate and switching rates from sign records).  The command line:
``cimqb-traj network``.
"""

from .ising import (BRUTE_FORCE_MAX_N, GroundStates, PGround, clopper_pearson, energy,  # noqa: F401
                    energy_histogram, ground_states, mobius, p_ground, parse_instance, random_regular,
                    read_edges, ring, sk, time_to_solution, triangle, tts_interval)
from .sde import (check_couplings, coupling_drift, integrate_meanfield, linear_threshold,  # noqa: F401
                  meanfield_rhs, signed_laplacian)
# after sde: sde re-exports the samplers from phasespace, which imports sde's checks
from .phasespace import NetworkPhaseSpace, NetworkPositiveP, positive_p, truncated_wigner  # noqa: F401
