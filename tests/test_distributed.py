"""The TC over the global batch of a torch.distributed job (gloo, 2 processes on CPU):
the gathered loss and every gradient equal one process with the whole batch."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import assert_same_run

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


# --- pyro-tcvae train on 2 processes ----------------------------------------------------

ROOT = str(Path(__file__).resolve().parents[1])
TRAIN = ["train", "--dataset", "small_sprites", "--arch", "small_mlp", "--z-dim", "3",
         "--batch-size", "128", "--steps", "300", "--log-every", "10",
         "--checkpoint-every", "100000", "--no-eval", "--quiet", "--nproc", "2"]


def _cli(args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)}
    return subprocess.Popen([sys.executable, "-m", "pyro_tcvae.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _rank_pid(rank, marker):
    """The pid of the training process of ``rank`` whose command line holds ``marker``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in env and marker.encode() in cmd and \
                b"torch.distributed.run" not in cmd:
            return int(entry.name)
    return None


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_sigterm_on_one_rank_stops_both_and_the_run_resumes_exactly(tmp_path):
    import signal
    import time

    from pyro_tcvae.runs import read_checkpoint

    proc = _cli(TRAIN + ["--out", "a"], tmp_path)
    log = tmp_path / "a" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not log.is_file() or len(log.read_text().splitlines()) < 3):
        time.sleep(0.05)
    pid = _rank_pid(1, "a")  # the argument after --out
    assert pid is not None
    os.kill(pid, signal.SIGTERM)  # only rank 1 gets it
    out, err = proc.communicate(timeout=120)
    state = read_checkpoint(tmp_path / "a" / "checkpoint.pt")
    stopped = state["step"]
    assert 0 < stopped < 300 and state["world_size"] == 2 and len(state["rng_ranks"]) == 2
    assert not (tmp_path / "a" / "model.pt").exists()
    assert "interrupted at step" in out
    # resuming on another number of processes is refused, with the reason
    one = _cli(["train", "--out", "a", "--resume", "--no-eval", "--quiet"], tmp_path)
    out1, err1 = one.communicate(timeout=120)
    assert one.returncode == 2 and "trained on 2 process(es) and this is 1" in err1
    resumed = _cli(["train", "--out", "a", "--resume", "--no-eval", "--quiet", "--nproc", "2"],
                   tmp_path)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    straight = _cli(TRAIN + ["--out", "b"], tmp_path)
    out, err = straight.communicate(timeout=300)
    assert straight.returncode == 0, err
    assert_same_run(tmp_path / "a", tmp_path / "b", ignore=("time", "threads"))


def test_a_batch_that_does_not_split_is_refused(tmp_path):
    bad = [a if a != "128" else "127" for a in TRAIN]
    proc = _cli(bad + ["--out", "c"], tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "must split evenly over 2 processes" in err


def test_a_rank_that_dies_stops_the_others_with_a_message_and_the_run_resumes(tmp_path):
    """Two ranks started by hand (no torchrun, whose agent would kill the survivor
    itself): rank 1 is killed, rank 0 must notice and stop with the message."""
    import signal
    import time

    from pyro_tcvae.runs import read_checkpoint

    args = [a if a != "100000" else "50" for a in TRAIN[:-2]] + ["--out", "k"]
    port = str(_free_port())
    procs = []
    for rank in (0, 1):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "RANK": str(rank), "WORLD_SIZE": "2",
               "LOCAL_RANK": str(rank), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port,
               "PYTHONPATH": os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH"))
                                             if p)}
        procs.append(subprocess.Popen([sys.executable, "-m", "pyro_tcvae.cli", *args],
                                      cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    log = tmp_path / "k" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not log.is_file() or len(log.read_text().splitlines()) < 12):
        time.sleep(0.05)
    procs[1].send_signal(signal.SIGKILL)
    procs[1].communicate(timeout=60)
    t0 = time.time()
    out, err = procs[0].communicate(timeout=120)
    assert time.time() - t0 < 60 and procs[0].returncode == 2
    assert "rank 0: lost contact with another process" in err
    assert "pyro-tcvae train --out k --resume --nproc 2" in err
    assert read_checkpoint(tmp_path / "k" / "checkpoint.pt")["step"] % 50 == 0
    resumed = _cli(["train", "--out", "k", "--resume", "--no-eval", "--quiet", "--nproc", "2"],
                   tmp_path)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert (tmp_path / "k" / "model.pt").is_file()


def test_sharded_evaluation_equals_one_process(tmp_path):
    import json

    proc = _cli(TRAIN[:-2] + ["--steps", "40", "--out", "e"], tmp_path)  # one process
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    one = _cli(["evaluate", "e", "--num-samples", "500", "--quiet"], tmp_path)
    out, err = one.communicate(timeout=300)
    assert one.returncode == 0, err
    single = json.loads((tmp_path / "e" / "eval.json").read_text())
    two = _cli(["evaluate", "e", "--num-samples", "500", "--quiet", "--nproc", "2"], tmp_path)
    out, err = two.communicate(timeout=300)
    assert two.returncode == 0, err
    sharded = json.loads((tmp_path / "e" / "eval.json").read_text())
    assert sharded["mig"]["score"] == single["mig"]["score"]
    assert sharded["mig"]["gaps"] == single["mig"]["gaps"]
    assert sharded["decomposition"]["elbo"] == single["decomposition"]["elbo"]
    assert sharded["decomposition"]["tc"] == single["decomposition"]["tc"]
    # each rank leaves its process group before exit (a gloo group alive at interpreter
    # shutdown made a rank abort now and then: "terminate called without an active
    # exception"), also the rank that is done before rank 0 has computed the metrics
    script = ("import sys, torch.distributed as d; from pyro_tcvae.cli import main; "
              "rc = main(sys.argv[1:]); print('group left:', not d.is_initialized()); "
              "sys.exit(rc)")
    port, procs = str(_free_port()), []
    for rank in range(2):
        env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank),
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "OMP_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH"))
                                             if p)}
        procs.append(subprocess.Popen(
            [sys.executable, "-c", script, "evaluate", "e", "--num-samples", "500", "--quiet"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert "group left: True" in out, out + err
