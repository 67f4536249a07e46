#!/usr/bin/env bash
# Where a request's CPU goes: user and system microseconds per request of
# an evloop server and of its peer under the same load, in interleaved
# rounds, with medians. The server runs on CPU 1, the load generator on
# CPU 0; the times come from /proc/PID/stat around each run.
#
#   bash scripts/cpu_split.sh hello       # hello_server vs hyper, wrk -c64
#   bash scripts/cpu_split.sh memcached   # evloop-memcached vs memcached -t 1, c32-p1
#   bash scripts/cpu_split.sh proxy       # proxy example vs nginx proxy_pass, wrk -c64
#
# Environment: ROUNDS (default 5), DURATION (seconds per run, default 2).
# Besides the times it prints how busy each CPU was: a ratio of
# requests/s compares the servers only while the server's CPU is the
# saturated one; when the load generator's is, it compares loads.
#
# The peers come from the side-by-side runners, which build them: run
# `bash ../shared/bench/http/run.sh --quick` once for hyper, and
# `bash ../shared/bench/memcached/run.sh --quick` once for mcload (both
# in ${EVLOOP_BENCH_CACHE:-/tmp/evloop-bench}). Needs wrk, nginx,
# memcached and taskset, and 2 or more CPUs.
#
# What it shows (docs/benchmarks.md, "How far the kernel lets these
# targets go"): the system time is the TCP work both sides do alike; the
# user time is what a server's design changes.
set -euo pipefail
CASE=${1:-}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CACHE=${EVLOOP_BENCH_CACHE:-${TMPDIR:-/tmp}/evloop-bench}
HYPER=$CACHE/hyper-target/release/hyper-hello
MCLOAD=$CACHE/memcached/mcload

die() { echo "cpu_split: $*" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (server on 1, load on 0)"
for tool in taskset wrk; do command -v "$tool" >/dev/null || die "needs $tool"; done

PIDS=()
PREFIX=""
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    [ -z "$PREFIX" ] || rm -rf "$PREFIX"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    die "nothing listens on port $1"
}
# serve NAME PORT CMD...: starts CMD on CPU 1; records NAME's pid.
declare -A PID_OF
serve() {
    local name=$1 port=$2; shift 2
    taskset -c 1 "$@" >/dev/null 2>&1 &
    PIDS+=($!)
    PID_OF[$name]=$!
    wait_port "$port"
}
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
# Busy and idle ticks of CPUs 0 and 1 (idle counts iowait; time stolen by
# the hypervisor counts as neither).
cpu_busy_idle() { awk '/^cpu[01] / { printf "%d %d ", $2 + $3 + $4 + $7 + $8, $5 + $6 } END { print "" }' /proc/stat; }
HZ=$(getconf CLK_TCK)
# measure NAME REQUESTS_CMD...: runs the load (which prints the request
# count) and prints NAME's user and system µs per request, and how busy
# CPU 0 (the load generator's) and CPU 1 (the server's) were: a ratio of
# requests/s measures the servers only while CPU 1 is the one at 100 %.
measure() {
    local name=$1; shift
    local pid=${PID_OF[$name]} u0 s0 u1 s1 n b0 i0 b1 i1 c0 j0 c1 j1
    read -r b0 i0 b1 i1 < <(cpu_busy_idle)
    read -r u0 s0 < <(cpu_ticks "$pid")
    n=$("$@")
    read -r u1 s1 < <(cpu_ticks "$pid")
    read -r c0 j0 c1 j1 < <(cpu_busy_idle)
    [ "${n:-0}" -gt 0 ] || die "$name: no requests counted"
    awk -v name="$name" -v n="$n" -v u="$((u1 - u0))" -v s="$((s1 - s0))" -v hz="$HZ" -v d="$DURATION" \
        -v l="$((c0 - b0)) $((j0 - i0))" -v v="$((c1 - b1)) $((j1 - i1))" \
        'function busy(x,   a) { split(x, a, " "); return a[1] + a[2] ? 100 * a[1] / (a[1] + a[2]) : 0 }
        BEGIN { printf "%s %d %.3f %.3f %.1f %.1f\n", name, n / d, u * 1e6 / hz / n, s * 1e6 / hz / n, busy(l), busy(v) }'
}
wrk_count() { taskset -c 0 wrk -t1 -c64 -d"${DURATION}s" "http://127.0.0.1:$1/" | awk '/requests in/ {print $1}'; }
mc_count() {
    taskset -c 0 "$MCLOAD" --server "127.0.0.1:$1" --conns 32 --pipeline 1 --duration "$DURATION" |
        sed -n 's/^ops=\([0-9]*\).*/\1/p'
}

