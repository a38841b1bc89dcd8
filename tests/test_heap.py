"""glibc's heap thresholds (dyngraph.engines.heap): a freed large array is reused by the
next call instead of coming back as fresh pages that fault on first touch."""
import os
import subprocess
import sys

import pytest

from dyngraph.engines import heap

_glibc = sys.platform.startswith("linux") and hasattr(__import__("ctypes").CDLL(None),
                                                      "gnu_get_libc_version")
pytestmark = pytest.mark.skipif(not _glibc, reason="glibc's mallopt only")

#: faults of a second 24 MB array (6,144 pages) after a first one was freed
_CODE = """
import resource, numpy as np, dyngraph
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
a = np.empty(3 * 2 ** 20); a.fill(1.0); del a
f0 = faults()
b = np.empty(3 * 2 ** 20); b.fill(2.0)
print(faults() - f0)
"""


def _second_array_faults(**env):
    out = subprocess.run([sys.executable, "-c", _CODE], env=dict(os.environ, **env),
                         capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_a_freed_large_array_is_reused():
    assert heap.keep_large_arrays() is True
    assert _second_array_faults() < 100


def test_heap_off_leaves_glibc_alone():
    # (glibc's own rule then decides; on glibc 2.36 the second array faulted 481 pages)
    out = subprocess.run([sys.executable, "-c", "import dyngraph; from dyngraph.engines "
                          "import heap; print(heap.keep_large_arrays())"],
                         env=dict(os.environ, DYNGRAPH_HEAP="off"), capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"
