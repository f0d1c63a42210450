#!/usr/bin/env bash
# test_deploy_files.sh - the deployment files checked as far as this machine
# allows (no Docker engine, no Kubernetes cluster, no systemd as PID 1):
#   haproxy -c on deploy/haproxy/*.cfg, nginx -t on deploy/nginx/*.conf
#   (certificate paths pointed at a throw-away self-signed pair), the compose
#   file and the Kubernetes manifests parsed as YAML and their cross-checks
#   (probes, grace period > drain timeout, selectors), the Dockerfile's
#   runtime packages against the libraries the r1 binary links, promtool on
#   the Prometheus config, systemd-analyze verify on the unit.
# Usage: test_deploy_files.sh R1_BINARY [TESTDATA_DIR]
R1="$1"
source "$(dirname "$0")/../cli/lib/common.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
D="$ROOT/deploy"
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=python3

if ! command -v haproxy >/dev/null || [ ! -x /usr/sbin/nginx ]; then
    "$ROOT/scripts/install-deps.sh" >/dev/null 2>&1
fi

# a throw-away certificate for the TLS frontends
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=r1.test \
    -keyout "$WORK/r1.key" -out "$WORK/r1.crt" >/dev/null 2>&1
cat "$WORK/r1.crt" "$WORK/r1.key" >"$WORK/r1.pem"

# ---- HAProxy ----
if command -v haproxy >/dev/null; then
    sed "s|/etc/haproxy/certs/r1.pem|$WORK/r1.pem|" "$D/haproxy/r1.cfg" >"$WORK/haproxy.cfg"
    check "haproxy -c deploy/haproxy/r1.cfg" haproxy -c -f "$WORK/haproxy.cfg"
    check "haproxy -c deploy/haproxy/compose.cfg" haproxy -c -f "$D/haproxy/compose.cfg"
    for want in 'balance leastconn' 'option redispatch' 'retries 3' 'ssl-min-ver TLSv1.3' 'uri /ready' \
        'prometheus-exporter' ' backup$' 'timeout server 10m'; do
        check "r1.cfg has '$want'" grep -qE -- "$want" "$D/haproxy/r1.cfg"
    done
else
    echo "SKIP: haproxy is not installed"
fi

# ---- nginx ----
if [ -x /usr/sbin/nginx ]; then
    for f in r1-l7 r1-l4; do
        sed -e "s|/etc/nginx/certs/r1.crt|$WORK/r1.crt|; s|/etc/nginx/certs/r1.key|$WORK/r1.key|" \
            -e "s|/run/nginx-r1[-a-z0-9]*.pid|$WORK/$f.pid|; s|/var/log/nginx/|$WORK/|g" "$D/nginx/$f.conf" >"$WORK/$f.conf"
        check "nginx -t deploy/nginx/$f.conf" /usr/sbin/nginx -q -t -c "$WORK/$f.conf" -p "$WORK"
    done
    check "L7: proxy_next_upstream on error and 503" grep -qE 'proxy_next_upstream error .*http_503' "$D/nginx/r1-l7.conf"
    check "L7: proxy_buffering off" grep -q 'proxy_buffering off;' "$D/nginx/r1-l7.conf"
    check "L7: TLS 1.3 only" grep -q 'ssl_protocols TLSv1.3;' "$D/nginx/r1-l7.conf"
    check "L4: max_fails=3 fail_timeout=30s" grep -q 'max_fails=3 fail_timeout=30s' "$D/nginx/r1-l4.conf"
    check "L4 and L7: a backup" bash -c "grep -q ' backup;' '$D/nginx/r1-l4.conf' && grep -q ' backup;' '$D/nginx/r1-l7.conf'"
    check "the limits of passive checks are written down" grep -q 'LIMITS OF PASSIVE' "$D/nginx/r1-l7.conf"
else
    echo "SKIP: nginx is not installed"
fi

# ---- compose, Kubernetes (YAML) ----
if "$PYTHON" -c 'import yaml' 2>/dev/null; then
    check "compose.yaml and k8s/*.yaml parse and hold together" "$PYTHON" - "$D" <<'EOF'
