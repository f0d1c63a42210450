#!/bin/bash
# test_sealed.sh - sealed model files from the command line: r1 model keygen,
# seal, open (byte-exact), verify (plain and sealed, --sha256 and
# sha256sum manifests), the key from --key-file, --key-command and
# R1_MODEL_KEY_FILE, and `r1 run` / `r1 eval` / `r1 tokenize` on a sealed
# model giving what the plain file gives. Failures exit 1 with one line naming the problem,
# usage errors exit 2. Usage: test_sealed.sh R1_BINARY TESTDATA_DIR
set -u
R1="$1"
source "$(dirname "$0")/lib/common.sh"
unset R1_MODEL_KEY_FILE

"$R1" model gen --shape tiny --type q8_0 --seed 3 -o "$WORK/m.gguf" 2>/dev/null
check "a model to seal" test -s "$WORK/m.gguf"

# ---- keygen ----
"$R1" model keygen -o "$WORK/k" 2>"$WORK/err"
check "keygen succeeds" test $? -eq 0
check "keygen writes 32 bytes" test "$(stat -c %s "$WORK/k")" -eq 32
check "keygen makes the file 0600" test "$(stat -c %a "$WORK/k")" = 600
check "keygen prints the key id" grep -q "key id [0-9a-f]\{16\}" "$WORK/err"
"$R1" model keygen -o "$WORK/k" 2>"$WORK/err"
check "keygen refuses to overwrite a key (exit 1)" test $? -eq 1
check "keygen says why" grep -q "refusing to overwrite a key" "$WORK/err"
"$R1" model keygen -o "$WORK/k.hex" --hex 2>/dev/null
check "keygen --hex writes 64 digits and a newline" grep -qx "[0-9a-f]\{64\}" "$WORK/k.hex"
"$R1" model keygen 2>"$WORK/err"
check "keygen without -o is a usage error" test $? -eq 2

# ---- seal / open ----
"$R1" model seal "$WORK/m.gguf" "$WORK/m.sealed" --key-file "$WORK/k" --chunk-size 64K --key-id test-2026 2>"$WORK/err"
check "seal succeeds" test $? -eq 0
check "the sealed file starts with the magic" test "$(head -c 6 "$WORK/m.sealed")" = R1SEAL
check "the sealed file is not the plaintext" bash -c "! cmp -s '$WORK/m.gguf' '$WORK/m.sealed'"
check "no GGUF text is left readable" bash -c "! grep -q 'general.architecture' '$WORK/m.sealed'"
"$R1" model open "$WORK/m.sealed" "$WORK/m.out" --key-file "$WORK/k" 2>"$WORK/err"
check "open succeeds" test $? -eq 0
check "open restores the file byte for byte" cmp -s "$WORK/m.gguf" "$WORK/m.out"
check "the restored file is 0600" test "$(stat -c %a "$WORK/m.out")" = 600
"$R1" model open "$WORK/m.sealed" "$WORK/m.hex.out" --key-file "$WORK/k.hex" 2>"$WORK/err"
check "a hex key of another key is refused (exit 1)" test $? -eq 1
check "the wrong key is named by its id" grep -q "wrong key (key id [0-9a-f]\{16\}, the file was sealed with [0-9a-f]\{16\}, labelled 'test-2026')" "$WORK/err"
check "a refused open leaves no output" test ! -e "$WORK/m.hex.out"
"$R1" model seal "$WORK/m.gguf" "$WORK/m2.sealed" --key-file "$WORK/k.hex" 2>/dev/null &&
    "$R1" model open "$WORK/m2.sealed" "$WORK/m2.out" --key-file "$WORK/k.hex" 2>/dev/null
