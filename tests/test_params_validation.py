"""Property-based tests (Hypothesis) of parameter validation (issue 11, point 8).

Every invalid value of every field of ``BatteryParams`` / ``LoadParams`` must raise ValueError
whose message starts with the field's name (the CLI turns it into one line naming the option);
every valid parameter set must construct, keep its values, and round-trip through ``to_dict`` and
``replace``.  ``exact.check_times`` must refuse bad output grids naming ``t``.  The strategies
cover the whole invalid domain of each field (any negative number, NaN, +-inf, strings, bools and
non-integers for truncations), not a few hand-picked values.
"""

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cimqb_traj.exact import check_times
from cimqb_traj.params import BatteryParams, LoadParams

SETTINGS = settings(max_examples=50, deadline=None, database=None)  # no .hypothesis/ in the tree

#: fields that are rates or occupations (>= 0), real couplings (any finite), frequencies (> 0)
NONNEG = ("kappa", "gamma_s", "gamma_p", "nth_s", "nth_p")
ANY_REAL = ("F", "delta", "eps")
LOAD_NONNEG = ("g", "gamma_a")
LOAD_POS = ("omega_s", "omega_a")

non_finite = st.sampled_from([math.nan, math.inf, -math.inf])
negative = st.floats(max_value=-1e-300, allow_nan=False, allow_infinity=False)
non_positive = st.floats(max_value=0.0, allow_nan=False, allow_infinity=False)
not_a_number = st.sampled_from(["abc", "", None, [1.0], {"x": 1}, 1 + 2j])


def _names(exc, name):
    """The message starts with the field name (a whole word: "nth_s" is not "nth_s_x")."""
    msg = str(exc.value)
    assert re.match(rf"{re.escape(name)}\b", msg), f"message does not name {name!r}: {msg!r}"
    assert "\n" not in msg, msg


@SETTINGS
@given(name=st.sampled_from(NONNEG), value=st.one_of(negative, non_finite, not_a_number))
def test_rates_refuse_negative_nonfinite_and_non_numbers(name, value):
    with pytest.raises(ValueError) as exc:
        BatteryParams(**{name: value})
    _names(exc, name)


@SETTINGS
@given(name=st.sampled_from(ANY_REAL), value=st.one_of(non_finite, not_a_number))
def test_real_fields_refuse_nonfinite(name, value):
    with pytest.raises(ValueError) as exc:
        BatteryParams(**{name: value})
    _names(exc, name)


@SETTINGS
@given(value=st.one_of(non_positive, non_finite, not_a_number))
def test_omega_s_must_be_positive(value):
    with pytest.raises(ValueError) as exc:
        BatteryParams(omega_s=value)
    _names(exc, "omega_s")


@SETTINGS
@given(name=st.sampled_from(("Ns", "Np")),
       value=st.one_of(st.integers(max_value=1), st.booleans(),
                       st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x != int(x)),
                       st.floats(min_value=2.5, max_value=1e6).filter(lambda x: x != int(x))))
def test_truncations_refuse_small_bool_and_non_integers(name, value):
    with pytest.raises(ValueError) as exc:
        BatteryParams(**{name: value})
    _names(exc, name)


@pytest.mark.parametrize("name", ["Ns", "Np"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "abc", None])  # the whole domain: no Hypothesis
def test_truncations_refuse_nonfinite_and_non_numbers(name, value):
    # int(nan) / int(inf) / int("abc") raise ValueError/OverflowError/TypeError inside the check:
    # the message must still be a ValueError naming the field.
    with pytest.raises(ValueError) as exc:
        BatteryParams(**{name: value})
    _names(exc, name)


@SETTINGS
@given(value=st.one_of(negative, non_finite))
def test_t_off_refuses_negative_and_nonfinite(value):
    with pytest.raises(ValueError) as exc:
        BatteryParams(t_off=value)
    _names(exc, "t_off")


@SETTINGS
@given(value=st.one_of(non_positive, non_finite))
def test_t_ramp_must_be_positive(value):
    with pytest.raises(ValueError) as exc:
        BatteryParams(t_ramp=value)
    _names(exc, "t_ramp")


@SETTINGS
@given(name=st.sampled_from(LOAD_NONNEG + LOAD_POS),
       value=st.one_of(negative, non_finite, not_a_number))
def test_load_refuses_bad_values(name, value):
    with pytest.raises(ValueError) as exc:
        LoadParams(**{name: value})
    _names(exc, name)


