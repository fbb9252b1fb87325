"""Host settings for training on CPUs: freed memory kept for reuse, denormals flushed,
and a thread count that yields to other processes.

Each is a context manager that restores the process's settings on exit, also after
an exception.

- :func:`reuse_freed_memory`: every training step allocates and frees the same large
  buffers (activations, gradients: 56 MB for the paper's MLP).  glibc's malloc serves
  blocks of that size with ``mmap`` and returns them to the kernel when freed, so the
  next step page-faults them in again, zeroed by the kernel (7,000-40,000 faults a
  step on 2 cores, up to 10% of the step).  Asking malloc to keep freed memory in its
  heap removes the faults.
- :func:`flush_denormals`: exp of the logits of confidently empty pixels falls below
  e^-87 as training goes on; denormal arithmetic takes a slow path on x86.
- :class:`ThreadGovernor`: OpenMP threads spin while they wait for each other.  When
  another process takes one of the cores, the thread on that core falls behind and
  its partners spin: a step of the paper's MLP took 4x as long with 2 threads as
  with 1.  The governor measures, every few seconds, how many cores other processes
  keep busy (``/proc/stat`` over this process's CPUs, minus this process's own CPU
  time) and sets torch's intra-op threads to the cores left free.
- :func:`cpu_has_bf16` and :func:`bf16_warning`: bf16 autocast is fast only on CPUs
  with bfloat16 instructions; elsewhere torch emulates it (a 1024 x 4096 x 1200
  matrix product took 34 times as long as in fp32 on an AMD EPYC with AVX2 only).
"""

import contextlib
import ctypes
import ctypes.util
import os
import platform
import sys
import time

import torch

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_GLIBC_DEFAULTS = {_M_TRIM_THRESHOLD: 128 * 1024, _M_MMAP_MAX: 65536}


def _mallopt():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return getattr(libc, "mallopt", None)
    except OSError:
        return None


@contextlib.contextmanager
def reuse_freed_memory(keep_bytes=1 << 30):
    """Keep up to ``keep_bytes`` of freed memory in malloc's heap (glibc only; a no-op
    elsewhere): blocks come from the heap rather than ``mmap``, and the heap is trimmed
    only above ``keep_bytes`` of free space.  Restores glibc's defaults on exit."""
    mallopt = _mallopt()
    applied = mallopt is not None and mallopt(_M_MMAP_MAX, 0) == 1
    if applied:
        mallopt(_M_TRIM_THRESHOLD, int(keep_bytes))
    try:
        yield applied
    finally:
        if applied:
            for param, value in _GLIBC_DEFAULTS.items():
                mallopt(param, value)


@contextlib.contextmanager
def flush_denormals():
    """Flush denormal floats to zero (changes no reported digit); restored on exit."""
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


_BF16_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}  # x86 (Linux names), Arm (Features)


def cpu_has_bf16(cpuinfo="/proc/cpuinfo"):
    """Whether the CPU has bfloat16 instructions, from the ``flags`` (x86) or
    ``Features`` (Arm) lines of ``cpuinfo``: True, False, or None where the file
    cannot be read or has no such line (not Linux)."""
    try:
        with open(cpuinfo) as f:
            lines = [line for line in f if line.split(":")[0].strip() in ("flags", "Features")]
    except OSError:
        return None
    if not lines:
        return None
    return bool(_BF16_FLAGS & set(lines[0].split(":", 1)[-1].split()))


def cpu_name(cpuinfo="/proc/cpuinfo"):
    """The CPU as ``cpuinfo`` names it, e.g. "Intel(R) Xeon(R) Processor (family 6,
    model 207)" (a virtual machine's name can be that vague; family and model tell
    the generation), else :func:`platform.processor`'s answer, else None."""
    fields = {}
    try:
        with open(cpuinfo) as f:
            for line in f:
                if not line.strip():
                    break  # the first processor's block is enough
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or fields.get("Model") or platform.processor() or None
    if name and "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name


