"""Patch a scratch copy of the authors' beta-TCVAE code (github.com/rtqichen/beta-tcvae,
commit 1a3577d) so that it runs on a CPU with Python 3 and torch 2.x.

    python benchmarks/authors_code/patch.py /work/scratch/beta-tcvae

Only the scratch copy is edited; none of their code enters this repository.  Every
patch below is an exact text replacement that must match the expected number of times
(else nothing is written and the script says which one failed), so the edits are
reproducible and cannot land in the wrong place.  A copy already patched (the marker
file ``PATCHED_BY_PYRO_TCVAE``, holding this patch set's version) is left as it is.

What is changed, and why (the training objective, the networks, the optimizer and the
data order are theirs, untouched):

- Python 3 / torch 2.x:
  ``x.cuda(async=True)`` is a SyntaxError since Python 3.7 (``async`` is a keyword);
  ``elbo.mean().data[0]`` indexes a 0-dim tensor, an error since torch 0.5 (``.item()``).
- CPU: ``torch.cuda.set_device`` and ``use_cuda=True`` (``vae.cuda()``) are called
  unconditionally; both now follow ``torch.cuda.is_available()``.
- New flags (default: their behaviour):
  ``--max-iters N`` stops after N iterations (their loop only counts whole epochs,
  ``len(loader) * num_epochs``; the inner loop now breaks at N);
  ``--seed S`` calls ``torch.manual_seed(S)`` (their code never seeds: initialization,
  shuffling and the reparameterization noise all come from torch's global generator);
  ``--workers W`` sets the DataLoader's workers (theirs: 4 processes, which on 2
  cores compete with the training threads);
  ``--no-plots`` skips ``plot_vs_gt_shapes``, which encodes all 737,280 images at every
  log (``log_freq``) and at the end, and calls ``.cuda()``;
  ``--no-decomposition`` skips their full-dataset ELBO decomposition after training
  (about 42 min on 2 cores, and ``.cuda()`` again); the models are scored with this
  library's evaluation instead.
  At the end of training one line ``[done] N iterations in S s`` gives the time of the
  training loop (checkpoint saves included, data loading before it not).
- Memory: their ``Shapes`` loader holds all images as float32 (12 GB); it now holds the
  uint8 images (3 GB) and converts each item to float32 when it is read: the same
  values reach the network.

Missing optional modules (visdom, torchvision, brewer2mpl: imported at the top of their
scripts, unused by a CPU run without ``--visdom`` and plots) are not patched out: small
stand-ins are written to ``<scratch>/_stubs/`` and put on the path only for the modules
that are not installed (see ``driver.py``).
"""

import argparse
import sys
from pathlib import Path

VERSION = "1"
MARKER = "PATCHED_BY_PYRO_TCVAE"

