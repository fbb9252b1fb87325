"""Same-budget check against the authors' beta-TCVAE code (issue 29, item 3).

Their code (github.com/rtqichen/beta-tcvae, pinned commit) is unpacked into a scratch
folder OUTSIDE this repository, patched there (``patch.py``), trained on this library's
dSprites written in the file format their loader reads, and each saved model is scored
with this library's evaluation (MIG, histogram MIG, ELBO decomposition), exactly as
``pyro-tcvae study`` scores its records.  Nothing of their code is copied here.

    python benchmarks/authors_code/driver.py prepare SCRATCH        # unpack + patch
    python benchmarks/authors_code/driver.py data SCRATCH           # dSprites -> their .npz
    python benchmarks/authors_code/driver.py all SCRATCH            # 2 methods x 3 seeds
    python benchmarks/authors_code/driver.py table SCRATCH/results.jsonl

``run.sh`` holds the exact command lines (full study and smoke test).

Subcommands
-----------
prepare  unpack the pinned commit from a bare git dir (``--git-dir``; else ``git clone``
         from GitHub), apply ``patch.py``.
data     write ``SCRATCH/data/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` (``imgs``
         uint8 [737280, 64, 64], ``latents_classes``, ``latents_values``) from
         ``pyro_tcvae.data.DSprites`` (rendered, or the real file when one is found:
         the same images the library's studies train on), read it back with the
         library's reader and check it equals the source.
train    one run of their ``vae_quant.py`` (MLP, dSprites, Normal q and prior, their
         default estimator MWS); the log goes to ``SCRATCH/runs/NAME/train.log`` and a
         summary to ``train.json``.
score    load their checkpoint with their ``VAE`` class, encode with their encoder
         (q(z|x) = Normal(mu, exp(logsigma)): their encoder's output viewed [B, D, 2],
         [..., 0] the mean, [..., 1] the log standard deviation), decode with their
         decoder (Bernoulli logits), and evaluate with
         ``pyro_tcvae.runs.evaluate.evaluate_model`` on the same ``--items`` subset
         that ``pyro-tcvae study`` uses (``torch.randperm(N, seed 0)[:items]``, sorted);
         append one JSON line to ``--out``.
all      train and score every (seed, method) that has no result yet, seed by seed;
         a run whose training finished is not trained again.
table    a markdown table of a results file, with the library's own dsprites_beta
         records at the same beta beside it.
"""

import argparse
import hashlib
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
GITHUB = "https://github.com/rtqichen/beta-tcvae"
COMMIT = "1a3577dbb14642b9ac27010928d12132d0c0fb91"
DEFAULT_GIT_DIR = "/work/.mirror/rtqichen+beta-tcvae/repo"
NPZ = "data/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"  # their Shapes() path (cwd-relative)
METHODS = {"beta-vae": [], "tcvae": ["--tcvae"]}  # their flags: beta-VAE is --beta alone

sys.path.insert(0, str(HERE))
import patch as patcher  # noqa: E402


def scratch_path(arg):
    """The scratch folder, refused when it lies inside this repository."""
    path = Path(arg).resolve()
    if path == REPO or REPO in path.parents:
        sys.exit(f"{path} is inside the repository {REPO}: the authors' code must stay outside it")
    return path


def run_name(method, seed):
    return f"{method}_seed{seed}"


