"""Run folders: checksummed checkpoints, damaged logs, stale temporaries, full disks."""

import errno
import json
import os
import subprocess
import sys

import pytest

from pyro_tcvae.runs import RunError, RunFolder, TrainConfig, read_checkpoint, train
from pyro_tcvae.runs.folder import CHECKPOINT_MAGIC, MetricsLog, read_json

SMALL = dict(dataset="small_sprites", arch="small_mlp", z_dim=3, batch_size=64, log_every=10,
             checkpoint_every=15)


@pytest.fixture
def run(tmp_path):
    """A finished 20-step run."""
    path = tmp_path / "run"
    train(TrainConfig(steps=20, **SMALL), path, progress=False)
    return path


def test_a_checkpoint_with_flipped_bytes_is_refused(run):
    path = run / "checkpoint.pt"
    data = bytearray(path.read_bytes())
    assert data.startswith(CHECKPOINT_MAGIC)
    mid = len(data) // 2
    data[mid:mid + 64] = bytes(b ^ 0xFF for b in data[mid:mid + 64])
    path.write_bytes(bytes(data))
    with pytest.raises(RunError, match="corrupt .*does not match its checksum.*remove it"):
        read_checkpoint(path)
    with pytest.raises(RunError, match="does not match its checksum"):
        train(TrainConfig(steps=30, **SMALL), run, resume=True, progress=False)


def test_an_intact_checkpoint_round_trips(run):
    state = read_checkpoint(run / "checkpoint.pt")
    assert state["step"] == 20 and state["config"]["z_dim"] == 3
    assert set(state["rng"]) >= {"torch", "random", "numpy"}  # Pyro's RNG helpers


def test_a_cut_log_line_is_dropped_on_resume_with_a_warning(run):
    log = run / "metrics.jsonl"
    log.write_text(log.read_text() + '{"step": 25, "loss": 1')  # a write cut short
    with pytest.warns(UserWarning, match=r"metrics\.jsonl: dropped 1 damaged line"):
        train(TrainConfig(steps=30, **SMALL), run, resume=True, progress=False)
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert steps == [10, 20, 30]


def test_stale_temporary_files_are_removed_when_the_folder_is_locked(run):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = run / f".checkpoint.pt.tmp{dead_pid}"
        busy = run / f".checkpoint.pt.tmp{alive.pid}"
        stale.write_bytes(b"\0" * 1000)
        busy.write_bytes(b"\0" * 1000)
        train(TrainConfig(steps=25, **SMALL), run, resume=True, progress=False)
        assert not stale.exists()
        assert busy.exists()  # its writer may still finish
    finally:
        alive.kill()
        alive.wait()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_a_full_disk_is_one_line_and_keeps_the_previous_checkpoint(run, monkeypatch):
    import pyro_tcvae.runs.folder as folder

    before = read_checkpoint(run / "checkpoint.pt")["step"]

    real_fsync = folder.os.fsync

    def no_space(fd):  # the disk fills up when the checkpoint is written
        if "checkpoint" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(folder.os, "fsync", no_space)
    with pytest.raises(RunError) as e:
        train(TrainConfig(steps=40, **SMALL), run, resume=True, progress=False)
    message = str(e.value)
    assert "\n" not in message and "no space left on the device" in message
    assert str(run / "checkpoint.pt") in message and "Free some space" in message
    monkeypatch.undo()
    assert read_checkpoint(run / "checkpoint.pt")["step"] == before
    assert not [p for p in run.iterdir() if ".tmp" in p.name]


def test_read_json_gives_none_or_the_callers_error_for_a_missing_or_damaged_file(tmp_path):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text('{"a": [1, 2]}')
    bad.write_text('{"a": [1, 2')
    assert read_json(good) == {"a": [1, 2]}
    assert read_json(bad) is None and read_json(tmp_path / "none.json") is None
    with pytest.raises(RunError, match="bad.json.*remove it"):
        read_json(bad, error=lambda e: RunError(f"{bad} is unreadable ({e}); remove it"))


def test_metrics_log_reads_what_it_appends(tmp_path):
    log = MetricsLog(tmp_path / "m.jsonl")
    for s in (1, 2, 3):
        log.append({"step": s, "x": s * 0.5})
    log.truncate(2)
    assert log.read() == [{"step": 1, "x": 0.5}, {"step": 2, "x": 1.0}]


def test_a_model_file_that_is_not_one_is_refused(run, capsys):
    from pyro_tcvae.cli import main

    (run / "model.pt").write_bytes(b"garbage")
    assert main(["evaluate", str(run), "--quiet"]) == 2
    assert "not a readable pyro-tcvae model file" in capsys.readouterr().err


def test_a_folder_object_touches_nothing(tmp_path):
    f = RunFolder(tmp_path / "r")
    assert not f.holds_run() and not (tmp_path / "r").exists()