import sys, yaml, os, re
d = sys.argv[1]
ok = True
def need(cond, msg):
    global ok
    if not cond:
        print('deploy check failed:', msg, file=sys.stderr)
        ok = False

c = yaml.safe_load(open(os.path.join(d, 'compose.yaml')))
s = c['services']
reps = [n for n in s if n.startswith('r1-')]
need(len(reps) == 3, 'three r1 services (2 primaries + backup)')
for n in reps:
    r = s[n]
    need(r.get('restart') == 'on-failure', n + ': restart on-failure')
    need('/ready' in ' '.join(r['healthcheck']['test']), n + ': healthcheck on /ready')
    need(any(v.endswith(':/models:ro') for v in r['volumes']), n + ': model mounted read-only')
    grace = int(re.match(r'(\d+)s', r['stop_grace_period']).group(1))
    need(grace > int(r['environment']['R1_DRAIN_TIMEOUT']), n + ': stop_grace_period > drain timeout')
need('haproxy' in s and 'prometheus' in s, 'haproxy and prometheus services')
for v in s['haproxy']['volumes'] + s['prometheus']['volumes']:
    host = v.split(':')[0]
    need(os.path.exists(os.path.join(d, host)), 'mounted path exists: ' + host)
need('driver: nvidia' in open(os.path.join(d, 'compose.yaml')).read(), 'the GPU reservation is shown')

docs = [x for x in yaml.safe_load_all(open(os.path.join(d, 'k8s', 'r1.yaml'))) if x]
kinds = {x['kind']: x for x in docs}
for k in ['Deployment', 'Service', 'PodDisruptionBudget', 'HorizontalPodAutoscaler', 'NetworkPolicy']:
    need(k in kinds, 'k8s: a ' + k)
dep = kinds['Deployment']
pod = dep['spec']['template']['spec']
ctr = pod['containers'][0]
labels = dep['spec']['template']['metadata']['labels']
need(dep['spec']['selector']['matchLabels'].items() <= labels.items(), 'selector matches the pod labels')
need(kinds['Service']['spec']['selector'].items() <= labels.items(), 'Service selects the pods')
need(kinds['PodDisruptionBudget']['spec']['selector']['matchLabels'].items() <= labels.items(), 'PDB selects the pods')
need(ctr['livenessProbe']['httpGet']['path'] == '/health', 'liveness on /health')
need(ctr['readinessProbe']['httpGet']['path'] == '/ready', 'readiness on /ready')
need('startupProbe' in ctr, 'a startup probe')
env = {e['name']: e['value'] for e in ctr['env']}
pre = ctr.get('lifecycle', {}).get('preStop', {}).get('exec', {}).get('command', [])
pre_s = int(pre[-1]) if pre and pre[-1].isdigit() else 0
need(pod['terminationGracePeriodSeconds'] > int(env['R1_DRAIN_TIMEOUT']) + pre_s, 'grace period > drain + preStop')
need(dep['spec']['strategy']['rollingUpdate']['maxUnavailable'] == 0, 'rolling update keeps capacity')
need(ctr['securityContext']['readOnlyRootFilesystem'] and pod['securityContext']['runAsNonRoot'], 'non-root, read-only root')
need(any(m['mountPath'] == '/models' and m.get('readOnly') for m in ctr['volumeMounts']), 'models mounted read-only')
need('nvidia.com/gpu' in open(os.path.join(d, 'k8s', 'r1.yaml')).read(), 'the GPU request is shown')
hpa = kinds['HorizontalPodAutoscaler']
need(hpa['spec']['metrics'][0]['pods']['metric']['name'] == 'r1_requests_waiting', 'HPA on r1_requests_waiting')
need(hpa['spec']['scaleTargetRef']['name'] == dep['metadata']['name'], 'HPA targets the Deployment')
ports = {p['containerPort'] for p in ctr['ports']}
for rule in kinds['NetworkPolicy']['spec']['ingress']:
    for p in rule['ports']:
        need(p['port'] in ports, 'NetworkPolicy port %s is a container port' % p['port'])
sys.exit(0 if ok else 1)
EOF
else
    echo "SKIP: python3 has no yaml module; compose.yaml and k8s/r1.yaml not parsed"
fi

