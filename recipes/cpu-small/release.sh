#!/bin/sh
# Assemble a model folder from the campaign's runs: a codec run's generator, an LM run's weights, the beat guidance
# table counted on the LM's token cache, the shipped emotion and style models, and an originality index of the LM's
# training corpus on that cache (the shipped copy encoder reused), its thresholds calibrated with this codec. The
# folder can then be measured beside the shipped model
# (`python -m audiogen.eval.bench_perform --performer OUT --baseline audiogen/pretrained/default ...`) and, if it
# beats it, copied over `audiogen/pretrained/default`. Each release's recipe (release-v4.sh, release-v5.sh) names
# its runs and cache:
#   sh recipes/cpu-small/release.sh OUT VERSION CODEC_RUN LM_RUN TOKENS [OTHER_CACHE...]
# Resumable steps (the beats and the index skip what they have). The beats are read from the audio: an
# OTHER_CACHE's are taken when the cache has none (the same corpus), else tracked (about 30 minutes on one core).
set -eu
out=$1
version=$2
codec_run=$3
lm_run=$4
tokens=$5
shift 5
work=${AUDIOGEN_WORK:-$HOME/audiogen-work}
py=${PYTHON:-python}
shipped=$(dirname "$0")/../../audiogen/pretrained/default
manifests="$work/data/debian/manifest.jsonl $work/data/symbolic/manifest.jsonl"
mkdir -p "$out"
$py -m audiogen.train.codec export "$codec_run" "$out/codec"
$py -m audiogen.train.lm export "$lm_run" "$out/lm"
# the beat guidance table: the cache's tracked beats (resumable), counted against its tokens
for other in "$@"; do
    if [ ! -e "$tokens/beats.jsonl" ] && [ -e "$other/beats.jsonl" ]; then
        cp "$other/beats.jsonl" "$tokens/beats.jsonl"
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
