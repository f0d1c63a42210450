#!/bin/bash
# test_bench.sh - smoke test of `r1 bench` on a tiny generated model: the
# command works and its JSON is well formed with the documented keys. It
# checks no speed (timings are never assertions). The measurement programs
# in bench/ (run by hand, docs/PERFORMANCE.md; not part of the build) are
# compiled against libr1 and run once briefly, so that they keep step with
# the kernel API they call. Usage: test_bench.sh R1 TESTDATA
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
assert d["kv_type"] == "f16"  # the default KV cache
PY
check "bench JSON is well formed with every key" test $? -eq 0
"$R1" bench -m "$WORK/tiny.gguf" -p 16 -n 4 -b 1 -r 1 >"$WORK/table" 2>/dev/null
check "bench prints a table" grep -q "decode at .*% of the floor" "$WORK/table"
"$R1" bench -m "$WORK/tiny.gguf" -p 16 -n 4 -b 1 -r 1 --kv-type f32 --json >"$WORK/f32.json" 2>/dev/null
check "bench --kv-type f32 reports an f32 cache" grep -q '"kv_type": "f32"' "$WORK/f32.json"
"$R1" bench -m "$WORK/tiny.gguf" -p 16 -n 4 -b 1 -r 1 --exact >"$WORK/table" 2>/dev/null
check "bench --exact takes an f32 cache" grep -q "exact, KV cache f32" "$WORK/table"
"$R1" bench -m "$WORK/tiny.gguf" --kv-type f8 2>"$WORK/err"
check "bench refuses an unknown --kv-type" grep -q "expects auto, f16 or f32, got 'f8'" "$WORK/err"
"$R1" bench -m "$WORK/tiny.gguf" -p 0 2>"$WORK/err"
check "bench refuses -p 0" test $? -eq 2
"$R1" bench -m "$WORK/tiny.gguf" -b 1,0 2>"$WORK/err"
check "bench refuses a batch size of 0" grep -q "each in 1..1024" "$WORK/err"
# ---- the measurement programs in bench/ build and run ----
SRC=$(cd "$(dirname "$0")/../.." && pwd)
LIB="$(dirname "$R1")/libr1.a"
for prog in x16_kernels attention_kernels bench_matmul_f32; do
    cc -O2 -std=c11 -Wall -Wextra -Werror -I"$SRC/src" -I"$SRC/include" "$SRC/bench/$prog.c" "$LIB" -lm -lpthread \
        -o "$WORK/$prog" 2>"$WORK/cc-$prog"
    check "bench/$prog.c builds against libr1 without warnings" test $? -eq 0
done
"$WORK/attention_kernels" 64 6 128 1 >"$WORK/out" 2>&1
check "attention_kernels runs" grep -q "f16: .* us per KV head" "$WORK/out"
"$WORK/bench_matmul_f32" 16 64 64 1 >"$WORK/out" 2>&1
check "bench_matmul_f32 runs" test $? -eq 0
if grep -q avx512_vnni /proc/cpuinfo 2>/dev/null; then
    "$WORK/x16_kernels" q4_K 64 1 1536 0.05 >"$WORK/out" 2>&1
    check "x16_kernels runs" grep -q "GOPS" "$WORK/out"
    cc -O2 -pthread -mavx512f -mavx512vnni -Wall -Wextra -Werror "$SRC/bench/vnni_peak.c" -o "$WORK/vnni_peak" \
        2>"$WORK/cc-vnni"
    check "bench/vnni_peak.c builds without warnings" test $? -eq 0
else
    echo "(this CPU has no AVX-512 VNNI: x16_kernels and vnni_peak not run)"
fi
finish
