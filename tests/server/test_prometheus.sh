#!/bin/bash
# test_prometheus.sh - r1's metrics as Prometheus sees them.
#  1. The deploy configuration is valid: promtool checks
#     deploy/prometheus/prometheus.yml and its rules (lint included) and runs
#     the rules' unit tests (tests/server/prometheus/r1-alerts.test.yml).
#  2. GET /metrics of a live `r1 serve --metrics-port 0` passes
#     `promtool check metrics` with no lint message, after whole, streamed,
#     text-completion and failed requests, and on a fresh server; the metrics
#     port serves nothing else; the counts are those of the requests sent.
#  3. A real Prometheus on loopback scrapes two servers every second (a
#     scripted model whose answers are 15 tokens, and a random model with
#     --parallel 1 --queue 1) with the deploy rules loaded (their `for:`
#     set to 0s): N chats move r1_requests_total by N and
#     r1_generation_tokens_total by 15 N as Prometheus reads them; the TTFT
#     p95 query and its recording rule give numbers; every rule evaluates
#     without error; a full queue (503 server_busy) fires R1QueueNearlyFull
#     and counts r1_errors_total{kind="busy"}; a stopped server fires
#     R1ReplicaDown.
#  4. 32 concurrent streams: the counters move by exactly what the clients
#     counted (responses, and usage.completion_tokens).
# Needs prometheus and promtool (scripts/install-deps.sh installs Debian's
# `prometheus` package; its service, if started, is not used: this test runs
# its own Prometheus on a free loopback port with its storage in WORK).
#   usage: test_prometheus.sh R1_BINARY TESTDATA_DIR
set -u
R1="$1"
source "$(dirname "$0")/lib/server.sh"
DEPLOY="$REPO_ROOT/deploy/prometheus"
PROM_PID=""
BUSY_PID=""
STARTED=$SECONDS

for tool in prometheus promtool; do
    command -v $tool >/dev/null || {
        echo "$tool not found: scripts/install-deps.sh installs Debian's prometheus package" >&2
        check "$tool installed" false
        finish
        exit 1
    }
done

# ---------------------------------------------------------------- helpers

# clean OUTPUT_FILE: promtool said only "Checking ...", "SUCCESS..." and blank lines.
clean() {
    if grep -vE '^(Checking |  ?SUCCESS|Unit Testing: |$)' "$1" >&2; then
        echo "(promtool printed the lines above in $1)" >&2
        return 1
    fi
}

# promtool_clean NAME -- COMMAND...: exit 0 and nothing but success lines.
promtool_clean() {
    local out="$WORK/promtool.out"
    "$@" >"$out" 2>&1
    local status=$?
    [ $status -eq 0 ] || { cat "$out" >&2; echo "exit status $status: $*" >&2; return 1; }
    clean "$out"
}

promtool_metrics() { promtool check metrics <"$1"; }

# only_for_differs A B: the two rule files differ in `for:` lines only.
only_for_differs() {
    ! diff "$1" "$2" | grep -E '^[<>]' | grep -vE '^[<>] +for: ' >&2
}

# metric URL SERIES: the value of one series of GET URL (the line
# "SERIES VALUE", labels written as the server writes them); 0 when absent.
metric() {
    curl -s --max-time 5 "$1" | awk -v s="$2" 'index($0, s " ") == 1 { v = $2 } END { print (v == "" ? 0 : v) }'
}

# wait_metric URL SERIES WANT: polls until the series reads WANT (a request
# is counted when its connection completes, just after the client's last byte).
wait_metric() {
    local deadline=$((SECONDS + 10)) got
    while [ $SECONDS -lt $deadline ]; do
        got=$(metric "$1" "$2")
        [ "$got" = "$3" ] && return 0
        sleep 0.1
    done
    echo "wait_metric: $2 = $got, expected $3 ($1)" >&2
    return 1
}

# The Prometheus HTTP API, from Python (prom.py COMMAND ...; see below).
cat >"$WORK/prom.py" <<'PY'
import json, math, sys, time, urllib.parse, urllib.request
base = sys.argv[1]
cmd = sys.argv[2]

