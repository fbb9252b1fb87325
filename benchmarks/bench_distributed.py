"""Training on 2 processes x 1 thread against 1 process x 2 threads, the same global batch.

Both run ``pyro-tcvae train`` (beta-TCVAE, MSS, the paper's MLP) on dSprites; the
steps/s come from the run's own log (training time only, after a warm-up), so start-up
is not counted.  On a 2-core machine this measures the overhead of the process group
(the gathered TC, the gradient all-reduce, the stop flag each step), not a speed-up.

    python benchmarks/bench_distributed.py [--batch-size 1024] [--steps 80]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def steps_per_second(out, warmup):
    log = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]
    first = next(r for r in log if r["step"] >= warmup)
    last = log[-1]
    return (last["step"] - first["step"]) / (last["time"] - first["time"])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--steps", type=int, default=80)
    p.add_argument("--dataset", default="dsprites")
    p.add_argument("--precision", default="fp32")
    a = p.parse_args()
    common = ["train", "--dataset", a.dataset, "--batch-size", str(a.batch_size), "--steps",
              str(a.steps), "--log-every", "10", "--precision", a.precision, "--no-eval",
              "--quiet"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra, threads in (("1 process x 2 threads", ["--threads", "2"], "2"),
                                     ("2 processes x 1 thread", ["--threads", "1", "--nproc",
                                                                 "2"], "1")):
            out = Path(tmp) / name.replace(" ", "_")
            env = {**os.environ, "OMP_NUM_THREADS": threads}
            subprocess.run([sys.executable, "-m", "pyro_tcvae.cli", *common, *extra, "--out",
                            str(out)], check=True, env=env, capture_output=True)
            rows.append((name, steps_per_second(out, 20)))
    print(f"{a.dataset}, global batch {a.batch_size}, {a.precision}, beta-TCVAE (MSS), "
          f"steps {a.steps} (first 20 not timed)")
    for name, sps in rows:
        print(f"{name:26s} {sps:8.2f} steps/s   {sps * a.batch_size:9.0f} images/s")
    print(f"{'2 processes / 1 process':26s} {rows[1][1] / rows[0][1]:8.3f}")


if __name__ == "__main__":
    main()
