#!/usr/bin/env bash
# test_model_storage.sh - "three verified copies of the weights, restorable in
# 15 minutes" (issue 10, scenario 6), with rsync and r1's manifests:
#   - a model store (a tiny GGUF plus HA_STORE_MB of weight shards) gets a
#     manifest (`r1 model manifest`: SHA-256 per file and per chunk)
#   - two replicas are made with rsync and verified (`r1 model verify DIR`)
#   - one byte of one copy is flipped, keeping size and mtime (bit rot):
#     verify names the file and chunk; a plain `rsync -a` does NOT repair it
#     (same size and time); `rsync -a --checksum` from a healthy copy does,
#     moving only that chunk's block, and the copy verifies again
#   - the manifest is also a sha256sum file, and `r1 model verify FILE
#     --manifest` checks one file against it
#   - `r1 serve --verify full|fast` checks the model while loading: ready when
#     intact, refuses to serve (naming the chunk) after a flipped byte
#   - copy and verify throughput, extrapolated to a ~400 GB store against the
#     15-minute target
# Usage: test_model_storage.sh R1_BINARY [TESTDATA_DIR]
R1="$1"
source "$(dirname "$0")/../cli/lib/common.sh"
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=python3
STORE_MB=${HA_STORE_MB:-512}
CHUNK=${HA_CHUNK:-64M}
TARGET_GB=400
TARGET_S=900

if ! command -v rsync >/dev/null; then
    "$(dirname "$0")/../../scripts/install-deps.sh" >/dev/null 2>&1
fi
if ! command -v rsync >/dev/null; then
    echo "SKIP: rsync is not installed (scripts/install-deps.sh installs it)"
    exit 0
fi

now_s() { date +%s.%N; }
rate() { awk -v b="$1" -v s="$2" 'BEGIN{ if (s <= 0) s = 1e-9; printf "%.3f", b / 1e9 / s }'; }

