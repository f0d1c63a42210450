# server.sh - what every `r1 serve` test shares (sourced, not run, after
# R1 is set to the r1 binary): common.sh's WORK / check / finish, and
#   make_model NAME [gen args]   a tiny random-weight model, $WORK/NAME.gguf
#                                (sets MODEL; default args: --shape tiny
#                                --type q8_0 --seed 1)
#   start_server MODEL [flags]   r1 serve on 127.0.0.1, a free port, 2 threads;
#                                waits for "listening on" and GET /ready = 200;
#                                sets SERVER_PID and exports R1_URL, R1_PID
#   stop_server                  SIGTERM, wait; returns the server's exit status
#   http METHOD PATH [curl args] one request: the status on stdout, the body in
#                                $WORK/body, the headers in $WORK/headers
#   json_ok FILE PYEXPR          true when PYEXPR holds for d = the JSON in FILE
#   is_error_body FILE [PARAM [CODE]]  an OpenAI-style error body, with that
#                                param / code when given ("-" skips one)
#   good_request                 a small chat request succeeds and the server
#                                is the same process
#   install_test_clients         node + npm + tests/server/js/node_modules
# Every failed check prints the tail of the server's log.
source "$(dirname "${BASH_SOURCE[0]}")/../../cli/lib/common.sh"
SERVER_TESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_ROOT=$(cd "$SERVER_TESTS/../.." && pwd)
JS="$SERVER_TESTS/js"
SERVER_PID=""
SERVER_LOG="$WORK/server.log"
R1_URL=""
R1_START_TIMEOUT=${R1_START_TIMEOUT:-30}
# Debian's python3 directly: a version manager's shim can take half a second.
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=python3

# One EXIT trap for both: a server left running (a failed test) is killed,
# so are the background clients this test started, then WORK is removed.
_server_cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    local p
    for p in $(jobs -p); do kill "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap _server_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

server_log_tail() {
    if [ -s "$SERVER_LOG" ]; then
        echo "---- last lines of the server log ($SERVER_LOG) ----"
        tail -n 40 "$SERVER_LOG"
        echo "----"
    fi
}

# common.sh's check, plus the server log when something fails.
check() {
    local name="$1"
    shift
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $name" >&2
        server_log_tail >&2
    fi
}

install_test_clients() {
    if ! "$REPO_ROOT/scripts/install-test-clients.sh" >"$WORK/install.log" 2>&1; then
        echo "scripts/install-test-clients.sh failed:" >&2
        cat "$WORK/install.log" >&2
        return 1
    fi
}

