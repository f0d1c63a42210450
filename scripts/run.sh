#!/bin/sh
# run.sh - `make run`: runs r1 on the configured model, or on the generated
# placeholder when none is configured (and says so).
#   usage: scripts/run.sh R1_BINARY [MODEL] PLACEHOLDER_PATH
set -eu
R1="$1"
MODEL="${2:-}"
PLACEHOLDER="$3"

if [ -z "$MODEL" ]; then
    if [ ! -f "$PLACEHOLDER" ]; then
        mkdir -p "$(dirname "$PLACEHOLDER")"
        "$R1" model gen --shape tiny --type q8_0 --seed 1 -o "$PLACEHOLDER"
    fi
    MODEL="$PLACEHOLDER"
    cat >&2 <<MSG

  *** No model configured: running a PLACEHOLDER model with random weights. ***
  It has a real architecture (qwen2) but was never trained, so its output
  means nothing. To run a real DeepSeek-R1 model, download a GGUF file
  (for example DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf) and run:

      make run MODEL=/path/to/model.gguf      (or set R1_MODEL)

MSG
fi

"$R1" model info -m "$MODEL"
echo "r1 run: continuing the prompt 'Once upon a time' (then try: $R1 chat -m $MODEL)" >&2
"$R1" run -m "$MODEL" -p "Once upon a time" -n 48 --temp 0.7 --seed 1
