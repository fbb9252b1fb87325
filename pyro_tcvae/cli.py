"""The ``pyro-tcvae`` command: train, evaluate, plot, sweep (and a demo).

``pyro-tcvae train`` with no options trains the built-in default (a beta-TCVAE on a
small sprite dataset, a few minutes on a laptop CPU), then evaluates and plots it.
"""

import argparse
import sys
from pathlib import Path

from .runs import DATASETS, OBJECTIVES, TrainConfig

TRAIN_OPTIONS = {
    # flag: (config field, type, help)
    "--dataset": ("dataset", str, f"one of {', '.join(DATASETS)} (default small_sprites)"),
    "--dsprites-path": ("dsprites_path", str, "the dSprites .npz (default: look for it, "
                                              "else render the dataset)"),
    "--objective": ("objective", str, f"one of {', '.join(OBJECTIVES)} (default tcvae)"),
    "--beta": ("beta", float, "weight of the TC (tcvae) or of the whole KL (beta-vae); "
                              "default 6"),
    "--estimator": ("estimator", str, "mss (default) or mws"),
    "--prior": ("prior", str, "normal (default), laplace or flow"),
    "--latent": ("latent", str, "normal (default), laplace, studentt, relaxed_bernoulli"),
    "--arch": ("arch", str, "mlp, conv or small_mlp (default: mlp for images)"),
    "--z-dim": ("z_dim", int, "latent dimensions (default 10)"),
    "--steps": ("steps", int, "training steps (wins over --epochs)"),
    "--epochs": ("epochs", float, "training epochs"),
    "--batch-size": ("batch_size", int, "default 256"),
    "--lr": ("lr", float, "Adam learning rate (default 1e-3)"),
    "--seed": ("seed", int, "default 0"),
    "--warmup": ("warmup", int, "steps of linear beta warm-up (default 0)"),
    "--beta-start": ("beta_start", float, "beta at the start of the warm-up (default 1)"),
    "--log-every": ("log_every", int, "steps per metrics.jsonl line (default 50)"),
    "--checkpoint-every": ("checkpoint_every", int, "steps per checkpoint (default 500)"),
    "--mig-every": ("mig_every", float, "minutes of training time between MIG readings of a "
                                        "fixed subset, written to mig.jsonl (default 0: off)"),
    "--mig-items": ("mig_items", int, "items in the MIG monitor's fixed subset (default "
                                      "50000)"),
    "--device": ("device", str, "cpu (default), cuda, cuda:N or auto"),
    "--precision": ("precision", str, "fp32 (default) or bf16: the networks under bfloat16 "
                                      "autocast, about 1.5x faster on CPUs with bf16 support"),
}

#: The built-in default run: a beta-TCVAE on SmallSprites, a few minutes on 2 cores.
DEFAULT_RUN = {"dataset": "small_sprites", "steps": 1500, "batch_size": 256, "lr": 2e-3, "z_dim": 6}


def _add_train_options(p):
    for flag, (field, typ, help_) in TRAIN_OPTIONS.items():
        p.add_argument(flag, dest=field, type=typ, default=None, help=help_)


def _given(args):
    return {field: getattr(args, field) for _, (field, _, _) in TRAIN_OPTIONS.items()
            if getattr(args, field) is not None}


def _config(given):
    """The options given, on top of the built-in default when the dataset is the
    default's (its length is dropped when --steps or --epochs is given); other datasets
    start from :class:`TrainConfig`'s defaults (the paper's: 10 latents, lr 1e-3)."""
    base = {}
    if given.get("dataset", DEFAULT_RUN["dataset"]) == DEFAULT_RUN["dataset"]:
        base = dict(DEFAULT_RUN)
        if "steps" in given or "epochs" in given:
            base.pop("steps")
    return TrainConfig(**{**base, **given}).validate()


def _default_out(cfg):
    return Path("runs") / f"{cfg.dataset}-{cfg.objective}-beta{cfg.beta:g}-seed{cfg.seed}"


