#!/usr/bin/env bash
# test_nginx.sh - the scenarios of test_haproxy.sh behind nginx 1.22 as an
# L7 balancer (passive checks: max_fails/fail_timeout, proxy_next_upstream
# on errors and 503, backup): 1 steady load, 2 kill -9 of a primary,
# 3 rolling restart, 5 both primaries down. Scenario 4 (alive but not
# ready gets no traffic) needs active checks: nginx has none, so here it
# only shows that a 503 from a full replica is retried elsewhere. The
# production configs are checked with `nginx -t` in test_deploy_files.sh.
# Usage: test_nginx.sh R1_BINARY [TESTDATA_DIR]
R1="$1"
source "$(dirname "$0")/lib/ha.sh"
source "$HA_LIB/scenarios.sh"

if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    "$REPO_ROOT/scripts/install-deps.sh" >/dev/null 2>&1
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$NGINX" ] || ! command -v node >/dev/null; then
    echo "SKIP: nginx or node is not installed (scripts/install-deps.sh installs nginx)"
    exit 0
fi

LB=nginx
FAIL_TIMEOUT=${HA_NGINX_FAIL_TIMEOUT:-5}
HA_KILL_TAIL=$((FAIL_TIMEOUT + 2))
HA_ROLL_PAUSE=$((FAIL_TIMEOUT + 1))
make_model tiny || exit 1
replicas_start 3 "$MODEL" || { echo "replicas did not start" >&2; exit 1; }
export HA_PORTMAP="${REPLICA_PORT[0]}=r1-a,${REPLICA_PORT[1]}=r1-b,${REPLICA_PORT[2]}=r1-c"

LB_PORT=$(free_port)
NGX="$WORK/nginx"
mkdir -p "$NGX/tmp"
sed -e "s|@DIR@|$NGX|g; s/@LB_PORT@/$LB_PORT/; s/@PORT_A@/${REPLICA_PORT[0]}/; s/@PORT_B@/${REPLICA_PORT[1]}/" \
    -e "s/@PORT_C@/${REPLICA_PORT[2]}/; s/@FAIL_TIMEOUT@/${FAIL_TIMEOUT}s/g; s/@USER@/$(id -un)/" \
    "$HA_DIR/nginx-test.conf.in" >"$NGX/nginx.conf"
check "nginx -t accepts the test config" "$NGINX" -q -t -c "$NGX/nginx.conf" -p "$NGX"
"$NGINX" -c "$NGX/nginx.conf" -p "$NGX" >"$NGX/stdout.log" 2>&1 &
NGINX_PID=$!
HA_EXTRA_PIDS="$NGINX_PID"
LB_URL="http://127.0.0.1:$LB_PORT"
STATS_URL=""
deadline=$((SECONDS + 10))
until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$LB_URL/ready")" = 200 ] || [ $SECONDS -ge $deadline ]; do
    sleep 0.1
done

# Passive checks: nginx knows nothing until live traffic fails. "UP" for a
# replica that came back is the end of its fail_timeout, which the scenarios
# wait for explicitly; "DOWN" is never observable.
lb_wait_state() { return 0; }

scenario_steady
scenario_kill
scenario_rolling
scenario_backup "$((FAIL_TIMEOUT + 1))"

check "nginx is still running" kill -0 "$NGINX_PID"
echo "  nginx error log (upstream events):"
grep -E 'upstream|no live' "$NGX/error.log" | sed -E 's/, client:.*//' | sort | uniq -c | sort -rn | head -n 8 | sed 's/^/    /'
ha_print_table "r1 behind nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///') (L7, passive checks, fail_timeout ${FAIL_TIMEOUT}s)"
sed 's/^/  figure: /' "$FIGURES"
[ -n "${HA_REPORT:-}" ] && cat "$HA_TABLE" "$FIGURES" >>"$HA_REPORT"
finish