def api(path, **params):
    url = base + path + ('?' + urllib.parse.urlencode(params) if params else '')
    with urllib.request.urlopen(url, timeout=5) as r:
        d = json.load(r)
    assert d['status'] == 'success', d
    return d['data']

def value(expr):
    """The value of a query with one result; None when it has none."""
    res = api('/api/v1/query', query=expr)['result']
    if not res:
        return None
    assert len(res) == 1, 'more than one series: %r' % res
    return float(res[0]['value'][1])

def poll(ok, what, timeout):
    deadline = time.time() + timeout
    last = None
    while True:
        try:
            last = ok()
            if last is True:
                return
        except Exception as e:  # not up yet, a query at a bad moment
            last = repr(e)
        if time.time() > deadline:
            print('prom.py: %s: not within %g s (last: %r)' % (what, timeout, last), file=sys.stderr)
            sys.exit(1)
        time.sleep(0.2)

if cmd == 'value':             # value EXPR: prints it ("none" when empty)
    v = value(sys.argv[3])
    print('none' if v is None else repr(v))
elif cmd == 'wait':            # wait EXPR WANT [TIMEOUT]: until EXPR == WANT
    expr, want = sys.argv[3], float(sys.argv[4])
    def ok():
        v = value(expr)
        return True if v == want else 'got %r, want %r' % (v, want)
    poll(ok, expr, float(sys.argv[5]) if len(sys.argv) > 5 else 15)
elif cmd == 'number':          # number EXPR: polls until a finite number
    def ok():
        v = value(sys.argv[3])
        return True if v is not None and math.isfinite(v) else v
    poll(ok, 'a number from ' + sys.argv[3], 15)
elif cmd == 'targets_up':      # targets_up N: N active targets, all healthy
    def ok():
        t = api('/api/v1/targets')['activeTargets']
        return True if len(t) == int(sys.argv[3]) and all(x['health'] == 'up' for x in t) else \
            [(x['scrapeUrl'], x['health'], x['lastError']) for x in t]
    poll(ok, 'all targets up', 20)
elif cmd == 'rules_ok':        # rules_ok N: N rules loaded, each evaluated without error
    def ok():
        rules = [r for g in api('/api/v1/rules')['groups'] for r in g['rules']]
        bad = [(r['name'], r.get('health'), r.get('lastError')) for r in rules if r.get('health') != 'ok']
        return True if len(rules) == int(sys.argv[3]) and not bad else (len(rules), bad)
    poll(ok, 'every rule loaded and healthy', 15)
elif cmd == 'firing':          # firing ALERTNAME REPLICA: until it fires, prints its annotations
    def ok():
        alerts = api('/api/v1/alerts')['alerts']
        mine = [a for a in alerts if a['labels'].get('alertname') == sys.argv[3]
                and a['labels'].get('replica') == sys.argv[4]]
        if any(a['state'] == 'firing' for a in mine):
            print(json.dumps([a for a in mine if a['state'] == 'firing'][0]['annotations']))
            return True
        return [(a['labels'], a['state']) for a in alerts]
    poll(ok, '%s{replica="%s"} firing' % (sys.argv[3], sys.argv[4]), 20)
PY
prom() { python3 "$WORK/prom.py" "$PROM_URL" "$@"; }
prom_both() { prom wait "$1" "$2" 1 && prom wait "$3" "$4" 1; } # EXPR1 WANT1 EXPR2 WANT2, at once

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

metrics_port_of() { # LOG: the port of "metrics on http://127.0.0.1:PORT/metrics"
    grep -oE 'metrics on http://127\.0\.0\.1:[0-9]+/metrics' "$1" | head -n 1 | sed -E 's/.*:([0-9]+)\/metrics$/\1/'
}

# ------------------------------------------------- 1. the deploy configuration
check "promtool check config deploy/prometheus/prometheus.yml (and its rule files)" \
    promtool_clean promtool check config --lint=all --lint-fatal "$DEPLOY/prometheus.yml"
check "promtool check rules deploy/prometheus/rules/r1-alerts.yml" \
    promtool_clean promtool check rules --lint=all --lint-fatal "$DEPLOY/rules/r1-alerts.yml"