def build_parser():
    parser = argparse.ArgumentParser(
        prog="pyro-tcvae",
        description="beta-TCVAE for Pyro: train, evaluate and look at disentangled VAEs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="train a VAE / beta-VAE / beta-TCVAE (no options: the "
                                     "built-in default, a few minutes)")
    _add_train_options(p)
    p.add_argument("--out", type=Path, help="run folder (default runs/<dataset>-<objective>-...)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--no-eval", action="store_true", help="skip the evaluation and plots "
                                                          "at the end")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = sub.add_parser("evaluate", help="MIG (both variants) and the ELBO decomposition of a "
                                        "run, written to RUN_DIR/eval.json")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--num-samples", type=int, default=10_000)
    p.add_argument("--max-components", type=int, default=200_000,
                   help="mixture components (0: every item, the exact procedure)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("plot", help="traversals, reconstructions, latents vs factors, "
                                    "training curves, in RUN_DIR/figures")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("sweep", help="betas x seeds x objectives into one folder, with a "
                                     "table and MIG-vs-beta / TC-vs-MIG plots")
    _add_train_options(p)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--betas", type=float, nargs="+", default=[1.0, 4.0, 6.0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--objectives", nargs="+", default=["tcvae"], choices=OBJECTIVES)
    p.add_argument("--num-samples", type=int, default=10_000)
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("demo", help="beta = 1 against beta = 6 on a synthetic vector dataset "
                                    "(about a minute)")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    return parser


def _train(args):
    from .evaluate import evaluate, format_eval
    from .runs import read_config
    from .train import train
    from .viz import plot_run

    given = _given(args)
    progress = not args.quiet
    if args.resume:
        if args.out is None:
            raise ValueError("--resume needs --out RUN_DIR (the run to continue)")
        cfg = TrainConfig(**{**read_config(args.out).to_dict(), **given}).validate()
    else:
        cfg = _config(given)
    out = args.out or _default_out(cfg)
    print(f"training in {out}: {cfg.objective}, beta {cfg.beta:g}, {cfg.dataset}, "
          f"{cfg.steps or cfg.epochs} {'steps' if cfg.steps else 'epochs'}")
    summary = train(cfg, out, resume=args.resume, progress=progress)
    if summary["interrupted"]:
        return 130
    t = summary["terms"] or {}
    print(f"done: {summary['step']} steps in {summary['elapsed']:.0f} s; last minibatch terms: "
          + ", ".join(f"{k} {t[k]:.3f}" for k in ("elbo", "mi", "tc", "dwkl") if k in t))
    if not args.no_eval:
        result = evaluate(out, progress=progress)
        print(format_eval(result))
        files = plot_run(out, progress=progress)
        print("figures: " + ", ".join(str(f) for f in files))
    else:
        print(f"next: pyro-tcvae evaluate {out}; pyro-tcvae plot {out}")
    return 0


def _sweep(args):
    from .sweep import format_rows, sweep

    base = _config(_given(args))
    rows = sweep(base, args.out, betas=args.betas, seeds=args.seeds,
                 objectives=args.objectives, num_samples=args.num_samples,
                 progress=not args.quiet)
    print(format_rows(rows))
    print(f"plots: {args.out / 'mig_vs_beta.png'}, {args.out / 'tc_vs_mig.png'}")
    return 0


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    from .data import DSpritesFileError
    from .runs import RunError

    try:
        if args.command == "train":
            return _train(args)
        if args.command == "evaluate":
            from .evaluate import evaluate, format_eval

            result = evaluate(args.run_dir, num_samples=args.num_samples,
                              max_components=args.max_components or None, seed=args.seed,
                              progress=not args.quiet)
            print(format_eval(result))
            print(f"written: {args.run_dir / 'eval.json'}")
            return 0
        if args.command == "plot":
            from .viz import plot_run

            files = plot_run(args.run_dir, progress=not args.quiet)
            print("figures: " + ", ".join(str(f) for f in files))
            return 0
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "demo":
            from .demo import run

            run(steps=args.steps, seed=args.seed)
            return 0
        parser.print_help()
        return 2
    except (RunError, DSpritesFileError, ValueError, FileNotFoundError) as e:
        print(f"pyro-tcvae: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pyro-tcvae: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