# (file, old text, new text, expected count, why)
PATCHES = [
    ("vae_quant.py",
     "            x = x.cuda(async=True)\n",
     "            if torch.cuda.is_available():\n"
     "                x = x.cuda(non_blocking=True)\n",
     1, "async is a keyword since Python 3.7; CPU run"),
    ("vae_quant.py",
     "elbo_running_mean.update(elbo.mean().data[0])",
     "elbo_running_mean.update(elbo.mean().item())",
     1, "indexing a 0-dim tensor is an error since torch 0.5"),
    ("vae_quant.py",
     "    torch.cuda.set_device(args.gpu)\n",
     "    if torch.cuda.is_available():\n"
     "        torch.cuda.set_device(args.gpu)\n",
     1, "CPU run"),
    ("vae_quant.py",
     "    train_loader = setup_data_loaders(args, use_cuda=True)\n",
     "    train_loader = setup_data_loaders(args, use_cuda=torch.cuda.is_available())\n",
     1, "CPU run (pin_memory)"),
    ("vae_quant.py",
     "    vae = VAE(z_dim=args.latent_dim, use_cuda=True,",
     "    vae = VAE(z_dim=args.latent_dim, use_cuda=torch.cuda.is_available(),",
     1, "CPU run (vae.cuda())"),
    ("vae_quant.py",
     "    kwargs = {'num_workers': 4, 'pin_memory': use_cuda}\n",
     "    kwargs = {'num_workers': getattr(args, 'workers', 4), 'pin_memory': use_cuda}\n",
     1, "--workers"),
    ("vae_quant.py",
     "    args = parser.parse_args()\n",
     "    parser.add_argument('--max-iters', default=0, type=int,\n"
     "                        help='stop after this many iterations (0: num_epochs epochs)')\n"
     "    parser.add_argument('--seed', default=None, type=int, help='torch.manual_seed')\n"
     "    parser.add_argument('--workers', default=4, type=int, help='DataLoader workers')\n"
     "    parser.add_argument('--no-plots', action='store_true',\n"
     "                        help='skip plot_vs_gt (encodes every image at every log)')\n"
     "    parser.add_argument('--no-decomposition', action='store_true',\n"
     "                        help='skip the full-dataset ELBO decomposition after training')\n"
     "    args = parser.parse_args()\n"
     "    if args.seed is not None:\n"
     "        torch.manual_seed(args.seed)\n",
     1, "new flags"),
    ("vae_quant.py",
     "    num_iterations = len(train_loader) * args.num_epochs\n",
     "    num_iterations = len(train_loader) * args.num_epochs\n"
     "    if args.max_iters > 0:\n"
     "        num_iterations = args.max_iters\n",
     1, "--max-iters"),
    ("vae_quant.py",
     "    while iteration < num_iterations:\n"
     "        for i, x in enumerate(train_loader):\n",
     "    train_start = time.time()\n"
     "    while iteration < num_iterations:\n"
     "        for i, x in enumerate(train_loader):\n"
     "            if iteration >= num_iterations:\n"
     "                break\n",
     1, "--max-iters: stop inside an epoch"),
    ("vae_quant.py",
     "                eval('plot_vs_gt_' + args.dataset)(vae, train_loader.dataset,\n",
     "                if not args.no_plots: eval('plot_vs_gt_' + args.dataset)(vae, train_loader.dataset,\n",
     1, "--no-plots"),
    ("vae_quant.py",
     "    dataset_loader = DataLoader(train_loader.dataset, batch_size=1000, num_workers=1, shuffle=False)\n",
     "    print('[done] %d iterations in %.1f s' % (iteration, time.time() - train_start), flush=True)\n"
     "    if args.no_decomposition:\n"
     "        return vae\n"
     "    dataset_loader = DataLoader(train_loader.dataset, batch_size=1000, num_workers=1, shuffle=False)\n",
     1, "--no-decomposition; training time"),
    ("vae_quant.py",
     "    eval('plot_vs_gt_' + args.dataset)(vae, dataset_loader.dataset, os.path.join(args.save, 'gt_vs_latent.png'))\n",
     "    if not args.no_plots: eval('plot_vs_gt_' + args.dataset)(vae, dataset_loader.dataset, os.path.join(args.save, 'gt_vs_latent.png'))\n",
     1, "--no-plots"),
    ("lib/datasets.py",
     "        self.imgs = torch.from_numpy(self.dataset_zip['imgs']).float()\n",
     "        self.imgs = torch.from_numpy(self.dataset_zip['imgs'])  # uint8: 3 GB, not 12\n",
     1, "memory"),
    ("lib/datasets.py",
     "        x = self.imgs[index].view(1, 64, 64)\n",
     "        x = self.imgs[index].view(1, 64, 64).float()\n",
     1, "memory (float per item)"),
]

# Stand-ins for modules their scripts import but a CPU run does not use.
STUBS = {
    "visdom.py": '"""Stand-in (pyro-tcvae benchmarks/authors_code): visdom is not installed."""\n\n\n'
                 "class Visdom:\n"
                 "    def __init__(self, *args, **kwargs):\n"
                 "        raise RuntimeError('visdom is not installed: run without --visdom')\n",
    "brewer2mpl.py": '"""Stand-in (pyro-tcvae benchmarks/authors_code): brewer2mpl is not installed;\n'
                     'only get_map(\'Set1\', \'qualitative\', 3).mpl_colors is used."""\n\n\n'
                     "class _Map:\n"
                     "    mpl_colors = [(0.894, 0.102, 0.110), (0.216, 0.494, 0.722),\n"
                     "                  (0.302, 0.686, 0.290)]\n\n\n"
                     "def get_map(*args, **kwargs):\n"
                     "    return _Map()\n",
    "torchvision/__init__.py": '"""Stand-in (pyro-tcvae benchmarks/authors_code): torchvision is not\n'
                               'installed; their lib/datasets.py imports it without using it."""\n',
    "torchvision/datasets.py": "",
    "torchvision/transforms.py": "",
}


def write_stubs(root):
    for rel, text in STUBS.items():
        path = Path(root) / "_stubs" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def apply(root):
    root = Path(root)
    marker = root / MARKER
    if marker.is_file():
        if marker.read_text().strip() == VERSION:
            write_stubs(root)
            print(f"{root}: already patched (version {VERSION})")
            return
        sys.exit(f"{root} was patched by another version ({marker.read_text().strip()!r}); "
                 f"unpack a fresh copy")
    texts = {}
    for rel, old, new, count, why in PATCHES:
        if rel not in texts:
            texts[rel] = (root / rel).read_text()
        found = texts[rel].count(old)
        if found != count:
            sys.exit(f"patch failed ({rel}: {why}): expected {count} match(es), found {found}; "
                     f"nothing was written. Is this commit 1a3577d of rtqichen/beta-tcvae?")
        texts[rel] = texts[rel].replace(old, new)
    for rel, text in texts.items():
        (root / rel).write_text(text)
    write_stubs(root)
    marker.write_text(VERSION + "\n")
    for rel, _, _, count, why in PATCHES:
        print(f"patched {rel}: {why}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("scratch", help="the unpacked copy of their code (outside this repository)")
    apply(p.parse_args().scratch)