# prepare -------------------------------------------------------------------------------
def prepare(args):
    root = scratch_path(args.scratch)
    if not (root / "vae_quant.py").is_file():
        root.mkdir(parents=True, exist_ok=True)
        git_dir = args.git_dir or (DEFAULT_GIT_DIR if Path(DEFAULT_GIT_DIR).is_dir() else None)
        if git_dir is None:
            git_dir = str(root / ".src.git")
            if not Path(git_dir).is_dir():
                subprocess.run(["git", "clone", "--bare", GITHUB, git_dir], check=True)
        archive = subprocess.run(["git", "--git-dir", git_dir, "archive", args.commit],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
        (root / "SOURCE").write_text(f"{GITHUB} {args.commit}\n")
        print(f"unpacked {GITHUB} at {args.commit[:7]} into {root}")
    patcher.apply(root)


def stub_path(root):
    """The stand-in folder when a module their scripts import is missing, else None."""
    missing = [m for m in ("visdom", "torchvision", "brewer2mpl")
               if importlib.util.find_spec(m) is None]
    return (str(root / "_stubs"), missing) if missing else (None, [])


# data ----------------------------------------------------------------------------------
def _npy_header(shape, descr):
    buf = io.BytesIO()
    import numpy as np
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


def _npy_bytes(array):
    import numpy as np
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def write_data(args):
    import numpy as np
    from pyro_tcvae.data import DSprites
    from pyro_tcvae.data.dsprites import factor_values, read_npz

    root = scratch_path(args.scratch)
    out = root / NPZ
    side = out.with_suffix(".json")
    data = DSprites(source=args.source)
    bits = np.asarray(data.bits)
    digest = hashlib.sha256(bits.tobytes()).hexdigest()
    if out.is_file() and side.is_file() and json.loads(side.read_text()).get("bits_sha256") == digest:
        print(f"{out} is current ({data.source}, bits sha256 {digest[:12]})")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    n = len(data)
    classes = data.factors.numpy().astype(np.int64)
    values = np.stack([v.numpy().astype(np.float64)[classes[:, k]]
                       for k, v in enumerate(factor_values())], 1)
    tmp = out.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("imgs.npy", "w", force_zip64=True) as f:
            f.write(_npy_header((n, 64, 64), "|u1"))
            for i in range(0, n, 16384):
                f.write(np.unpackbits(bits[i:i + 16384], axis=1).tobytes())
        zf.writestr("latents_classes.npy", _npy_bytes(classes))
        zf.writestr("latents_values.npy", _npy_bytes(values))
    os.replace(tmp, out)
    print(f"wrote {out} ({out.stat().st_size / 2**20:.0f} MB, {n:,} images from the "
          f"{data.source} dSprites) in {time.perf_counter() - t0:.0f} s")
    if not args.no_verify:
        t0 = time.perf_counter()
        back, back_classes = read_npz(out, progress=False)
        if not (np.array_equal(back, bits) and np.array_equal(back_classes, classes)):
            sys.exit(f"{out} does not read back as the dataset it was written from")
        print(f"read back with pyro_tcvae's reader: identical ({time.perf_counter() - t0:.0f} s)")
    side.write_text(json.dumps({"source": data.source, "path": str(data.path),
                                "bits_sha256": digest, "items": n}) + "\n")


# train ---------------------------------------------------------------------------------
ELBO_RE = re.compile(r"\[iteration (\d+)\] time: ([\d.]+).*training ELBO: (\S+) \((\S+)\)")
DONE_RE = re.compile(r"\[done\] (\d+) iterations in ([\d.]+) s")


def train(args, method, seed):
    root = scratch_path(args.scratch)
    if not (root / patcher.MARKER).is_file():
        sys.exit(f"{root} is not a patched copy: run `driver.py prepare {root}` first")
    if not (root / NPZ).is_file():
        sys.exit(f"no {root / NPZ}: run `driver.py data {root}` first")
    folder = root / args.runs / run_name(method, seed)
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "vae_quant.py", "--dataset", "shapes", "-dist", "normal",
           "--beta", str(args.beta), *METHODS[method], "-b", str(args.batch),
           "-l", "1e-3", "-z", "10", "--max-iters", str(args.steps), "--seed", str(seed),
           "--save", str(folder), "--log_freq", str(args.log_freq),
           "--workers", str(args.workers), "--no-plots", "--no-decomposition"]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               PYTHONUNBUFFERED="1")
    stubs, missing = stub_path(root)
    if stubs:  # after their own folder and anything installed
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [env.get("PYTHONPATH"), stubs]))
    shown = " ".join(cmd[1:])
    print(f"[{run_name(method, seed)}] (cd {root} && OMP_NUM_THREADS={args.threads} python {shown})"
          + (f"  [stand-ins: {', '.join(missing)}]" if missing else ""), flush=True)
    (folder / "checkpt-0000.pth").unlink(missing_ok=True)
    t0 = time.time()
    log_lines, elbos, done = [], [], None
    with open(folder / "train.log", "w") as log:
        log.write(f"# cwd {root}\n# {shown}\n")
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            stamp = time.time() - t0
            log.write(f"{stamp:9.1f}  {line}")
            log.flush()
            if "Warning" in line or "warn(" in line:
                continue
            m = ELBO_RE.search(line)
            if m:
                elbos.append({"iteration": int(m[1]), "wall": round(stamp, 1),
                              "batch_seconds": float(m[2]), "elbo": float(m[3]),
                              "elbo_running": float(m[4])})
                print(f"  {line.rstrip()}", flush=True)
            d = DONE_RE.search(line)
            if d:
                done = (int(d[1]), float(d[2]))
            log_lines.append(line)
        rc = proc.wait()
    if rc != 0 or done is None or done[0] != args.steps:
        sys.exit(f"[{run_name(method, seed)}] training failed (exit {rc}); the end of "
                 f"{folder / 'train.log'}:\n" + "".join(log_lines[-25:]))
    summary = {"method": method, "seed": seed, "steps": done[0], "batch": args.batch,
               "beta": args.beta, "estimator": "mws", "threads": args.threads,
               "workers": args.workers, "train_loop_seconds": done[1],
               "seconds_per_iteration": done[1] / done[0],
               # from the first log line to the last: no start-up, no data loading
               "seconds_per_iteration_steady": (elbos[-1]["wall"] - elbos[0]["wall"]) /
               (elbos[-1]["iteration"] - elbos[0]["iteration"]) if len(elbos) > 1 else None,
               "process_seconds": round(time.time() - t0, 1), "log": elbos,
               "command": f"cd {root} && OMP_NUM_THREADS={args.threads} python {shown}",
               "authors_commit": (root / "SOURCE").read_text().split()[-1]
               if (root / "SOURCE").is_file() else None,
               "patch_version": patcher.VERSION}
    (folder / "train.json").write_text(json.dumps(summary, indent=1) + "\n")
    steady = summary["seconds_per_iteration_steady"]
    print(f"[{run_name(method, seed)}] {done[0]} iterations in {done[1]:.1f} s "
          f"({done[1] / done[0]:.3f} s per iteration"
          + (f", {steady:.3f} s from the first log on" if steady else "")
          + f"; the process took {summary['process_seconds']:.0f} s with data loading)",
          flush=True)
    return summary