check "promtool test rules tests/server/prometheus/r1-alerts.test.yml" \
    promtool_clean promtool test rules "$SERVER_TESTS/prometheus/r1-alerts.test.yml"

# ------------------------------------------------------ 2. the live /metrics
check "tiny random model generated" make_model tiny || { finish; exit 1; }
TINY="$MODEL"
check "scripted model generated" make_model scripted --shape tiny --type q8_0 --seed 1 --script 'Hm.</think>Yes' ||
    { finish; exit 1; }
check "r1 serve --metrics-port 0 starts (scripted model)" \
    start_server "$MODEL" --metrics-port 0 --alias scripted || { finish; exit 1; }
MPORT=$(metrics_port_of "$SERVER_LOG")
check "the log says where the metrics are" test -n "$MPORT"
METRICS="http://127.0.0.1:$MPORT/metrics"
S='model="scripted"'
CHAT200="r1_requests_total{$S,endpoint=\"/v1/chat/completions\",status=\"200\"}"
TOKENS="r1_generation_tokens_total{$S}"

code=$(post_json /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}]}')
check "chat: 200" expect_status chat 200 "$code"
curl -sN --max-time 30 -H 'Content-Type: application/json' -o "$WORK/stream.txt" \
    -d '{"messages":[{"role":"user","content":"hi"}],"stream":true}' "$R1_URL/v1/chat/completions"
check "streamed chat ends with [DONE]" grep -q '^data: \[DONE\]' "$WORK/stream.txt"
code=$(post_json /v1/completions '{"prompt":"Question?\n"}')
check "completion: 200" expect_status completion 200 "$code"
code=$(post_json /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"n":2}')
check "n: 2 is refused: 400" expect_status "n=2" 400 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$MPORT/v1/models")
check "the metrics port serves nothing but /metrics (GET /v1/models: 404)" expect_status "metrics port" 404 "$code"

check "counted: 2 chats answered 200" wait_metric "$METRICS" "$CHAT200" 2
check "counted: 1 completion" wait_metric "$METRICS" "r1_requests_total{$S,endpoint=\"/v1/completions\",status=\"200\"}" 1
check "counted: 1 chat answered 400" wait_metric "$METRICS" "r1_requests_total{$S,endpoint=\"/v1/chat/completions\",status=\"400\"}" 1
check "counted: errors invalid_request 1" wait_metric "$METRICS" "r1_errors_total{$S,kind=\"invalid_request\"}" 1
check "counted: 45 tokens generated (3 answers of 15)" wait_metric "$METRICS" "$TOKENS" 45
check "counted: 22 of them in the reasoning (2 chats of 11; none in the completion)" \
    wait_metric "$METRICS" "r1_reasoning_tokens_total{$S}" 22

curl -s --max-time 5 -D "$WORK/metrics.headers" -o "$WORK/metrics.txt" "$METRICS"
check "GET /metrics: Prometheus text format 0.0.4" grep -qi '^Content-Type: text/plain; version=0.0.4' "$WORK/metrics.headers"
check "promtool check metrics: clean, after requests of every kind" promtool_clean \
    promtool_metrics "$WORK/metrics.txt"
code=$(http GET /metrics)
check "the main port serves GET /metrics too" expect_status "main /metrics" 200 "$code"
check "... with the same families" \
    test "$(grep -c '^# TYPE' "$WORK/body")" = "$(grep -c '^# TYPE' "$WORK/metrics.txt")"

# The second server: a random model, one sequence, a queue of one.
"$R1" serve -m "$TINY" --host 127.0.0.1 --port 0 --metrics-port 0 -t 1 --parallel 1 --queue 1 \
    --alias busy >"$WORK/busy.log" 2>&1 &
BUSY_PID=$!
BUSY_URL="" BPORT=""
for _ in $(seq 100); do
    BPORT=$(metrics_port_of "$WORK/busy.log")
    port=$(grep -oE 'listening on http://127\.0\.0\.1:[0-9]+' "$WORK/busy.log" | head -n 1 | sed -E 's/.*:([0-9]+)$/\1/')
    [ -n "$BPORT" ] && [ -n "$port" ] &&
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/ready")" = 200 ] &&
        BUSY_URL="http://127.0.0.1:$port" && break
    sleep 0.1
