"""Fuzzing: random mutations of the catalog specs and random data raise only dyngraph's
documented errors (SpecError for text, DataError for data), each quickly — never a traceback
of another kind."""
from __future__ import annotations

import time

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dyngraph as dg
from conftest import SPECS

TEXTS = [p.read_text() for p in SPECS]
NOISE = st.sampled_from(list(":{}[],-&*!|>'\"#%@` \t\n") + ["1e999", "~", "null", "-1",
                        "0", "99999999999", "nan", "tanh", "from", "size", "kind", "gamma",
                        "\u00e9", "\x00", "9" * 5000])


@st.composite
def mutated(draw):
    text = draw(st.sampled_from(TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "swap"]))
        i = draw(st.integers(0, max(len(text) - 1, 0)))
        if op == "insert":
            text = text[:i] + draw(NOISE) + text[i:]
        elif op == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 20)):]
        elif op == "replace":
            text = text[:i] + draw(NOISE) + text[i + 1:]
        else:
            lines = text.split("\n")
            a, b = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[a], lines[b] = lines[b], lines[a]
            text = "\n".join(lines)
    return text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_specs_raise_only_spec_errors(text):
    t0 = time.perf_counter()
    try:
        net = dg.loads(text)
    except dg.SpecError as err:
        assert str(err)                     # a message, with positions
        for p in err.problems:
            assert p.where.line >= 1 and p.where.col >= 1
    else:
        assert net.n_params >= 0
    assert time.perf_counter() - t0 < 1.0


NET = dg.load(SPECS[0].parent / "narx_parallel.yaml")
VALUES = st.sampled_from([0.0, 1.0, -1e300, 1e300, np.nan, np.inf, -np.inf, 1e-320])


@settings(max_examples=100, deadline=None)
@given(shape=st.lists(st.integers(0, 4), min_size=0, max_size=4), value=VALUES,
       target_value=VALUES, as_list=st.booleans())
def test_random_data_raises_only_data_errors(shape, value, target_value, as_list):
    u = np.full(shape, value)
    y = np.full(shape, target_value)
    if as_list:
        u, y = u.tolist(), y.tolist()
    t0 = time.perf_counter()
    for call in (lambda: NET.simulate(u), lambda: NET.gradient(u, y)):
        try:
            with np.errstate(all="ignore"):
                call()
        except dg.DataError as err:
            assert str(err)
    assert time.perf_counter() - t0 < 1.0
