#!/bin/bash
# test_bench.sh - smoke test of `r1 bench` on a tiny generated model: the
# command works and its JSON is well formed with the documented keys. It
# checks no speed (timings are never assertions). Usage: test_bench.sh R1 TESTDATA
set -u
R1="$1"
source "$(dirname "$0")/lib/common.sh"

"$R1" model gen --shape tiny --type q4_k_m -o "$WORK/tiny.gguf" 2>/dev/null
"$R1" bench -m "$WORK/tiny.gguf" -p 16 -n 4 -b 1,2 -r 2 -t 2 --json >"$WORK/bench.json" 2>"$WORK/err"
check "bench --json succeeds" test $? -eq 0
python3 - "$WORK/bench.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for key in ("prefill_tokens_per_s", "decode_tokens_per_s", "batched", "weight_bytes_per_token",
            "bandwidth_bytes_per_s", "decode_floor_fraction", "threads", "model_type"):
    assert key in d, key
assert [b["batch"] for b in d["batched"]] == [1, 2]
assert all(b["tokens_per_s"] > 0 for b in d["batched"])
assert d["prefill_tokens_per_s"] > 0 and d["decode_tokens_per_s"] > 0
assert d["threads"] == 2 and d["model_type"] == "Q4_K_M"
assert d["weight_bytes_per_token"] > 0 and d["bandwidth_bytes_per_s"] > 1e8
# read before each repetition's decode: the median lies within the range
low, high = d["bandwidth_range"]
assert low <= d["bandwidth_bytes_per_s"] <= high
PY
check "bench JSON is well formed with every key" test $? -eq 0
"$R1" bench -m "$WORK/tiny.gguf" -p 16 -n 4 -b 1 -r 1 >"$WORK/table" 2>/dev/null
check "bench prints a table" grep -q "decode at .*% of the floor" "$WORK/table"
"$R1" bench -m "$WORK/tiny.gguf" -p 0 2>"$WORK/err"
check "bench refuses -p 0" test $? -eq 2
"$R1" bench -m "$WORK/tiny.gguf" -b 1,0 2>"$WORK/err"
check "bench refuses a batch size of 0" grep -q "each in 1..1024" "$WORK/err"
finish
