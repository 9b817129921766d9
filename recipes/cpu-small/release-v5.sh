#!/bin/sh
# The next release's model folder: codec v5 (the second v4 pilot, codec-v4-pilot.yaml trained on to step 6,000, with
# the decoder of codec-v5-decoder.yaml on its frozen tokens), the performer moved to its first six codebooks
# (lm-v5.yaml), and what release.sh adds (beat guidance, emotion and style, originality index). Run after the
# campaign's `lm-v5` stage (`python -m audiogen.train.campaign status`).
#   sh recipes/cpu-small/release-v5.sh OUT VERSION [CODEC_RUN]
# CODEC_RUN (default: the decoder stage's run) may name the pilot's own run, `$AUDIOGEN_WORK/runs/codec-v4-pilot2`,
# where the new decoder did not measure better: both decode the same tokens.
set -eu
work=${AUDIOGEN_WORK:-$HOME/audiogen-work}
exec sh "$(dirname "$0")/release.sh" "$1" "$2" "${3:-$work/runs/codec-v5-decoder}" "$work/runs/lm-v5" \
    "$work/tokens-v5" "$work/tokens-v4" "$work/tokens-v3"
