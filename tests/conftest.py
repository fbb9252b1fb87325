import json
import os
import subprocess
import sys

import pyro
import pytest
import torch

RENDER_SCRIPT = """
import json, resource, sys, time
import numpy as np
from pyro_tcvae.data import DSprites
t0 = time.time()
d = DSprites(source="render", progress=False)
x = d.images(np.arange(0, len(d), 97))    # touch images across the whole set
print(json.dumps({"seconds": time.time() - t0, "n": len(d),
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


@pytest.fixture(scope="session")
def dsprites_cache(tmp_path_factory):
    """(folder, stats): a cache folder holding the rendered dSprites, made once per
    test session by a separate process whose peak memory is measured."""
    folder = tmp_path_factory.mktemp("cache")
    env = {**os.environ, "PYRO_TCVAE_CACHE": str(folder)}
    env.pop("PYRO_TCVAE_DSPRITES", None)
    out = subprocess.run([sys.executable, "-c", RENDER_SCRIPT], env=env, check=True,
                         capture_output=True, text=True)
    stats = json.loads(out.stdout.strip().splitlines()[-1])
    return folder, stats


@pytest.fixture(autouse=True)
def _fresh_pyro():
    """Each test starts with an empty param store, validation on, and a fixed seed."""
    pyro.clear_param_store()
    pyro.enable_validation(True)
    pyro.set_rng_seed(0)
    yield
    pyro.clear_param_store()


def pytest_configure(config):
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture
def one_thread():
    """Small networks on one torch thread (spinning threads cost much when other
    processes run); the count is restored afterwards."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)
