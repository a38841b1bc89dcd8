"""numba's disk cache of the kernels is never stale: a kernel that calls one from another
file is recompiled when that file changes (numba alone keeps the callee's old code)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("numba")

CALLEE = "from numba import njit\n\n@njit(cache=True)\ndef f():\n    return {}\n"
CALLER = "from numba import njit\nfrom callee import f\n\n@njit(cache=True)\ndef g():\n    return f()\n"


def _run(tmp_path, guard):
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import callee, caller
        if {guard}:
            from dyngraph.engines.compiled.freshness import ensure_fresh
            ensure_fresh((callee, caller), (callee.f, caller.g))
        print(caller.g())
    """)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.split()[-1])


def test_a_changed_callee_is_recompiled(tmp_path):
    # Without the guard (numba 0.68 measured) the second run prints 1: the caller's
    # cached machine code still holds the old callee.
    (tmp_path / "caller.py").write_text(CALLER)
    (tmp_path / "callee.py").write_text(CALLEE.format(1))
    assert _run(tmp_path, True) == 1
    (tmp_path / "callee.py").write_text(CALLEE.format(22))     # other size: a new stamp
    assert _run(tmp_path, True) == 22
    assert _run(tmp_path, True) == 22                          # and cached again


def test_the_package_guards_its_own_kernels():
    import dyngraph.engines.compiled as compiled
    from dyngraph.engines.compiled import freshness
    from pathlib import Path
    stamp = Path(compiled.vm.run._cache.cache_path) / "dyngraph-kernels.sha256"
    assert stamp.read_text() == freshness._digest(compiled.KERNEL_MODULES)
    # a kernel file left out of the digest would keep its callers' cached code stale
    import importlib
    from numba.core.registry import CPUDispatcher
    with_kernels = set()
    for path in Path(compiled.__file__).parent.glob("*.py"):
        module = importlib.import_module(f"{compiled.__name__}.{path.stem}")
        if any(isinstance(v, CPUDispatcher) and v.py_func.__module__ == module.__name__
               for v in vars(module).values()):
            with_kernels.add(module)
    assert with_kernels == set(compiled.KERNEL_MODULES)


def test_the_disk_cache_can_be_turned_off(tmp_path):
    code = ("import numpy as np, dyngraph as dg\n"
            "net = dg.loads('inputs: {u: 1}\\nlayers: {y: {size: 1, from: {u: 0, y: 1}}}\\n"
            "outputs: [y]')\n"
            "print(float(net.simulate(np.ones((4, 1)), backend='compiled')[-1, 0]))")
    for setting, wrote in (("off", False), ("", True)):
        cache = tmp_path / f"cache-{setting or 'on'}"
        env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), DYNGRAPH_CACHE=setting)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, timeout=300)
        assert out.returncode == 0, out.stderr
        float(out.stdout.split()[-1])
        assert any(cache.rglob("*.nbi")) == wrote, setting


def test_online_rtrl_calls_the_kernels_as_the_engines_compiled_them():
    """online RTRL's stream kernel calls the interpreter and the recursion with the argument
    types the batch engines use: its first use compiles itself and nothing else (literal
    ints or strided table columns made numba compile the whole interpreter again, ~8 s)."""
    import dyngraph as dg
    from dyngraph.engines.compiled import DISPATCHERS, online, recursion, vm
    from dyngraph.engines.online import OnlineRTRL
    net = dg.load("specs/narx_parallel.yaml", seed=1)
    rng = np.random.default_rng(0)
    X = {k: rng.standard_normal((2, 15, n)) for k, n in net.inputs.items()}
    Y = {k: rng.standard_normal((2, 15, n)) for k, n in net.outputs.items()}
    net.simulate(X, backend="compiled")
    net.gradient(X, Y, backend="compiled")
    net.jacobian(X, Y, backend="compiled")
    before = {d: set(d.overloads) for d in DISPATCHERS if d is not online.run_stream}
    assert before[vm.run] and before[recursion.step_chunk]      # the engines used them
    OnlineRTRL(net, Q=2, backend="compiled").run(X, Y, lr=0.01)
    assert online.run_stream.overloads
    grown = [d.py_func.__name__ for d in before if set(d.overloads) != before[d]]
    assert grown == []


def test_the_compile_command_compiles_every_kernel_a_spec_can_use(capsys):
    """``dyngraph compile`` runs every kernel once; afterwards simulation, gradients, the
    Jacobian and online RTRL of a catalog spec compile nothing new."""
    import dyngraph as dg
    from dyngraph.cli import main
    from dyngraph.engines.compiled import DISPATCHERS, online, recursion, vm
    from dyngraph.engines.online import OnlineRTRL
    assert main(["compile"]) == 0
    out = capsys.readouterr().out
    for stage in ("simulate", "gradient", "jacobian", "online"):
        assert f"  {stage} " in out
    before = {d: set(d.overloads) for d in DISPATCHERS}
    # The entry points (their callees, loaded from the cache, are linked into them).
    assert all(before[d] for d in (vm.run, vm.run_forward, recursion.step_chunk,
                                   online.run_stream))
    net = dg.load("specs/gamma_feedback.yaml", seed=2)
    rng = np.random.default_rng(1)
    X = {k: rng.standard_normal((3, 12, n)) for k, n in net.inputs.items()}
    Y = {k: rng.standard_normal((3, 12, n)) for k, n in net.outputs.items()}
    net.simulate(X, backend="compiled")
    net.gradient(X, Y, backend="compiled")
    net.gradient(X, Y, backend="compiled", method="rtrl")
    net.jacobian(X, Y, backend="compiled")
    OnlineRTRL(net, Q=3, backend="compiled").run(X, Y, lr=0.01)
    assert [d.py_func.__name__ for d in DISPATCHERS if set(d.overloads) != before[d]] == []


def test_the_compile_command_without_numba_says_what_to_install(capsys, monkeypatch):
    from dyngraph.cli import compile as compile_command
    from dyngraph.cli import main
    monkeypatch.setattr(compile_command, "available", lambda name: False)
    assert main(["compile"]) == 1
    err = capsys.readouterr().err
    assert "pip install numba" in err and "Traceback" not in err


def test_a_first_compilation_is_announced_once_and_a_cached_kernel_is_not(tmp_path):
    """The first call that compiles a kernel says so on the ``dyngraph`` logger (a silent
    stall of seconds otherwise); a process that loads it from the disk cache says nothing,
    and neither does a second call."""
    (tmp_path / "callee.py").write_text(CALLEE.format(7))
    code = textwrap.dedent(f"""
        import logging, sys
        sys.path.insert(0, {str(tmp_path)!r})
        import callee
        from dyngraph.engines.compiled.freshness import announce, will_compile
        print(will_compile(callee.f))
        announce(callee.f, "test kernel", "1")
        announce(callee.f, "test kernel", "1")
        print(callee.f(), will_compile(callee.f))
    """)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("DYNGRAPH_CACHE", None)
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=env, timeout=120) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    first, second = runs
    assert first.stdout.split() == ["True", "7", "False"]
    assert first.stderr.count("compiling the compiled backend's test kernel") == 1
    assert second.stdout.split() == ["False", "7", "False"]
    assert "compiling" not in second.stderr
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(env, DYNGRAPH_CACHE="off"), timeout=120)
    assert off.returncode == 0 and off.stdout.split()[0] == "True"
    assert "every process compiles (DYNGRAPH_CACHE=off)" in off.stderr
