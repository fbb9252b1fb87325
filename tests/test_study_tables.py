"""A study's tables in markdown (and the figure of the same readings)."""

from pathlib import Path

from pyro_tcvae.study import load_study
from pyro_tcvae.study.figures import plot_mig_over_time
from pyro_tcvae.study.tables import time_section, time_to_mig


def test_time_to_mig_from_the_monitor_readings(tmp_path):
    rows = [{"cell": "tcvae_beta6", "seed": s, "mig_over_time": [
        {"step": 100 * k, "time": 120.0 * k, "mig": m, "stderr": 0.01}
        for k, m in enumerate(migs, 1)]} for s, migs in enumerate(
            ([0.1, 0.31, 0.4], [0.2, 0.25, 0.35], [0.1, 0.1, 0.1]))]
    times = time_to_mig(rows, 0.3)["tcvae_beta6"]
    assert times == [(0, 4.0, 200, 6.0), (1, 6.0, 300, 6.0), (2, None, None, 6.0)]
    table = "\n".join(time_section({"tcvae_beta6": times}, 0.3))
    assert "| tcvae_beta6 | 3 | 2 | 5.0 | 4.0-6.0 | 250 | 1 (6) |" in table
    assert plot_mig_over_time(rows, tmp_path / "t.png").stat().st_size > 5000
    assert plot_mig_over_time([{**rows[0], "mig_over_time": []}], tmp_path / "u.png") is None
    assert load_study(Path(__file__).resolve().parents[1] / "studies" / "time_to_mig.toml") \
        .runs[0][1].mig_every == "2m"  # the file's number: minutes, as before
