#!/bin/bash
# test_keys.sh - `r1 keys` as an operator runs it: create (the key printed
# once, alone on stdout, or as JSON), list (table and JSON, never a key),
# revoke by name and by id, the database chosen by --db, $R1_KEYS_DB or
# ./r1-keys.db, the file private (0600) and holding no key, and the errors
# for unknown scopes, bad limits, taken names and unknown keys.
# Usage: test_keys.sh R1_BINARY TESTDATA_DIR
set -u
R1="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")" # absolute: one check runs elsewhere
source "$(dirname "$0")/lib/common.sh"

DB="$WORK/keys.db"

# ---- create ----
"$R1" keys create --name alice --scopes chat,models.read --rate 60/min --tokens 100k/day --db "$DB" \
    >"$WORK/alice.key" 2>"$WORK/err"
check "create succeeds" test $? -eq 0
KEY=$(cat "$WORK/alice.key")
check "the key alone on stdout: r1- and 43 base64url characters" \
    bash -c "[[ '$KEY' =~ ^r1-[A-Za-z0-9_-]{43}$ ]] && test \$(wc -l <'$WORK/alice.key') -eq 1"
ID=${KEY:3:8}
check "stderr names the id and says it is shown once" \
    bash -c "grep -q 'created key $ID' '$WORK/err' && grep -q 'shown only now' '$WORK/err'"
check "the key is not on stderr" bash -c "! grep -qF -- '$KEY' '$WORK/err'"
check "the database is private (0600)" test "$(stat -c %a "$DB")" = 600
check "the database does not hold the key" bash -c "! grep -qaF -- '${KEY:11}' '$DB'"

"$R1" keys create --name bob --scopes admin --tokens 20k/min --json --db "$DB" >"$WORK/bob.json" 2>/dev/null
check "create --json" python3 -c "
import json, sys
j = json.load(open('$WORK/bob.json'))
assert j['name'] == 'bob' and j['scopes'] == 'admin' and j['tokens_per_min'] == 20000, j
assert j['key'].startswith('r1-' + j['id']) and j['prefix'] == 'r1-' + j['id'] and not j['revoked'], j
"

# ---- list ----
"$R1" keys list --db "$DB" >"$WORK/list" 2>&1
check "list succeeds" test $? -eq 0
check "list shows alice with her scopes and limits" \
    bash -c "grep '^$ID ' '$WORK/list' | grep 'alice' | grep 'chat models.read' | grep -q ' 60 .*100000 .*active'"
check "list shows bob" grep -q "bob .* admin" "$WORK/list"
check "list never shows a key" bash -c "! grep -qF -- '${KEY:11}' '$WORK/list'"
"$R1" keys list --db "$DB" --json >"$WORK/list.json"
check "list --json" python3 -c "
import json
keys = json.load(open('$WORK/list.json'))
assert [k['name'] for k in keys] == ['alice', 'bob'], keys
assert keys[0]['requests_per_min'] == 60 and keys[0]['tokens_per_day'] == 100000
assert all('key' not in k for k in keys)
"

# ---- revoke ----
"$R1" keys revoke alice --db "$DB" >"$WORK/out" 2>&1
check "revoke by name" bash -c "grep -q 'revoked key $ID .alice.' '$WORK/out'"
"$R1" keys list --db "$DB" >"$WORK/list"
check "alice shows revoked" bash -c "grep '^$ID ' '$WORK/list' | grep -q revoked"
"$R1" keys revoke "$ID" --db "$DB" 2>"$WORK/err"
check "revoking twice exits 1" test $? -eq 1
check "and says so" grep -q "already revoked" "$WORK/err"
BOB_ID=$(python3 -c "import json; print(json.load(open('$WORK/bob.json'))['id'])")
"$R1" keys revoke --db "$DB" -- "$BOB_ID" >/dev/null
check "revoke by id" bash -c "'$R1' keys list --db '$DB' --json | grep -A9 '\"$BOB_ID\"' | grep -q '\"revoked\": true'"
"$R1" keys create --name alice --scopes chat --db "$DB" >/dev/null 2>&1
check "a revoked key's name can be used again" test $? -eq 0
"$R1" keys revoke carol --db "$DB" 2>"$WORK/err"
check "unknown key exits 1" test $? -eq 1
check "unknown key is named" grep -q "no key with the id or name 'carol'" "$WORK/err"

# ---- errors ----
"$R1" keys create --name alice --scopes chat --db "$DB" 2>"$WORK/err" >/dev/null
check "a taken name exits 1" test $? -eq 1
check "a taken name is named" grep -q "a key named 'alice' exists" "$WORK/err"
"$R1" keys create --name carol --scopes chat,everything --db "$DB" 2>"$WORK/err"
check "unknown scope exits 1" test $? -eq 1
check "unknown scope is named" grep -q "unknown scope 'everything'" "$WORK/err"
"$R1" keys create --name carol --scopes chat --rate 60/fortnight --db "$DB" 2>"$WORK/err"
check "bad rate exits 2" test $? -eq 2
check "bad rate is explained" grep -q "expected N/min" "$WORK/err"
"$R1" keys create --name carol --scopes chat --tokens -5/day --db "$DB" 2>"$WORK/err"
check "negative tokens exit 2" test $? -eq 2
"$R1" keys create --scopes chat --db "$DB" 2>"$WORK/err"
check "create without --name exits 2" test $? -eq 2
"$R1" keys 2>"$WORK/err"
check "keys without a sub-command exits 2 with usage" bash -c "test $? -eq 2 && grep -q 'usage: r1 keys' '$WORK/err'"
"$R1" keys frobnicate 2>"$WORK/err"
check "unknown sub-command exits 2" test $? -eq 2
printf 'not a database, not a database, not a database, not a database' >"$WORK/junk.db"
"$R1" keys list --db "$WORK/junk.db" 2>"$WORK/err"
check "a file that is not a key database exits 1, named" bash -c "test $? -eq 1 && grep -q junk.db '$WORK/err'"

# ---- where the database is ----
(cd "$WORK" && "$R1" keys create --name dflt --scopes chat >/dev/null 2>&1)
check "default database ./r1-keys.db" test -f "$WORK/r1-keys.db"
R1_KEYS_DB="$WORK/env.db" "$R1" keys create --name envy --scopes chat >/dev/null 2>&1
check "R1_KEYS_DB chooses the database" bash -c "'$R1' keys list --db '$WORK/env.db' | grep -q envy"

finish
