"""The TC over the global batch of a torch.distributed job (gloo, 2 processes on CPU):
the gathered loss and every gradient equal one process with the whole batch."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = str(Path(__file__).with_name("dist_worker.py"))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(tmp_path, world, *args):
    out = tmp_path / f"out_{world}_{'_'.join(args)}.pt"
    port = str(_free_port())
    procs = []
    for rank in range(world):
        env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "OMP_NUM_THREADS": "1"}
        procs.append(subprocess.Popen([sys.executable, WORKER, str(out), *args], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    return torch.load(out, weights_only=False)


@pytest.mark.parametrize("family", ["normal", "laplace"])
@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_two_ranks_with_half_batches_equal_one_process_with_the_batch(tmp_path, family,
                                                                       estimator):
    one = run_ranks(tmp_path, 1, family, estimator, "auto")
    two = run_ranks(tmp_path, 2, family, estimator, "global")
    assert torch.allclose(two["loss"], one["loss"], rtol=1e-5, atol=1e-5)
    for k in one["grads"]:
        assert torch.allclose(two["grads"][k], one["grads"][k], rtol=1e-4, atol=1e-6), k
    for k in ("mi", "tc", "dwkl", "elbo", "log_likelihood", "loss"):  # global means
        assert two["terms"][k] == pytest.approx(one["terms"][k], rel=1e-5, abs=1e-5), k


def test_the_local_mode_mixes_over_each_rank_only(tmp_path):
    two = run_ranks(tmp_path, 2, "normal", "mss", "local")
    glob = run_ranks(tmp_path, 2, "normal", "mss", "global")
    # local = the average of one process per half (each its own batch of 8)
    sys.path.insert(0, str(Path(WORKER).parent))
    import dist_worker

    halves = [dist_worker.run("normal", "mss", "local", torch.arange(8 * r, 8 * (r + 1)))
              for r in (0, 1)]
    for k in ("enc", "dec"):
        want = (halves[0][1][k] + halves[1][1][k]) / 2
        assert torch.allclose(two["grads"][k], want, rtol=1e-4, atol=1e-6), k
    # the encoder's gradient goes through the mixture, the decoder's does not
    assert not torch.allclose(two["grads"]["enc"], glob["grads"]["enc"], rtol=1e-3, atol=1e-3)
    assert torch.allclose(two["grads"]["dec"], glob["grads"]["dec"], rtol=1e-4, atol=1e-5)
    # a mixture over 8 of 64 items reads the TC lower than one over 16
    assert two["terms"]["tc"] != pytest.approx(glob["terms"]["tc"], rel=1e-3)


def test_global_needs_a_process_group():
    from pyro_tcvae.infer import TraceTC_ELBO

    with pytest.raises(ValueError, match="initialized torch.distributed process group"):
        TraceTC_ELBO(aggregate="global")
    with pytest.raises(ValueError, match="aggregate must be one of"):
        TraceTC_ELBO(aggregate="everywhere")


def test_the_ddp_example_runs_under_torchrun(tmp_path):
    example = Path(__file__).resolve().parents[1] / "examples" / "ddp_svi.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                          f"--master_port={_free_port()}", str(example), "--steps", "100"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "global batch 256 over 2 processes" in out.stdout and "MIG" in out.stdout
