#!/usr/bin/env bash
# A study on a lent GPU machine: one that has python3 with a CUDA build of torch (and
# numpy, matplotlib, scikit-learn, tqdm) but neither pyro-ppl nor a network, to which
# the repository's working tree is copied (this project's `device` tool; issue 29,
# item 6). It installs the carried pyro wheels, runs `pyro-tcvae study` for at most
# SECONDS, and packs the records it wrote into one file, $OUT/records.tgz (the tool
# brings back few files), with the log beside it.
#
#   here, once per machine (.whl/ is ignored through .git/info/exclude):
#     echo /.whl/ >> .git/info/exclude
#     python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#         --implementation cp --platform manylinux2014_x86_64 -d .whl \
#         pyro-ppl==1.9.2 pyro-api==0.1.2
#   there, one call (carry .whl; the commit names the code in the records, as the copy
#   has no .git):
#     PYRO_TCVAE_COMMIT=<git rev-parse HEAD> bash studies/device_study.sh 540 \
#         studies/dsprites_paper.toml --device cuda
#   back here, from the folder the files came back to:
#     tar xzf records.tgz && pyro-tcvae report docs/results/dsprites_paper
#
# The study skips the runs whose records are committed (the copy holds docs/results).
# At the deadline the run in progress is interrupted and lost with the machine (its
# checkpoint is too large to bring back); every run that finished has its record.
set -uo pipefail
seconds="${1:?usage: device_study.sh SECONDS STUDY_FILE [pyro-tcvae study options]}"
shift
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || { echo "carry .whl (see the header)"; exit 1; }
export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
out="${OUT:-runs/device}"
mkdir -p "$out"
touch /tmp/device_study.start
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | tee "$out/log.txt"
# SIGINT at the deadline: the run in progress stops cleanly, the records stay
timeout --signal=INT --kill-after=60 "$seconds" \
    python3 -m pyro_tcvae.cli study "$@" --results docs/results --work /tmp/runs --quiet \
    2>&1 | tee -a "$out/log.txt"
rc=${PIPESTATUS[0]}
find docs/results -type f -newer /tmp/device_study.start -print0 |
    tar czf "$out/records.tgz" --null -T -
echo "records written: $(tar tzf "$out/records.tgz" | wc -l) files; study exit $rc" |
    tee -a "$out/log.txt"
exit "$rc"
