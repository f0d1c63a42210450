# scenarios.sh - the load-balancer scenarios of issue 10, shared by
# test_haproxy.sh and test_nginx.sh (sourced after ha.sh). The test sets
#   LB          haproxy | nginx
#   LB_URL      the balancer's address
#   STATS_URL   HAProxy's CSV stats (empty for nginx)
# and defines
#   lb_wait_state NAME UP|DOWN [SECONDS]   until the balancer sees replica NAME so
#                                         (nginx, passive: returns at once)
# Replicas 0, 1 are the primaries r1-a, r1-b; replica 2 is the backup r1-c.
NAMES=(r1-a r1-b r1-c)
HA_STEADY_SECONDS=${HA_STEADY_SECONDS:-8}
# seconds of load after the killed replica is back (nginx: its fail_timeout)
HA_KILL_TAIL=${HA_KILL_TAIL:-3}
# streams long enough (~0.3 s here) that a kill -9 finds some running
export HA_STREAM_TOKENS=${HA_STREAM_TOKENS:-1200}
FIGURES="$WORK/figures"

# ms between two now_ms values, as seconds with 2 decimals ("-" if missing)
ms_to_s() { if [ -n "$1" ] && [ "$1" != None ] && [ "$1" -ge 0 ] 2>/dev/null; then awk -v m="$1" 'BEGIN{printf "%.2f", m/1000}'; else echo "-"; fi; }

expect_zero() {
    if [ "$2" != 0 ]; then
        echo "$1: expected 0, got $2" >&2
        return 1
    fi
}

expect_le() {
    if [ "$2" -gt "$3" ]; then
        echo "$1: expected at most $3, got $2" >&2
        return 1
    fi
}

expect_ge() {
    if [ "$2" -lt "$3" ]; then
        echo "$1: expected at least $3, got $2" >&2
        return 1
    fi
}

summarize() { # NAME -> sets PO PF SO SF, prints errors
    read -r PO PF SO SF < <(load_summary "$1")
    echo "  $1: plain ok $PO failed $PF, streams ok $SO failed $SF"
    [ $((PF + SF)) -gt 0 ] && load_errors "$1"
    return 0
}

# 1. steady load: no errors; the primaries share it, the backup gets none
scenario_steady() {
    echo "-- $LB 1: steady load, ${HA_STEADY_SECONDS} s"
    load_start s1 "$LB_URL" 2 2 "$STATS_URL"
    sleep "$HA_STEADY_SECONDS"
    load_stop s1
    summarize s1
    local a b c
    a=$(load_py s1 "served('r1-a')")
    b=$(load_py s1 "served('r1-b')")
    c=$(load_py s1 "served('r1-c')")
    echo "  served by r1-a $a, r1-b $b, backup r1-c $c"
    check "$LB 1 steady: no failed plain request" expect_zero plain_fail "$PF"
    check "$LB 1 steady: no failed stream" expect_zero stream_fail "$SF"
    check "$LB 1 steady: requests were sent" expect_ge plain_ok "$PO" 10
    check "$LB 1 steady: both primaries served" expect_ge min_primary "$((a < b ? a : b))" 1
    check "$LB 1 steady: the backup got nothing" expect_zero backup "$c"
    ha_row "$LB" "1 steady load" "$PO" "$PF" "$SO" "$SF" "a/b/backup served $a/$b/$c"
}

# Waits (at most 5 s) until replica I runs at least one request.
wait_busy() {
    local i="$1" deadline=$((SECONDS + 5)) h
    while [ $SECONDS -lt $deadline ]; do
        h=$(curl -s --max-time 2 "$(replica_url "$i")/health" | tr -d ' ')
        case "$h" in *'"requests_running":0'*) ;; *'"requests_running":'[1-9]*) return 0 ;; esac
        sleep 0.02
    done
    return 1
}

