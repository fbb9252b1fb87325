"""The ``pyro-tcvae`` command: train, evaluate, plot, sweep.

The training options are generated from :class:`~pyro_tcvae.runs.TrainConfig`'s fields
(names, types, choices, defaults and help in one place), so the help says what runs.
``pyro-tcvae train`` with no options trains the built-in run, then evaluates and plots it.
"""

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from .runs import CHOICES, DATASETS, OBJECTIVES, RunError, RunFolder, TrainConfig
from .metrics.suite import SUITE, SUITE_ITEMS
from .runs.config import field_type
from .runs.parallel import check_world
from .runs.plugins import KINDS as PLUGGABLE, is_import_path
from .runs.registry import BUILTIN_DATASET
from .study.sweep import DEFAULT_GRID

EVAL_ITEMS_HELP = ("evaluate on a fixed random subset of N items (drawn with the evaluation "
                   "seed; default and 0: every item; e.g. 100000 on dSprites takes a "
                   "seventh of the time)")

#: The sweep's value lists: flag -> the hyperparameter they set.
SWEEP_VALUES = {"--betas": "beta", "--gammas": "gamma", "--capacities": "capacity",
                "--lambdas": "lambda_od"}


def _flag(name):
    return "--" + name.replace("_", "-")


def default_text(f):
    """The default of an option as the help shows it (the documentation site's table of
    options shows it so too)."""
    if f.metadata["objective_default"]:
        return _default_text_objective(f)
    if f.metadata["dataset_default"]:
        if f.name == "epochs":
            return "default: see --steps"
        parts = []
        for ds, entry in DATASETS.items():
            d = entry.defaults
            if f.name == "steps" and d.get("steps"):
                value = f"{d['steps']} steps"
            elif f.name == "steps":
                value = f"{d['epochs']:g} epoch{'s' if d['epochs'] != 1 else ''}"
            else:
                value = f"{d[f.name]:g}" if isinstance(d[f.name], float) else f"{d[f.name]}"
            parts.append(f"{ds} {value}" + (" (the built-in run)" if ds == BUILTIN_DATASET else ""))
        return "default per dataset: " + ", ".join(parts)
    if f.default is None:
        return ""
    return f"default: {f.default:g}" if isinstance(f.default, float) else f"default: {f.default}"


def add_config_options(parser):
    """One flag per field of TrainConfig that the command line offers."""
    group = parser.add_argument_group("run options (saved in config.json)")
    for f in dataclasses.fields(TrainConfig):
        if not f.metadata["cli"]:
            continue
        text = default_text(f)
        if f.name in PLUGGABLE:  # a built-in name, or a user's entry by import path
            group.add_argument(_flag(f.name), dest=f.name, type=_name_or_path(f.name),
                               default=None, metavar=f.name.upper(),
                               help=f.metadata["help"] + f" ({text}; one of "
                                    f"{', '.join(CHOICES[f.name])}, or your own as "
                                    f"module:Name, e.g. mypkg.{f.name}s:My{f.name.title()})")
            continue
        group.add_argument(_flag(f.name), dest=f.name, type=field_type(f), default=None,
                           choices=CHOICES.get(f.name),
                           help=f.metadata["help"] + (f" ({text})" if text else ""))


def _name_or_path(option):
    """argparse type of a pluggable option: a registered name or 'module:Name' (checked
    with the configuration, which imports it)."""
    def parse(text):
        if text in CHOICES[option] or is_import_path(text):
            return text
        raise argparse.ArgumentTypeError(
            f"invalid choice: {text!r} (choose from {', '.join(CHOICES[option])}, or give "
            f"your own as module:Name)")
    parse.__name__ = option
    return parse