OUT=$(mktemp)
case "$CASE" in
hello)
    [ -x "$HYPER" ] || die "no $HYPER: run bash ../shared/bench/http/run.sh --quick once"
    cargo build --release -q -p evloop-http --example hello_server
    P1=$(free_port); serve hyper "$P1" "$HYPER" --addr "127.0.0.1:$P1"
    P2=$(free_port); serve evloop "$P2" target/release/examples/hello_server --addr "127.0.0.1:$P2"
    for _ in $(seq "$ROUNDS"); do
        measure hyper wrk_count "$P1" >>"$OUT"
        measure evloop wrk_count "$P2" >>"$OUT"
    done
    ;;
memcached)
    [ -x "$MCLOAD" ] || die "no $MCLOAD: run bash ../shared/bench/memcached/run.sh --quick once"
    command -v memcached >/dev/null || die "needs memcached"
    cargo build --release -q -p evloop-memcached
    P1=$(free_port); serve memcached "$P1" memcached -u root -t 1 -m 1024 -c 4096 -p "$P1" -U 0 -l 127.0.0.1
    P2=$(free_port); serve evloop "$P2" target/release/evloop-memcached -p "$P2" -l 127.0.0.1
    for _ in $(seq "$ROUNDS"); do
        measure memcached mc_count "$P1" >>"$OUT"
        measure evloop mc_count "$P2" >>"$OUT"
    done
    ;;
proxy)
    command -v nginx >/dev/null || die "needs nginx"
    cargo build --release -q -p evloop-http --example proxy
    PREFIX=$(mktemp -d)
    mkdir -p "$PREFIX"/{up,px}/tmp/{body,proxy,fastcgi,uwsgi,scgi}
    UP=$(free_port) NP=$(free_port) EP=$(free_port)
    sed -e "s#@PREFIX@#$PREFIX/up#g" -e "s#@PORT@#$UP#g" scripts/proxy_bench/upstream.conf.in >"$PREFIX/up/nginx.conf"
    sed -e "s#@PREFIX@#$PREFIX/px#g" -e "s#@PORT@#$NP#g" -e "s#@UPSTREAM@#127.0.0.1:$UP#g" \
        scripts/proxy_bench/nginx-proxy.conf.in >"$PREFIX/px/nginx.conf"
    # The upstream shares CPU 0 with wrk; each proxy gets CPU 1. nginx runs
    # in the foreground (its master is the pid started); the one worker,
    # its child, is the process measured.
    taskset -c 0 nginx -p "$PREFIX/up" -c "$PREFIX/up/nginx.conf" -e "$PREFIX/up/error.log" -g 'daemon off;' &
    PIDS+=($!)
    wait_port "$UP"
    serve nginx "$NP" nginx -p "$PREFIX/px" -c "$PREFIX/px/nginx.conf" -e "$PREFIX/px/error.log" -g 'daemon off;'
    PID_OF[nginx]=$(pgrep -P "${PID_OF[nginx]}" | head -1)
    serve evloop "$EP" target/release/examples/proxy --listen "127.0.0.1:$EP" --upstream "127.0.0.1:$UP"
    for _ in $(seq "$ROUNDS"); do
        measure nginx wrk_count "$NP" >>"$OUT"
        measure evloop wrk_count "$EP" >>"$OUT"
    done
    ;;
*)
    sed -n '2,12p' "$0" >&2
    exit 2
    ;;
esac

echo "$CASE: $ROUNDS interleaved rounds of ${DURATION} s; medians per server"
printf '%-10s %12s %14s %14s %14s %12s %12s\n' server "req/s" "user us/req" "system us/req" "total us/req" "CPU 0 busy" "CPU 1 busy"
for name in $(awk '{print $1}' "$OUT" | awk '!seen[$0]++'); do
    awk -v name="$name" '$1 == name { r[++n] = $2; u[n] = $3; s[n] = $4; t[n] = $3 + $4; l[n] = $5; v[n] = $6 }
        function med(a, n,   i, j, x) { for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j > 0 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
        END { printf "%-10s %12d %14.3f %14.3f %14.3f %11.1f%% %11.1f%%\n", name, med(r, n), med(u, n), med(s, n), med(t, n), med(l, n), med(v, n) }' "$OUT"
done
echo "CPU 0 runs the load generator (and the proxy's upstream), CPU 1 the server:"
echo "whichever is at 100 % sets the requests/s."
rm -f "$OUT"
