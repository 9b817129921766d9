#!/bin/sh
# Assemble a model folder from the campaign's runs: codec v4 (codec-v4-pilot.yaml), the performer trained on its
# tokens (lm-v3.yaml, then lm-v4.yaml), the beat guidance table counted on the same cache, the shipped emotion and
# style models, and an originality index of the LM's training corpus on v4's tokens (the shipped copy encoder
# reused). Run after the campaign's `lm-v4` stage (`python -m audiogen.train.campaign status`); the folder can then
# be measured beside the shipped model
# (`python -m audiogen.eval.bench_perform --performer OUT --baseline audiogen/pretrained/default ...`) and, if it
# beats it, copied over `audiogen/pretrained/default`.
#   sh recipes/cpu-small/release-v4.sh OUT VERSION
# Resumable steps (the beats and the index skip what they have). The beats are read from the audio: v3's cache's are
# taken when they are there (the same corpus), else tracked (about 30 minutes on one core).
set -eu
out=$1
version=$2
work=${AUDIOGEN_WORK:-$HOME/audiogen-work}
py=${PYTHON:-python}
shipped=$(dirname "$0")/../../audiogen/pretrained/default
manifests="$work/data/debian/manifest.jsonl $work/data/symbolic/manifest.jsonl"
mkdir -p "$out"
$py -m audiogen.train.codec export "$work/runs/codec-v4-pilot" "$out/codec"
$py -m audiogen.train.lm export "$work/runs/lm-v4" "$out/lm"
# the beat guidance table: the cache's tracked beats (resumable), counted against its tokens
if [ ! -e "$work/tokens-v4/beats.jsonl" ] && [ -e "$work/tokens-v3/beats.jsonl" ]; then
    cp "$work/tokens-v3/beats.jsonl" "$work/tokens-v4/beats.jsonl"
fi
$py -m audiogen.cli codec beats $manifests --cache "$work/tokens-v4"
$py -m audiogen.train.lm beat-prior "$work/tokens-v4" "$out/lm"
for part in emotion style; do
    rm -rf "$out/$part"
    cp -r "$shipped/$part" "$out/$part"
done
# the originality index of the corpus the LM was trained on, its thresholds calibrated with this model's codec
$py -m audiogen.cli originality build $manifests --cache "$work/tokens-v4" --style "$out/style" \
    --encoder "$shipped/originality/encoder" --out "$out/originality" --logmel-cache "$work/originality/logmel"
$py -m audiogen.cli originality calibrate $manifests --cache "$work/tokens-v4" --model "$out" \
    --rows "$work/tokens-v4/originality-calibration.jsonl"
printf '{\n  "name": "audiogen-default",\n  "version": "%s",\n  "sketch_strength": 8.0\n}\n' "$version" \
    > "$out/model.json"
echo "model folder: $out"
