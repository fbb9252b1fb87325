"""Training curves of a run: visible however short the run."""

import matplotlib

matplotlib.use("Agg")

from pyro_tcvae.viz import plot_training_curves  # noqa: E402


def _record(step):
    return {"step": step, "elbo": -100.0 + step, "log_likelihood": -90.0 + step, "mi": 5.0,
            "tc": 0.5, "dwkl": 1.0}


def test_a_run_with_one_log_point_draws_its_points():
    fig = plot_training_curves([_record(50)])
    lines = [ln for ax in fig.axes for ln in ax.get_lines()]
    assert len(lines) == 5  # ELBO, log-likelihood; MI, TC, dwKL
    for ln in lines:  # a lone point is invisible as a line: it needs a marker
        assert len(ln.get_xdata()) == 1 and ln.get_marker() not in (None, "None", "")


def test_a_long_run_is_drawn_as_lines():
    fig = plot_training_curves([_record(s) for s in range(0, 1000, 10)])
    lines = [ln for ax in fig.axes for ln in ax.get_lines()]
    assert all(ln.get_marker() in (None, "None", "") for ln in lines)
    assert all(len(ln.get_xdata()) == 100 for ln in lines)
