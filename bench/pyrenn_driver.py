"""The pyrenn side of bench/bench_pyrenn.py — runs in the separate pyrenn environment.

pyrenn (github.com/yabata/pyrenn) is GPL-3.0: this script only *imports* it and calls its
public functions (CreateNN, prepare_data, w2Wb, RTRL, train_LM, calc_error); none of its
code is copied here. It is started by bench_pyrenn.py as

    /work/pyrenn-env/bin/python bench/pyrenn_driver.py IN.npz OUT.npz

IN.npz (written by bench_pyrenn.py): ``nn``, ``dIn``, ``dIntern``, ``dOut`` (int arrays, the
CreateNN arguments), ``P`` (nIn, T), ``Y`` (nOut, T) raw data, ``seed`` (np.random seed for
CreateNN's initial weights), ``jac_repeats`` (timed RTRL calls after one untimed
warm-up call), ``lm_iters`` (train_LM iterations; 0 = no training).

OUT.npz: ``w0`` initial weights, ``normP``, ``normY`` (pyrenn's data scaling), ``J``, ``E``,
``e`` (pyrenn's RTRL Jacobian, SSE and error vector at w0 on the scaled data), ``jac_times``
(seconds per RTRL call), index matrices ``idx/IW/m/i/d``, ``idx/LW/m/l/d``, ``idx/b/m`` (the
position in ``w`` of every entry of pyrenn's weight matrices, from ``w2Wb`` applied to
0..N-1 — how the weight vector is laid out, read from pyrenn itself), and when training:
``w_lm`` final weights, ``E_lm`` final SSE, ``lm_time`` seconds, ``lm_history``.
"""
import sys
import time

import numpy as np
import pyrenn


def _ints(a):
    return [int(x) for x in np.atleast_1d(a)]


def main(src, dst):
    inp = np.load(src, allow_pickle=False)
    nn, dIn = _ints(inp["nn"]), _ints(inp["dIn"])
    dIntern, dOut = _ints(inp["dIntern"]), _ints(inp["dOut"])
    P, Y = inp["P"], inp["Y"]
    np.random.seed(int(inp["seed"]))
    net = pyrenn.CreateNN(nn, dIn=dIn, dIntern=dIntern, dOut=dOut)
    out = {"w0": net["w0"].copy()}

    # Where each matrix entry lives in w: run pyrenn's own w -> matrices on 0..N-1.
    probe = dict(net)
    probe["w"] = np.arange(net["N"], dtype=float)
    IW, LW, b = pyrenn.w2Wb(probe)
    for (m, i, d), M in IW.items():
        out[f"idx/IW/{m}/{i}/{d}"] = M
    for (m, l, d), M in LW.items():
        out[f"idx/LW/{m}/{l}/{d}"] = M
    for m, v in b.items():
        out[f"idx/b/{m}"] = v

    data, net = pyrenn.prepare_data(P, Y, net)
    out["normP"], out["normY"] = net["normP"], net["normY"]
    J, E, e = pyrenn.RTRL(net, data)       # warm-up (first-call costs), and the result
    times = []
    for _ in range(int(inp["jac_repeats"])):
        t0 = time.perf_counter()
        J, E, e = pyrenn.RTRL(net, data)
        times.append(time.perf_counter() - t0)
    out.update(J=J, E=E, e=e, jac_times=np.array(times))

    iters = int(inp["lm_iters"])
    if iters > 0:
        net["w"] = net["w0"].copy()
        t0 = time.perf_counter()
        # E_stop = 0: run exactly `iters` iterations, as the dyngraph side does.
        net = pyrenn.train_LM(P, Y, net, k_max=iters, E_stop=0.0)
        out["lm_time"] = time.perf_counter() - t0
        out["w_lm"] = net["w"].copy()
        out["E_lm"] = pyrenn.calc_error(net, data)
        out["lm_history"] = np.asarray(net["ErrorHistory"], dtype=float)
    np.savez(dst, **out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