check "a hex key file seals and opens" cmp -s "$WORK/m.gguf" "$WORK/m2.out"
R1_MODEL_KEY_FILE="$WORK/k" "$R1" model open "$WORK/m.sealed" "$WORK/m3.out" 2>/dev/null
check "the key from R1_MODEL_KEY_FILE" cmp -s "$WORK/m.gguf" "$WORK/m3.out"
"$R1" model open "$WORK/m.sealed" "$WORK/m4.out" --key-command "cat '$WORK/k'" 2>/dev/null
check "the key from --key-command" cmp -s "$WORK/m.gguf" "$WORK/m4.out"
"$R1" model open "$WORK/m.sealed" "$WORK/m5.out" --key-command "exit 7" 2>"$WORK/err"
check "a failing key command is an error (exit 1)" test $? -eq 1
check "its status is reported" grep -q "key-command: exited with status 7" "$WORK/err"
"$R1" model seal "$WORK/m.gguf" "$WORK/x.sealed" 2>"$WORK/err"
check "seal without a key is a usage error" test $? -eq 2
check "it says how to give the key" grep -q "give the key with --key-file" "$WORK/err"
"$R1" model seal "$WORK/m.gguf" "$WORK/x.sealed" --key-file "$WORK/k" --chunk-size 5000 2>"$WORK/err"
check "a chunk size not a power of two is a usage error" test $? -eq 2
"$R1" model seal "$WORK/nope.gguf" "$WORK/x.sealed" --key-file "$WORK/k" 2>"$WORK/err"
check "a missing input fails (exit 1)" test $? -eq 1
check "the missing input is named" grep -q "nope.gguf: cannot open" "$WORK/err"
"$R1" model seal "$WORK/m.sealed" "$WORK/x.sealed" --key-file "$WORK/k" 2>"$WORK/err"
check "sealing a sealed file is refused" grep -q "already a sealed file" "$WORK/err"
head -c 31 "$WORK/k" >"$WORK/short.key"
"$R1" model open "$WORK/m.sealed" "$WORK/x.out" --key-file "$WORK/short.key" 2>"$WORK/err"
check "a 31-byte key file is refused" grep -q "a key is 32 raw bytes or 64 hex digits (and an optional newline); this one is 31 bytes" "$WORK/err"
"$R1" model seal 2>/dev/null
check "seal without files is a usage error" test $? -eq 2

# ---- damage ----
size=$(stat -c %s "$WORK/m.sealed")
head -c $((size - 100)) "$WORK/m.sealed" >"$WORK/cut.sealed"
"$R1" model open "$WORK/cut.sealed" "$WORK/x.out" --key-file "$WORK/k" 2>"$WORK/err"
check "a truncated file is refused (exit 1)" test $? -eq 1
check "truncation is named" grep -q "cut.sealed: truncated: 1 of [0-9]* chunks missing" "$WORK/err"
cp "$WORK/m.sealed" "$WORK/flip.sealed"
python3 -c "import sys; f = open(sys.argv[1], 'r+b'); f.seek(70000); b = f.read(1); f.seek(70000); f.write(bytes([b[0] ^ 1]))" "$WORK/flip.sealed"
"$R1" model open "$WORK/flip.sealed" "$WORK/x.out" --key-file "$WORK/k" 2>"$WORK/err"
check "a flipped byte is refused" grep -q "flip.sealed: chunk 2 of [0-9]* failed authentication (tampered, truncated, or the wrong key)" "$WORK/err"
check "a refused file leaves no output" test ! -e "$WORK/x.out"

