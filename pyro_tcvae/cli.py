"""The ``pyro-tcvae`` command."""

import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="pyro-tcvae",
        description="beta-TCVAE for Pyro. With no command, runs the built-in demo.",
    )
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="train a VAE and a beta-TCVAE on a synthetic factor "
                          "dataset and compare their full-dataset decomposition (about a minute)")
    demo.add_argument("--betas", type=float, nargs="+", default=[1.0, 6.0])
    demo.add_argument("--steps", type=int, default=2000)
    demo.add_argument("--num-samples", type=int, default=2000)
    demo.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command in (None, "demo"):
        from .demo import run

        if args.command is None:
            args = demo.parse_args([])
        if args.steps < 1 or args.num_samples < 2:
            parser.error("--steps must be >= 1 and --num-samples >= 2")
        run(betas=args.betas, steps=args.steps, num_samples=args.num_samples, seed=args.seed)
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
