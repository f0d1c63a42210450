#!/bin/bash
# test_errors.sh - every client error of r1 serve, with curl: the HTTP status,
# an OpenAI-style body {"error":{"message","type","param","code"}} naming the
# field, and after each one a good request on the same server process.
# Malformed JSON, wrong types, n > 1, unknown model (404), a body over
# --max-body-bytes (413, with and without Content-Length), prompts and
# max_tokens beyond --ctx-size, JSON nested 100000 deep, invalid UTF-8,
# 100 KB and 300 KB header lines, a half-sent body, unknown paths (404),
# wrong methods (405); then a full queue (--parallel 1 --queue 1): 503 with
# Retry-After, /ready 503 queue_full. The codes are docs/SERVER.md's.
#   usage: test_errors.sh R1_BINARY TESTDATA_DIR
set -u
R1="$1"
source "$(dirname "$0")/lib/server.sh"

CTX=256
check "tiny model generated" make_model tiny || { finish; exit 1; }
check "r1 serve starts" start_server "$MODEL" --parallel 2 --ctx-size $CTX --max-body-bytes 1048576 || { finish; exit 1; }
PID0=$SERVER_PID
# 2 sequences x 256 positions of the tiny model (2 layers, 2 KV heads of 32) in f16
check "the start-up log names the KV cache's type and size" \
    grep -qE "KV cache of 512 positions \(f16, 0\.[23] MiB\)" "$SERVER_LOG"

chat='/v1/chat/completions'
msgs='"messages":[{"role":"user","content":"Hi"}]'

# error_case NAME STATUS PARAM CODE METHOD PATH [curl args]: one request that
# must fail with STATUS and an error body (PARAM / CODE: "-" = not checked;
# the body is kept in $WORK/error.json), then a good request.
error_case() {
    local name="$1" want="$2" param="$3" code="$4" method="$5" path="$6" got
    shift 6
    got=$(http "$method" "$path" "$@")
    check "$name: HTTP $want" expect_status "$name" "$want" "$got"
    cp "$WORK/body" "$WORK/error.json"
    check "$name: an OpenAI error body (param $param, code $code)" is_error_body "$WORK/error.json" "$param" "$code"
    check "$name: then a good request succeeds on the same process" good_request
}
# post_case NAME STATUS PARAM CODE PATH BODY
post_case() {
    printf '%s' "$6" >"$WORK/request.json"
    error_case "$1" "$2" "$3" "$4" POST "$5" -H 'Content-Type: application/json' --data-binary @"$WORK/request.json"
}

check "a good request to begin with" good_request
code=$(post_json $chat '{'"$msgs"',"max_tokens":3}')
check "no model field: the server's model answers" json_ok "$WORK/body" "d['model'] == 'tiny'"

# ---- the body ----
post_case "malformed JSON" 400 - invalid_json $chat '{"model":"tiny","messages":[{"role":"user","content":"Hi"}'
post_case "an empty body" 400 - invalid_json $chat ''
post_case "a body that is not an object" 400 - invalid_json $chat '[1,2,3]'
post_case "temperature \"hot\"" 400 temperature invalid_type $chat '{"model":"tiny",'"$msgs"',"temperature":"hot"}'
post_case "temperature 7 (out of range)" 400 temperature invalid_value $chat '{"model":"tiny",'"$msgs"',"temperature":7}'
post_case "messages not an array" 400 messages invalid_type $chat '{"model":"tiny","messages":"Hi"}'
post_case "messages missing" 400 messages missing_required_parameter $chat '{"model":"tiny"}'
post_case "messages empty" 400 messages - $chat '{"model":"tiny","messages":[]}'
post_case "a message without content" 400 - - $chat '{"model":"tiny","messages":[{"role":"user"}]}'
post_case "an unknown role" 400 "messages[0].role" - $chat '{"model":"tiny","messages":[{"role":"wizard","content":"Hi"}]}'
post_case "n = 2" 400 n unsupported_n $chat '{"model":"tiny",'"$msgs"',"n":2}'
post_case "max_tokens \"ten\"" 400 max_tokens - $chat '{"model":"tiny",'"$msgs"',"max_tokens":"ten"}'
post_case "max_tokens -1" 400 max_tokens - $chat '{"model":"tiny",'"$msgs"',"max_tokens":-1}'
post_case "stream \"yes\"" 400 stream - $chat '{"model":"tiny",'"$msgs"',"stream":"yes"}'
post_case "top_logprobs 21" 400 top_logprobs - $chat '{"model":"tiny",'"$msgs"',"logprobs":true,"top_logprobs":21}'
post_case "an unknown model" 404 - model_not_found $chat '{"model":"gpt-4o",'"$msgs"'}'
post_case "an unknown model (completions)" 404 - model_not_found /v1/completions '{"model":"gpt-4o","prompt":"Hi"}'
post_case "completions: prompt missing" 400 prompt missing_required_parameter /v1/completions '{"model":"tiny"}'
post_case "completions: prompt 42" 400 prompt - /v1/completions '{"model":"tiny","prompt":42}'
# the vocabulary has 512 tokens
post_case "completions: token id 99999" 400 - - /v1/completions '{"model":"tiny","prompt":[1,2,99999]}'
check "  ... the error names the prompt" json_ok "$WORK/error.json" "str(d['error']['param']).startswith('prompt')"
post_case "completions: token id -1" 400 - - /v1/completions '{"model":"tiny","prompt":[-1]}'

