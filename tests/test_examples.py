"""Every example runs (in its quick mode) and ends with its key figure."""
import os
import re
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "examples")
TANKS = os.path.join(EXAMPLES, os.pardir, os.pardir, "shared", "data", "cascaded_tanks",
                     "dataBenchmark.csv")

#: example -> pattern its last line must match
LAST_LINE = {
    "quickstart.py": r"closed-loop simulation RMS on fresh data: \d+\.\d+",
    "filters.py": r"max coefficient error: FIR (\S+), IIR (\S+)",
    "sunspots.py": r"ARV train \d\.\d+  validation \d\.\d+  test \d\.\d+",
    "long_memory.py": r"accuracy Elman \d\.\d+  LSTM \d\.\d+  GRU \d\.\d+",
    "gamma_memory.py": r"test RMS: TDNN \S+, gamma \S+ \(learned mu \d\.\d+",
    "cascaded_tanks.py": r"validation simulation RMS: \d+\.\d+ V",
}


def run(name, *args, cwd=None):
    out = subprocess.run([sys.executable, os.path.join(EXAMPLES, name), *args],
                         capture_output=True, text=True, timeout=240, cwd=cwd)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()


def test_every_example_is_listed():
    found = {f for f in os.listdir(EXAMPLES) if f.endswith(".py")}
    assert found == set(LAST_LINE)


@pytest.mark.parametrize("name", sorted(set(LAST_LINE) - {"cascaded_tanks.py",
                                                          "quickstart.py"}))
def test_example_quick_run_ends_with_its_figure(name):
    last = run(name, "--quick")[-1]
    assert re.fullmatch(LAST_LINE[name] + r".*", last), last


def test_filters_recover_the_coefficients():
    m = re.fullmatch(LAST_LINE["filters.py"], run("filters.py", "--quick")[-1])
    assert float(m.group(1).rstrip(",")) < 1e-6 and float(m.group(2)) < 1e-6


def test_quickstart(tmp_path):
    lines = run("quickstart.py", "--quick", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert "LM: 30 epochs" in "\n".join(lines)             # epochs=30, not the 31 rows
    assert (tmp_path / "out").is_dir() and not (tmp_path / "--quick").exists()
    last = lines[-1]
    assert re.fullmatch(LAST_LINE["quickstart.py"], last), last
    assert os.listdir(tmp_path / "out")


@pytest.mark.skipif(not os.path.exists(TANKS), reason="cascaded tanks data not present")
def test_cascaded_tanks_quick():
    last = run("cascaded_tanks.py", TANKS, "--quick")[-1]
    assert re.fullmatch(LAST_LINE["cascaded_tanks.py"], last), last


def test_cascaded_tanks_without_data_says_where_to_get_it(tmp_path):
    out = subprocess.run([sys.executable, os.path.join(EXAMPLES, "cascaded_tanks.py"),
                          str(tmp_path / "missing.csv")], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and "nonlinearbenchmark.org" in out.stderr


def test_quick_mode_can_also_be_asked_for_by_environment():
    env = dict(os.environ, DYNGRAPH_QUICK="1")
    out = subprocess.run([sys.executable, os.path.join(EXAMPLES, "sunspots.py")],
                         capture_output=True, text=True, timeout=240, env=env)
    assert out.returncode == 0, out.stderr
    # quick mode trains one hidden size with 2 restarts; the full run tries three sizes
    sizes = [line for line in out.stdout.splitlines() if re.match(r"\d+ hidden: ", line)]
    assert len(sizes) == 1 and " 2 restarts" in sizes[0], out.stdout