done
check "r1 serve --parallel 1 --queue 1 --metrics-port 0 starts (random model)" test -n "$BUSY_URL" ||
    { cat "$WORK/busy.log" >&2; finish; exit 1; }
BUSY_METRICS="http://127.0.0.1:$BPORT/metrics"
curl -s --max-time 5 -o "$WORK/busy-metrics.txt" "$BUSY_METRICS"
check "promtool check metrics: clean on a fresh server (families without samples)" promtool_clean \
    promtool_metrics "$WORK/busy-metrics.txt"

# ------------------------------------------------- 3. a real Prometheus
# The deploy rules with every `for:` at 0s, so that an alert fires at the
# first evaluation that sees its condition; nothing else changes.
sed -E 's/^( *for:) .*/\1 0s/' "$DEPLOY/rules/r1-alerts.yml" >"$WORK/r1-alerts.yml"
check "the test's rules differ from the deploy rules only in for:" \
    only_for_differs "$DEPLOY/rules/r1-alerts.yml" "$WORK/r1-alerts.yml"
N_RULES=$(grep -cE '^ *- (record|alert): ' "$WORK/r1-alerts.yml")
PROM_PORT=$(free_port)
PROM_URL="http://127.0.0.1:$PROM_PORT"
cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $WORK/r1-alerts.yml
scrape_configs:
  - job_name: r1
    static_configs:
      - targets: ["127.0.0.1:$MPORT"]
        labels: {replica: scripted}
      - targets: ["127.0.0.1:$BPORT"]
        labels: {replica: busy}
EOF
check "promtool check config: the test's configuration" \
    promtool_clean promtool check config "$WORK/prometheus.yml"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!
prom_ready() {
    local deadline=$((SECONDS + 30))
    while [ $SECONDS -lt $deadline ]; do
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$PROM_URL/-/ready")" = 200 ] && return 0
        kill -0 "$PROM_PID" 2>/dev/null || break
        sleep 0.2
    done
    echo "prometheus did not get ready:" >&2
    tail -n 20 "$WORK/prometheus.log" >&2
    return 1
}
check "prometheus starts on 127.0.0.1:$PROM_PORT" prom_ready || { finish; exit 1; }
check "prometheus scrapes both servers" prom targets_up 2
check "every rule of r1-alerts.yml loaded and evaluated without error ($N_RULES rules)" prom rules_ok "$N_RULES"

# N chats, counted by Prometheus from one scrape to a later one.
N=7
Q_CHATS="sum(r1_requests_total{replica=\"scripted\",endpoint=\"/v1/chat/completions\",status=\"200\"})"
Q_TOKENS="sum(r1_generation_tokens_total{replica=\"scripted\"})"
chats0=$(metric "$METRICS" "$CHAT200")
tokens0=$(metric "$METRICS" "$TOKENS")
check "prometheus reads $CHAT200 = $chats0" prom wait "$Q_CHATS" "$chats0"
check "prometheus reads $TOKENS = $tokens0" prom wait "$Q_TOKENS" "$tokens0"
ok=0
for i in $(seq $N); do
    code=$(post_json /v1/chat/completions '{"messages":[{"role":"user","content":"Question '"$i"'?"}]}')
    [ "$code" = 200 ] && ok=$((ok + 1))
done
check "$N chats answered 200" test $ok -eq $N
check "prometheus: r1_requests_total{chat,200} rose by exactly $N" prom wait "$Q_CHATS" $((chats0 + N))
check "prometheus: r1_generation_tokens_total rose by exactly $N x 15" prom wait "$Q_TOKENS" $((tokens0 + N * 15))
sleep 1.5 # a few more scrapes: nothing counted twice
check "prometheus: still exactly +$N requests and +$((N * 15)) tokens a scrape later" \
    prom_both "$Q_CHATS" $((chats0 + N)) "$Q_TOKENS" $((tokens0 + N * 15))
