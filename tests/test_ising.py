"""Ising instances, brute force and shot statistics (cimqb_traj.network.ising), against closed forms
and slow independent loops."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp

from cimqb_traj.errors import ResourceError
from cimqb_traj.network import ising
from cimqb_traj.network.ising import (clopper_pearson, energy, energy_histogram, ground_states,
                                      mobius, p_ground, parse_instance, read_edges, ring, sk,
                                      time_to_solution, triangle, tts_interval)


def dense(J):
    return J.toarray() if sp.issparse(J) else np.asarray(J)


def slow_energy(J, s):
    """E = -sum_{i<j} J_ij s_i s_j by a plain double loop."""
    J = dense(J)
    n = len(s)
    return -sum(J[i, j] * s[i] * s[j] for i in range(n) for j in range(i + 1, n))


def slow_ground(J):
    """Minimum energy and set of minimising configurations over all 2^N, by itertools.product."""
    n = dense(J).shape[0]
    es = {s: slow_energy(J, s) for s in itertools.product((-1, 1), repeat=n)}
    e0 = min(es.values())
    return e0, {s for s, e in es.items() if abs(e - e0) < 1e-9}


def as_set(configs):
    return {tuple(int(v) for v in row) for row in configs}


# ---------------------------------------------------------------------------------------------
# ground states: closed forms

@pytest.mark.parametrize("n", [3, 6, 7])
def test_ferro_ring_ground_states(n):
    g = ground_states(ring(n))
    assert g.energy == -n  # every bond satisfied
    assert as_set(g.configs) == {(1,) * n, (-1,) * n}
    assert len(g.configs) == 2


@pytest.mark.parametrize("n", [4, 6, 5, 7])
def test_antiferro_ring_ground_states(n):
    g = ground_states(ring(n, -1))
    if n % 2 == 0:
        # alternating spins satisfy all N bonds
        alt = tuple((-1) ** i for i in range(n))
        assert g.energy == -n
        assert as_set(g.configs) == {alt, tuple(-v for v in alt)}
    else:
        # odd ring: one bond must be frustrated, at any of N places, times the global flip
        assert g.energy == -(n - 2)
        assert len(as_set(g.configs)) == len(g.configs) == 2 * n


def test_triangle_is_frustrated():
    g = ground_states(triangle())
    assert g.energy == -1  # two bonds satisfied, one frustrated
    everything = set(itertools.product((-1, 1), repeat=3))
    assert as_set(g.configs) == everything - {(1, 1, 1), (-1, -1, -1)}
    assert len(g.configs) == 6


@pytest.mark.parametrize("J", [mobius(8), sk(10, 7), ring(9, -1)], ids=["mobius8", "sk10", "afring9"])
def test_brute_force_matches_slow_loop(J):
    e0, states = slow_ground(J)
    g = ground_states(J)
    assert g.energy == pytest.approx(e0, abs=1e-12)  # integer couplings: sums are exact
    assert as_set(g.configs) == states
    assert len(g.configs) == len(states)  # no configuration listed twice


def test_brute_force_across_blocks(monkeypatch):
    # blocks of 8 configurations: minima found in early blocks must be dropped once beaten
    monkeypatch.setattr(ising, "_CHUNK", 8)
    for J in (sk(10, 7), mobius(8)):
        e0, states = slow_ground(J)
        g = ground_states(J)
        assert g.energy == e0 and as_set(g.configs) == states and len(g.configs) == len(states)


def test_brute_force_refuses_large_n():
    with pytest.raises(ResourceError, match="N <= 24"):
        ground_states(sk(25, 0))


# ---------------------------------------------------------------------------------------------
# instances

def test_instances_are_symmetric_zero_diagonal():
    for J in (ring(5), ring(6, -1), mobius(8), sk(12, 3), triangle()):
        d = dense(J)
        assert np.array_equal(d, d.T) and not np.any(np.diag(d))
    m = dense(mobius(8))
    assert (m != 0).sum() == 2 * 12  # 8 ring edges + 4 rungs
    assert np.all(m[m != 0] == -1) and m[0, 4] == -1 and m[3, 7] == -1
    s = sk(12, 3)
    assert set(np.unique(s[np.triu_indices(12, 1)])) == {-1.0, 1.0}
    assert np.array_equal(s, sk(12, 3)) and not np.array_equal(s, sk(12, 4))


@pytest.mark.parametrize("bad", [lambda: ring(2), lambda: ring(5, 2), lambda: mobius(7), lambda: mobius(2),
                                 lambda: sk(1, 0), lambda: sk(5, -1)])
def test_instance_arguments_refused(bad):
    with pytest.raises(ValueError, match="N|sign|seed"):
        bad()


def test_parse_instance(tmp_path):
    assert np.array_equal(dense(parse_instance("ring:5")), dense(ring(5)))
    assert np.array_equal(dense(parse_instance("ring-:6")), dense(ring(6, -1)))
    assert np.array_equal(dense(parse_instance("mobius:8")), dense(mobius(8)))
    assert np.array_equal(parse_instance("sk:10:3"), sk(10, 3))
    assert np.array_equal(parse_instance("triangle"), triangle())
    f = tmp_path / "tri.txt"
    f.write_text("0 1 -1\n1 2 -1\n0 2 -1\n")
    assert np.array_equal(dense(parse_instance(str(f))), triangle())
    for spec in ("sk:10", "ring:x", "mobius:8:1", "nope", str(tmp_path / "missing.txt")):
        with pytest.raises(ValueError, match="instance"):
            parse_instance(spec)


def test_read_edges_roundtrip(tmp_path):
    f = tmp_path / "g.txt"
    f.write_text("# a comment\n0 1 1.5   # ferro\n\n3 2 -2\n")
    J = dense(read_edges(f))
    want = np.zeros((4, 4))
    want[0, 1] = want[1, 0] = 1.5
    want[2, 3] = want[3, 2] = -2.0
    assert np.array_equal(J, want)


@pytest.mark.parametrize("text, why", [
    ("0 1 1\n0 1\n", "fields"),
    ("0 1 1\n0 a 1\n", "integers"),
    ("0 1 1\n0 2 x\n", "number"),
    ("0 1 1\n2 2 1\n", "self loop"),
    ("0 1 1\n1 0 -1\n", "already given on line 1"),
    ("0 1 1\n1 2 nan\n", "finite"),
    ("0 1 1\n-1 2 1\n", ">= 0"),
])
def test_read_edges_bad_line_named(tmp_path, text, why):
    f = tmp_path / "bad.txt"
    f.write_text(text)
    with pytest.raises(ValueError, match=f"line 2 .*{why}"):
        read_edges(f)


def test_read_edges_empty(tmp_path):
    f = tmp_path / "empty.txt"
    f.write_text("# nothing\n")
    with pytest.raises(ValueError, match="no edges"):
        read_edges(f)


# ---------------------------------------------------------------------------------------------
# energy

@pytest.mark.parametrize("J", [sk(9, 1), mobius(8)], ids=["dense", "sparse"])
def test_energy_against_loop_and_flip(J):
    n = dense(J).shape[0]
    S = np.random.default_rng(5).choice([-1, 1], size=(20, n))
    e = energy(J, S)
    assert np.allclose(e, [slow_energy(J, s) for s in S], rtol=0, atol=1e-12)
    assert np.array_equal(energy(J, -S), e)  # global Z2 symmetry
    assert energy(J, S[3]) == e[3]  # one configuration -> float, same as in the batch


def test_energy_refuses_bad_input():
    with pytest.raises(ValueError, match="spins"):
        energy(ring(4), [1, 0, 1, 1])
    with pytest.raises(ValueError, match="shape"):
        energy(ring(4), [1, 1, 1])
    with pytest.raises(ValueError, match="symmetric"):
        energy(np.triu(np.ones((3, 3)), 1), [1, 1, 1])
    with pytest.raises(ValueError, match="diagonal"):
        energy(np.ones((3, 3)), [1, 1, 1])


# ---------------------------------------------------------------------------------------------
# shot statistics

@pytest.mark.parametrize("n", [1, 7, 50])
def test_clopper_pearson_closed_forms(n):
    a = 0.05
    lo, hi = clopper_pearson(0, n)
    assert lo == 0 and hi == pytest.approx(1 - (a / 2) ** (1 / n), rel=1e-10)  # Beta(1, n) inverts exactly
    lo, hi = clopper_pearson(n, n)
    assert hi == 1 and lo == pytest.approx((a / 2) ** (1 / n), rel=1e-10)
    for k in range(n + 1):  # k -> n - k mirrors the interval
        lo, hi = clopper_pearson(k, n)
        mlo, mhi = clopper_pearson(n - k, n)
        assert lo == pytest.approx(1 - mhi, abs=1e-12) and hi == pytest.approx(1 - mlo, abs=1e-12)
        assert lo <= k / n <= hi


def test_clopper_pearson_level_and_errors():
    assert clopper_pearson(3, 10, 0.99)[1] > clopper_pearson(3, 10, 0.95)[1]
    with pytest.raises(ValueError, match="k must be <= n"):
        clopper_pearson(11, 10)
    with pytest.raises(ValueError, match="level"):
        clopper_pearson(1, 10, 1.0)
    with pytest.raises(ValueError, match="n must"):
        clopper_pearson(0, 0)


def test_p_ground_and_histogram():
    J = ring(6)  # ground: all up / all down, E = -6
    up, down = np.ones(6), -np.ones(6)
    one_flip = up.copy()
    one_flip[2] = -1  # two broken bonds: E = -6 + 4 = -2
    alt = np.array([1, -1] * 3)  # all six bonds broken: E = +6
    shots = np.array([up] * 3 + [down] * 2 + [one_flip] * 4 + [alt])
    r = p_ground(shots, J, -6.0)
    assert (r.k, r.n, r.p) == (5, 10, 0.5)
    assert r.ci == clopper_pearson(5, 10)
    levels, counts = energy_histogram(shots, J)
    assert levels.tolist() == [-6.0, -2.0, 6.0] and counts.tolist() == [5, 4, 1]
    want = Counter(slow_energy(J, s) for s in shots)
    assert dict(zip(levels.tolist(), counts.tolist())) == want
    with pytest.raises(ValueError, match="not the ground energy"):
        p_ground(shots, J, -2.0)


def test_time_to_solution_limits():
    assert time_to_solution(0.0, 3.0) == math.inf
    for p in (0.99, 0.999, 1.0):  # p >= target: one run suffices, never less than one run
        assert time_to_solution(p, 3.0) == 3.0
    # (1 - p)^2 = 1 - target: exactly two runs
    assert time_to_solution(0.9, 3.0, target=0.99) == pytest.approx(6.0, rel=1e-12)
    # (1 - p)^m = 1 - target with m = ln(0.01) / ln(0.5)
    assert time_to_solution(0.5, 1.0) == pytest.approx(math.log(0.01) / math.log(0.5), rel=1e-12)
    lo, hi = tts_interval((0.1, 0.9), 3.0)
    assert lo == pytest.approx(6.0) and hi == time_to_solution(0.1, 3.0) and lo < hi
    assert tts_interval((0.0, 0.5), 1.0)[1] == math.inf
    for bad in (dict(p=-0.1, t_run=1.0), dict(p=0.5, t_run=0.0), dict(p=0.5, t_run=1.0, target=1.0)):
        with pytest.raises(ValueError, match="p must|t_run|target"):
            time_to_solution(**bad)


def test_module_exports():
    assert set(ising.__all__) <= set(dir(ising))
