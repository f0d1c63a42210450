#!/bin/bash
# test_audit.sh - `r1 audit verify` on logs written here by a second,
# independent implementation of the documented format (Python's hmac,
# docs/SECURITY.md and src/server/audit_log.h): an intact log and a rotated
# pair verify; an edited, deleted, reordered or inserted line is reported
# at its line with exit 1; a wrong key, files out of order, and the usage
# errors (exit 2).
# Usage: test_audit.sh R1_BINARY TESTDATA_DIR
set -u
R1="$1"
source "$(dirname "$0")/lib/common.sh"

KEY="$WORK/audit.key"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$KEY" # 64 hex characters
echo >>"$KEY"                                                 # a final newline is not part of the key

# write_log FILE FILE_NO FIRST_SEQ N PREV_FILE: N records chained from the
# last hmac of PREV_FILE (or zeros when it is "-").
write_log() {
    python3 - "$KEY" "$@" <<'EOF'
import hashlib, hmac, json, sys
key_path, path, file_no, first, n, prev_path = sys.argv[1:7]
key = open(key_path, 'rb').read().rstrip(b'\r\n \t')
prev = bytes(32)
if prev_path != '-':
    prev = bytes.fromhex(json.loads(open(prev_path).read().splitlines()[-1])['hmac'])

def seal(obj, prev):
    body = json.dumps(obj, separators=(',', ':'))[:-1]  # the bytes before ,"hmac"
    mac = hmac.new(key, prev + body.encode(), hashlib.sha256).digest()
    return body + ',"hmac":"' + mac.hex() + '"}\n', mac

out = open(path, 'w')
line, prev = seal({'r1_audit': 1, 'file': int(file_no), 'seq': int(first), 'prev': prev.hex(),
                   'time': '2026-11-30T21:00:00.000Z'}, prev)
out.write(line)
for seq in range(int(first), int(first) + int(n)):
    line, prev = seal({'seq': seq, 'time': '2026-11-30T21:00:%02d.000Z' % (seq % 60), 'request_id': 'req-%d' % seq,
                       'subject': 'alice', 'auth': 'jwt', 'scopes': 'chat', 'endpoint': '/v1/chat/completions',
                       'model': 'r1', 'prompt_tokens': 10, 'completion_tokens': 20, 'status': 200,
                       'latency_ms': 812}, prev)
    out.write(line)
EOF
}

LOG="$WORK/audit.log"
write_log "$LOG" 1 1 20 -

# ---- intact ----
"$R1" audit verify "$LOG" --key-file "$KEY" >"$WORK/out" 2>&1
check "an intact log exits 0" test $? -eq 0
check "and says ok: 21 lines" grep -q "^ok: 21 lines (20 records)$" "$WORK/out"
R1_AUDIT_KEY_FILE="$KEY" "$R1" audit verify "$LOG" >"$WORK/out" 2>&1
check "the key file from R1_AUDIT_KEY_FILE" grep -q "^ok: 21 lines" "$WORK/out"

# expect_break NAME EXPECTED_LINE_TEXT: verify the tampered copy in $WORK/t.log
expect_break() {
    "$R1" audit verify "$WORK/t.log" --key-file "$KEY" >"$WORK/out" 2>&1
    local rc=$?
    check "$1: exit 1" test $rc -eq 1
    check "$1: '$2'" grep -qF "t.log: $2" "$WORK/out"
}

# ---- tampering ----
sed '17s/"status":200/"status":403/' "$LOG" >"$WORK/t.log"
expect_break "edited line 17" "line 17: hmac mismatch (edited, or a line before it was removed)"
sed '9d' "$LOG" >"$WORK/t.log"
expect_break "deleted line 9" "line 9: hmac mismatch: seq 9 where 8 was expected (1 line(s) removed before it)"
awk 'NR == 6 { six = $0; next } NR == 7 { print; print six; next } { print }' "$LOG" >"$WORK/t.log"
expect_break "lines 6 and 7 swapped" "line 6: hmac mismatch: out of order (this line belongs after line 7)"
sed '12i {"seq":11,"time":"2026-11-30T21:00:11.000Z","subject":"mallory","hmac":"0000000000000000000000000000000000000000000000000000000000000000"}' \
    "$LOG" >"$WORK/t.log"
expect_break "forged line inserted at 12" "line 12: hmac mismatch: a line was inserted here"
sed '21s/.$//' "$LOG" | head -c -1 >"$WORK/t.log"
expect_break "torn last line" "line 21: incomplete line"
echo "another key, another key, another key" >"$WORK/other.key"
"$R1" audit verify "$LOG" --key-file "$WORK/other.key" >"$WORK/out" 2>&1
check "a wrong key exits 1" test $? -eq 1
check "a wrong key: line 1" grep -q "audit.log: line 1: hmac mismatch on the file header (wrong key" "$WORK/out"

# ---- rotated files ----
write_log "$WORK/r.log.000001" 1 1 5 -
write_log "$WORK/r.log" 2 6 5 "$WORK/r.log.000001"
"$R1" audit verify "$WORK"/r.log.* "$WORK/r.log" --key-file "$KEY" >"$WORK/out" 2>&1
check "two files in order verify" grep -q "^ok: 12 lines in 2 files (10 records)$" "$WORK/out"
"$R1" audit verify "$WORK/r.log" --key-file "$KEY" >"$WORK/out" 2>&1
check "the second alone verifies, with a note" \
    bash -c "test $? -eq 0 && grep -q 'note: the chain starts at file 2' '$WORK/out'"
"$R1" audit verify "$WORK/r.log" "$WORK/r.log.000001" --key-file "$KEY" >"$WORK/out" 2>&1
check "files out of order exit 1" test $? -eq 1
check "files out of order: named" grep -q "r.log.000001: line 1: does not continue" "$WORK/out"

# ---- usage ----
"$R1" audit verify "$LOG" 2>"$WORK/err"
check "no key file exits 2" test $? -eq 2
printf tinykey >"$WORK/short.key"
"$R1" audit verify "$LOG" --key-file "$WORK/short.key" 2>"$WORK/err"
check "a short key exits 2" bash -c "test $? -eq 2 && grep -q 'at least 32' '$WORK/err'"
check "the key is never printed" bash -c "! grep -q tinykey '$WORK/err'"
"$R1" audit verify "$WORK/missing.log" --key-file "$KEY" 2>"$WORK/err"
check "a missing log exits 2, named" bash -c "test $? -eq 2 && grep -q missing.log '$WORK/err'"
"$R1" audit 2>"$WORK/err"
check "audit without a sub-command exits 2 with usage" bash -c "test $? -eq 2 && grep -q 'usage: r1 audit' '$WORK/err'"

finish
