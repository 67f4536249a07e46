#!/usr/bin/env bash
# The proxy and client benchmark of issue 13, in one interleaved run:
#
#   proxy:  wrk -c64 -> the evloop `proxy` example -> nginx (1 worker)
#           against
#           wrk -c64 -> nginx proxy_pass (1 worker, upstream keepalive 64)
#                    -> the same upstream nginx
#           req/s of each, and the proxy process's CPU time per request
#           (utime + stime of it and its children, from /proc/PID/stat).
#   client: N small GETs over 64 keep-alive connections to that nginx from
#           the `client_bench` example (evloop-http's client) against hyper
#           1.x's pooled client on a tokio current_thread runtime
#           (scripts/proxy_bench/hyper-client, built here with its own
#           target dir).
#
# Each round runs every program once, the order rotating from round to
# round; the table gives medians and the ratios evloop / peer.
# Run it from the project's root:  bash scripts/proxy_bench.sh [--quick]
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
BENCH="$HERE/proxy_bench"

usage() {
    cat <<EOF
usage: $0 [--quick] [--json FILE] [--rounds N] [--duration SECS] [--conns N]
          [--requests N] [--parts proxy,client] [--project DIR]
  --quick           2 s wrk runs, 3 rounds, 20000 client requests
  --json FILE       also write the medians and every round as JSON
  --rounds N        interleaved rounds (the median is reported); default 5
  --duration SECS   wrk -d per run; default 5
  --conns N         connections (wrk -c, and the clients' pool); default 64
  --requests N      requests per client run; default 100000
  --parts LIST      proxy, client or both (default)
  --project DIR     the project's root (default: the current directory)
Environment: EVLOOP_BENCH_CACHE (builds and logs; default /tmp/evloop-bench),
BENCH_PIN=0 (no taskset pinning; by default the program measured runs on
CPU 1, wrk and the upstream nginx on CPU 0).
EOF
}

QUICK=0 JSON="" ROUNDS="" DURATION="" CONNS=64 REQUESTS="" PARTS="proxy,client"
PROJECT_ROOT="$PWD"
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --json) JSON="${2:?--json needs a file}"; shift ;;
        --rounds) ROUNDS="${2:?}"; shift ;;
        --duration) DURATION="${2:?}"; shift ;;
        --conns) CONNS="${2:?}"; shift ;;
        --requests) REQUESTS="${2:?}"; shift ;;
        --parts) PARTS="${2:?}"; shift ;;
        --project) PROJECT_ROOT="${2:?}"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
    shift
done
if [ "$QUICK" = 1 ]; then
    : "${ROUNDS:=3}" "${DURATION:=2}" "${REQUESTS:=20000}"
else
    : "${ROUNDS:=5}" "${DURATION:=5}" "${REQUESTS:=100000}"
