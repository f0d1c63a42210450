# ha.sh - what the high-availability tests share (sourced after R1 is set):
# tests/server/lib/server.sh (WORK, check, finish, make_model, ...), plus
#   free_port                     an unused loopback TCP port
#   replicas_start N MODEL        N supervised `r1 serve` replicas (-t 1) on
#                                 fixed ports REPLICA_PORT[0..N-1]; each runs
#                                 under a loop that restarts it whenever it
#                                 exits (standing in for systemd's Restart= or
#                                 a Kubernetes restart), unless held
#   replica_pid I                 the current pid of replica I
#   replica_hold I / replica_release I   stop / resume restarting replica I
#   replica_flags I "FLAGS"       extra r1 serve flags from its next start on
#   wait_replica_ready I [S]      until GET /ready on replica I is 200
#   wait_replica_pid_change I OLD [S]   until replica I runs as a new process
#   load_start NAME URL [W_PLAIN W_STREAM STATS_URL]   the load generator
#   load_stop NAME                stop it and wait for its last requests
#   load_summary NAME             counts by kind: "plain_ok plain_fail stream_ok stream_fail"
#   now_ms                        milliseconds since the epoch
#   ha_row SCENARIO ...           one row of the summary table
source "$(dirname "${BASH_SOURCE[0]}")/../../server/lib/server.sh"
HA_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HA_DIR=$(cd "$HA_LIB/.." && pwd)
HA_TABLE="$WORK/summary.tsv"
: >"$HA_TABLE"
declare -a REPLICA_PORT SUPERVISOR_PID
HA_BG_PIDS=""

now_ms() { date +%s%3N; }

free_port() {
    "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# One replica's supervisor: start, wait, log the exit, restart after 0.2 s
# (systemd's RestartSec) unless $WORK/hold.I exists; ends when $WORK/stop
# exists.
_supervise() {
    local i="$1" model="$2" port="$3" log="$WORK/replica.$i.log" rc
    while [ ! -e "$WORK/stop" ]; do
        while [ -e "$WORK/hold.$i" ] && [ ! -e "$WORK/stop" ]; do sleep 0.05; done
        [ -e "$WORK/stop" ] && break
        # shellcheck disable=SC2046
        "$R1" serve -m "$model" --host 127.0.0.1 --port "$port" -t 1 --http-threads 2 \
            --drain-timeout 20 --alias tiny $(cat "$WORK/flags.$i" 2>/dev/null) >>"$log" 2>&1 &
        echo $! >"$WORK/pid.$i"
        echo "$(now_ms) start $i pid $!" >>"$WORK/events"
        wait $!
        rc=$?
        echo "$(now_ms) exit $i status $rc" >>"$WORK/events"
        sleep 0.2
    done
}

replicas_start() {
    local n="$1" model="$2" i
    for ((i = 0; i < n; i++)); do
        REPLICA_PORT[i]=$(free_port)
        _supervise "$i" "$model" "${REPLICA_PORT[i]}" &
        SUPERVISOR_PID[i]=$!
        HA_BG_PIDS="$HA_BG_PIDS $!"
    done
    for ((i = 0; i < n; i++)); do wait_replica_ready "$i" 30 || return 1; done
}

replica_pid() { cat "$WORK/pid.$1" 2>/dev/null; }
replica_hold() { touch "$WORK/hold.$1"; }
replica_release() { rm -f "$WORK/hold.$1"; }
replica_flags() { printf '%s\n' "$2" >"$WORK/flags.$1"; }
replica_url() { echo "http://127.0.0.1:${REPLICA_PORT[$1]}"; }

wait_replica_ready() {
    local i="$1" deadline=$((SECONDS + ${2:-30}))
    while [ $SECONDS -lt $deadline ]; do
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$(replica_url "$i")/ready")" = 200 ] && return 0
        sleep 0.05
    done
    echo "replica $i (port ${REPLICA_PORT[$i]}) not ready within ${2:-30} s" >&2
    tail -n 20 "$WORK/replica.$i.log" >&2
    return 1
}

wait_replica_pid_change() {
    local i="$1" old="$2" deadline=$((SECONDS + ${3:-30})) p
    while [ $SECONDS -lt $deadline ]; do
        p=$(replica_pid "$i")
        [ -n "$p" ] && [ "$p" != "$old" ] && return 0
        sleep 0.05
    done
    echo "replica $i was not restarted within ${3:-30} s" >&2
    return 1
}

# The replica's count of chat requests (all statuses) from its /metrics.
replica_chat_count() {
    curl -s --max-time 3 "$(replica_url "$1")/metrics" |
        awk '/^r1_requests_total\{/ && /endpoint="\/v1\/chat\/completions"/ {s += $NF} END {printf "%d\n", s}'
}

