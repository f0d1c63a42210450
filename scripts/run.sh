#!/bin/sh
# run.sh - `make run`: serves the configured model with `r1 serve` (the
# OpenAI-compatible API on http://127.0.0.1:8080, or R1_PORT), or the
# generated placeholder when none is configured (and says so).
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
PORT="${R1_PORT:-8080}"
SCHEME=http
CURL_TLS=""
set --
# `make run R1_TLS=1`: HTTPS (TLS 1.3) with a self-signed pair made here,
# for trying it locally; production uses real certificates (docs/SECURITY.md).
if [ "${R1_TLS:-0}" = 1 ]; then
    CERTS="$(dirname "$PLACEHOLDER")/tls"
    if [ ! -f "$CERTS/server.crt" ]; then
        mkdir -p "$CERTS"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=localhost \
            -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
            -keyout "$CERTS/server.key" -out "$CERTS/server.crt" 2>/dev/null
        chmod 600 "$CERTS/server.key"
        echo "  *** A SELF-SIGNED certificate was made for local use: $CERTS/server.crt (30 days). ***" >&2
    fi
    set -- --tls-cert "$CERTS/server.crt" --tls-key "$CERTS/server.key"
    SCHEME=https
    CURL_TLS="--cacert $CERTS/server.crt "
fi
cat >&2 <<MSG

  r1 serve: the API will listen on $SCHEME://127.0.0.1:$PORT (Ctrl-C stops it). Try:

      curl -N ${CURL_TLS}$SCHEME://127.0.0.1:$PORT/v1/chat/completions -H 'Content-Type: application/json' \\
        -d '{"messages":[{"role":"user","content":"Why is the sky blue?"}],"stream":true,"max_tokens":64}'

MSG
exec "$R1" serve -m "$MODEL" --port "$PORT" "$@"