# ---- sizes ----
python3 -c "import sys; sys.stdout.write('{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"' + 'a' * 1500000 + '\"}]}')" >"$WORK/big.json"
error_case "a body over --max-body-bytes" 413 - request_too_large POST $chat -H 'Content-Type: application/json' --data-binary @"$WORK/big.json"
error_case "a chunked body over --max-body-bytes" 413 - request_too_large POST $chat -H 'Content-Type: application/json' \
    -H 'Transfer-Encoding: chunked' --data-binary @"$WORK/big.json"
long=$(python3 -c "print('word ' * 400)")
post_case "a chat prompt longer than the context" 400 - context_length_exceeded $chat \
    '{"model":"tiny","messages":[{"role":"user","content":"'"$long"'"}],"max_tokens":4}'
post_case "a text prompt longer than the context" 400 - context_length_exceeded /v1/completions \
    '{"model":"tiny","prompt":"'"$long"'","max_tokens":4}'
ids=$(python3 -c "print(','.join(['65'] * 300))")
post_case "a token prompt longer than the context" 400 - - /v1/completions '{"model":"tiny","prompt":['"$ids"'],"max_tokens":4}'
post_case "max_tokens beyond the context" 400 max_tokens - $chat '{"model":"tiny",'"$msgs"',"max_tokens":100000}'
post_case "max_completion_tokens beyond the context" 400 max_completion_tokens - $chat \
    '{"model":"tiny",'"$msgs"',"max_completion_tokens":100000}'

# A prompt that fits with a max_tokens that fits, but not both together:
# refused, or cut where the context ends; never more than the context.
mid=$(python3 -c "print('x' * 200)")
code=$(post_json $chat '{"model":"tiny","messages":[{"role":"user","content":"'"$mid"'"}],"max_tokens":200,"ignore_eos":true}')
if [ "$code" = 200 ]; then
    check "prompt + max_tokens over the context: cut at the context (finish length)" json_ok "$WORK/body" \
        "d['usage']['total_tokens'] <= $CTX and d['choices'][0]['finish_reason'] == 'length'"
else
    check "prompt + max_tokens over the context: refused with 400" expect_status "prompt+max_tokens" 400 "$code"
    check "  ... with an error body" is_error_body "$WORK/body"
fi
check "  ... then a good request" good_request
# No max_tokens at all, and no end-of-text: generation stops at the context.
code=$(post_json $chat '{"model":"tiny",'"$msgs"',"ignore_eos":true}')
check "no max_tokens: HTTP 200" expect_status "no max_tokens" 200 "$code"
check "no max_tokens: generation stops at the context (finish length)" json_ok "$WORK/body" \
    "d['usage']['total_tokens'] <= $CTX and d['usage']['total_tokens'] >= $CTX - 1 and d['choices'][0]['finish_reason'] == 'length'"
check "  ... then a good request" good_request

# ---- hostile input ----
python3 -c "import sys; sys.stdout.write('{\"model\":\"tiny\",\"messages\":' + '[' * 100000 + ']' * 100000 + '}')" >"$WORK/deep.json"
error_case "JSON nested 100000 deep" 400 - invalid_json POST $chat -H 'Content-Type: application/json' --data-binary @"$WORK/deep.json"
printf '{"model":"tiny","messages":[{"role":"user","content":"bad \xff\xfe\xc3 bytes"}],"max_tokens":2}' >"$WORK/utf8.json"
error_case "invalid UTF-8 in a string" 400 - invalid_json POST $chat -H 'Content-Type: application/json' --data-binary @"$WORK/utf8.json"
printf '{"model":"tiny","messages":[{"role":"user","content":"nul \\u0000 inside"}],"max_tokens":2}' >"$WORK/nul.json"
code=$(http POST $chat -H 'Content-Type: application/json' --data-binary @"$WORK/nul.json")
check "an escaped NUL in a string: 200 or 400, never a crash" test "$code" = 200 -o "$code" = 400
check "  ... then a good request" good_request

# Header lines: 100 KB is within what a server may accept (r1's limit is
# 128 KiB of headers); 300 KB must be refused (431, 400, or the connection
# closed). Either way the server answers afterwards.
for kb in 100 300; do
    { printf 'X-Big: '; head -c $((kb * 1000)) /dev/zero | tr '\0' 'x'; echo; } >"$WORK/header.txt"
    code=$(curl -s -o "$WORK/body" -w '%{http_code}' --max-time 30 -H @"$WORK/header.txt" "$R1_URL/health")
    case "$kb:$code" in 100:200 | *:431 | *:400 | *:413 | *:000) ok=0 ;; *) ok=1 ;; esac
    check "a $kb KB header line: $([ $kb = 100 ] && echo '200, ')431, 400 or the connection closed (got $code)" test $ok -eq 0
    check "  ... then a good request" good_request
