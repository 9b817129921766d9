#!/bin/sh
# The originality index of a model (audiogen/originality): the features of the corpus its LM was trained on, and the
# verdict's thresholds calibrated on that corpus. Run after the LM's token cache exists (the same cache the LM
# trained on: `audiogen codec cache`), for the shipped model or one trained on your own music.
#   sh recipes/cpu-small/originality.sh MODEL TOKENS MANIFEST...
# MODEL: the model folder (gets MODEL/originality/); TOKENS: its LM's token cache; MANIFEST: the corpus manifests.
set -eu
model=$1
cache=$2
shift 2
# 1. dense controls of every cached item (chords, melody; exact for composer pieces; resumable)
audiogen codec controls "$@" --cache "$cache"
# 2. the copy encoder: the style encoder's network trained on 4 s passages and their altered copies (about 1,800
#    pairs of 300 items; 200 steps, about 20 minutes on one core)
work=${AUDIOGEN_WORK:-$HOME/audiogen-work}/originality
python -m audiogen.originality.encoder pairs "$@" --init "$model/style" --out "$work/pairs.npz" --items 300 --crops 6
python -m audiogen.originality.encoder train "$work/pairs.npz" --init "$model/style" --out "$work/encoder" --steps 200
# 3. the index: melody and chord symbols, winnowed token fingerprints, sound vectors of 4 s windows (train split)
audiogen originality build "$@" --cache "$cache" --style "$model/style" --encoder "$work/encoder" \
    --out "$model/originality" --logmel-cache "$work/logmel"
# 4. thresholds: 100 training excerpts read without their own item and the valid split (unrelated), 50 others
#    copied as they are and transposed, re-tempoed, Opus-coded and noised (copies); every reading kept beside it
audiogen originality calibrate "$@" --cache "$cache" --model "$model" --rows "$cache/originality-calibration.jsonl"
