"""Elementary functions the compiled loops can vectorise.

A call of libm's ``tanh`` stops LLVM from vectorising the loop around it (numba binds no
vector maths library by default), and at this field's sizes the transfers are a large part of
a step: ten ``math.tanh`` take ~85 ns, about half the interpreter's forward step of a NARX
with H = 10. XLA, which the goals measure against, evaluates its own polynomial tanh in SIMD
registers; so does this one, written as plain arithmetic that LLVM vectorises (4 lanes with
AVX2: ~1.9 ns an element against ~8 for libm in a long loop).

Accuracy: within 2 ulp of ``np.tanh`` (0.2 ulp on average) over the whole line, NaN and
±inf kept (tests/test_elementary.py checks it over many scales); the numpy engines keep
``np.tanh``, so the two backends agree to ~4e-16 relative in a transfer.

Functions here have no division checks (``error_model="numpy"``): the checks' branches alone
keep a loop scalar. They are plain compiled functions, which LLVM inlines into the loops;
numba's own ``inline="always"`` was measured worse on both counts (the transfer loop 5.1–5.4
against 3.2–3.3 ns an element, and ~0.6 s more compilation per caller).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["tanh"]

# Cephes' rational approximation of tanh on |x| < 0.625: x + x·z·P(z)/Q(z), z = x².
_P0, _P1, _P2 = -9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3
_Q0, _Q1, _Q2 = 1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3
_LOG2E = 1.4426950408889634
# ln 2 split in two so that k·ln2 is exact in its high part (Cody–Waite reduction).
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
#: 2^k for the k that exp(2|x|) with |x| ≤ 22 needs (a gather vectorises; ldexp does not).
_POW2 = np.array([2.0 ** k for k in range(66)])


@njit(error_model="numpy")
def tanh(x):
    """tanh(x) for one float64, branch-free (both forms are computed and one is selected, so
    that a loop over elements vectorises).

    |x| < 0.625: Cephes' rational form. Otherwise 1 − 2 / (e^{2|x|} + 1) with the sign of x,
    e^y by y = k ln2 + r (|r| ≤ ln2 / 2) and the Taylor polynomial of e^r to degree 13
    (truncation < 5e-18); |x| is capped at 22, past which tanh is 1 in float64.
    """
    ax = abs(x)
    z = x * x
    small = x + x * z * (((_P0 * z + _P1) * z + _P2) / (((z + _Q0) * z + _Q1) * z + _Q2))
    y = 2.0 * (22.0 if ax > 22.0 else ax)  # NaN passes the cap and stays NaN
    k = math.floor(y * _LOG2E + 0.5)
    r = (y - k * _LN2_HI) - k * _LN2_LO
    # e^r by Estrin's scheme: the same degree-13 Taylor polynomial in four levels of
    # independent products instead of a chain of thirteen (the step's critical path)
    r2 = r * r
    r4 = r2 * r2
    a0 = 1.0 + r
    a1 = 0.5 + r * (1.0 / 6.0)
    a2 = 1.0 / 24.0 + r * (1.0 / 120.0)
    a3 = 1.0 / 720.0 + r * (1.0 / 5040.0)
    a4 = 1.0 / 40320.0 + r * (1.0 / 362880.0)
    a5 = 1.0 / 3628800.0 + r * (1.0 / 39916800.0)
    a6 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0)
    b0 = a0 + r2 * a1
    b1 = a2 + r2 * a3
    b2 = a4 + r2 * a5
    p = (b0 + r4 * b1) + (r4 * r4) * (b2 + r4 * a6)
    e = p * _POW2[np.intp(k if k >= 0.0 else 0.0)]  # NaN: any in-range index
    large = math.copysign(1.0 - 2.0 / (e + 1.0), x)
    return small if ax < 0.625 else large