def given_options(args):
    """The configuration options given on the command line (not their defaults)."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
            if f.metadata["cli"] and getattr(args, f.name, None) is not None}


def _default_text_objective(f):
    parts = [f"{o} {e.defaults[f.name]:g}" for o, e in OBJECTIVES.items() if f.name in e.defaults]
    return "default per objective: " + ", ".join(parts)


def _builtin_description():
    c = TrainConfig().validate()
    return (f"With no options: the built-in run, {c.objective} (beta {c.beta:g}) on "
            f"{c.dataset}, {c.z_dim} latents, {c.steps} steps of batch {c.batch_size}, lr "
            f"{c.lr:g} (about 2 minutes on 2 CPU cores), then evaluation and figures.")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="pyro-tcvae",
        description="beta-TCVAE for Pyro: train, evaluate and look at disentangled VAEs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="train a VAE / beta-VAE / beta-TCVAE (no options: the "
                                     "built-in run, a few minutes)",
                       description=_builtin_description())
    add_config_options(p)
    p.add_argument("--out", type=Path, help="run folder (default runs/<dataset>-<objective>-"
                                            "beta<beta>-seed<seed>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--no-eval", action="store_true", help="skip the evaluation and plots "
                                                          "at the end")
    p.add_argument("--eval-items", type=int, default=None, metavar="N",
                   help=EVAL_ITEMS_HELP)
    p.add_argument("--drop-checkpoint", action="store_true",
                   help="delete checkpoint.pt when the run has finished (it is needed only "
                        "to train on with --resume; the model, its evaluation and figures "
                        "stay)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--nproc", type=int, default=None,
                   help="train on N processes (torchrun --nproc_per_node=N; the TC over the "
                        "global batch, --batch-size split evenly; --device cuda: one GPU "
                        "per process)")

    p = sub.add_parser("evaluate", help="MIG (both variants) and the ELBO decomposition of a "
                                        "run (--metrics all: the field's whole suite), "
                                        "written to RUN_DIR/eval.json")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--num-samples", type=int, default=10_000, help="default 10000")
    p.add_argument("--max-components", type=int, default=200_000,
                   help="mixture components (0: every item, the exact procedure; default "
                        "200000)")
    p.add_argument("--seed", type=int, default=0, help="default 0")
    p.add_argument("--nproc", type=int, default=None,
                   help="share the encoding out over N processes (torchrun)")
    p.add_argument("--metrics", default="mig", metavar="NAMES",
                   help="mig (default: MIG, histogram MIG, MIG-sup and the ELBO "
                        "decomposition, always computed), all, or a comma-separated "
                        "list adding metrics of the suite: " + ", ".join(SUITE) +
                        " (on a fixed subset of --suite-items items; their codes go to "
                        "RUN_DIR/eval_codes.npz)")
    p.add_argument("--suite-items", type=int, default=SUITE_ITEMS,
                   help=f"items of the suite's fixed subset (default {SUITE_ITEMS})")
    p.add_argument("--eval-items", type=int, default=None, metavar="N", help=EVAL_ITEMS_HELP)
    p.add_argument("--force", action="store_true",
                   help="compute again even when eval.json already holds this model's "
                        "evaluation with these settings")
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("plot", help="traversals, reconstructions, latents vs factors, "
                                    "training curves, in RUN_DIR/figures")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("sweep", help="betas x seeds x objectives into one folder, with a "
                                     "table and MIG-vs-beta / TC-vs-MIG plots")
    add_config_options(p)
    p.add_argument("--out", type=Path, required=True)
    for flag, option in SWEEP_VALUES.items():
        objectives = [o for o, e in OBJECTIVES.items() if e.options[:1] == (option,)]
        shown = " ".join(f"{v:g}" for v in DEFAULT_GRID[objectives[0]])
        p.add_argument(flag, type=float, nargs="+", default=None,
                       help=f"values of {option} for {', '.join(objectives)} (default {shown})")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="default 0")
    p.add_argument("--objectives", nargs="+", default=["tcvae"], choices=tuple(OBJECTIVES),
                   help="default tcvae")
    p.add_argument("--num-samples", type=int, default=10_000, help="default 10000")
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("study", help="train and evaluate every missing run of a study file "
                                     "(studies/*.toml) into one JSON record each, then report")
    p.add_argument("study_file", type=Path)
    p.add_argument("--results", type=Path, default=Path("docs/results"),
                   help="records go to RESULTS/<study name>/ (default docs/results)")
    p.add_argument("--work", type=Path, default=Path("runs/studies"),
                   help="run folders (checkpoints) go to WORK/<study name>/ (default "
                        "runs/studies)")
    p.add_argument("--replace", action="store_true",
                   help="train again the runs whose record another configuration made")
    p.add_argument("--limit", type=int, default=None, help="stop after this many runs")
    p.add_argument("--part", default=None, metavar="I/N",
                   help="only every N-th run from the I-th, to share a study between N "
                        "processes or machines (e.g. two processes of one thread each: "
                        "--part 1/2 --set threads=1 and --part 2/2 --set threads=1)")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="only the runs of these seeds (of the file's)")
    p.add_argument("--objectives", nargs="+", default=None,
                   help="only the runs of these objectives (of the file's)")
    p.add_argument("--status", action="store_true",
                   help="only list the runs (those --part, --seeds and --objectives select) "
                   "and their state, with how far an unfinished run's folder in --work got")
    p.add_argument("--device", default=None, help="device of every run (e.g. cuda)")
    p.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                   help="replace an option of every run (repeat; e.g. --set steps=18000 "
                        "--set batch_size=2048 --set precision=fp32, the paper's scale)")
    p.add_argument("--eval-items", type=int, default=None,
                   help="evaluate on this many items instead of the file's (0: every item)")
    p.add_argument("--name", default=None,
                   help="the study's name for this invocation (records go to "
                        "RESULTS/NAME/; use one with --set, so that another scale keeps "
                        "its own records)")
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("report", help="a study's report.md and figures from its records")
    p.add_argument("results_dir", type=Path, nargs="+",
                   help="e.g. docs/results/dsprites_beta; several folders pool their records")
    p.add_argument("--out", type=Path, default=None,
                   help="where report.md and the figures go (default: the first folder)")
    p.add_argument("--pool-from", type=float, default=4.0,
                   help="pool paired differences over hyperparameter values >= this "
                        "(default 4)")
    p.add_argument("--rescore", action="store_true",
                   help="first compute the metric suite again for every record with a "
                        "codes file beside it (<record>.codes.npz), from that file alone, "
                        "and write the results into the records")
    return parser


def _config(args, echo):
    """The run configuration from the options given (on top of the saved one when
    resuming)."""
    given = given_options(args)
    if "dsprites_path" in given and "dataset" not in given:
        given["dataset"] = "dsprites"
        echo("(--dsprites-path implies --dataset dsprites)")
    if getattr(args, "resume", False):
        if args.out is None:
            raise RunError("--resume needs --out RUN_DIR (the run to continue)")
        saved = RunFolder(args.out).read_config().to_dict()
        if "epochs" in given and "steps" not in given:
            saved["steps"] = None  # --epochs given now replaces the saved length
        given = {**saved, **given}
    return TrainConfig(**given).validate()


def _default_out(cfg):
    name, value = cfg.hyperparameter()
    setting = "" if name is None else f"-{name}{value:g}"
    name = f"{cfg.dataset}-{cfg.objective}{setting}-seed{cfg.seed}".replace(":", ".")
    return Path("runs") / name


def _check_nproc(nproc):
    if nproc < 1:
        raise RunError(f"--nproc must be >= 1, got {nproc}")


def _launch(nproc, argv):
    """Run this command again under torchrun on ``nproc`` processes."""
    import subprocess

    _check_nproc(nproc)
    rest, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            rest.append(a)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={nproc}", "-m", "pyro_tcvae.cli", *rest]
    return subprocess.call(cmd)


def _train(args):
    from .runs import evaluate, format_eval, plot_run, train

    if args.nproc is not None and "RANK" not in os.environ:
        # refuse bad options and an --out that cannot take this run before torchrun starts
        cfg = _config(args, lambda *a, **k: None)
        _check_nproc(args.nproc)
        check_world(cfg, args.nproc)
        RunFolder(args.out or _default_out(cfg)).check_writable(new_run=not args.resume)
        return _launch(args.nproc, args.argv)
    main_rank = int(os.environ.get("RANK", "0")) == 0
    say = print if main_rank else (lambda *a, **k: None)
    cfg = _config(args, say)
    _check_eval_items(args.eval_items)
    out = args.out or _default_out(cfg)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:  # refuse before announcing the run (on several processes rank 0
        # checks inside train() and shares a refusal with every rank)
        RunFolder(out).check_writable(new_run=not args.resume)
    length = (f"{cfg.steps} steps" if cfg.steps else
              f"{cfg.epochs:g} epoch{'' if cfg.epochs == 1 else 's'}")
    name, value = cfg.hyperparameter()
    setting = "" if name is None else f", {name} {value:g}"
    say(f"training in {out}: {cfg.objective}{setting}, {cfg.dataset}, {length} of batch "
        f"{cfg.batch_size}" + (f" ({world} processes)" if world > 1 else ""))
    run = train(cfg, out, resume=args.resume, progress=not args.quiet, echo=say)
    if run["interrupted"]:
        return 130
    if not main_rank:  # the encoding is shared out; rank 0 computes the rest and plots
        if not args.no_eval:
            evaluate(out, data=run["data"], model=run["model"], progress=False,
                     items=args.eval_items)
        return 0
    t = run["terms"] or {}
    print(f"done: {run['step']} steps in {run['elapsed']:.0f} s. Minibatch estimates of the "
          f"last steps (biased when the batch is much smaller than the dataset): "
          + ", ".join(f"{k} {t[k]:.3f}" for k in ("elbo", "mi", "tc", "dwkl") if k in t))
    if args.no_eval:
        print(f"next: pyro-tcvae evaluate {out}; pyro-tcvae plot {out}")
        print(_kept(out, args.drop_checkpoint))
        return 0
    print(_evaluating(args.eval_items, len(run["data"])))
    result = evaluate(out, data=run["data"], model=run["model"], progress=not args.quiet,
                      items=args.eval_items)
    print(format_eval(result))
    files = plot_run(out, data=run["data"], model=run["model"], progress=not args.quiet)
    print("figures: " + ", ".join(str(f) for f in files))
    print(_kept(out, args.drop_checkpoint))
    return 0


def _kept(out, drop_checkpoint):
    """One line on what the finished run keeps on disk (after deleting its checkpoint
    when asked)."""
    folder = RunFolder(out)
    if drop_checkpoint and folder.checkpoint_path.exists():
        folder.checkpoint_path.unlink()
    mb = lambda p: sum(f.stat().st_size for f in ([p] if p.is_file() else p.rglob("*"))
                       if f.is_file()) / 1e6
    total = mb(folder.path)
    parts = [f"{p.name} {mb(p):,.0f} MB" for p in (folder.model_path, folder.checkpoint_path)
             if p.exists()]
    line = f"kept in {out}: {total:,.0f} MB ({', '.join(parts)}"
    if folder.checkpoint_path.exists():
        return line + "; the checkpoint only serves to train on with --resume: delete it, " \
                      "or pass --drop-checkpoint, when the run is done)"
    return line + ")"


def _sweep(args):
    from .study import format_rows, sweep

    base = _config(args, print)
    grid = {}
    for objective in args.objectives:
        options = OBJECTIVES[objective].options
        flag = next((f for f, o in SWEEP_VALUES.items() if options[:1] == (o,)), None)
        given = getattr(args, flag[2:]) if flag else None
        grid[objective] = given or DEFAULT_GRID[objective]
    rows = sweep(base, args.out, grid=grid, seeds=args.seeds, num_samples=args.num_samples,
                 progress=not args.quiet)
    print(format_rows(rows))
    print(f"plots: {args.out / 'mig_vs_hyperparameter.png'}, {args.out / 'tc_vs_mig.png'}")
    return 0


def _evaluate(args):
    from .metrics.suite import parse_metrics
    from .runs import evaluate, format_eval
    from .runs.evaluate import codes_path_for

    metrics = parse_metrics(args.metrics)  # a bad name fails before torchrun starts
    _check_eval_items(args.eval_items)
    if args.nproc is not None and "RANK" not in os.environ:
        return _launch(args.nproc, args.argv)
    main_rank = int(os.environ.get("RANK", "0")) == 0
    result = evaluate(args.run_dir, num_samples=args.num_samples,
                      max_components=args.max_components or None, seed=args.seed,
                      progress=not args.quiet, metrics=metrics, suite_items=args.suite_items,
                      items=args.eval_items, reuse=not args.force and "RANK" not in os.environ)
    if result is None or not main_rank:  # another rank of a torch.distributed job
        return 0
    if result.get("reused"):
        print(f"{RunFolder(args.run_dir).eval_path} already holds this evaluation (the same "
              f"model file and settings): shown, not computed again (--force computes it)")
    else:
        print(_evaluated(args.eval_items, result["items"]))
    print(format_eval(result))
    path = RunFolder(args.run_dir).eval_path
    print(f"written: {path}" + (f", {codes_path_for(path)}" if metrics else ""))
    return 0


def _check_eval_items(n):
    if n is not None and n < 0:
        raise RunError(f"--eval-items must be >= 0 (0: every item), got {n}")


def _evaluating(n, total):
    """What the evaluation after training is about to score."""
    if not n or n >= total:
        return (f"evaluating on every item ({total:,}; --eval-items N for a fixed subset, "
                f"--no-eval to skip)")
    return f"evaluating on a fixed random subset of {n:,} of the {total:,} items"


def _evaluated(n, items):
    return (f"evaluated on {items:,} items " +
            ("(every item)" if not n or n > items else "(a fixed random subset)"))


def _plot(args):
    from .runs import plot_run

    files = plot_run(args.run_dir, progress=not args.quiet)
    print("figures: " + ", ".join(str(f) for f in files))
    return 0


def _study(args):
    from .study import load_study, report, run_study, study_status
    from .study import parse_part, parse_settings, select_runs

    part = None if args.part is None else parse_part(args.part)
    overrides = parse_settings(args.set)
    if args.device is not None:
        overrides["device"] = args.device
    study = load_study(args.study_file, name=args.name, eval_items=args.eval_items, **overrides)
    if args.status:
        from .study.progress import run_progress

        states = select_runs(study, study_status(study, args.results / study.name),
                             part, args.seeds, args.objectives)
    else:
        from .runs.folder import check_can_write

        check_can_write(args.results / study.name, "--results")
        check_can_write(args.work / study.name, "--work")
        print(f"records: {(args.results / study.name).resolve()}; run folders: "
              f"{(args.work / study.name).resolve()}")
        before = {n: s for n, _, s in study_status(study, args.results / study.name)}
        states = run_study(study, args.results, args.work, replace=args.replace,
                           progress=not args.quiet, limit=args.limit, part=part,
                           seeds=args.seeds, objectives=args.objectives)
    counts = {}
    for name, cfg, state in states:
        counts[state] = counts.get(state, 0) + 1
        if args.status:
            print(f"{name:40s} {state}")
            if state != "done":
                progress = run_progress(args.work / study.name / name, cfg)
                if progress:
                    print(f"{'':40s} {progress}")
    print(f"study {study.name}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    if not args.status:
        for line in _skipped(study, states, before, args):
            print(line)
    if counts.get("done") and not args.status:
        report(args.results / study.name)
        print(f"report: {args.results / study.name / 'report.md'}")
    return 0


def _skipped(study, states, before, args):
    """Lines on the runs a study invocation did not train, and why."""
    had = [n for n, _, s in states if before.get(n) == "done"]
    mismatch = [n for n, _, s in states if s == "mismatch"]
    lines = []
    if had and len(had) == len(states):
        lines.append(f"every selected run already had a record in {args.results / study.name} "
                     f"(in a checkout: the committed results), so none was trained; to train "
                     f"the study yourself, name it anew: --name {study.name}_mine")
    elif had:
        lines.append(f"skipped {len(had)} run(s) that already had a record")
    if mismatch:
        lines.append(f"skipped {len(mismatch)} run(s) whose record another configuration made "
                     f"(e.g. {mismatch[0]}): --replace trains them again, --name keeps both")
    return lines


def _report(args):
    from .study import report, rescore

    if args.rescore:
        for folder in args.results_dir:
            rescore(folder)
    print(report(args.results_dir, pool_from=args.pool_from, out=args.out))
    return 0


COMMANDS = {"train": _train, "evaluate": _evaluate, "plot": _plot, "sweep": _sweep,
            "study": _study, "report": _report}


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.command not in COMMANDS:
        parser.print_help()
        return 2
    from .data import DSpritesFileError

    try:
        return COMMANDS[args.command](args)
    except (RunError, DSpritesFileError, ValueError, FileNotFoundError) as e:
        print(f"pyro-tcvae: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pyro-tcvae: interrupted", file=sys.stderr)
        return 130
    finally:
        if "RANK" in os.environ:  # a torchrun worker: leave its process group before exit
            from .runs.parallel import leave

            leave()


if __name__ == "__main__":
    sys.exit(main())
