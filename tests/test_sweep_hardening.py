"""Sweeps started by careless users (issue 16): one writer per results file, no orphan workers.

- A second sweep on a results file that a running sweep holds is refused with a
  clear message (two identical sweeps started at once wrote every point twice);
  the lock dies with its holder, so a killed run never leaves it stuck.
- ``kill -9`` of the parent of ``--jobs 2`` kills its workers too (they used to
  sleep forever).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from refsim import presets
from refsim.tools import sweep

ROOT = Path(__file__).resolve().parents[1]


def _tasks(n=3):
    base = presets.get("ideal")
    return sweep.make_tasks(base, [sweep.parse_vary("adc.bits=" + ",".join(str(4 + i) for i in range(n)))],
                            model="auto", weights="w.npz", data="d.npz", seed=0)


def _fake(task):
    return {"accuracy": 0.5, "correct": 1, "n": 2, "seconds": 0.0}


def test_second_sweep_on_a_held_results_file_is_refused(tmp_path):
    out = tmp_path / "r.jsonl"
    with open(str(out) + ".lock", "a+") as held:  # what a running sweep holds
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        held.write("4242\n")
        held.flush()
        with pytest.raises(ValueError, match=r"--out: received .*r\.jsonl'.*another sweep \(pid 4242\)"):
            sweep.run_sweep(_tasks(), out, evaluate=_fake, progress=False)
    assert not out.exists()
    stats = sweep.run_sweep(_tasks(), out, evaluate=_fake, progress=False)  # released: runs
    assert stats["done"] == 3 and len(sweep.read_results(out)) == 3


def test_a_killed_sweep_does_not_leave_the_lock_stuck(tmp_path):
    out = tmp_path / "r.jsonl"
    code = textwrap.dedent(f"""
        import time
        from refsim.tools._proc import results_lock
        with results_lock({str(out)!r}):
            print("locked", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(ValueError, match=f"another sweep \\(pid {proc.pid}\\)"):
            sweep.run_sweep(_tasks(), out, evaluate=_fake, progress=False)
    finally:
        proc.kill()
        proc.wait()
    assert sweep.run_sweep(_tasks(), out, evaluate=_fake, progress=False)["done"] == 3


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in state  # a zombie has exited


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to check process states")
def test_workers_die_with_a_killed_parent(tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()
    code = textwrap.dedent(f"""
        import os, time
        from refsim import presets
        from refsim.tools import sweep

        def slow(task):
            open(os.path.join({str(pids)!r}, str(os.getpid())), "w").close()
            time.sleep(120)
            return {{"accuracy": 0.0, "correct": 0, "n": 1, "seconds": 0.0}}

        tasks = sweep.make_tasks(presets.get("ideal"), [sweep.parse_vary("adc.bits=4,5,6")], model="auto",
                                 weights="w.npz", data="d.npz", seed=0)
        sweep.run_sweep(tasks, {str(tmp_path / "r.jsonl")!r}, evaluate=slow, jobs=2, progress=False)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 60
        while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = [int(p.name) for p in pids.iterdir()]
        assert len(workers) == 2 and all(_alive(w) for w in workers)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    leftover = [w for w in workers if _alive(w)]
    for w in leftover:  # clean up before failing
        os.kill(w, signal.SIGKILL)
    assert not leftover, f"workers {leftover} outlived their parent"
