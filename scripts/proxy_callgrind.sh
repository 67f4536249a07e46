#!/usr/bin/env bash
# User-space instructions per proxied request of the `proxy` example,
# counted by callgrind (immune to a noisy machine, unlike the timings of
# scripts/proxy_bench.sh). An upstream nginx (scripts/proxy_bench/
# upstream.conf.in) answers; the proxy runs under valgrind; client_bench
# sends N GETs over 64 keep-alive connections through it.
#
#   bash scripts/proxy_callgrind.sh [REQUESTS]      (default 20000)
#
# With CACHE_SIM=1, callgrind also simulates the caches (32 KiB L1s) and
# the L1 misses per request are printed: a proxied request's code is
# large enough for its instruction-cache misses to matter.
#
# Prints the per-request figure and leaves the callgrind output in
# target/proxy-callgrind.out for `callgrind_annotate --inclusive=yes`.
# Needs valgrind and nginx. Ports 18180 (upstream) and 18181 (proxy).
set -euo pipefail
N=${1:-20000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
for tool in valgrind callgrind_annotate nginx curl; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
cargo build --release -q -p evloop-http --example proxy --example client_bench

PREFIX=$(mktemp -d)
mkdir -p "$PREFIX"/tmp/{body,proxy,fastcgi,uwsgi,scgi}
sed -e "s#@PREFIX@#$PREFIX#g" -e "s#@PORT@#18180#g" \
    scripts/proxy_bench/upstream.conf.in > "$PREFIX/nginx.conf"
nginx -p "$PREFIX" -c "$PREFIX/nginx.conf" -e "$PREFIX/error.log"
VG=
cleanup() {
    [ -n "$VG" ] && kill "$VG" 2>/dev/null || true
    nginx -p "$PREFIX" -c "$PREFIX/nginx.conf" -e "$PREFIX/error.log" -s stop 2>/dev/null || true
    sleep 0.2
    rm -rf "$PREFIX"
}
trap cleanup EXIT

OUT=target/proxy-callgrind.out
rm -f "$OUT"
CACHE=()
[ "${CACHE_SIM:-0}" = 1 ] && CACHE=(--cache-sim=yes)
valgrind --tool=callgrind "${CACHE[@]}" --callgrind-out-file="$OUT" target/release/examples/proxy \
    --listen 127.0.0.1:18181 --upstream 127.0.0.1:18180 > target/proxy-callgrind.log 2>&1 &
VG=$!
for _ in $(seq 100); do
    curl -sf -o /dev/null http://127.0.0.1:18181/ && break
    sleep 0.1
done
target/release/examples/client_bench --url http://127.0.0.1:18181/ --requests "$N" --conns 64
# SIGINT: the proxy shuts down gracefully and valgrind writes its output.
kill -INT "$VG"
wait "$VG" || true
VG=
TOTAL=$(callgrind_annotate "$OUT" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
# One more request than N: the readiness probe above.
echo "proxy: $TOTAL instructions for $((N + 1)) requests = $((TOTAL / (N + 1))) per request"
if [ "${CACHE_SIM:-0}" = 1 ]; then
    # Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw, in callgrind's order.
    callgrind_annotate "$OUT" 2>/dev/null | awk -v n=$((N + 1)) '/PROGRAM TOTALS/ {
        for (i = 1; i <= NF; i++) gsub(",", "", $i)
        printf "per request: %d data reads, %d data writes, L1 misses: %d instruction, %d data read, %d data write\n", $3 / n, $5 / n, $7 / n, $9 / n, $11 / n
    }'
fi
