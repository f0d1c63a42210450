#!/bin/bash
# test_security.sh - r1 serve's access control as a client meets it:
#   JWT (--auth jwt): tokens minted independently with the npm `jose`
#     package (js/jwt.test.mjs): valid, expired, not yet valid, wrong issuer
#     or audience, unknown kid, tampered, alg none, HS256 keyed with the RSA
#     public key, missing and extra scopes, and key rotation under load.
#   API keys (--auth keys, keys made with `r1 keys`): 200 / 401 / 403 with
#     the RFC 6750 challenge; a per-key rate limit gives 429 with
#     Retry-After and x-ratelimit-* while another caller is unaffected.
#   The audit log: one line per request, `r1 audit verify` finds an edited,
#     a deleted and a reordered line.
#   TLS: TLS 1.2 refused and TLS 1.3 accepted (openssl s_client), a chat
#     streamed over TLS 1.3 with curl, a certificate rotated with SIGHUP
#     while a stream runs, and with --tls-client-ca a client
#     without a certificate, or with one the CA did not sign, refused.
#   usage: test_security.sh R1 TESTDATA
set -u
R1="$1"
source "$(dirname "$0")/lib/server.sh"

make_model scripted --shape tiny --type q8_0 --seed 1 --script 'Hm.</think>Yes' || exit 1
export R1_ALIAS=scripted ALIAS=scripted
CHAT='{"messages":[{"role":"user","content":"hi"}],"max_tokens":4}'

# ---- JWT
if install_test_clients; then
    mkdir -p "$WORK/jwt"
    node "$JS/jwt_keys.mjs" "$WORK/jwt" || echo "jwt_keys.mjs failed" >&2
    check "jwt: server starts" start_server "$MODEL" --auth jwt --jwks "$WORK/jwt/jwks.json" \
        --jwt-issuer https://idp.example --jwt-audience r1-api
    JWT_DIR="$WORK/jwt" JWT_ISSUER=https://idp.example JWT_AUDIENCE=r1-api \
        check "jwt: tokens minted with jose" node --test --test-reporter=tap "$JS/jwt.test.mjs"
    check "jwt: server exits 0" stop_server
else
    check "npm test clients install" false
fi

# ---- API keys, rate limits, audit log
DB="$WORK/keys.db"
key_of() { "$R1" keys create --db "$DB" "$@" 2>/dev/null | grep -oE 'r1-[A-Za-z0-9_-]{43}' | head -n 1; }
ALICE=$(key_of --name alice --scopes chat)
BOB=$(key_of --name bob --scopes models.read)
CAROL=$(key_of --name carol --scopes chat --rate 2/min)
check "keys: three keys made" test -n "$ALICE" -a -n "$BOB" -a -n "$CAROL"
head -c 32 /dev/urandom >"$WORK/audit.key"
check "keys: server starts" start_server "$MODEL" --auth keys --keys-db "$DB" \
    --audit-log "$WORK/audit.log" --audit-key-file "$WORK/audit.key"