def trained(root, method, seed, steps, runs="runs"):
    folder = root / runs / run_name(method, seed)
    try:
        summary = json.loads((folder / "train.json").read_text())
    except (OSError, ValueError):
        return None
    ok = summary.get("steps") == steps and (folder / "checkpt-0000.pth").is_file()
    return summary if ok else None


# score ---------------------------------------------------------------------------------
def load_theirs(root, checkpoint):
    """Their VAE, built by their own class from their checkpoint (CPU)."""
    import torch
    stubs, _ = stub_path(root)
    for p in (str(root), stubs):
        if p and p not in sys.path:
            sys.path.append(p) if p == stubs else sys.path.insert(0, p)
    cwd = os.getcwd()
    os.chdir(root)  # their modules use cwd-relative paths
    try:
        import lib.dist as their_dist
        import vae_quant
    finally:
        os.chdir(cwd)
    # the checkpoint holds their argparse Namespace next to the weights (a file this
    # pipeline wrote): weights_only=False is needed to read it
    ck = torch.load(checkpoint, map_location="cpu", weights_only=False)
    a = ck["args"]
    if getattr(a, "dist", "normal") != "normal" or getattr(a, "conv", False):
        sys.exit(f"{checkpoint}: only the MLP with Normal q and prior is scored here")
    vae = vae_quant.VAE(z_dim=a.latent_dim, use_cuda=False, prior_dist=their_dist.Normal(),
                        q_dist=their_dist.Normal(), include_mutinfo=not a.exclude_mutinfo,
                        tcvae=a.tcvae, conv=a.conv, mss=a.mss)
    vae.load_state_dict(ck["state_dict"])
    vae.eval()
    return vae, a


