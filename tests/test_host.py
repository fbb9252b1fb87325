"""Host settings: freed memory kept for reuse, threads that yield to busy cores."""

import os
import resource
import subprocess
import sys
import time

import pytest
import torch

from pyro_tcvae.runs.host import ThreadGovernor, busy_seconds, reuse_freed_memory

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and /proc")


def _faults_of_allocations(n=8, mb=64):
    """Minor page faults of allocating, filling and freeing n buffers of ``mb`` MB."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n):
        t = torch.empty(mb * 2**18)  # float32
        t.fill_(1.0)
        del t
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@linux
def test_reusing_freed_memory_removes_the_page_faults_of_a_repeated_allocation():
    plain = _faults_of_allocations()
    with reuse_freed_memory() as applied:
        if not applied:
            pytest.skip("not glibc")
        _faults_of_allocations()  # the heap grows and settles in a few rounds
        reused = _faults_of_allocations()
    # 8 x 64 MB = 131,072 pages of 4 KB: each faulted in anew without reuse
    assert plain > 50_000, plain
    assert reused < plain / 20, (plain, reused)


def test_governor_targets_the_free_cores():
    g = ThreadGovernor(threads=0)
    g.cpus, g.max_threads = list(range(4)), 4
    assert [g.target(o) for o in (0.0, 0.4, 0.6, 1.0, 2.2, 3.9, 8.0)] == [4, 4, 3, 3, 2, 1, 1]
    saved = torch.get_num_threads()
    with ThreadGovernor(threads=3) as fixed:
        assert torch.get_num_threads() == 3 and fixed.tick(force=True) == 3
    assert torch.get_num_threads() == saved  # restored on exit


@linux
@pytest.mark.skipif(len(os.sched_getaffinity(0)) != 2, reason="measured on 2 cores")
def test_governor_gives_up_the_core_another_process_keeps_busy():
    if busy_seconds([0]) is None:
        pytest.skip("no /proc/stat")
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with ThreadGovernor(threads=0, interval=0.4, settle=0.6) as quiet:
            pass
        if quiet.others > 0.3:
            pytest.skip(f"the machine is not quiet ({quiet.others:.1f} cores busy elsewhere)")
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            time.sleep(0.3)
            with ThreadGovernor(threads=0, interval=0.4, settle=0.6) as g:
                for _ in range(3):  # two readings that agree change the count
                    time.sleep(0.45)
                    g.tick()
        finally:
            busy.kill()
            busy.wait()
    finally:
        torch.set_num_threads(saved)
    assert quiet.others < 0.5 and quiet.threads == 2, quiet.others
    assert 0.6 < g.others < 1.5 and g.threads == 1, (g.others, g.changes)
    assert torch.get_num_threads() == saved