check "prometheus: TTFT p95 over rate(...[1m]) is a number" \
    prom number 'histogram_quantile(0.95, sum by (le) (rate(r1_time_to_first_token_seconds_bucket{replica="scripted"}[1m])))'
check "prometheus: the recording rule r1:ttft_seconds:p95 is a number" prom number 'r1:ttft_seconds:p95{replica="scripted"}'
check "prometheus: inter-token latency p95 is a number" prom number 'r1:inter_token_latency_seconds:p95{replica="scripted"}'
echo "info: on the scripted model, TTFT p95 $(prom value 'r1:ttft_seconds:p95{replica="scripted"}') s," \
    "inter-token p95 $(prom value 'r1:inter_token_latency_seconds:p95{replica="scripted"}') s"

# A full queue: three clients send long streamed requests (3000 tokens,
# about a second each here) back to back, so that one runs, one waits and
# the third gets 503 server_busy (then pauses 0.2 s), until they are killed.
# (Streamed: a client that leaves a whole answer may be logged and counted
# as 503 instead of 499 / client_gone, see docs/METRICS.md.)
cat >"$WORK/load.py" <<'PY'
import json, sys, threading, time, urllib.error, urllib.request
url, out = sys.argv[1] + '/v1/chat/completions', sys.argv[2]
body = json.dumps({'messages': [{'role': 'user', 'content': 'hi'}], 'max_tokens': 3000, 'ignore_eos': True,
                   'stream': True}).encode()
counts, lock = {}, threading.Lock()

def client():
    deadline = time.time() + 60
    while time.time() < deadline:
        req = urllib.request.Request(url, body, {'Content-Type': 'application/json'})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                for line in r:
                    pass
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        with lock:
            counts[status] = counts.get(status, 0) + 1
            with open(out, 'w') as f:
                json.dump(counts, f)
        if status != 200:
            time.sleep(0.2)

for i in range(3):
    threading.Thread(target=client, daemon=True).start()
    time.sleep(0.1)
time.sleep(60)
PY
python3 "$WORK/load.py" "$BUSY_URL" "$WORK/load.json" &
LOAD_PID=$!
check "prometheus: r1_errors_total{kind=\"busy\"} > 0 (503 server_busy)" \
    prom number 'sum(r1_errors_total{replica="busy",kind="busy"}) > 0'
check "prometheus: the busy server has 1 request waiting, its queue's capacity" \
    prom wait 'r1_requests_waiting{replica="busy"} >= r1_queue_capacity{replica="busy"}' 1
prom firing R1QueueNearlyFull busy >"$WORK/alert.json"
check "alert R1QueueNearlyFull fires for replica busy" test $? -eq 0
check "... with its annotations filled in" json_ok "$WORK/alert.json" \
    "d['summary'] == \"r1 replica busy's queue is nearly full\" and d['description'].startswith('127.0.0.1:$BPORT (replica busy) has 1 requests waiting')"
load_saw() { # both a whole answer and a 503 among the load clients' (within 20 s)
    local deadline=$((SECONDS + 20))
    while [ $SECONDS -lt $deadline ]; do
        python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if d.get("200") and d.get("503") else 1)' \
            "$WORK/load.json" 2>/dev/null && return 0
        sleep 0.2
    done
    echo "the load clients' statuses: $(cat "$WORK/load.json" 2>/dev/null)" >&2
    return 1
}
check "the load clients saw 200s and 503s" load_saw
echo "info: load clients' statuses $(cat "$WORK/load.json"); alert: $(cat "$WORK/alert.json")"
kill "$LOAD_PID"
wait "$LOAD_PID" 2>/dev/null
LOAD_PID=""
gone_counted() { # the clients killed while waiting or running: client_gone, logged and counted as 499
    local deadline=$((SECONDS + 10)) gone closed
    while [ $SECONDS -lt $deadline ]; do
        gone=$(metric "$BUSY_METRICS" 'r1_errors_total{model="busy",kind="client_gone"}')
        closed=$(metric "$BUSY_METRICS" 'r1_requests_total{model="busy",endpoint="/v1/chat/completions",status="499"}')
        [ "$gone" -ge 1 ] && [ "$gone" = "$closed" ] &&
            [ "$(metric "$BUSY_METRICS" 'r1_requests_running{model="busy"}')" = 0 ] && return 0
        sleep 0.1
    done
    echo "client_gone: $gone, 499: $closed" >&2
    return 1
}
check "the killed clients: r1_errors_total{kind=\"client_gone\"} = r1_requests_total{status=\"499\"} >= 1, nothing left running" \
    gone_counted