def adapter(their_vae):
    """Their encoder and decoder behind the interface the library's evaluation reads
    (``encode`` -> a posterior [B, D]; ``decoder``, ``prior``, ``likelihood``,
    ``x_shape`` for the ELBO)."""
    import pyro.distributions as dist
    import torch.nn as nn
    from pyro_tcvae.models.likelihoods import BernoulliLikelihood
    from pyro_tcvae.models.priors import NormalPrior

    class Theirs(nn.Module):
        x_shape = (64, 64)

        def __init__(self, vae):
            super().__init__()
            self.vae, self.z_dim = vae, vae.z_dim
            self.prior = NormalPrior(vae.z_dim)
            self.likelihood = BernoulliLikelihood()  # on their decoder's logits

        def encode(self, x):
            b = x.shape[0]
            p = self.vae.encoder(x.reshape(b, 1, 64, 64)).view(b, self.z_dim, 2)
            return dist.Normal(p[..., 0], p[..., 1].exp())  # (mu, log sigma)

        def decoder(self, z):
            return self.vae.decoder(z).reshape(z.shape[0], -1)  # Bernoulli logits

    return Theirs(their_vae)


def score(args, method, seed):
    import torch
    from pyro_tcvae.data import DSprites, View
    from pyro_tcvae.runs.evaluate import evaluate_model

    root = scratch_path(args.scratch)
    folder = root / args.runs / run_name(method, seed)
    summary = trained(root, method, seed, args.steps, args.runs)
    if summary is None:
        sys.exit(f"no finished training of {args.steps} steps in {folder}")
    torch.set_num_threads(args.threads)
    vae, their_args = load_theirs(root, folder / "checkpt-0000.pth")
    if bool(their_args.tcvae) != (method == "tcvae") or their_args.beta != args.beta:
        sys.exit(f"{folder}: the checkpoint's settings (tcvae={their_args.tcvae}, "
                 f"beta={their_args.beta}) are not {method} at beta {args.beta}")
    data = DSprites(source=args.source, progress=False)
    source = data.source
    side = root / Path(NPZ).with_suffix(".json")
    if side.is_file():
        import numpy as np
        trained_on = json.loads(side.read_text())["bits_sha256"]
        if hashlib.sha256(np.asarray(data.bits).tobytes()).hexdigest() != trained_on:
            sys.exit("the dSprites the models were trained on differ from the one loaded now")
    items = args.items if args.items and args.items < len(data) else None
    if items:  # the subset `pyro-tcvae study` evaluates (runs/evaluate.py), seed 0
        g = torch.Generator().manual_seed(0)
        data = View(data, torch.randperm(len(data), generator=g)[:items].sort().values)
    t0 = time.perf_counter()
    result = evaluate_model(adapter(vae), data, num_samples=args.num_samples, seed=0,
                            progress=False)
    m, h, d = result["mig"], result["mig_histogram"], result["decomposition"]
    last = summary["log"][-1] if summary["log"] else {}
    row = {
        "code": "authors", "method": method, "seed": seed, "steps": summary["steps"],
        "batch": summary["batch"], "beta": summary["beta"], "estimator": "mws",
        "mig": m["score"], "mig_se": m["stderr"], "mig_gaps": m["gaps"],
        "mig_sup": m["sup"], "mig_histogram": h["score"] if h else None,
        "elbo": d["elbo"], "elbo_se": d["stderr"]["elbo"],
        "log_likelihood": d["log_likelihood"], "mi": d["mi"], "tc": d["tc"],
        "dwkl": d["dwkl"], "kl": d["kl"],
        "their_train_elbo": last.get("elbo_running"),  # their log's running mean (momentum 0.97)
        "their_train_elbo_iteration": last.get("iteration"),
        "their_last_batch_elbo": last.get("elbo"),
        "items": result["items"], "num_samples": args.num_samples,
        "data_source": source,
        "train_loop_seconds": summary["train_loop_seconds"],
        "seconds_per_iteration": round(summary["seconds_per_iteration"], 4),
        "seconds_per_iteration_steady": summary.get("seconds_per_iteration_steady"),
        "threads": summary["threads"], "score_seconds": round(time.perf_counter() - t0, 1),
        "authors_commit": summary["authors_commit"], "patch_version": summary["patch_version"],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    (folder / "score.json").write_text(json.dumps({**row, "eval": result}, indent=1) + "\n")
    line = json.dumps(row)
    out = Path(args.out) if args.out else root / "results.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a") as f:
        f.write(line + "\n")
    print(line, flush=True)
    return row