# 2. kill -9 of a primary mid-load; the supervisor restarts it
scenario_kill() {
    echo "-- $LB 2: kill -9 of r1-b under load"
    load_start s2 "$LB_URL" 2 2 "$STATS_URL"
    sleep 2
    wait_busy 1 || echo "  (r1-b had no running request when killed)"
    local old t_kill t_ready t_up det rec first
    old=$(replica_pid 1)
    t_kill=$(now_ms)
    kill -KILL "$old"
    check "$LB 2 kill: restarted" wait_replica_pid_change 1 "$old" 20
    check "$LB 2 kill: restarted replica ready" wait_replica_ready 1 30
    t_ready=$(now_ms)
    check "$LB 2 kill: balancer sees it up again" lb_wait_state r1-b UP 20
    t_up=$(now_ms)
    sleep "${HA_KILL_TAIL:-3}"
    load_stop s2
    summarize s2
    # the broken streams must all have been running on r1-b when it died:
    # answered by r1-b (the balancer names the server in a header, sent
    # before the first token) and still open at the kill. Which process
    # answered is exact; the shell's clock reading before `kill` is not
    # (a stream may start on r1-b in the milliseconds between the two on a
    # loaded machine), so the start may be up to 1 s after t_kill.
    local broken_running
    broken_running=$(load_py s2 "sum(1 for x in r if x['kind'] == 'stream' and not x['ok'] and x['srv'] == 'r1-b' and x['t0'] <= $t_kill + 1000 and x['t1'] >= $t_kill)")
    det=$(load_py s2 "min([x['t'] - $t_kill for x in e if x['server'] == 'r1-b' and x['status'] == 'DOWN' and x['t'] >= $t_kill] or [None])")
    rec=$(load_py s2 "min([x['t'] - $t_kill for x in e if x['server'] == 'r1-b' and x['status'] == 'UP' and x['t'] > $t_kill] or [None])")
    first=$(load_py s2 "min([x['t0'] - $t_kill for x in r if x['ok'] and x['srv'] == 'r1-b' and x['t0'] > $t_kill] or [None])")
    echo "  detection (balancer marks r1-b down): $(ms_to_s "$det") s; restarted and ready: $(ms_to_s $((t_ready - t_kill))) s;" \
        "balancer marks it up: $(ms_to_s "$rec") s; first request served by it: $(ms_to_s "$first") s after the kill"
    check "$LB 2 kill: every plain request succeeded" expect_zero plain_fail "$PF"
    check "$LB 2 kill: only streams running on the killed replica broke" expect_le broken_streams "$SF" "$broken_running"
    check "$LB 2 kill: at most the stream workers' streams broke" expect_le broken_streams "$SF" 2
    check "$LB 2 kill: the restarted replica serves again" test "$first" != None
    {
        echo "$LB detection_s $(ms_to_s "$det")"
        echo "$LB restart_ready_s $(ms_to_s $((t_ready - t_kill)))"
        echo "$LB balancer_up_s $(ms_to_s "$rec")"
        echo "$LB first_served_s $(ms_to_s "$first")"
    } >>"$FIGURES"
    ha_row "$LB" "2 kill -9 one primary" "$PO" "$PF" "$SO" "$SF" \
        "broken streams $SF (running on it); down after $(ms_to_s "$det") s, ready $(ms_to_s $((t_ready - t_kill))) s, serving $(ms_to_s "$first") s"
}

# 3. rolling restart with SIGTERM, one replica at a time
scenario_rolling() {
    echo "-- $LB 3: rolling restart (SIGTERM, one at a time) under load"
    load_start s3 "$LB_URL" 2 2 "$STATS_URL"
    sleep 1
    local i old t0 t_total=0 ev0 clean
    ev0=$(wc -l <"$WORK/events")
    for i in 0 1 2; do
        wait_busy "$i" >/dev/null 2>&1
        old=$(replica_pid "$i")
        t0=$(now_ms)
        kill -TERM "$old"
        check "$LB 3 rolling: ${NAMES[i]} restarted" wait_replica_pid_change "$i" "$old" 30
        check "$LB 3 rolling: ${NAMES[i]} ready" wait_replica_ready "$i" 30
        check "$LB 3 rolling: balancer sees ${NAMES[i]} up" lb_wait_state "${NAMES[i]}" UP 20
        echo "  ${NAMES[i]}: back in $(ms_to_s $(($(now_ms) - t0))) s"
        t_total=$((t_total + $(now_ms) - t0))
        # nginx: the restarted replica was marked failed (its refused
        # connects while draining) and gets traffic again only after
        # fail_timeout; restarting the next one before that leaves nothing
        sleep "${HA_ROLL_PAUSE:-1}"
    done
    load_stop s3
    summarize s3
    clean=$(tail -n +"$((ev0 + 1))" "$WORK/events" | grep -c ' exit [0-9] status 0$')
    check "$LB 3 rolling: every replica drained and exited 0" test "$clean" = 3
    check "$LB 3 rolling: no failed plain request" expect_zero plain_fail "$PF"
    check "$LB 3 rolling: no failed stream" expect_zero stream_fail "$SF"
    echo "$LB rolling_restart_s $(ms_to_s "$t_total")" >>"$FIGURES"
    ha_row "$LB" "3 rolling restart (SIGTERM)" "$PO" "$PF" "$SO" "$SF" "3 replicas in $(ms_to_s "$t_total") s"
}

