"""The split benchmark's worker-memory probe: a child's own peak, not its parent's RSS."""

from __future__ import annotations

import subprocess
import sys

from benchmarks.split import _WorkerPeak

_CHILD = ("b = bytearray({n})\nfor i in range(0, len(b), 4096): b[i] = 1\n"
          "import time; time.sleep(0.4)")


def test_a_small_child_of_a_big_parent_reads_small_and_a_big_one_big() -> None:
    # a child already running (as a test run's anvil or pool is) does not count
    older = subprocess.Popen([sys.executable, "-c", _CHILD.format(n=200_000_000)
                              .replace("0.4", "3")])
    ballast = bytearray(400_000_000)  # the parent holds 0.4 GB when it starts the children
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    with _WorkerPeak() as small:
        subprocess.run([sys.executable, "-c", _CHILD.format(n=10_000_000)], check=True)
    with _WorkerPeak() as big:
        subprocess.run([sys.executable, "-c", _CHILD.format(n=300_000_000)], check=True)
    # ru_maxrss would say >= 0.4 GB for both (it starts at the parent's RSS at fork)
    assert small.peak_kb * 1024 < 100_000_000
    assert 300_000_000 <= big.peak_kb * 1024 < 400_000_000
    del ballast
    older.kill()
    older.wait()