def scored(out, method, seed, steps, items):
    try:
        lines = Path(out).read_text().splitlines()
    except OSError:
        return False
    for line in lines:
        r = json.loads(line)
        if (r["method"], r["seed"], r["steps"]) == (method, seed, steps) and \
                r["items"] == (items or 737_280):
            return True
    return False


def run_all(args):
    root = scratch_path(args.scratch)
    out = args.out or str(root / "results.jsonl")
    args.out = out
    t0 = time.time()
    for seed in args.seeds:
        for method in args.methods:
            if scored(out, method, seed, args.steps, args.items):
                print(f"[{run_name(method, seed)}] already in {out}")
                continue
            if trained(root, method, seed, args.steps, args.runs) is None:
                train(args, method, seed)
            else:
                print(f"[{run_name(method, seed)}] trained before; scoring")
            # a fresh process for scoring: their modules and the images leave the trainer
            cmd = [sys.executable, __file__, "score", str(root), "--method", method,
                   "--seed", str(seed), "--steps", str(args.steps), "--beta", str(args.beta),
                   "--items", str(args.items), "--num-samples", str(args.num_samples),
                   "--threads", str(args.threads), "--source", args.source, "--out", out,
                   "--runs", args.runs]
            subprocess.run(cmd, check=True)
    print(f"all done in {(time.time() - t0) / 60:.1f} min; results in {out}")