# ---- Dockerfile: the runtime stage installs every library r1 and its helper programs link ----
check "Dockerfile: builds and installs r1-tts-worker and r1-audio-decoder" bash -c "grep -q 'target r1 r1-tts-worker r1-audio-decoder' '$ROOT/Dockerfile' && grep -q '^COPY --from=build /build/r1 /build/r1-tts-worker /build/r1-audio-decoder' '$ROOT/Dockerfile'"
check "Dockerfile: two stages from debian:12-slim" test "$(grep -c '^FROM debian:12-slim' "$ROOT/Dockerfile")" = 2
check "Dockerfile: runs as a non-root user" grep -qE '^USER [1-9][0-9]*' "$ROOT/Dockerfile"
check "Dockerfile: HEALTHCHECK on /ready" bash -c "grep -A2 '^HEALTHCHECK' '$ROOT/Dockerfile' | grep -q /ready"
runtime=$(awk '/^FROM / {n++} n == 2' "$ROOT/Dockerfile" | tr -s ' \\\n' ' ')
missing=""
# (the libraries of r1 and of the r1-tts-worker and r1-audio-decoder programs built beside it)
for lib in $(for bin in "$R1" "$(dirname "$R1")/r1-tts-worker" "$(dirname "$R1")/r1-audio-decoder"; do readelf -d "$bin" | awk -F'[][]' '/NEEDED/ {print $2}'; done | sort -u); do
    path=$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')
    [ -n "$path" ] || continue
    pkg=$(dpkg -S "$path" 2>/dev/null | head -n 1 | cut -d: -f1)
    [ -z "$pkg" ] && pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n 1 | cut -d: -f1)
    case "$pkg" in libc6 | "") continue ;; esac
    case " $runtime " in *" $pkg "*) ;; *) missing="$missing $lib($pkg)" ;; esac
done
check "Dockerfile: the runtime stage installs every library r1 and its helpers link${missing:+ (missing:$missing)}" test -z "$missing"
build=$(awk '/^FROM / {n++} n == 1' "$ROOT/Dockerfile" | tr -s ' \\\n' ' ')
missing_dev=""
# every library header package the install script gets, less the test-only ones
for pkg in $(grep -o 'lib[a-z0-9.+-]*-dev' "$ROOT/scripts/install-deps.sh" | sort -u); do
    case "$pkg" in libcmocka-dev | libclang-rt-*) continue ;; esac
    case " $build " in *" $pkg "*) ;; *) missing_dev="$missing_dev $pkg" ;; esac
done
check "Dockerfile: the build stage installs every -dev package of scripts/install-deps.sh${missing_dev:+ (missing:$missing_dev)}" test -z "$missing_dev"

# ---- Prometheus ----
if command -v promtool >/dev/null; then
    check "promtool check config deploy/prometheus/prometheus.yml" promtool check config "$D/prometheus/prometheus.yml"
fi

# ---- systemd ----
unit="$D/systemd/r1.service"
for want in 'Restart=on-failure' 'DynamicUser=yes' 'ProtectSystem=strict' 'NoNewPrivileges=yes' 'KillSignal=SIGTERM'; do
    check "r1.service has $want" grep -qx "$want" "$unit"
done
grace=$(awk -F= '/^TimeoutStopSec=/ {print $2}' "$unit")
check "r1.service: TimeoutStopSec > the default drain timeout (60)" test "${grace:-0}" -gt 60
if command -v systemd-analyze >/dev/null; then
    # verify needs the ExecStart binary to exist: a copy of the unit that
    # points at this r1
    sed "s|/usr/local/bin/r1|$(readlink -f "$R1")|" "$unit" >"$WORK/r1.service"
    systemd-analyze verify "$WORK/r1.service" >"$WORK/sa.log" 2>&1
    rc=$?
    if [ $rc = 0 ]; then
        check "systemd-analyze verify r1.service" true
    elif grep -qiE 'Failed to (connect|initialize)|not been booted|System has not' "$WORK/sa.log"; then
        echo "SKIP: systemd-analyze verify cannot run here: $(head -n 1 "$WORK/sa.log")"
    else
        cat "$WORK/sa.log" >&2
        check "systemd-analyze verify r1.service" false
    fi
fi
finish