kill -TERM "$BUSY_PID"
wait "$BUSY_PID"
check "the busy server exits 0 on SIGTERM" test $? -eq 0
BUSY_PID=""
prom firing R1ReplicaDown busy >"$WORK/alert.json"
check "alert R1ReplicaDown fires for the stopped replica" test $? -eq 0

# ------------------------------------------------- 4. 32 concurrent streams
chats1=$(metric "$METRICS" "$CHAT200")
tokens1=$(metric "$METRICS" "$TOKENS")
python3 - "$R1_URL" >"$WORK/streams.json" <<'PY'
import json, sys, threading, urllib.request
url = sys.argv[1] + '/v1/chat/completions'
n = 32
barrier = threading.Barrier(n)
results = [None] * n

def client(i):
    # max_tokens 4..15: answers of different lengths (15 is the whole script)
    body = json.dumps({'messages': [{'role': 'user', 'content': 'Stream %d?' % i}], 'stream': True,
                       'max_tokens': 4 + i % 12, 'stream_options': {'include_usage': True}}).encode()
    req = urllib.request.Request(url, body, {'Content-Type': 'application/json'})
    barrier.wait()
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status = r.status
            usage, done = None, False
            for line in r:
                line = line.decode().strip()
                if not line.startswith('data: '):
                    continue
                if line == 'data: [DONE]':
                    done = True
                    continue
                chunk = json.loads(line[6:])
                if chunk.get('usage'):
                    usage = chunk['usage']
        results[i] = {'status': status, 'done': done, 'completion_tokens': usage and usage['completion_tokens']}
    except Exception as e:
        results[i] = {'error': repr(e)}

threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
for t in threads: t.start()
for t in threads: t.join()
ok = [r for r in results if r.get('status') == 200 and r.get('done') and isinstance(r.get('completion_tokens'), int)]
print(json.dumps({'ok': len(ok), 'tokens': sum(r['completion_tokens'] for r in ok), 'results': results}))
PY
check "32 concurrent streams: each 200, [DONE] and usage" json_ok "$WORK/streams.json" "d['ok'] == 32"
check "... their completion_tokens are min(max_tokens, 15)" json_ok "$WORK/streams.json" \
    "[r['completion_tokens'] for r in d['results']] == [min(4 + i % 12, 15) for i in range(32)]"
STREAM_TOKENS=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tokens"])' "$WORK/streams.json" 2>/dev/null || echo 0)
check "/metrics: r1_requests_total{chat,200} rose by the 32 streams" wait_metric "$METRICS" "$CHAT200" $((chats1 + 32))
check "/metrics: r1_generation_tokens_total rose by the clients' $STREAM_TOKENS tokens" \
    wait_metric "$METRICS" "$TOKENS" $((tokens1 + STREAM_TOKENS))
check "prometheus: the same +32 requests" prom wait "$Q_CHATS" $((chats1 + 32))
check "prometheus: the same +$STREAM_TOKENS tokens" prom wait "$Q_TOKENS" $((tokens1 + STREAM_TOKENS))
check "nothing running or waiting at the end" prom wait 'sum(r1_requests_running{replica="scripted"}) + sum(r1_requests_waiting{replica="scripted"})' 0
curl -s --max-time 5 -o "$WORK/metrics.txt" "$METRICS"
check "promtool check metrics: clean at the end" promtool_clean \
    promtool_metrics "$WORK/metrics.txt"