src="$WORK/store-a"
mkdir -p "$src/shards"
"$R1" model gen --shape tiny --type q8_0 --seed 3 -o "$src/model.gguf" >/dev/null 2>&1
check "a tiny model for the store" test -s "$src/model.gguf"
# weight shards: incompressible bytes, as quantized weights are
"$PYTHON" - "$src/shards" "$STORE_MB" <<'EOF'
import os, sys
d, mb = sys.argv[1], int(sys.argv[2])
sizes = [mb * 3 // 4, mb - mb * 3 // 4]
for i, size in enumerate(sizes):
    with open(os.path.join(d, 'weights-%05d-of-%05d.bin' % (i + 1, len(sizes))), 'wb') as f:
        left = size << 20
        # the last shard does not end on a chunk boundary
        if i == len(sizes) - 1:
            left += 12345
        while left:
            n = min(left, 8 << 20)
            f.write(os.urandom(n))
            left -= n
EOF
bytes=$(du -sb "$src" | awk '{print $1}')
echo "store: $(awk -v b="$bytes" 'BEGIN{printf "%.1f MB", b/1e6}') in $(find "$src" -type f | wc -l) files, chunks of $CHUNK"

# 1. the manifest
t0=$(now_s)
check "r1 model manifest DIR" "$R1" model manifest "$src" --chunk-size "$CHUNK"
t_manifest=$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN{print b-a}')
check "the manifest is in the store" test -s "$src/r1.manifest"
check "it lists every file" test "$(grep -c '^[0-9a-f]\{64\}  ' "$src/r1.manifest")" = 3
check "it has chunk lines" grep -q '^#chunk 1 [0-9a-f]\{64\} shards/weights-00001-of-00002.bin$' "$src/r1.manifest"
check "the manifest is a sha256sum file" bash -c "cd '$src' && sha256sum --quiet -c r1.manifest"
check "r1 model verify FILE --manifest" "$R1" model verify "$src/shards/weights-00002-of-00002.bin" --manifest "$src/r1.manifest"

# 2. two more copies with rsync, each verified
copy_s=0
verify_s=0
for c in b c; do
    t0=$(now_s)
    check "rsync to copy $c" rsync -a --delete "$src/" "$WORK/store-$c/"
    t1=$(now_s)
    check "copy $c verifies" "$R1" model verify "$WORK/store-$c" >"$WORK/verify-$c.out" 2>"$WORK/verify-$c.err"
    t2=$(now_s)
    copy_s=$(awk -v a="$copy_s" -v x="$t0" -v y="$t1" 'BEGIN{print a + y - x}')
    verify_s=$(awk -v a="$verify_s" -v x="$t1" -v y="$t2" 'BEGIN{print a + y - x}')
done
cat "$WORK/verify-c.err"
check "verify prints one OK line per file" test "$(grep -c '^OK ' "$WORK/verify-c.out")" = 3
check "--fast verifies a sample" "$R1" model verify "$WORK/store-c" --fast

# 3. bit rot: one byte flipped in chunk 2 of copy b, size and mtime kept
victim="$WORK/store-b/shards/weights-00001-of-00002.bin"
chunk_bytes=$("$PYTHON" -c "import sys; t=sys.argv[1]; u={'K':1<<10,'M':1<<20,'G':1<<30}; print(int(t[:-1])*u[t[-1]] if t[-1] in u else int(t))" "$CHUNK")
offset=$((2 * chunk_bytes + 4321))
touch -r "$victim" "$WORK/mtime.ref"
"$PYTHON" - "$victim" "$offset" <<'EOF'
import sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(int(sys.argv[2]))
    b = f.read(1)
    f.seek(int(sys.argv[2]))
    f.write(bytes([b[0] ^ 0x01]))
EOF
touch -r "$WORK/mtime.ref" "$victim"
"$R1" model verify "$WORK/store-b" >"$WORK/corrupt.out" 2>"$WORK/corrupt.err"
rc=$?
cat "$WORK/corrupt.out" "$WORK/corrupt.err" | sed 's/^/  /'
check "verify fails on the corrupt copy" test "$rc" = 1
want="CORRUPT shards/weights-00001-of-00002.bin chunk 2 (bytes $((2 * chunk_bytes))-$((3 * chunk_bytes - 1)))"
check "verify names the corrupt chunk" grep -qF "$want" "$WORK/corrupt.out"
check "only that chunk" test "$(grep -c '^CORRUPT' "$WORK/corrupt.out")" = 1
check "the other files are OK" test "$(grep -c '^OK ' "$WORK/corrupt.out")" = 2
check "verify-manifest MANIFEST DIR says the same" bash -c "'$R1' model verify-manifest '$src/r1.manifest' '$WORK/store-b' 2>/dev/null | grep -qF '$want'"
# the pitfall: rsync's quick check (size + mtime) does not see bit rot
rsync -a "$WORK/store-c/" "$WORK/store-b/"
"$R1" model verify "$WORK/store-b" >/dev/null 2>&1
check "a plain rsync -a does not repair bit rot (same size and mtime)" test $? = 1

# 4. repair from a healthy copy: --checksum finds the file, the delta
# algorithm moves only the damaged block, --inplace keeps the rest
t0=$(now_s)
rsync -a --checksum --inplace --no-whole-file --stats "$WORK/store-c/" "$WORK/store-b/" >"$WORK/repair.log"
check "rsync --checksum repairs" test $? = 0
t_repair=$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN{print b-a}')
literal=$(awk -F': ' '/^Literal data/ {gsub(/[^0-9]/, "", $2); print $2}' "$WORK/repair.log")
echo "  repair: rsync sent $literal literal bytes (the damaged block) in $(printf '%.2f' "$t_repair") s"
check "the repair moved less than a chunk" test "${literal:-999999999999}" -lt "$chunk_bytes"
check "the repaired copy verifies" "$R1" model verify "$WORK/store-b"
check "all three copies are identical" bash -c "cmp -s '$src/shards/weights-00001-of-00002.bin' '$victim'"

# 5. a missing file and a wrong size are named too
rm "$WORK/store-c/model.gguf"
truncate -s -1 "$WORK/store-c/shards/weights-00002-of-00002.bin"
"$R1" model verify "$WORK/store-c" >"$WORK/missing.out" 2>/dev/null
check "a missing file is named" grep -q '^MISSING model.gguf' "$WORK/missing.out"
check "a short file is named" grep -q '^SIZE shards/weights-00002-of-00002.bin' "$WORK/missing.out"

# 6. r1 serve --verify: the model checked against the manifest while loading
served="$WORK/served"
mkdir -p "$served"
cp "$src/model.gguf" "$served/model.gguf"
"$R1" model manifest "$served" --chunk-size 64K >/dev/null 2>&1
# serve_verified NAME ARGS...: starts r1 serve; READY=yes once /ready is 200,
# else the process's exit status in STATUS; the log in $WORK/NAME.log
serve_verified() {
    local name="$1"
    shift
    READY=no STATUS=""
    "$R1" serve -m "$served/model.gguf" --port 0 -t 1 --tts-workers 0 "$@" >"$WORK/$name.log" 2>&1 &
    local pid=$! port="" i
    for i in $(seq 1 200); do
        port=$(grep -oE 'listening on http://127\.0\.0\.1:[0-9]+' "$WORK/$name.log" | head -n 1 | sed -E 's/.*://')
        if [ -n "$port" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ready")" = 200 ]; then
            READY=yes
            break
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -TERM "$pid" 2>/dev/null
    wait "$pid"
    STATUS=$?
}
serve_verified verify-ok --verify full
check "serve --verify full on an intact model: ready" test "$READY" = yes
check "  ... the log says the model matched its manifest" grep -q 'r1 serve --verify: OK model.gguf' "$WORK/verify-ok.log"
serve_verified verify-fast --verify fast
check "serve --verify fast: ready, sampled" grep -q 'OK model.gguf (sampled)' "$WORK/verify-fast.log"
size=$(stat -c %s "$served/model.gguf")
"$PYTHON" - "$served/model.gguf" $((size / 2)) <<'EOF2'
import sys
path, at = sys.argv[1], int(sys.argv[2])
with open(path, 'r+b') as f:
    f.seek(at); b = f.read(1); f.seek(at); f.write(bytes([b[0] ^ 0x01]))
EOF2
serve_verified verify-bad --verify full
check "serve --verify full on a flipped byte: never ready, exits non-zero ($STATUS)" test "$READY" = no -a "$STATUS" != 0
check "  ... the log names the corrupt chunk and refuses to serve" bash -c "grep -q 'CORRUPT model.gguf chunk $((size / 2 / 65536))' '$WORK/verify-bad.log' && grep -q 'refusing to serve' '$WORK/verify-bad.log'"
"$R1" serve -m "$served/model.gguf" --verify sometimes >/dev/null 2>"$WORK/verify-arg.err"
check "--verify sometimes: exit status 2 with a message" bash -c "[ $? = 2 ] && grep -q 'full, fast or off' '$WORK/verify-arg.err'"
rm "$served/r1.manifest"
serve_verified verify-nomanifest --verify fast
check "serve --verify without a manifest: refused, naming it" bash -c "[ $READY = no ] && grep -q 'r1.manifest' '$WORK/verify-nomanifest.log'"

# 7. figures
copy_rate=$(rate $((2 * bytes)) "$copy_s")
verify_rate=$(rate $((2 * bytes)) "$verify_s")
manifest_rate=$(rate "$bytes" "$t_manifest")
read -r copy400 verify400 total400 <<<"$(awk -v c="$copy_rate" -v v="$verify_rate" -v g=$TARGET_GB \
    'BEGIN{printf "%.0f %.0f %.0f", g/c, g/v, g/c + g/v}')"
echo
echo "== summary: model storage (store $(awk -v b="$bytes" 'BEGIN{printf "%.2f GB", b/1e9}'), page cache warm) =="
printf '%-38s %10s %14s\n' step "GB/s" "400 GB takes"
printf '%-38s %10s %13ss\n' "manifest (read + SHA-256)" "$manifest_rate" "$(awk -v r="$manifest_rate" -v g=$TARGET_GB 'BEGIN{printf "%.0f", g/r}')"
printf '%-38s %10s %13ss\n' "rsync copy (local, to a new dir)" "$copy_rate" "$copy400"
printf '%-38s %10s %13ss\n' "r1 model verify (full)" "$verify_rate" "$verify400"
printf '%-38s %10s %13ss  (target %ss)\n' "copy + verify, one replica" "-" "$total400" "$TARGET_S"
echo "repair of one corrupt chunk: $(printf '%.2f' "$t_repair") s, $literal bytes moved"
echo
{
    echo "storage store_gb $(awk -v b="$bytes" 'BEGIN{printf "%.3f", b/1e9}')"
    echo "storage manifest_gbps $manifest_rate"
    echo "storage copy_gbps $copy_rate"
    echo "storage verify_gbps $verify_rate"
    echo "storage copy_verify_400gb_s $total400"
    echo "storage repair_s $(printf '%.2f' "$t_repair")"
} | tee -a "${HA_REPORT:-/dev/null}" | sed 's/^/  figure: /'
finish
