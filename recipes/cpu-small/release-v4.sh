#!/bin/sh
# Release 0.4.0's model folder: codec v4 (codec-v4-pilot.yaml), the performer trained on its tokens (lm-v3.yaml, then
# lm-v4.yaml), and what release.sh adds (beat guidance, emotion and style, originality index). Run after the
# campaign's `lm-v4` stage; beats are taken from v3's cache when it has them.
#   sh recipes/cpu-small/release-v4.sh OUT VERSION
set -eu
work=${AUDIOGEN_WORK:-$HOME/audiogen-work}
exec sh "$(dirname "$0")/release.sh" "$1" "$2" "$work/runs/codec-v4-pilot" "$work/runs/lm-v4" "$work/tokens-v4" \
    "$work/tokens-v3"
