#!/usr/bin/env bash
# Same-budget check against the authors' beta-TCVAE code (issue 29, item 3); see README.md.
#
#   bash benchmarks/authors_code/run.sh SCRATCH          # the full check: 2 methods x seeds 0-2
#   bash benchmarks/authors_code/run.sh SCRATCH smoke    # 20 iterations, seed 0, 20,000 items
#
# SCRATCH must lie outside this repository (e.g. /work/scratch/beta-tcvae): their code,
# the dSprites .npz (51 MB) and the run folders (57 MB a checkpoint) go there; nothing of
# theirs enters the repository.  AUTHORS_GIT_DIR: a bare clone of rtqichen/beta-tcvae
# (default /work/.mirror/rtqichen+beta-tcvae/repo when present, else git clone from GitHub).
# THREADS (default 2): torch threads for training and scoring.
set -euo pipefail
SCRATCH=${1:?usage: run.sh SCRATCH [smoke]}
MODE=${2:-full}
THREADS=${THREADS:-2}
cd "$(dirname "$0")/../.."
[ -z "${VIRTUAL_ENV:-}" ] && [ -f .venv/bin/activate ] && . .venv/bin/activate
D="python benchmarks/authors_code/driver.py"

# (a) unpack their code (pinned commit 1a3577d) into SCRATCH, (b) apply patch.py there
$D prepare "$SCRATCH" ${AUTHORS_GIT_DIR:+--git-dir "$AUTHORS_GIT_DIR"}
# (c) this library's dSprites in their file format, at the path their loader reads
#     (SCRATCH/data/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz, key 'imgs')
$D data "$SCRATCH"

if [ "$MODE" = smoke ]; then
  # (d)+(e) on a tiny budget: 20 iterations at batch 1024, seed 0, both methods, MIG on
  # 20,000 items; its own run folders and results file
  $D all "$SCRATCH" --seeds 0 --steps 20 --batch 1024 --beta 6 --log-freq 10 \
     --items 20000 --threads "$THREADS" --runs runs_smoke --out "$SCRATCH/smoke.jsonl"
  $D table "$SCRATCH/smoke.jsonl"
else
  # (d) their beta-VAE (--beta 6) and beta-TCVAE (--beta 6 --tcvae): MLP, dSprites,
  #     batch 1024, lr 1e-3, 10 latents, their default estimator (MWS), 1,200 iterations,
  #     seeds 0-2; (e) each model scored with this library's evaluation on the 100,000-item
  #     subset of the dsprites_beta study; one JSON line per run in SCRATCH/results.jsonl.
  #     Rerunning skips the runs already scored (and retrains none that finished).
  $D all "$SCRATCH" --seeds 0 1 2 --steps 1200 --batch 1024 --beta 6 --log-freq 200 \
     --items 100000 --threads "$THREADS" --out "$SCRATCH/results.jsonl"
  $D table "$SCRATCH/results.jsonl"
fi
