"""Ising instances, brute-force ground states and shot statistics for the coherent Ising machine.

An instance is a symmetric coupling matrix ``J`` (dense ``numpy`` array or ``scipy.sparse`` CSR)
with zero diagonal; a configuration ``sigma`` in {-1, +1}^N has the energy

    E(sigma) = -sum_{i<j} J_ij sigma_i sigma_j = -(1/2) sigma^T J sigma,

so a ferromagnetic edge (J_ij > 0) prefers equal spins.  A shot of the machine selects one
configuration; over many shots this module gives the probability of a ground state with its
Clopper-Pearson interval, the energy distribution, and the time to solution.
"""

from __future__ import annotations

import math
import os
import re
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from scipy.stats import beta

from ..checks import check_int
from ..errors import ResourceError

__all__ = [
    "ring", "triangle", "mobius", "sk", "random_regular", "read_edges", "parse_instance", "energy",
    "GroundStates", "ground_states", "clopper_pearson", "PGround", "p_ground",
    "energy_histogram", "time_to_solution", "tts_interval", "BRUTE_FORCE_MAX_N",
]

#: Largest N for which :func:`ground_states` enumerates (2^(N-1) configurations).
BRUTE_FORCE_MAX_N = 24
#: Two energies closer than this are the same level (ground-state test, histogram bins).
ENERGY_ATOL = 1e-9
_CHUNK = 1 << 16  # configurations per block in the brute force: ~13 MB of float64 at N = 24


# ----------------------------------------------------------------------------------------------
# instances

def _from_edges(n: int, edges, weights) -> sp.csr_matrix:
    """Symmetric CSR matrix with ``J[i, j] = J[j, i] = w`` for each edge (i, j)."""
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    w = np.asarray(weights, dtype=float)
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    return sp.csr_matrix((np.concatenate([w, w]), (rows, cols)), shape=(n, n))


def ring(N: int, sign: int = +1) -> sp.csr_matrix:
    """Ring of ``N >= 3`` spins, J = ``sign`` on the edges (i, i+1 mod N).

    ``sign = +1``: ferromagnet, ground energy -N (all up / all down).  ``sign = -1``:
    antiferromagnet, ground energy -N for even N and -(N - 2) for odd N (one frustrated bond).
    """
    N = check_int("N", N, 3)
    if sign not in (1, -1) or isinstance(sign, bool):
        raise ValueError(f"sign must be +1 (ferromagnetic) or -1 (antiferromagnetic), got {sign!r}")
    i = np.arange(N)
    return _from_edges(N, np.stack([i, (i + 1) % N], axis=1), np.full(N, float(sign)))


def triangle() -> np.ndarray:
    """Frustrated antiferromagnetic triangle: J = -1 on all three edges; ground energy -1, six ground
    states (every configuration but all up and all down)."""
    return np.eye(3) - np.ones((3, 3))


