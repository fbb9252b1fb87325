#!/bin/bash
# One dSprites run per objective with the fast recipe (batch 1024, bf16, lr 1e-3, MSS,
# 10 latents, the paper's MLP), the same number of steps each, then a table of
# MIG +- SE and the full-dataset terms; interrupted runs resume.
#
#   bash benchmarks/objectives_dsprites.sh [OUT_DIR] [STEPS] [SEED]
#
# About 80 minutes on 2 CPU cores at 2,000 steps (FactorVAE takes 2.8x a beta-TCVAE step).
set -euo pipefail
OUT=${1:-runs/objectives}
STEPS=${2:-2000}
SEED=${3:-0}
mkdir -p "$OUT"
for o in tcvae factorvae annealed dip-i dip-ii; do
  run="$OUT/$o"
  if [ -f "$run/eval.json" ]; then continue; fi
  resume=""
  if [ -f "$run/checkpoint.pt" ] && [ ! -f "$run/model.pt" ]; then resume="--resume"; fi
  if [ -f "$run/model.pt" ]; then
    pyro-tcvae evaluate "$run" --quiet
    continue
  fi
  pyro-tcvae train --dataset dsprites --objective "$o" --batch-size 1024 --lr 1e-3 \
      --precision bf16 --steps "$STEPS" --seed "$SEED" --quiet --out "$run" $resume
done
python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
print(f"{'objective':>10} {'MIG':>7} {'+-':>6} {'ELBO':>9} {'TC':>7} {'train s':>8}")
for o in ("tcvae", "factorvae", "annealed", "dip-i", "dip-ii"):
    e = json.loads((out / o / "eval.json").read_text())
    last = json.loads((out / o / "metrics.jsonl").read_text().splitlines()[-1])
    d = e["decomposition"]
    print(f"{o:>10} {e['mig']['score']:7.4f} {e['mig']['stderr']:6.4f} {d['elbo']:9.2f} "
          f"{d['tc']:7.3f} {last['time']:8.0f}")
PY