def bf16_warning(precision, device, has_bf16=None):
    """A warning to print before training (None when there is nothing to say):
    ``precision="bf16"`` on a CPU (``device``: a torch.device) without bfloat16
    instructions (``has_bf16``: :func:`cpu_has_bf16`'s answer, read when None)."""
    if precision != "bf16" or torch.device(device).type != "cpu":
        return None
    if (cpu_has_bf16() if has_bf16 is None else has_bf16) is not False:
        return None
    return ("warning: this CPU has no bfloat16 instructions (no avx512_bf16, amx_bf16 or "
            "bf16 among its flags), so torch emulates bf16 autocast, which ran about 30 "
            "times slower than fp32 on such a CPU; train with --precision fp32")


def _cpus():
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def busy_seconds(cpus):
    """Seconds the CPUs ``cpus`` have spent busy since boot (``/proc/stat``), or None
    where there is no /proc/stat."""
    try:
        with open("/proc/stat") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    want = {f"cpu{c}" for c in cpus}
    ticks = 0
    for line in lines:
        parts = line.split()
        if parts and parts[0] in want:
            # user nice system idle iowait irq softirq steal: all but idle and iowait
            v = [int(x) for x in parts[1:9]]
            ticks += v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
    return ticks / os.sysconf("SC_CLK_TCK")


def _own_seconds():
    t = os.times()
    return t.user + t.system


class ThreadGovernor:
    """Torch's intra-op threads set to the cores that other processes leave free.

    Parameters
    ----------
    threads : int
        0: adapt (at most torch's thread count on entry); N > 0: use exactly N.
    interval : float
        Seconds between readings; the count changes when two readings in a row agree.
    settle : float
        Seconds of a first reading on entry, while this process is idle.

    Notes
    -----
    Use ``with ThreadGovernor() as g:`` and call ``g.tick()`` between steps (it
    reads the clock and, at most every ``interval`` seconds, two small files).
    The thread count in force on entry is restored on exit.
    """

    def __init__(self, threads=0, interval=3.0, settle=0.3):
        self.fixed = int(threads) > 0
        self.max_threads = int(threads) if self.fixed else torch.get_num_threads()
        self.interval, self.settle = float(interval), float(settle)
        self.cpus = _cpus()
        self.threads = self.max_threads
        self.others = None   # cores kept busy by other processes at the last reading
        self.changes = []    # (time, threads) each time the count changed
        self._last = None
        self._pending = None

    def __enter__(self):
        self._saved = torch.get_num_threads()
        self._set(self.max_threads)
        if not self.fixed and busy_seconds(self.cpus) is not None:
            self._last = self._sample()
            if self.settle > 0:
                time.sleep(self.settle)
                self.tick(force=True)
        return self

    def __exit__(self, *exc):
        torch.set_num_threads(self._saved)

    def _sample(self):
        return time.perf_counter(), busy_seconds(self.cpus), _own_seconds()

    def _set(self, n):
        if n != torch.get_num_threads():
            torch.set_num_threads(n)
            self.changes.append((time.perf_counter(), n))
        self.threads = n

    def target(self, others):
        """Threads for ``others`` busy cores: the free cores, rounded, in [1, max]."""
        free = len(self.cpus) - others
        return max(1, min(self.max_threads, int(free + 0.5)))

    def tick(self, force=False):
        """Take a reading when ``interval`` has passed; adjust the thread count."""
        if self._last is None:
            return self.threads
        now = time.perf_counter()
        if not force and now - self._last[0] < self.interval:
            return self.threads
        t0, busy0, own0 = self._last
        sample = self._sample()
        self._last = sample
        wall = sample[0] - t0
        if wall <= 0:
            return self.threads
        self.others = max(0.0, ((sample[1] - busy0) - (sample[2] - own0)) / wall)
        want = self.target(self.others)
        if want == self.threads:
            self._pending = None
        elif force or want == self._pending:
            self._set(want)
            self._pending = None
        else:
            self._pending = want
        return self.threads