as() { local key="$1" path="$2"; shift 2; http "$@" -H "Authorization: Bearer $key" "$R1_URL$path" >/dev/null; }
code=$(post_json /v1/chat/completions "$CHAT" -H "Authorization: Bearer $ALICE")
check "keys: a valid key with the scope is served" expect_status valid 200 "$code"
code=$(post_json /v1/chat/completions "$CHAT" -H "Authorization: Bearer $BOB")
check "keys: a key without the scope is 403" expect_status scope 403 "$code"
check "keys: 403 names the scope" grep -qi '^WWW-Authenticate: Bearer realm="r1", error="insufficient_scope".*scope="chat"' "$WORK/headers"
code=$(http GET /v1/models -H "Authorization: Bearer $BOB")
check "keys: models.read lists the models" expect_status models 200 "$code"
code=$(post_json /v1/chat/completions "$CHAT" -H "Authorization: Bearer r1-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
check "keys: an unknown key is 401" expect_status unknown 401 "$code"
check "keys: 401 says invalid_token" grep -qi '^WWW-Authenticate: Bearer realm="r1", error="invalid_token"' "$WORK/headers"
code=$(post_json /v1/chat/completions "$CHAT")
check "keys: no credential is 401" expect_status missing 401 "$code"
check "keys: the error body is OpenAI's" is_error_body "$WORK/body"
code=$(http GET /health)
check "keys: /health stays open" expect_status health 200 "$code"

for i in 1 2; do post_json /v1/chat/completions "$CHAT" -H "Authorization: Bearer $CAROL" >/dev/null; done
code=$(post_json /v1/chat/completions "$CHAT" -H "Authorization: Bearer $CAROL")
check "rate: the third request in a minute is 429" expect_status rate 429 "$code"
check "rate: Retry-After" grep -qiE '^Retry-After: [0-9]+' "$WORK/headers"
check "rate: x-ratelimit headers" grep -qi '^x-ratelimit-remaining-requests: 0' "$WORK/headers"
code=$(post_json /v1/chat/completions "$CHAT" -H "Authorization: Bearer $ALICE")
check "rate: another caller is unaffected" expect_status other 200 "$code"
check "keys: server exits 0" stop_server

check "audit: the log verifies" "$R1" audit verify "$WORK/audit.log" --key-file "$WORK/audit.key"
records=$(grep -c '"hmac"' "$WORK/audit.log")
check "audit: a line per request (10 + the health probe's none)" test "$records" -ge 9
line=$(grep -n '"status":429' "$WORK/audit.log" | head -n 1 | cut -d: -f1)
tamper() { # tamper NAME SED_SCRIPT: the verifier must refuse and name a line
    sed "$2" "$WORK/audit.log" >"$WORK/tampered.log"
    ! "$R1" audit verify "$WORK/tampered.log" --key-file "$WORK/audit.key" >"$WORK/verify.txt" 2>&1 &&
        grep -q "line [0-9]" "$WORK/verify.txt"
}
check "audit: an edited line is found" tamper edit "${line}s/\"status\":429/\"status\":200/"
check "audit: a deleted line is found" tamper delete "${line}d"
check "audit: reordered lines are found" tamper reorder "$((line - 1)){h;d};${line}G"

# ---- TLS
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/srv.key" -out "$WORK/srv.crt" \
    -days 2 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/ca.key" -out "$WORK/ca.crt" \
    -days 2 -subj /CN=r1-test-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/lb.key" -out "$WORK/lb.csr" \
    -subj /CN=load-balancer 2>/dev/null
openssl x509 -req -in "$WORK/lb.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" -CAcreateserial -out "$WORK/lb.crt" \
    -days 2 2>/dev/null
start_tls() { # the helper's start_server waits for http://, so this one reads https://
    : >"$SERVER_LOG" # not a previous server's port (see start_server)
    "$R1" serve -m "$MODEL" --host 127.0.0.1 --port 0 -t 2 --tls-cert "$WORK/srv.crt" --tls-key "$WORK/srv.key" "$@" \
        >"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    local port=""
    for _ in $(seq 100); do
        port=$(grep -oE 'listening on https://127\.0\.0\.1:[0-9]+' "$SERVER_LOG" | sed -E 's/.*:([0-9]+)$/\1/')
        [ -n "$port" ] && grep -q ' ready' "$SERVER_LOG" && break
        sleep 0.1
    done
    TLS_URL="https://127.0.0.1:$port"
    [ -n "$port" ]
}
check "tls: server starts" start_tls
echo | timeout 10 openssl s_client -connect "${TLS_URL#https://}" -tls1_2 >"$WORK/tls12.txt" 2>&1
check "tls: TLS 1.2 is refused" grep -q "Cipher is (NONE)" "$WORK/tls12.txt"
echo | timeout 10 openssl s_client -connect "${TLS_URL#https://}" -tls1_3 >"$WORK/tls13.txt" 2>&1
check "tls: TLS 1.3 is accepted" grep -q "New, TLSv1.3" "$WORK/tls13.txt"
curl -sN --tlsv1.3 --cacert "$WORK/srv.crt" --max-time 20 "$TLS_URL/v1/chat/completions" \
    -d '{"messages":[{"role":"user","content":"hi"}],"stream":true}' >"$WORK/tls-stream.txt"
check "tls: a chat streams over TLS 1.3" grep -q 'data: \[DONE\]' "$WORK/tls-stream.txt"
check "tls: and says Yes" grep -q '"content":"Y"' "$WORK/tls-stream.txt"
# certificate rotation: new files + SIGHUP; an open stream goes on, new handshakes get the new pair
curl -sN -k --max-time 20 "$TLS_URL/v1/chat/completions" -H 'Content-Type: application/json' \
    -d '{"messages":[{"role":"user","content":"hi"}],"stream":true}' >"$WORK/tls-rotate.txt" &
streaming=$!
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/srv.key" -out "$WORK/srv.crt" \
    -days 2 -subj /CN=renewed -addext subjectAltName=IP:127.0.0.1 2>/dev/null
kill -HUP "$SERVER_PID"
sleep 0.5
wait "$streaming"
check "tls: a stream open during the reload completes" grep -q 'data: \[DONE\]' "$WORK/tls-rotate.txt"
echo | timeout 10 openssl s_client -connect "${TLS_URL#https://}" -tls1_3 >"$WORK/tls-new.txt" 2>&1
check "tls: SIGHUP serves the new certificate" grep -q "subject=CN = renewed" "$WORK/tls-new.txt"
check "tls: and logs it" grep -q "certificate reloaded" "$SERVER_LOG"
check "tls: server exits 0" stop_server

check "mtls: server starts" start_tls --tls-client-ca "$WORK/ca.crt"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$WORK/srv.crt" --max-time 10 "$TLS_URL/v1/models")
check "mtls: no client certificate, no answer" test "$code" = 000
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$WORK/srv.crt" --cert "$WORK/srv.crt" --key "$WORK/srv.key" \
    --max-time 10 "$TLS_URL/v1/models")
check "mtls: a certificate the CA did not sign, no answer" test "$code" = 000
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$WORK/srv.crt" --cert "$WORK/lb.crt" --key "$WORK/lb.key" \
    --max-time 10 "$TLS_URL/v1/models")
check "mtls: the load balancer's certificate is served" test "$code" = 200
check "mtls: server exits 0" stop_server
finish
