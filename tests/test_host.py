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
    if plain == 0:  # e.g. gVisor and some containers report no minor faults at all
        pytest.skip("this kernel does not count minor page faults (ru_minflt stays 0)")
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


def test_bf16_instructions_are_read_from_cpuinfo(tmp_path, monkeypatch):
    from pyro_tcvae.runs import host
    from pyro_tcvae.runs.host import bf16_warning, cpu_has_bf16
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile\n"
                    "processor\t: 1\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile\n")
    assert cpu_has_bf16(info) is True
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw\n")
    assert cpu_has_bf16(info) is False  # avx512 without its bf16 extension
    info.write_text("processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n")
    assert cpu_has_bf16(info) is True  # Arm
    info.write_text("processor\t: 0\n")
    assert cpu_has_bf16(info) is None
    assert cpu_has_bf16(tmp_path / "absent") is None
    # the warning names the fix, and only for bf16 on a CPU known to lack the instructions
    assert "--precision fp32" in bf16_warning("bf16", "cpu", has_bf16=False)
    assert bf16_warning("bf16", "cpu", has_bf16=True) is None
    assert bf16_warning("fp32", "cpu", has_bf16=False) is None
    assert bf16_warning("bf16", "cuda", has_bf16=False) is None
    monkeypatch.setattr(host, "cpu_has_bf16", lambda: None)  # unknown (not Linux): silent
    assert bf16_warning("bf16", "cpu") is None


def test_training_in_bf16_on_a_cpu_without_it_says_so(tmp_path, monkeypatch):
    from pyro_tcvae.runs import TrainConfig, host, train
    monkeypatch.setattr(host, "cpu_has_bf16", lambda: False)
    said = []
    train(TrainConfig(dataset="small_sprites", arch="small_mlp", z_dim=3, batch_size=64,
                      steps=2, precision="bf16"), tmp_path / "run", progress=False,
          echo=said.append)
    assert any("no bfloat16 instructions" in line for line in said)


def test_cpu_name_reads_the_first_processors_model_family_and_number(tmp_path):
    import platform

    from pyro_tcvae.runs.host import cpu_name

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n"
                    "model\t\t: 207\nmodel name\t: Intel(R) Xeon(R) Processor\n\n"
                    "processor\t: 1\ncpu family\t: 25\nmodel\t\t: 1\nmodel name\t: other\n")
    assert cpu_name(info) == "Intel(R) Xeon(R) Processor (family 6, model 207)"
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\n\n"
                   "Model\t\t: Raspberry Pi 4 Model B\n")
    assert cpu_name(arm) == (platform.processor() or None)  # no name in the first block
    assert cpu_name(tmp_path / "missing") == (platform.processor() or None)