fi
[ -n "$JSON" ] && case "$JSON" in /*) ;; *) JSON="$PWD/$JSON" ;; esac
PROJECT_ROOT=$(cd "$PROJECT_ROOT" && pwd) || exit 2
want() { [[ ",$PARTS," == *",$1,"* ]]; }

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# Prints the command, then runs it (the runner says exactly what it ran).
run() { printf '+'; printf ' %q' "$@"; printf '\n'; "$@"; }

[ -f "$PROJECT_ROOT/crates/http/Cargo.toml" ] \
    || die "$PROJECT_ROOT is not the evloop project's root (no crates/http); use --project DIR"

# ------------------------------------------------------------------ packages
need=()
for p in wrk nginx curl python3; do command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
    # nginx would start its system service on port 80 when installed.
    policy=/usr/sbin/policy-rc.d made=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod 755 "$policy" && made=1
    fi
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
        --no-install-recommends "${need[@]}" >&2
    rc=$?
    [ $made = 1 ] && $sudo rm -f "$policy"
    [ $rc = 0 ] || die "apt-get install ${need[*]} failed"
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
command -v cargo >/dev/null || die "cargo not found"
ulimit -n 65536 2>/dev/null || ulimit -n 4096 2>/dev/null || true

CACHE="${EVLOOP_BENCH_CACHE:-${TMPDIR:-/tmp}/evloop-bench}/proxy"
LOGS="$CACHE/logs/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$LOGS"
RESULTS="$LOGS/results.txt"; : >"$RESULTS"
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)

if [ "${BENCH_PIN:-1}" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    PIN_MEASURED=(taskset -c 1) PIN_LOAD=(taskset -c 0)
    PIN_NOTE="measured program on CPU 1; wrk and the upstream nginx on CPU 0"
else
    PIN_MEASURED=() PIN_LOAD=()
    PIN_NOTE="no CPU pinning"
fi

# ------------------------------------------------------------------ processes
PIDS=()
stop_pid() { # PID: TERM, up to 5 s, then KILL; only PIDs started here
    local pid="$1" i
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}
cleanup() { local p; for p in "${PIDS[@]}"; do stop_pid "$p"; done; PIDS=(); }
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# start NAME CMD...: in the background, logging to $LOGS/NAME.log; sets LAST_PID
start() {
    local name="$1"; shift
    printf '+'; printf ' %q' "$@"; printf ' &\n'
    "$@" >"$LOGS/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() { # PORT PID: until 127.0.0.1:PORT accepts (10 s), or PID died
    local i
    for i in $(seq 100); do
        kill -0 "$2" 2>/dev/null || return 1
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# cpu_ticks PID: utime + stime of PID and of its children (nginx's worker)
cpu_ticks() {
    local total=0 c f
    for c in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        f=$(cat /proc/"$c"/stat 2>/dev/null) || continue
        f=${f##*) }          # the fields after "pid (comm) "; state first
        read -r -a a <<<"$f"
        total=$((total + a[11] + a[12]))
    done
    echo "$total"
}

nginx_conf() { # TEMPLATE PREFIX PORT [UPSTREAM]
    mkdir -p "$2/tmp"
    sed -e "s|@PREFIX@|$2|g" -e "s|@PORT@|$3|g" -e "s|@UPSTREAM@|${4:-}|g" "$1" >"$2/nginx.conf"
}

# ------------------------------------------------------------------ build
log "building"
STATE_PROXY="not built" STATE_CLIENT="not built" STATE_HYPER="not built"
TARGET="${CARGO_TARGET_DIR:-$PROJECT_ROOT/target}"
case "$TARGET" in /*) ;; *) TARGET="$PROJECT_ROOT/$TARGET" ;; esac
PROXY_BIN="$TARGET/release/examples/proxy"
CLIENT_BIN="$TARGET/release/examples/client_bench"
HYPER_BIN="$CACHE/hyper-client-target/release/hyper-client-bench"
if want proxy; then
    (cd "$PROJECT_ROOT" && run cargo build --release -p evloop-http --example proxy) \
        >"$LOGS/build-proxy.log" 2>&1 && STATE_PROXY=built
    head -1 "$LOGS/build-proxy.log"
fi
if want client; then
    (cd "$PROJECT_ROOT" && run cargo build --release -p evloop-http --example client_bench) \
        >"$LOGS/build-client.log" 2>&1 && STATE_CLIENT=built
    head -1 "$LOGS/build-client.log"
    (run env CARGO_TARGET_DIR="$CACHE/hyper-client-target" cargo build --release \
        --manifest-path "$BENCH/hyper-client/Cargo.toml") \
        >"$LOGS/build-hyper.log" 2>&1 && STATE_HYPER=built
    head -1 "$LOGS/build-hyper.log"
fi
for s in proxy client hyper; do
    v="STATE_${s^^}"
    want "${s/hyper/client}" && [ "${!v}" != built ] && log "$s: not built (log: $LOGS/build-$s.log)"
done

# ------------------------------------------------------------------ servers
UP_PORT=$(free_port)
nginx_conf "$BENCH/upstream.conf.in" "$LOGS/upstream" "$UP_PORT"
start upstream "${PIN_LOAD[@]}" "$NGINX" -p "$LOGS/upstream/" -c "$LOGS/upstream/nginx.conf" -e "$LOGS/upstream/error.log" -g 'daemon off;'
UP_PID=$LAST_PID
wait_port "$UP_PORT" "$UP_PID" || die "the upstream nginx did not start (log: $LOGS/upstream.log)"
UPSTREAM="127.0.0.1:$UP_PORT"
UP_URL="http://$UPSTREAM/"

declare -A PORT PID
PROXIES=()
if want proxy; then
    PORT[nginx]=$(free_port)
    nginx_conf "$BENCH/nginx-proxy.conf.in" "$LOGS/nginx-proxy" "${PORT[nginx]}" "$UPSTREAM"
    start nginx-proxy "${PIN_MEASURED[@]}" "$NGINX" -p "$LOGS/nginx-proxy/" -c "$LOGS/nginx-proxy/nginx.conf" \
        -e "$LOGS/nginx-proxy/error.log" -g 'daemon off;'
    PID[nginx]=$LAST_PID
    if [ "$STATE_PROXY" = built ]; then
        PORT[evloop]=$(free_port)
        start evloop-proxy "${PIN_MEASURED[@]}" "$PROXY_BIN" --listen "127.0.0.1:${PORT[evloop]}" --upstream "$UPSTREAM"
        PID[evloop]=$LAST_PID
    fi
    for p in evloop nginx; do
        [ -n "${PID[$p]:-}" ] || continue
        if ! wait_port "${PORT[$p]}" "${PID[$p]}"; then
            log "$p proxy did not start (log: $LOGS/*$p*.log)"; continue
        fi
        body=$(curl -s --max-time 5 "http://127.0.0.1:${PORT[$p]}/")
        if [ "$body" = "Hello, World!" ]; then
            echo "check $p proxy: ok (curl through it gets the upstream's body)"
            PROXIES+=("$p")
        else
            echo "check $p proxy: FAIL (curl got '$(printf %s "$body" | head -c 80)')"
        fi
    done
fi

CLIENTS=()
if want client; then
    [ "$STATE_CLIENT" = built ] && CLIENTS+=(evloop)
    [ "$STATE_HYPER" = built ] && CLIENTS+=(hyper)
fi

{
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), git $(git -C "$PROJECT_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "host: $(uname -srm), $(nproc) CPUs; $PIN_NOTE"
    echo "wrk $(dpkg-query -W -f='${Version}' wrk 2>/dev/null), $("$NGINX" -v 2>&1 | sed 's/.*version: //'), $(rustc --version)"
    echo "rounds $ROUNDS, wrk -t1 -c$CONNS -d${DURATION}s, client: $REQUESTS requests over $CONNS connections"
    echo "proxy: $STATE_PROXY, client_bench: $STATE_CLIENT, hyper-client: $STATE_HYPER"
} >"$LOGS/meta.txt"
cat "$LOGS/meta.txt"

# ------------------------------------------------------------------ measure
# wrk_round NAME ROUND: one wrk run against proxy NAME
wrk_round() {
    local name="$1" round="$2" out="$LOGS/wrk-$1-r$2.txt" t0 t1 line
    t0=$(cpu_ticks "${PID[$name]}")
    run "${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d"${DURATION}s" --timeout 5s -s "$BENCH/report.lua" \
        "http://127.0.0.1:${PORT[$name]}/" >"$out" 2>&1
    t1=$(cpu_ticks "${PID[$name]}")
    line=$(grep '^WRKRESULT' "$out" | tail -1)
    [ -n "$line" ] || { log "wrk gave no result for $name (see $out)"; return; }
    python3 - "$line" "$name" "$round" "$((t1 - t0))" "$HZ" >>"$RESULTS" <<'EOF'
import sys
kv = dict(t.split("=", 1) for t in sys.argv[1].split()[1:])
name, rnd, ticks, hz = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
req, dur = int(kv["requests"]), int(kv["duration_us"]) / 1e6
errs = sum(int(kv[k]) for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))
cpu_us = ticks / hz * 1e6 / req if req else 0
print(f"part=proxy name={name} round={rnd} rps={req / dur:.1f} cpu_us={cpu_us:.3f} "
      f"cpu_s={ticks / hz:.2f} requests={req} errors={errs} p50_us={kv['p50_us']} p99_us={kv['p99_us']}")
EOF
    log "$(tail -1 "$RESULTS")"
}

# client_round NAME ROUND: one run of a client program against the upstream
client_round() {
    local name="$1" round="$2" out="$LOGS/client-$1-r$2.txt" bin line
    case "$name" in evloop) bin="$CLIENT_BIN" ;; hyper) bin="$HYPER_BIN" ;; esac
    run "${PIN_MEASURED[@]}" timeout 300 "$bin" --url "$UP_URL" --requests "$REQUESTS" --conns "$CONNS" >"$out" 2>&1
    line=$(grep '^requests=' "$out" | tail -1)
    [ -n "$line" ] || { log "$name client gave no result (see $out)"; return; }
    python3 - "$line" "$name" "$round" >>"$RESULTS" <<'EOF'
import sys
kv = dict(t.split("=", 1) for t in sys.argv[1].split())
name, rnd = sys.argv[2], sys.argv[3]
req = int(kv["requests"])
cpu = float(kv.get("cpu", "0"))
print(f"part=client name={name} round={rnd} rps={float(kv['rps']):.1f} "
      f"cpu_us={cpu * 1e6 / req if req else 0:.3f} cpu_s={cpu:.2f} requests={req} errors={kv['errors']}")
EOF
    log "$(tail -1 "$RESULTS")"
}

if [ ${#PROXIES[@]} -gt 0 ]; then
    log "warm-up"
    for p in "${PROXIES[@]}"; do
        "${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:${PORT[$p]}/" >/dev/null 2>&1
    done
fi
for round in $(seq "$ROUNDS"); do
    n=${#PROXIES[@]}
    for i in $(seq 0 $((n - 1))); do
        p=${PROXIES[$(((i + round - 1) % n))]}
        kill -0 "${PID[$p]}" 2>/dev/null || { log "$p proxy is no longer running"; continue; }
        wrk_round "$p" "$round"
    done
    n=${#CLIENTS[@]}
    for i in $(seq 0 $((n - 1))); do
        client_round "${CLIENTS[$(((i + round - 1) % n))]}" "$round"
    done
done
cleanup

echo
python3 "$BENCH/summarize.py" --results "$RESULTS" --conns "$CONNS" --requests "$REQUESTS" \
    --meta "$(cat "$LOGS/meta.txt")" ${JSON:+--json "$JSON"}
echo "raw logs: $LOGS"
