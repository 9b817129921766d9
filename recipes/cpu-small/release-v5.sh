#!/bin/sh
# Assemble a model folder from the campaign's runs: codec v5 (the second v4 pilot, codec-v4-pilot.yaml trained on to
# step 6,000, with the decoder of codec-v5-decoder.yaml on its frozen tokens), the performer moved to its tokens
# (lm-v5.yaml), the beat guidance table counted on the same cache, the shipped emotion and style models, and an
# originality index of the LM's training corpus on v5's tokens (the shipped copy encoder reused). Run after the
# campaign's `lm-v5` stage (`python -m audiogen.train.campaign status`); the folder can then be measured beside the
# shipped model (`python -m audiogen.eval.bench_perform --performer OUT --baseline audiogen/pretrained/default ...`)
# and, if it beats it, copied over `audiogen/pretrained/default`.
#   sh recipes/cpu-small/release-v5.sh OUT VERSION [CODEC_RUN]
# CODEC_RUN (default: the decoder stage's run) may name the pilot's own run, `$AUDIOGEN_WORK/runs/codec-v4-pilot2`,
# where the new decoder did not measure better: both decode the same tokens. Resumable steps (the beats and the index
# skip what they have). The beats are read from the audio: another cache's are taken when they are there (the same
# corpus), else tracked (about 30 minutes on one core).
set -eu
out=$1
version=$2
work=${AUDIOGEN_WORK:-$HOME/audiogen-work}
codec_run=${3:-$work/runs/codec-v5-decoder}
py=${PYTHON:-python}
shipped=$(dirname "$0")/../../audiogen/pretrained/default
manifests="$work/data/debian/manifest.jsonl $work/data/symbolic/manifest.jsonl"
tokens=$work/tokens-v5
mkdir -p "$out"
$py -m audiogen.train.codec export "$codec_run" "$out/codec"
$py -m audiogen.train.lm export "$work/runs/lm-v5" "$out/lm"
# the beat guidance table: the cache's tracked beats (resumable), counted against its tokens
for other in tokens-v4 tokens-v3; do
    if [ ! -e "$tokens/beats.jsonl" ] && [ -e "$work/$other/beats.jsonl" ]; then
        cp "$work/$other/beats.jsonl" "$tokens/beats.jsonl"
    fi
done
$py -m audiogen.cli codec beats $manifests --cache "$tokens"
$py -m audiogen.train.lm beat-prior "$tokens" "$out/lm"
for part in emotion style; do
    rm -rf "$out/$part"
    cp -r "$shipped/$part" "$out/$part"
done
# the originality index of the corpus the LM was trained on, its thresholds calibrated with this model's codec
$py -m audiogen.cli originality build $manifests --cache "$tokens" --style "$out/style" \
    --encoder "$shipped/originality/encoder" --out "$out/originality" --logmel-cache "$work/originality/logmel"
$py -m audiogen.cli originality calibrate $manifests --cache "$tokens" --model "$out" \
    --rows "$tokens/originality-calibration.jsonl"
printf '{\n  "name": "audiogen-default",\n  "version": "%s",\n  "sketch_strength": 8.0\n}\n' "$version" \
    > "$out/model.json"
echo "model folder: $out"
