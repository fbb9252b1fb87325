#!/usr/bin/env bash
# The studies at the paper's scale (Chen et al. 2018: 50 epochs at batch 2048, fp32), for
# a GPU machine. Each study keeps its own records (docs/results/<study>_paper/), resumes
# where it stopped, evaluates on every item, and reports at the end. Usage:
#   bash studies/paper_scale.sh [cuda|cuda:N|cpu]   # default cuda
# dSprites: 737,280 items / 2048 = 360 steps per epoch, 50 epochs = 18,000 steps.
# 3D Shapes: 480,000 / 2048 = 235 steps per epoch, 50 epochs = 11,750 steps.
set -euo pipefail
device="${1:-cuda}"
# first the paper's own question (issue 29): its file holds the recipe, stages and schedule
pyro-tcvae study studies/dsprites_paper.toml --device "$device"
paper=(--set batch_size=2048 --set precision=fp32 --set checkpoint_every=1000 --device "$device")
for study in dsprites_beta dsprites_methods dsprites_dependent dsprites_latents; do
  pyro-tcvae study "studies/$study.toml" --name "${study}_paper" --set steps=18000 \
    --eval-items 0 "${paper[@]}"
done
pyro-tcvae study studies/shapes3d.toml --name shapes3d_paper --set steps=11750 --eval-items 0 \
  "${paper[@]}"
