"""A tiny study file shared by the study tests, and a writer for its variants."""

STUDY = """
name = "tiny"
about = "a test study"
seeds = [0, 1]

[train]
dataset = "small_sprites"
arch = "small_mlp"
z_dim = 3
batch_size = 64
steps = 30
checkpoint_every = 15
log_every = 15
threads = 1           # runs compared bit for bit: a fixed thread count sums in one order

[evaluate]
num_samples = 500
items = 1000

[[runs]]
objective = "tcvae"
beta = [1, 4]

[[runs]]
objective = "beta-vae"
beta = 4
"""

SUITE_STUDY = STUDY.replace("seeds = [0, 1]", "seeds = [0]").replace(
    "items = 1000", "items = 600\nmetrics = \"all\"").replace(
    "[[runs]]\nobjective = \"beta-vae\"\nbeta = 4\n", "")


def write(tmp_path, text=STUDY, name="tiny.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path