# 5. both primaries down: the backup serves; back: traffic returns to them
scenario_backup() {
    local wait_after_up="${1:-1}"
    echo "-- $LB 5: both primaries down, then back"
    load_start s5 "$LB_URL" 2 2 "$STATS_URL"
    sleep 1.5
    replica_hold 0
    replica_hold 1
    local t_down t_back t_up
    t_down=$(now_ms)
    kill -KILL "$(replica_pid 0)" "$(replica_pid 1)"
    sleep 4
    t_back=$(now_ms)
    replica_release 0
    replica_release 1
    check "$LB 5 backup: r1-a ready again" wait_replica_ready 0 30
    check "$LB 5 backup: r1-b ready again" wait_replica_ready 1 30
    check "$LB 5 backup: balancer sees r1-a up" lb_wait_state r1-a UP 20
    check "$LB 5 backup: balancer sees r1-b up" lb_wait_state r1-b UP 20
    sleep "$wait_after_up"
    t_up=$(now_ms)
    sleep 3
    load_stop s5
    summarize s5
    local on_backup during after first_backup
    on_backup=$(load_py s5 "served('r1-c', $t_down + 1000, $t_back)")
    during=$(load_py s5 "sum(1 for x in r if x['ok'] and $t_down + 1000 <= x['t0'] <= $t_back)")
    after=$(load_py s5 "served('r1-c', $t_up, 1e18)")
    first_backup=$(load_py s5 "min([x['t1'] - $t_down for x in r if x['ok'] and x['srv'] == 'r1-c' and x['t1'] > $t_down] or [None])")
    echo "  while both primaries were down: $during requests served, $on_backup by the backup (first after $(ms_to_s "$first_backup") s);" \
        "after they came back: $after by the backup"
    # Both primaries killed at once: a plain request in flight on one of
    # them is replayed (retry-on empty-response), but its retries can meet
    # the other dead primary before either is marked down; seen in about
    # one run of three (1 ECONNRESET of ~600: HAProxy's log shows its 3
    # retries refused within 47 ms, "SC", +3). Allowed: at most the plain
    # requests running at the kill (started up to 0.2 s after `now_ms`,
    # the kill itself taking that long on a loaded VM), none started later.
    local plain_inflight plain_later
    plain_inflight=$(load_py s5 "sum(1 for x in r if x['kind'] == 'plain' and not x['ok'] and x['t0'] <= $t_down + 200 and x['t1'] >= $t_down)")
    plain_later=$((PF - plain_inflight))
    check "$LB 5 backup: no plain request started after the kill failed" expect_zero plain_fail_after_kill "$plain_later"
    check "$LB 5 backup: at most the running plain requests failed" expect_le plain_fail "$PF" 2
    check "$LB 5 backup: the backup served while the primaries were down" expect_ge backup_served "$on_backup" 1
    check "$LB 5 backup: only the backup served then" test "$on_backup" = "$during"
    check "$LB 5 backup: traffic returned to the primaries" expect_zero backup_after "$after"
    check "$LB 5 backup: at most the running streams broke" expect_le broken_streams "$SF" 2
    echo "$LB backup_first_served_s $(ms_to_s "$first_backup")" >>"$FIGURES"
    ha_row "$LB" "5 both primaries down -> backup" "$PO" "$PF" "$SO" "$SF" \
        "backup served $on_backup/$during while down, $after after; broken streams $SF"
}