def mobius(N: int) -> sp.csr_matrix:
    """Moebius ladder of ``N`` spins (N even, >= 4): a ring of N plus the N/2 rungs (i, i + N/2),
    all antiferromagnetic (J = -1)."""
    N = check_int("N", N, 4)
    if N % 2:
        raise ValueError(f"N must be even for a Moebius ladder (rungs i -- i + N/2), got {N}")
    i = np.arange(N)
    h = np.arange(N // 2)
    edges = np.concatenate([np.stack([i, (i + 1) % N], axis=1), np.stack([h, h + N // 2], axis=1)])
    return _from_edges(N, edges, -np.ones(len(edges)))


def sk(N: int, seed: int) -> np.ndarray:
    """Sherrington-Kirkpatrick instance: J_ij = +-1 with equal probability for all i < j, symmetric.

    The couplings are the upper triangle (row-major) of ``2 * rng.integers(0, 2, (N, N)) - 1`` with
    ``rng = numpy.random.default_rng(seed)``, so an (N, seed) pair names one instance.
    """
    N = check_int("N", N, 2)
    seed = check_int("seed", seed, 0)
    draws = 2.0 * np.random.default_rng(seed).integers(0, 2, size=(N, N)) - 1.0
    upper = np.triu(draws, k=1)
    return upper + upper.T


def random_regular(N: int, degree: int = 3, seed: int = 0, signs: str = "random") -> sp.csr_matrix:
    """Random ``degree``-regular simple graph on N spins with couplings J = +-1 on its edges.

    Configuration model with rejection: the N * degree edge ends are shuffled with
    ``numpy.random.default_rng(seed)`` and paired in order; a pairing with a self loop or a repeated
    edge is rejected and redrawn (accepted with probability ~exp(-(degree^2 - 1)/4), 0.14 for
    degree 3), so the result is uniform over simple regular graphs.  ``signs``: "random" (+-1 with
    equal probability, drawn after the graph from the same generator), "ferro" (+1) or "anti" (-1).
    (networkx would do this too, but it is not a dependency.)
    """
    N = check_int("N", N, 2)
    degree = check_int("degree", degree, 1)
    seed = check_int("seed", seed, 0)
    if degree >= N or (N * degree) % 2:
        raise ValueError(f"degree must be < N with N * degree even, got N = {N}, degree = {degree}")
    if degree > 8:
        raise ValueError(f"degree must be <= 8 (the rejection sampler's acceptance ~exp(-(degree^2 - 1)/4) "
                         f"vanishes beyond), got {degree}")
    if signs not in ("random", "ferro", "anti"):
        raise ValueError(f"signs must be 'random', 'ferro' or 'anti', got {signs!r}")
    rng = np.random.default_rng(seed)
    ends = np.repeat(np.arange(N), degree)
    for _ in range(10_000):
        e = rng.permutation(ends).reshape(-1, 2)
        e.sort(axis=1)
        if np.all(e[:, 0] != e[:, 1]) and np.unique(e[:, 0] * N + e[:, 1]).size == e.shape[0]:
            break
    else:  # pragma: no cover - each draw is accepted with probability >= ~exp(-63/4) for degree <= 8
        raise RuntimeError(f"random_regular: no simple {degree}-regular pairing in 10000 draws")
    w = {"random": 2.0 * rng.integers(0, 2, e.shape[0]) - 1.0, "ferro": np.ones(e.shape[0]),
         "anti": -np.ones(e.shape[0])}[signs]
    return _from_edges(N, e, w)


def read_edges(path) -> sp.csr_matrix:
    """Instance from a plain edge list: one ``i j J_ij`` per line, 0-based spin indices, ``#``
    starts a comment, blank lines ignored.  N is the largest index + 1.

    Raises
    ------
    ValueError
        naming the file and line for a line that is not ``i j J_ij``, a negative index, a self
        loop, an edge given twice (in either order) or a non-finite J_ij; or when no edge is given.
    """
    edges, weights, seen = [], [], {}
    with open(path, encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            text = raw.split("#", 1)[0].strip()
            if not text:
                continue
            where = f"{path}, line {lineno} ({raw.strip()!r})"
            fields = text.split()
            if len(fields) != 3:
                raise ValueError(f"{where}: expected 'i j J_ij', got {len(fields)} fields")
            try:
                i, j = int(fields[0]), int(fields[1])
            except ValueError:
                raise ValueError(f"{where}: spin indices must be integers") from None
            try:
                w = float(fields[2])
            except ValueError:
                raise ValueError(f"{where}: J_ij must be a number") from None
            if i < 0 or j < 0:
                raise ValueError(f"{where}: spin indices are 0-based and must be >= 0")
            if i == j:
                raise ValueError(f"{where}: self loop (i == j); the diagonal of J is zero")
            if not math.isfinite(w):
                raise ValueError(f"{where}: J_ij must be finite")
            key = (min(i, j), max(i, j))
            if key in seen:
                raise ValueError(f"{where}: edge {key} already given on line {seen[key]}")
            seen[key] = lineno
            edges.append(key)
            weights.append(w)
    if not edges:
        raise ValueError(f"{path}: no edges (expected lines 'i j J_ij')")
    n = 1 + max(max(e) for e in edges)
    return _from_edges(n, edges, weights)


_SPECS = ("ring:N, ring-:N (antiferromagnetic), mobius:N, sk:N:SEED, regular:N:SEED (random 3-regular, "
          "+-1 couplings), triangle, or an edge-list file")


def parse_instance(spec: str):
    """Instance from a command-line string: ``ring:N`` (ferromagnetic), ``ring-:N``
    (antiferromagnetic), ``mobius:N``, ``sk:N:SEED``, ``regular:N:SEED`` (:func:`random_regular`,
    degree 3, random +-1 couplings), ``triangle``, or the path of an edge list
    (:func:`read_edges`)."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"instance must be one of {_SPECS}; got {spec!r}")
    if spec == "triangle":
        return triangle()
    m = re.fullmatch(r"(ring-?|mobius|sk|regular):(.*)", spec)
    if m is None:
        if os.path.isfile(spec):
            return read_edges(spec)
        raise ValueError(f"instance must be one of {_SPECS}; {spec!r} is neither a known form "
                         "nor an existing file")
    kind, args = m.group(1), m.group(2).split(":")
    if not all(re.fullmatch(r"\d+", a) for a in args) or len(args) != (2 if kind in ("sk", "regular") else 1):
        form = f"{kind}:N:SEED" if kind in ("sk", "regular") else f"{kind}:N"
        raise ValueError(f"instance {spec!r}: expected {form} with non-negative integers")
    nums = [int(a) for a in args]
    if kind == "ring":
        return ring(nums[0], +1)
    if kind == "ring-":
        return ring(nums[0], -1)
    if kind == "mobius":
        return mobius(nums[0])
    if kind == "regular":
        return random_regular(nums[0], 3, nums[1])
    return sk(nums[0], nums[1])


# ----------------------------------------------------------------------------------------------
# energies and ground states

def _check_J(J):
    """``J`` as a square symmetric matrix with zero diagonal and finite entries (dense or CSR)."""
    if sp.issparse(J):
        J = sp.csr_matrix(J, dtype=float)
        data, diag = J.data, J.diagonal()
        asym = abs(J - J.T).max() if J.nnz else 0.0
    else:
        J = np.asarray(J, dtype=float)
        if J.ndim != 2:
            raise ValueError(f"J must be a square matrix, got shape {J.shape}")
        data, diag = J, np.diag(J) if J.shape[0] == J.shape[1] else None
        asym = None
    if J.shape[0] != J.shape[1] or J.shape[0] < 1:
        raise ValueError(f"J must be a non-empty square matrix, got shape {J.shape}")
    if not np.all(np.isfinite(data)):
        raise ValueError("J must be finite")
    if asym is None:
        asym = np.abs(J - J.T).max()
    if asym != 0:
        raise ValueError(f"J must be symmetric, max |J - J^T| = {asym:g}")
    if np.any(diag != 0):
        raise ValueError("J must have zero diagonal (no self couplings)")
    return J


def _check_spins(spins, n: int) -> np.ndarray:
    s = np.asarray(spins)
    if s.ndim not in (1, 2) or s.shape[-1] != n:
        raise ValueError(f"spins must have shape (N,) or (shots, N) with N = {n}, got {s.shape}")
    if not np.all((s == 1) | (s == -1)):
        raise ValueError("spins must be +1 or -1")
    return s.astype(float)


def _energies(J, S: np.ndarray) -> np.ndarray:
    """-(1/2) s^T J s for each row of ``S`` (no checks)."""
    return -0.5 * np.einsum("mi,im->m", S, np.asarray(J @ S.T))


def energy(J, sigma):
    """Ising energy E = -sum_{i<j} J_ij s_i s_j of one configuration (shape (N,), returns a float)
    or of each row of a batch (shape (shots, N), returns an array)."""
    J = _check_J(J)
    s = _check_spins(sigma, J.shape[0])
    e = _energies(J, np.atleast_2d(s))
    return float(e[0]) if s.ndim == 1 else e


class GroundStates(NamedTuple):
    """Brute-force result: the ground energy and every ground configuration (rows, int8, both
    members of each global-flip pair)."""
    energy: float
    configs: np.ndarray


def ground_states(J) -> GroundStates:
    """Ground energy and ground configurations by enumeration, for N <= ``BRUTE_FORCE_MAX_N``.

    E is invariant under the global flip s -> -s, so only the 2^(N-1) configurations with
    s_0 = +1 are enumerated (in blocks of 2^16 to bound memory); each ground configuration found is
    returned with its flipped partner.  Configurations within ``ENERGY_ATOL`` of the minimum count
    as ground states.
    """
    J = _check_J(J)
    n = J.shape[0]
    if n > BRUTE_FORCE_MAX_N:
        raise ResourceError(f"ground_states enumerates 2^(N-1) configurations and is limited to "
                            f"N <= {BRUTE_FORCE_MAX_N}, got N = {n}; use a heuristic solver")
    total = 1 << (n - 1)
    shifts = np.arange(n - 1, dtype=np.int64)
    best, found = np.inf, []
    for start in range(0, total, _CHUNK):
        k = np.arange(start, min(start + _CHUNK, total), dtype=np.int64)
        S = np.ones((len(k), n))
        S[:, 1:] = 1.0 - 2.0 * ((k[:, None] >> shifts) & 1)
        e = _energies(J, S)
        emin = e.min()
        if emin <= best + ENERGY_ATOL:
            best = min(best, emin)
            found.append(S[e <= best + ENERGY_ATOL])
    half = np.concatenate(found)
    half = half[_energies(J, half) <= best + ENERGY_ATOL]  # drop candidates of a minimum since beaten
    configs = np.concatenate([half, -half]).astype(np.int8)
    return GroundStates(float(best), configs)


# ----------------------------------------------------------------------------------------------
# shot statistics

def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) two-sided interval for a binomial probability from ``k`` successes
    in ``n`` trials: the alpha/2 and 1 - alpha/2 quantiles of Beta(k, n-k+1) and Beta(k+1, n-k),
    alpha = 1 - level; 0 for k = 0 and 1 for k = n."""
    n = check_int("n", n, 1)
    k = check_int("k", k, 0)
    if k > n:
        raise ValueError(f"k must be <= n = {n}, got {k}")
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    a = 1.0 - level
    lo = 0.0 if k == 0 else float(beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a / 2, k + 1, n - k))
    return lo, hi


class PGround(NamedTuple):
    """Fraction ``p = k / n`` of shots in a ground state, with its Clopper-Pearson interval ``ci``."""
    p: float
    ci: tuple[float, float]
    k: int
    n: int


def p_ground(spins, J, E0: float, level: float = 0.95) -> PGround:
    """Fraction of shots (rows of ``spins``) whose configuration has energy within ``ENERGY_ATOL``
    of the ground energy ``E0``, with its Clopper-Pearson interval at ``level``."""
    J = _check_J(J)
    s = _check_spins(spins, J.shape[0])
    if s.ndim != 2:
        raise ValueError(f"spins must have shape (shots, N), got {s.shape}")
    if not math.isfinite(E0):
        raise ValueError(f"E0 must be finite, got {E0!r}")
    e = _energies(J, s)
    if np.any(e < E0 - ENERGY_ATOL):
        raise ValueError(f"E0 = {E0} is not the ground energy: a shot has energy {e.min()}")
    k = int(np.count_nonzero(e <= E0 + ENERGY_ATOL))
    return PGround(k / len(e), clopper_pearson(k, len(e), level), k, len(e))


def energy_histogram(spins, J) -> tuple[np.ndarray, np.ndarray]:
    """Distinct energies of the shots (ascending; levels closer than ``ENERGY_ATOL`` merged) and
    how many shots have each."""
    J = _check_J(J)
    s = np.atleast_2d(_check_spins(spins, J.shape[0]))
    e = np.sort(_energies(J, s))
    starts = np.concatenate([[0], np.flatnonzero(np.diff(e) > ENERGY_ATOL) + 1])
    counts = np.diff(np.concatenate([starts, [len(e)]]))
    return e[starts], counts


def time_to_solution(p: float, t_run: float, target: float = 0.99) -> float:
    """Time to reach a ground state with probability ``target`` by independent runs of length
    ``t_run`` each succeeding with probability ``p``: t_run ln(1 - target) / ln(1 - p);
    inf for p = 0, t_run for p >= target (one run suffices)."""
    if not (isinstance(p, (int, float, np.floating)) and 0 <= p <= 1):
        raise ValueError(f"p must be in [0, 1], got {p!r}")
    if not (isinstance(t_run, (int, float, np.floating)) and math.isfinite(t_run) and t_run > 0):
        raise ValueError(f"t_run must be a finite positive number, got {t_run!r}")
    if not (isinstance(target, (int, float, np.floating)) and 0 < target < 1):
        raise ValueError(f"target must be in (0, 1), got {target!r}")
    if p == 0:
        return math.inf
    if p >= target:
        return float(t_run)
    return float(t_run * math.log1p(-target) / math.log1p(-p))


def tts_interval(ci: tuple[float, float], t_run: float, target: float = 0.99) -> tuple[float, float]:
    """Interval of the time to solution from an interval ``ci = (p_lo, p_hi)`` of p (e.g. the
    Clopper-Pearson one): TTS decreases with p, so it is (TTS(p_hi), TTS(p_lo))."""
    lo, hi = ci
    if not lo <= hi:
        raise ValueError(f"ci must be (low, high) with low <= high, got {ci!r}")
    return time_to_solution(hi, t_run, target), time_to_solution(lo, t_run, target)