make_model() {
    local name="$1"
    shift
    MODEL="$WORK/$name.gguf"
    [ -f "$MODEL" ] && return 0
    if [ $# -eq 0 ]; then set -- --shape tiny --type q8_0 --seed 1; fi
    "$R1" model gen "$@" -o "$MODEL" >"$WORK/model-gen.log" 2>&1 || {
        cat "$WORK/model-gen.log" >&2
        return 1
    }
}

start_server() {
    local model="$1"
    shift
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "start_server: a server is already running (pid $SERVER_PID)" >&2
        return 1
    fi
    # The previous server's log, if any, is kept next to the new one.
    [ -s "$SERVER_LOG" ] && cat "$SERVER_LOG" >>"$WORK/server.previous.log"
    # Emptied here, not only by the redirection below: that happens in the
    # child, and until it does the loop would read the previous server's
    # port from the old log (seen once on a loaded machine).
    : >"$SERVER_LOG"
    "$R1" serve -m "$model" --host 127.0.0.1 --port 0 -t 2 "$@" >"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    R1_URL=""
    local deadline=$((SECONDS + R1_START_TIMEOUT)) port=""
    while [ $SECONDS -lt $deadline ]; do
        port=$(grep -oE 'listening on http://127\.0\.0\.1:[0-9]+' "$SERVER_LOG" 2>/dev/null | head -n 1 | sed -E 's/.*:([0-9]+)$/\1/')
        [ -n "$port" ] && break
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            wait "$SERVER_PID" 2>/dev/null
            echo "start_server: r1 serve exited with status $? before listening: r1 serve -m $model $*" >&2
            server_log_tail >&2
            SERVER_PID=""
            return 1
        fi
        sleep 0.1
    done
    if [ -z "$port" ]; then
        echo "start_server: no 'listening on http://127.0.0.1:PORT' line within ${R1_START_TIMEOUT} s" >&2
        server_log_tail >&2
        return 1
    fi
    export R1_URL="http://127.0.0.1:$port"
    export R1_PID="$SERVER_PID"
    local code=""
    while [ $SECONDS -lt $deadline ]; do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$R1_URL/ready")
        [ "$code" = 200 ] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "start_server: GET $R1_URL/ready did not answer 200 (last: $code)" >&2
    server_log_tail >&2
    return 1
}

# SIGTERM and wait (at most STOP_TIMEOUT seconds, default 30, then SIGKILL);
# returns the server's exit status (137 after the SIGKILL).
stop_server() {
    local timeout="${1:-30}"
    [ -n "$SERVER_PID" ] || return 1
    kill -TERM "$SERVER_PID" 2>/dev/null
    wait_server_exit "$timeout"
}

# Waits for the server to exit by itself (at most TIMEOUT seconds, then
# SIGKILL, and SERVER_KILLED=1); returns its exit status.
wait_server_exit() {
    local timeout="$1" deadline status
    SERVER_KILLED=0
    deadline=$((SECONDS + timeout))
    # (a process that exited stays a zombie until waited for: look at its state)
    while [ $SECONDS -lt "$deadline" ] && kill -0 "$SERVER_PID" 2>/dev/null &&
        ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$SERVER_PID/stat" 2>/dev/null; do
        sleep 0.05
    done
    if kill -0 "$SERVER_PID" 2>/dev/null && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$SERVER_PID/stat" 2>/dev/null; then
        echo "the server (pid $SERVER_PID) did not exit within $timeout s; killing it" >&2
        kill -KILL "$SERVER_PID" 2>/dev/null
        SERVER_KILLED=1
    fi
    wait "$SERVER_PID" 2>/dev/null
    status=$?
    SERVER_PID=""
    return $status
}

http() {
    local method="$1" path="$2"
    shift 2
    curl -s -X "$method" -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' --max-time 30 "$@" "$R1_URL$path"
}

# POST a JSON body given as a string; prints the status.
post_json() {
    local path="$1" body="$2"
    shift 2
    printf '%s' "$body" >"$WORK/request.json"
    http POST "$path" -H 'Content-Type: application/json' --data-binary @"$WORK/request.json" "$@"
}

json_ok() {
    "$PYTHON" - "$1" "$2" <<'EOF'
import json, sys
try:
    with open(sys.argv[1], 'rb') as f:
        d = json.load(f)
    ok = eval(sys.argv[2])
except Exception as e:
    print("json_ok: %s: %r" % (sys.argv[2], e), file=sys.stderr)
    ok = False
if not ok:
    try:
        text = open(sys.argv[1], 'rb').read(600).decode('utf-8', 'replace')
    except Exception:
        text = '?'
    print("json_ok: false: %s  (body: %s)" % (sys.argv[2], text), file=sys.stderr)
sys.exit(0 if ok else 1)
EOF
}

is_error_body() {
    local file="$1" param="${2:--}" code="${3:--}"
    local expr="isinstance(d.get('error'), dict) and isinstance(d['error'].get('message'), str) and len(d['error']['message']) > 0 and isinstance(d['error'].get('type'), str) and 'param' in d['error'] and 'code' in d['error']"
    [ "$param" != "-" ] && expr="$expr and d['error']['param'] == '$param'"
    [ "$code" != "-" ] && expr="$expr and d['error']['code'] == '$code'"
    json_ok "$file" "$expr"
}

# expect_status NAME WANT GOT: a check whose failure message names both.
expect_status() {
    if [ "$2" != "$3" ]; then
        echo "$1: expected HTTP $2, got $3; body: $(head -c 400 "$WORK/body" 2>/dev/null)" >&2
        return 1
    fi
}

good_request() {
    local code
    code=$(post_json /v1/chat/completions '{"model":"'"${ALIAS:-tiny}"'","messages":[{"role":"user","content":"Hi"}],"max_tokens":4,"temperature":0}')
    [ "$code" = 200 ] || {
        echo "good_request: HTTP $code: $(head -c 400 "$WORK/body")" >&2
        return 1
    }
    json_ok "$WORK/body" "d['object'] == 'chat.completion' and d['usage']['completion_tokens'] <= 4" || return 1
    kill -0 "$SERVER_PID" 2>/dev/null || {
        echo "good_request: the server (pid $SERVER_PID) is gone" >&2
        return 1
    }
}

# health_is RUNNING WAITING: GET /health shows exactly these counts.
health_is() {
    local code
    code=$(http GET /health)
    [ "$code" = 200 ] && json_ok "$WORK/body" "d['status'] == 'ok' and d['requests_running'] == $1 and d['requests_waiting'] == $2"
}

# wait_health RUNNING WAITING [SECONDS]: polls /health (every 20 ms) until it
# shows these counts.
wait_health() {
    local deadline=$((SECONDS + ${3:-10})) h
    while [ $SECONDS -lt $deadline ]; do
        h=$(curl -s --max-time 5 "$R1_URL/health" 2>/dev/null | tr -d ' \n')
        printf '%s' "$h" >"$WORK/health.json"
        case "$h" in
        *'"requests_running":'"$1"[,}]*) case "$h" in *'"requests_waiting":'"$2"[,}]*) return 0 ;; esac ;;
        esac
        sleep 0.02
    done
    echo "wait_health: /health did not show running=$1 waiting=$2 within ${3:-10} s; last: $(cat "$WORK/health.json" 2>/dev/null)" >&2
    return 1
}
