"""Elementary functions the compiled loops can vectorise.

A call of libm's ``tanh`` stops LLVM from vectorising the loop around it (numba binds no
vector maths library by default), and at this field's sizes the transfers are a large part of
a step (ten ``math.tanh`` take ~85 ns, about half the interpreter's forward step of a NARX
with H = 10). XLA, which the goals measure against, evaluates its own polynomial tanh in SIMD
registers; so does this one, written as plain arithmetic that LLVM vectorises.

What keeps such a loop in vector registers (AVX2, numba 0.68), each checked in the assembly:
no ``math.floor`` (numba's returns an int64, and a double-to-int64 conversion has no AVX2
instruction: four scalar ones per vector), no table look-up (a gather is four scalar loads
on AVX2), one division (two cost twice one: ``vdivpd`` is the slowest instruction here).
2^k is therefore built in the exponent bits: k + 1023 + 2^52 puts k + 1023 in the low bits
of a double, and shifted up by 52 they are 2^k's bits (:func:`_bits`, :func:`_double`: LLVM
bitcasts). The two forms share the division: tanh = base + num / den with (x, x z P(z),
Q(z)) for small |x| and (±1, ∓2, e^{2|x|} + 1) otherwise. Measured on an AMD EPYC (Zen 3),
ns an element: 2.4 in a long loop (libm via numpy 17, XLA's tanh 2.9, the former form with a
table and two divisions 3.9), 3.2 over 32 elements, 5.2 over 10 (the 2 past the vector
lanes run scalar).

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
from llvmlite import ir
from numba import float64, int64, njit
from numba.extending import intrinsic

__all__ = ["tanh"]

# Cephes' rational approximation of tanh on |x| < 0.625: x + x·z·P(z)/Q(z), z = x².
_P0, _P1, _P2 = -9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3
_Q0, _Q1, _Q2 = 1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3
_LOG2E = 1.4426950408889634
# ln 2 split in two so that k·ln2 is exact in its high part (Cody–Waite reduction).
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
#: k + _EXP_BITS has k + 1023 in its low mantissa bits, for 0 <= k < 2^51 (see _double)
_EXP_BITS = 1023.0 + 2.0 ** 52


@intrinsic
def _bits(typingctx, x):
    """The 64 bits of a float64, as an int64 (an LLVM bitcast: free, and it vectorises)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return int64(float64), codegen


@intrinsic
def _double(typingctx, bits):
    """The float64 whose 64 bits are the int64 ``bits`` (an LLVM bitcast)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return float64(int64), codegen


@njit(error_model="numpy")
def tanh(x):
    """tanh(x) for one float64, branch-free (both forms are computed and one is selected, so
    that a loop over elements vectorises).

    |x| < 0.625: Cephes' rational form x + x z P(z) / Q(z). Otherwise 1 − 2 / (e^{2|x|} + 1)
    with the sign of x, e^y by y = k ln2 + r (|r| ≤ ln2 / 2) and the Taylor polynomial of e^r
    to degree 13 (truncation < 5e-18), times 2^k; |x| is capped at 22, past which tanh is 1
    in float64.
    """
    ax = abs(x)
    z = x * x
    y = 2.0 * (22.0 if ax > 22.0 else ax)  # NaN passes the cap and stays NaN
    k = np.floor(y * _LOG2E + 0.5)          # a float: math.floor's int would not vectorise
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
    # 2^k from its exponent bits (NaN: k = 0 here, and p keeps the NaN)
    e = p * _double(_bits((k if k >= 0.0 else 0.0) + _EXP_BITS) << 52)
    one = math.copysign(1.0, x)
    # One division for both forms: tanh = base + num / den. Both are computed before the
    # selection (with the products inside the conditional expressions LLVM kept the loop
    # scalar: checked).
    num_small = x * z * ((_P0 * z + _P1) * z + _P2)
    den_small = ((z + _Q0) * z + _Q1) * z + _Q2
    small = ax < 0.625
    base = x if small else one
    num = num_small if small else -2.0 * one
    den = den_small if small else e + 1.0
    return base + num / den