@SETTINGS
@given(name=st.sampled_from(LOAD_POS))
def test_load_frequencies_must_be_positive(name):
    with pytest.raises(ValueError) as exc:
        LoadParams(**{name: 0.0})
    _names(exc, name)


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
nonneg = st.floats(min_value=0.0, max_value=1e6, allow_nan=False)
pos = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False)


@st.composite
def battery_kwargs(draw):
    kw = {k: draw(nonneg) for k in NONNEG}
    kw.update({k: draw(finite) for k in ANY_REAL})
    kw["omega_s"] = draw(pos)
    kw["Ns"] = draw(st.integers(2, 200))
    kw["Np"] = draw(st.integers(2, 200))
    kw["t_off"] = draw(st.one_of(st.none(), nonneg))
    kw["t_ramp"] = draw(st.one_of(st.none(), pos))
    return kw


@SETTINGS
@given(kw=battery_kwargs(), other=battery_kwargs())
def test_valid_battery_params_construct_and_round_trip(kw, other):
    p = BatteryParams(**kw)
    d = p.to_dict()
    assert d == kw  # every value kept as given (no clipping, no rounding)
    assert BatteryParams(**d) == p
    # replace: field by field into another valid set, then back
    q = BatteryParams(**other)
    for k, v in kw.items():
        q = q.replace(**{k: v})
    assert q == p and q.to_dict() == d
    assert isinstance(p.Ns, int) and isinstance(p.Np, int)
    # a float truncation that is an integer is accepted and stored as int
    assert BatteryParams(**{**kw, "Ns": float(kw["Ns"])}).Ns == kw["Ns"]


@SETTINGS
@given(kw=battery_kwargs(), name=st.sampled_from(NONNEG), value=negative)
def test_replace_validates(kw, name, value):
    # replace goes through the same validation as construction: no way round it
    with pytest.raises(ValueError) as exc:
        BatteryParams(**kw).replace(**{name: value})
    _names(exc, name)


@SETTINGS
@given(g=nonneg, gamma_a=nonneg, omega_s=pos, omega_a=pos)
def test_valid_load_params_round_trip(g, gamma_a, omega_s, omega_a):
    kw = dict(g=g, gamma_a=gamma_a, omega_s=omega_s, omega_a=omega_a)
    load = LoadParams(**kw)
    assert load.to_dict() == kw and LoadParams(**load.to_dict()) == load
    assert load.replace(g=g) == load
    assert load.delta_a == omega_a - omega_s


# --- output grids -----------------------------------------------------------------------------

grid_value = st.floats(min_value=0.0, max_value=1e4, allow_nan=False)


@SETTINGS
@given(t=st.lists(grid_value, min_size=1, max_size=20, unique=True))
def test_check_times_accepts_increasing_grids(t):
    t = sorted(t)
    assert np.array_equal(check_times(t), np.asarray(t, float))


@SETTINGS
@given(t=st.lists(grid_value, min_size=2, max_size=20), data=st.data())
def test_check_times_refuses_non_increasing(t, data):
    t = sorted(t)
    i = data.draw(st.integers(1, len(t) - 1))
    t[i] = data.draw(st.floats(min_value=0.0, max_value=t[i - 1], allow_nan=False))  # <= predecessor
    with pytest.raises(ValueError) as exc:
        check_times(t)
    _names(exc, "t")


@SETTINGS
@given(t=st.lists(grid_value, min_size=1, max_size=20, unique=True), bad=non_finite, data=st.data())
def test_check_times_refuses_nonfinite(t, bad, data):
    t = sorted(t)
    t.insert(data.draw(st.integers(0, len(t))), bad)
    with pytest.raises(ValueError) as exc:
        check_times(t)
    _names(exc, "t")


@SETTINGS
@given(t=st.lists(grid_value, min_size=0, max_size=10, unique=True), start=negative)
def test_check_times_refuses_negative_start(t, start):
    with pytest.raises(ValueError) as exc:
        check_times([start] + sorted(t))
    _names(exc, "t")


@SETTINGS
@given(t=st.lists(grid_value, min_size=1, max_size=5, unique=True), name=st.sampled_from(["t", "t_grid", "times"]))
def test_check_times_names_the_given_parameter(t, name):
    with pytest.raises(ValueError) as exc:
        check_times(sorted(t) + [-1.0], name=name)
    _names(exc, name)
    with pytest.raises(ValueError) as exc:
        check_times([], name=name)
    _names(exc, name)