# ------------------------------------------------- 5. the Grafana dashboard
# deploy/grafana/r1.json: JSON, every query names only metrics that r1 (or
# Prometheus: up) exports, and every query runs on this Prometheus and
# returns data (the GPU panels excepted: no GPU here), with the dashboard's
# variables set as Grafana would ($job=r1, $replica=All, $__rate_interval=1m).
cat >"$WORK/dashboard.py" <<'PY'
import json, re, sys, urllib.parse, urllib.request
prom, path, metrics_file = sys.argv[1:4]
dash = json.load(open(path))
exported = set()
for line in open(metrics_file):
    m = re.match(r'# TYPE (\S+) (\S+)', line)
    if m:
        exported.add(m.group(1))
        if m.group(2) == 'histogram':
            exported.update(m.group(1) + s for s in ('_bucket', '_sum', '_count'))
exported.add('up')  # Prometheus's own, per target
gpu_only = {'r1_gpu_utilization_ratio', 'r1_gpu_memory_used_bytes', 'r1_gpu_memory_total_bytes'}
words = {'sum', 'max', 'min', 'avg', 'count', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right',
         'and', 'or', 'unless', 'bool', 'rate', 'irate', 'increase', 'histogram_quantile', 'topk', 'bottomk'}
assert dash['schemaVersion'] >= 36 and dash['uid'] and dash['title'], 'not a dashboard'
variables = {v['name']: v for v in dash['templating']['list']}
assert variables['datasource']['type'] == 'datasource' and variables['datasource']['query'] == 'prometheus'
assert 'replica' in variables and 'job' in variables

def expand(e):
    return e.replace('$__rate_interval', '1m').replace('$job', 'r1').replace('$replica', '.*')

def names(e):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', e)        # strings
    e = re.sub(r'\{[^}]*\}', '', e)                     # label matchers
    e = re.sub(r'\[[^\]]*\]', '', e)                    # ranges
    e = re.sub(r'\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)', ' ', e)  # label lists
    return {w for w in re.findall(r'[A-Za-z_:][A-Za-z0-9_:]*', e) if w not in words}

def query(e):
    url = prom + '/api/v1/query?' + urllib.parse.urlencode({'query': e})
    with urllib.request.urlopen(url, timeout=10) as r:
        d = json.load(r)
    assert d['status'] == 'success', d
    return d['data']['result']

def walk(panels):
    for p in panels:
        yield p
        yield from walk(p.get('panels', []))

failures, n = [], 0
ids = set()
for p in walk(dash['panels']):
    assert p['id'] not in ids, 'duplicate panel id %r' % p['id']
    ids.add(p['id'])
    for t in p.get('targets', []):
        n += 1
        e = t['expr']
        used = names(e)
        unknown = used - exported - gpu_only
        if unknown:
            failures.append('%s: %s: unknown metrics %s' % (p['title'], e, sorted(unknown)))
            continue
        try:
            result = query(expand(e))
        except Exception as ex:
            failures.append('%s: %s: %r' % (p['title'], e, ex))
            continue
        if not result and not used & gpu_only:
            failures.append('%s: %s: no data' % (p['title'], expand(e)))
for v in variables.values():                # label_values(SELECTOR, LABEL)
    if v['type'] == 'query':
        m = re.fullmatch(r'label_values\((.*), *(\w+)\)', v['definition'])
        n += 1
        if not m or not query(expand('count by (%s) (%s)' % (m.group(2), m.group(1)))):
            failures.append('variable %s: %s gives no values' % (v['name'], v['definition']))
for f in failures:
    print(f, file=sys.stderr)
print('%d queries, %d failed' % (n, len(failures)))
sys.exit(1 if failures or n < 20 else 0)
PY
check "deploy/grafana/r1.json: every query uses r1's metrics and returns data" \
    python3 "$WORK/dashboard.py" "$PROM_URL" "$REPO_ROOT/deploy/grafana/r1.json" "$WORK/metrics.txt"

# ------------------------------------------------- the end
kill -TERM "$PROM_PID"
wait "$PROM_PID"
check "prometheus exits 0 on SIGTERM" test $? -eq 0 || tail -n 20 "$WORK/prometheus.log" >&2
PROM_PID=""
stop_server
check "r1 serve exits 0 on SIGTERM" test $? -eq 0
echo "test_prometheus: $((SECONDS - STARTED)) s"
finish
