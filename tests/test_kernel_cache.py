"""numba's disk cache of the kernels is never stale: a kernel that calls one from another
file is recompiled when that file changes (numba alone keeps the callee's old code)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

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