done

# A request that stops half-way through its body: the server must not wait
# for ever on it, nor stop answering others meanwhile.
exec 3<>/dev/tcp/127.0.0.1/"${R1_URL##*:}"
printf 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model":' >&3
check "a half-sent body does not block other clients" good_request
exec 3>&-

# ---- paths and methods ----
error_case "an unknown path" 404 - not_found GET /v1/nothing
error_case "an unknown path (POST)" 404 - not_found POST /v2/chat/completions -H 'Content-Type: application/json' -d '{}'
error_case "GET /v1/chat/completions" 405 - method_not_allowed GET $chat
error_case "DELETE /v1/completions" 405 - method_not_allowed DELETE /v1/completions
error_case "POST /v1/models" 405 - method_not_allowed POST /v1/models -H 'Content-Type: application/json' -d '{}'
code=$(http GET /health)
check "GET /health after all that: 200" expect_status health 200 "$code"
check "/health: ok, nothing running or waiting" json_ok "$WORK/body" \
    "d['status'] == 'ok' and d['requests_running'] == 0 and d['requests_waiting'] == 0 and d['parallel'] == 2"
check "the same server process throughout" test "$SERVER_PID" = "$PID0"
stop_server
check "SIGTERM: exit status 0" test $? -eq 0

# ---- a full queue: --parallel 1 --queue 1 ----
check "r1 serve --parallel 1 --queue 1 starts" start_server "$MODEL" --parallel 1 --queue 1 --ctx-size 4096 || { finish; exit 1; }
slow='{"model":"tiny","messages":[{"role":"user","content":"Go on."}],"max_tokens":4000,"ignore_eos":true,"stream":true}'
printf '%s' "$slow" >"$WORK/slow.json"
queue_full_ok=1
for attempt in 1 2 3; do
    curl -sN --max-time 60 -H 'Content-Type: application/json' --data-binary @"$WORK/slow.json" "$R1_URL$chat" >"$WORK/a.sse" 2>/dev/null &
    pid_a=$!
    wait_health 1 0 10 || break
    curl -sN --max-time 60 -H 'Content-Type: application/json' --data-binary @"$WORK/slow.json" "$R1_URL$chat" >"$WORK/b.sse" 2>/dev/null &
    pid_b=$!
    if ! wait_health 1 1 10; then
        wait $pid_a $pid_b
        echo "attempt $attempt: the first request ended before the second was seen waiting; again" >&2
        continue
    fi
    # (a wrongly queued third request would wait; 10 s is plenty for a 503)
    code_c=$(http POST $chat -H 'Content-Type: application/json' --data-binary @"$WORK/slow.json" --max-time 10)
    a_running=0
    kill -0 $pid_a 2>/dev/null && a_running=1
    cp "$WORK/body" "$WORK/c.body"
    cp "$WORK/headers" "$WORK/c.headers"
    code_ready=$(http GET /ready)
    cp "$WORK/body" "$WORK/ready.body"
    wait $pid_a
    status_a=$?
    wait $pid_b
    status_b=$?
    if [ "$code_c" = 200 ] && [ $a_running -eq 0 ]; then
        echo "attempt $attempt: the first request ended while the third was sent; again" >&2
        continue
    fi
    queue_full_ok=0
    break
done
check "the queue filled up (one running, one waiting)" test $queue_full_ok -eq 0
if [ $queue_full_ok -eq 0 ]; then
    cp "$WORK/c.body" "$WORK/body"
    check "a request beyond --queue: HTTP 503" expect_status "queue full" 503 "$code_c"
    check "  ... with a Retry-After header" grep -qiE '^retry-after: *[0-9]+' "$WORK/c.headers"
    check "  ... and an error body (server_busy)" is_error_body "$WORK/c.body" - server_busy
    check "/ready while the queue is full: 503" expect_status "/ready" 503 "$code_ready"
    check "  ... {\"status\":\"queue_full\"}" json_ok "$WORK/ready.body" "d == {'status': 'queue_full'}"
    check "the running request completed with [DONE]" grep -q '^data: \[DONE\]' "$WORK/a.sse"
    check "the waiting request ran after it, with [DONE]" grep -q '^data: \[DONE\]' "$WORK/b.sse"
    check "both curls ended well" test "$status_a" -eq 0 -a "$status_b" -eq 0
fi
check "/ready is 200 again once the queue drained" test "$(http GET /ready)" = 200
check "  ... {\"status\":\"ready\"}" json_ok "$WORK/body" "d == {'status': 'ready'}"
check "a good request afterwards" good_request
stop_server
check "SIGTERM: exit status 0" test $? -eq 0

"$R1" serve -m "$MODEL" --port 0 --kv-type f8 >/dev/null 2>"$WORK/kv.err"
check "--kv-type f8 is refused" test $? -ne 0
check "  ... saying what it expects" grep -q "kv-type expects auto, f16 or f32, got 'f8'" "$WORK/kv.err"
finish