# table ---------------------------------------------------------------------------------
def table(args):
    import statistics
    rows = [json.loads(x) for x in Path(args.results).read_text().splitlines() if x.strip()]
    latest = {}
    for r in rows:  # the last line of a run wins
        latest[(r["method"], r["seed"], r["steps"], r["items"])] = r
    rows = sorted(latest.values(), key=lambda r: (r["steps"], r["method"], r["seed"]))
    ours = {}
    if args.ours:
        for r in rows:
            p = Path(args.ours) / f"{r['method']}_beta{r['beta']:g}_seed{r['seed']}.json"
            if p.is_file():
                rec = json.loads(p.read_text())
                if rec["config"]["steps"] != r["steps"] or rec["config"]["batch_size"] != r["batch"]:
                    continue  # another budget: not comparable
                ours[(r["method"], r["seed"])] = (rec["eval"]["mig"]["score"],
                                                  rec["eval"]["decomposition"]["elbo"],
                                                  rec["config"]["steps"], rec["eval"]["items"])
    print("| code | method | seed | steps | batch | beta | MIG (SE) | ELBO | TC | their train ELBO "
          "| s/iter | items |" + (" library MIG | library ELBO |" if ours else ""))
    print("|---|---|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if ours else ""))
    for r in rows:
        o = ours.get((r["method"], r["seed"]))
        print(f"| authors | {r['method']} | {r['seed']} | {r['steps']} | {r['batch']} | "
              f"{r['beta']:g} | {r['mig']:.3f} ({r['mig_se']:.3f}) | {r['elbo']:.2f} | "
              f"{r['tc']:.2f} | {r['their_train_elbo'] if r['their_train_elbo'] is None else round(r['their_train_elbo'], 2)} | "
              f"{r['seconds_per_iteration']:.2f} | {r['items']:,} |"
              + ((f" {o[0]:.3f} | {o[1]:.2f} |" if o else " - | - |") if ours else ""))
    by = {}
    for r in rows:
        by.setdefault(r["method"], []).append(r)
    print()
    for method, rs in by.items():
        migs = [r["mig"] for r in rs]
        sd = f"sd {statistics.stdev(migs):.3f}, " if len(migs) > 1 else ""
        line = f"- authors' {method}: MIG mean {statistics.mean(migs):.3f} ({sd}{len(migs)} seeds)"
        lib = [ours[(method, r["seed"])][0] for r in rs if (method, r["seed"]) in ours]
        if lib:
            line += f"; library's records: mean {statistics.mean(lib):.3f} ({len(lib)} seeds)"
        print(line)
    pairs = {}
    for r in rows:
        pairs.setdefault(r["seed"], {})[r["method"]] = r["mig"]
    diffs = [p["tcvae"] - p["beta-vae"] for p in pairs.values() if len(p) == 2]
    if diffs:
        print("- authors' code, paired MIG difference tcvae - beta-vae by seed: "
              + ", ".join(f"{x:+.3f}" for x in diffs) + f" (mean {statistics.mean(diffs):+.3f})")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(q, runs=True):
        q.add_argument("scratch", help="scratch folder for their code and runs (outside the repository)")
        q.add_argument("--source", default="auto", choices=["auto", "file", "render"],
                       help="DSprites(source=...): the images trained on and scored")
        if runs:
            q.add_argument("--steps", type=int, default=1200)
            q.add_argument("--batch", type=int, default=1024)
            q.add_argument("--beta", type=float, default=6.0)
            q.add_argument("--threads", type=int, default=2)
            q.add_argument("--workers", type=int, default=0,
                           help="their DataLoader's workers (theirs: 4)")
            q.add_argument("--log-freq", type=int, default=200, help="their --log_freq")
            q.add_argument("--items", type=int, default=100_000,
                           help="items scored (0: all 737,280); the study's subset")
            q.add_argument("--num-samples", type=int, default=10_000)
            q.add_argument("--out", default=None, help="results file (default SCRATCH/results.jsonl)")
            q.add_argument("--runs", default="runs",
                           help="subfolder of SCRATCH for the run folders (a smoke test: another)")

    q = sub.add_parser("prepare", help="unpack their code and patch it")
    q.add_argument("scratch")
    q.add_argument("--git-dir", default=None, help=f"a clone of {GITHUB} (default: "
                   f"{DEFAULT_GIT_DIR} when present, else a fresh clone)")
    q.add_argument("--commit", default=COMMIT)
    q = sub.add_parser("data", help="write the dSprites .npz their loader reads")
    common(q, runs=False)
    q.add_argument("--no-verify", action="store_true")
    for name in ("train", "score"):
        q = sub.add_parser(name)
        common(q)
        q.add_argument("--method", required=True, choices=list(METHODS))
        q.add_argument("--seed", type=int, required=True)
    q = sub.add_parser("all", help="train and score every missing run")
    common(q)
    q.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    q.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    q = sub.add_parser("table", help="markdown table of a results file")
    q.add_argument("results")
    q.add_argument("--ours", default=str(REPO / "docs/results/dsprites_beta"),
                   help="the library's records to set beside (empty: none)")
    args = p.parse_args(argv)
    if args.cmd == "prepare":
        prepare(args)
    elif args.cmd == "data":
        write_data(args)
    elif args.cmd == "train":
        train(args, args.method, args.seed)
    elif args.cmd == "score":
        score(args, args.method, args.seed)
    elif args.cmd == "all":
        run_all(args)
    else:
        table(args)


if __name__ == "__main__":
    main()