load_start() {
    local name="$1" url="$2" wp="${3:-2}" ws="${4:-2}" stats="${5:-}"
    rm -f "$WORK/load.$name.stop" "$WORK/load.$name.jsonl"
    node "$HA_LIB/loadgen.js" "$url" "$WORK/load.$name.jsonl" "$WORK/load.$name.stop" "$wp" "$ws" 300 "$stats" \
        >"$WORK/load.$name.log" 2>&1 &
    eval "LOAD_PID_$name=$!"
    HA_BG_PIDS="$HA_BG_PIDS $!"
}

load_stop() {
    local name="$1" pid
    touch "$WORK/load.$name.stop"
    eval "pid=\$LOAD_PID_$name"
    wait "$pid" 2>/dev/null
}

# load_stats NAME PYEXPR: evaluates PYEXPR with r = the request records,
# e = the state events (HAProxy), and helpers; prints the result.
load_py() {
    "$PYTHON" - "$WORK/load.$1.jsonl" "$2" <<'EOF'
import json, sys
r, e = [], []
for line in open(sys.argv[1]):
    d = json.loads(line)
    (e if 'event' in d else r).append(d)
import os
portmap = dict(kv.split('=') for kv in os.environ.get('HA_PORTMAP', '').split(',') if '=' in kv)
def srv(x):
    # HAProxy names the server (X-Served-By: r1-a); nginx gives the upstream
    # addresses tried, the last one answered ("127.0.0.1:P1, 127.0.0.1:P2")
    s = (x.get('server') or '').split(',')[-1].strip()
    return portmap.get(s.rsplit(':', 1)[-1], s) if ':' in s else s
for x in r: x['srv'] = srv(x)
def count(kind, ok): return sum(1 for x in r if x['kind'] == kind and x['ok'] == ok)
def served(name, t_from=0, t_to=1e18): return sum(1 for x in r if x['ok'] and x['srv'] == name and t_from <= x['t0'] <= t_to)
print(eval(sys.argv[2]))
EOF
}

load_summary() {
    load_py "$1" "'%d %d %d %d' % (count('plain', True), count('plain', False), count('stream', True), count('stream', False))"
}

# The distinct errors of a run, with counts, for the log.
load_errors() {
    load_py "$1" "'\n'.join('  %4d x %s: %s' % (n, k, m) for (k, m), n in __import__('collections').Counter((x['kind'], x['error']) for x in r if not x['ok']).items()) or '  (none)'"
}

# ha_row BALANCER SCENARIO PLAIN_OK PLAIN_FAIL STREAM_OK STREAM_FAIL NOTE
ha_row() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$HA_TABLE"; }

ha_print_table() {
    echo
    echo "== summary: $1 =="
    printf '%-8s %-34s %9s %9s %9s %9s  %s\n' balancer scenario plain_ok plain_fail stream_ok stream_fail notes
    while IFS=$'\t' read -r b s po pf so sf note; do
        printf '%-8s %-34s %9s %9s %9s %9s  %s\n' "$b" "$s" "$po" "$pf" "$so" "$sf" "$note"
    done <"$HA_TABLE"
    echo
}

# Everything this test started: the supervisors stop restarting, the
# replicas and the load generators are killed by pid, then server.sh's
# cleanup removes WORK.
_ha_cleanup() {
    local f p
    touch "$WORK/stop" 2>/dev/null
    for f in "$WORK"/pid.*; do
        [ -e "$f" ] || continue
        p=$(cat "$f")
        [ -n "$p" ] && kill -KILL "$p" 2>/dev/null
    done
    for p in $HA_BG_PIDS $HA_EXTRA_PIDS; do kill "$p" 2>/dev/null; done
    for p in $HA_BG_PIDS $HA_EXTRA_PIDS; do wait "$p" 2>/dev/null; done
    # a supervisor may have started a replica while it was being stopped
    for f in "$WORK"/pid.*; do
        [ -e "$f" ] || continue
        p=$(cat "$f")
        [ -n "$p" ] && kill -KILL "$p" 2>/dev/null
    done
    # HA_KEEP=DIR keeps the logs (replicas, balancer, load records) for a look
    if [ -n "${HA_KEEP:-}" ]; then
        mkdir -p "$HA_KEEP" && cp -r "$WORK"/*.log "$WORK"/*.jsonl "$WORK"/events "$WORK"/nginx "$HA_KEEP"/ 2>/dev/null
    fi
    _server_cleanup
}
trap _ha_cleanup EXIT
