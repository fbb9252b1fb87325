"""A training run on several processes: torchrun's environment, torch.distributed.

Under ``torchrun --nproc_per_node=W pyro-tcvae train ...`` every process (rank) builds
the same model from the same seed, takes its slice of each global batch of one
shuffled order (so a resumed run sees the same batches), draws its own random numbers,
and averages its gradients with the others' before every optimizer step (the TC itself
mixes over the global batch inside :class:`~pyro_tcvae.infer.TraceTC_ELBO`).  Rank 0
alone writes the run folder.  A stop signal on any rank stops every rank after the same
step; a rank that stops answering makes the others fail within the timeout
(``$PYRO_TCVAE_DIST_TIMEOUT`` seconds, default 600) with a message saying how to
resume.
"""

import datetime
import os

import torch
import torch.distributed as dist

from .config import RunError

ENV_TIMEOUT = "PYRO_TCVAE_DIST_TIMEOUT"


def check_world(config, world):
    """RunError unless ``config`` can train on ``world`` processes (checked by the
    launcher before any process starts, and by each rank)."""
    if config.batch_size % world:
        raise RunError(f"batch_size {config.batch_size} must split evenly over "
                       f"{world} processes: use a multiple of {world}")
    if config.objective == "factorvae" and world > 1:
        raise RunError("factorvae trains a discriminator inside its objective, which "
                       "does not run on several processes yet: train it on one")


class Ranks:
    """This process's place in the job: ``world`` processes, this one ``rank``.

    A single process is ``Ranks(1, 0, 0)``; every method is then a no-op.
    """

    def __init__(self, world=1, rank=0, local_rank=0):
        self.world, self.rank, self.local_rank = world, rank, local_rank

    @property
    def main(self):
        return self.rank == 0

    @property
    def active(self):
        return self.world > 1

    @classmethod
    def from_env(cls, device="cpu"):
        """The job torchrun describes in the environment (joining its process group:
        NCCL for CUDA devices, gloo otherwise), or the single process."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if not dist.is_initialized():
            timeout = datetime.timedelta(seconds=float(os.environ.get(ENV_TIMEOUT, "600")))
            backend = "nccl" if str(device).startswith("cuda") else "gloo"
            if backend == "nccl":
                torch.cuda.set_device(local)
            dist.init_process_group(backend, timeout=timeout)
        return cls(dist.get_world_size(), dist.get_rank(), local)

    def device(self, device):
        """One GPU per rank: ``cuda`` becomes ``cuda:LOCAL_RANK``."""
        device = torch.device(device)
        if self.active and device.type == "cuda" and device.index is None:
            return torch.device("cuda", self.local_rank)
        return device

    def check(self, config):
        """The checks a configuration must pass to run on ``world`` processes."""
        if self.active:
            check_world(config, self.world)

    def part(self, idx):
        """This rank's slice of a global batch of item indices."""
        if not self.active:
            return idx
        n = len(idx) // self.world
        return idx[self.rank * n:(self.rank + 1) * n]

    def average_gradients(self, params):
        """Average the gradients of ``params`` over the ranks, in one all-reduce."""
        if not self.active:
            return
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def any(self, flag):
        """Whether ``flag`` is true on any rank (every rank gets the same answer)."""
        if not self.active:
            return bool(flag)
        nccl = dist.get_backend() == "nccl"  # NCCL reduces CUDA tensors only
        t = torch.tensor([1.0 if flag else 0.0],
                         device=f"cuda:{self.local_rank}" if nccl else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def gather(self, obj):
        """Every rank's ``obj`` as a list (rank order); ``[obj]`` for one process."""
        if not self.active:
            return [obj]
        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def barrier(self):
        if self.active:
            dist.barrier()


def leave():
    """Destroy the process group this process joined, if it joined one.

    Every torchrun worker calls it before exit: a gloo group still alive when the
    interpreter shuts down can leave a worker thread joinable, and the process then
    aborts ("terminate called without an active exception", SIGABRT) after its work
    is done.  A group that a lost peer broke cannot always be torn down cleanly; the
    process is exiting with that error anyway, so a failure here is not raised over it.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    try:
        dist.destroy_process_group()
    except RuntimeError:
        pass


def lost_contact(ranks, step, error, out):
    """The RunError for a collective that failed (another rank died or hung)."""
    at = "" if step is None else f" at step {step}"
    first = (str(error).splitlines() or [""])[0]
    return RunError(f"rank {ranks.rank}: lost contact with another process of the run{at} "
                    f"({type(error).__name__}: {first}); "
                    f"every process stops. Continue from the last checkpoint with the same "
                    f"number of processes: pyro-tcvae train --out {out} --resume "
                    f"--nproc {ranks.world}")