# ---- verify ----
sum=$(sha256sum "$WORK/m.gguf" | cut -d' ' -f1)
"$R1" model verify "$WORK/m.gguf" --sha256 "$sum" >"$WORK/out" 2>"$WORK/err"
check "verify a plain file against its hash" test $? -eq 0
check "verify prints the hash sha256sum-style" grep -qx "$sum  $WORK/m.gguf" "$WORK/out"
"$R1" model verify "$WORK/m.gguf" --sha256 "$(echo "$sum" | tr 0-9a-f 1-9a-f0)" >/dev/null 2>"$WORK/err"
check "a wrong hash fails (exit 1)" test $? -eq 1
check "the mismatch is named" grep -q "SHA-256 mismatch" "$WORK/err"
(cd "$WORK" && sha256sum m.gguf other.bin 2>/dev/null >m.sha256; echo "$(printf '0%.0s' {1..64})  other.bin" >>m.sha256)
"$R1" model verify "$WORK/m.gguf" --manifest "$WORK/m.sha256" >/dev/null 2>&1
check "verify against a sha256sum manifest (by name)" test $? -eq 0
"$R1" model verify "$WORK/m.out" --manifest "$WORK/m.sha256" >/dev/null 2>"$WORK/err"
check "a file missing from a manifest of several is an error" grep -q "m.out is not listed in" "$WORK/err"
sha256sum "$WORK/m.gguf" >"$WORK/one.sha256"
"$R1" model verify "$WORK/m.sealed" --key-file "$WORK/k" --manifest "$WORK/one.sha256" >"$WORK/out" 2>"$WORK/err"
check "a sealed file verifies against its model's manifest" test $? -eq 0
check "the hash of the decrypted model is printed" grep -q "^$sum " "$WORK/out"
"$R1" model verify "$WORK/flip.sealed" --key-file "$WORK/k" --manifest "$WORK/one.sha256" 2>"$WORK/err"
check "verify names a tampered chunk" grep -q "chunk 2 of [0-9]* failed authentication" "$WORK/err"
"$R1" model verify "$WORK/m.sealed" 2>"$WORK/err"
check "verify of a sealed file without a key is a usage error" test $? -eq 2
"$R1" model verify "$WORK/m.gguf" --sha256 xyz 2>/dev/null
check "a malformed --sha256 is a usage error" test $? -eq 2
echo "not a manifest line" >"$WORK/bad.sha256"
"$R1" model verify "$WORK/m.gguf" --manifest "$WORK/bad.sha256" 2>"$WORK/err"
check "a malformed manifest line is named" grep -q "bad.sha256:1: not a sha256sum line" "$WORK/err"

# ---- running a sealed model ----
"$R1" run -m "$WORK/m.gguf" -p "Hello there" -n 16 --temp 0 --ignore-eos >"$WORK/plain.txt" 2>/dev/null
"$R1" run -m "$WORK/m.sealed" --key-file "$WORK/k" -p "Hello there" -n 16 --temp 0 --ignore-eos >"$WORK/sealed.txt" 2>"$WORK/err"
check "run on a sealed model succeeds" test $? -eq 0
check "run on a sealed model writes what the plain file writes" cmp -s "$WORK/plain.txt" "$WORK/sealed.txt"
check "the run printed some text" test -s "$WORK/plain.txt"
"$R1" eval -m "$WORK/m.gguf" --tokens 1,2,3,4 --logits "$WORK/plain.f32" >/dev/null 2>&1
R1_MODEL_KEY_FILE="$WORK/k" "$R1" eval -m "$WORK/m.sealed" --tokens 1,2,3,4 --logits "$WORK/sealed.f32" >/dev/null 2>&1
check "eval on a sealed model gives the same logits" cmp -s "$WORK/plain.f32" "$WORK/sealed.f32"
"$R1" run -m "$WORK/m.sealed" -p "Hello" -n 4 2>"$WORK/err"
check "run on a sealed model without a key fails (exit 1)" test $? -eq 1
check "and asks for the key" grep -q "m.sealed is a sealed model file: give its key (--key-file" "$WORK/err"
"$R1" tokenize -m "$WORK/m.gguf" "Hello there" >"$WORK/tok-plain" 2>/dev/null
R1_MODEL_KEY_FILE="$WORK/k" "$R1" tokenize -m "$WORK/m.sealed" "Hello there" >"$WORK/tok-sealed" 2>/dev/null
check "tokenize reads a sealed model's vocabulary (R1_MODEL_KEY_FILE)" cmp -s "$WORK/tok-plain" "$WORK/tok-sealed"
"$R1" model info -m "$WORK/m.sealed" --key-file "$WORK/k" >"$WORK/info" 2>/dev/null
check "model info reads a sealed model" grep -q '"arch": "qwen2"' "$WORK/info"
hexkey=$(head -c 64 "$WORK/k.hex")
"$R1" model open "$WORK/m.sealed" "$WORK/x.out" --key-file "$WORK/k.hex" 2>"$WORK/err"
check "no key material in the messages" bash -c "! grep -qi '${hexkey:0:12}' '$WORK/err'"

finish
