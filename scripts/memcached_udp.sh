#!/usr/bin/env bash
# memcached's UDP mode side by side: memcaslap (libmemcached-tools) in its
# UDP mode against memcached -t 1 and evloop-memcached, each serving TCP and
# UDP on one port (memcaslap wants them the same), in interleaved rounds.
# The servers run on CPU 1, memcaslap on CPU 0. Prints one line per round
# and the medians; information only (no target).
#
#   bash scripts/memcached_udp.sh [ROUNDS] [SECONDS]     (default 5 rounds of 3 s)
#
# Needs memcached and memcaslap. Ports 21511 and 21512.
set -euo pipefail
ROUNDS=${1:-5}
SECS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
for tool in memcached memcaslap taskset; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
cargo build --release -q -p evloop-memcached
user=()
[ "$(id -u)" = 0 ] && user=(-u root)
taskset -c 1 memcached "${user[@]}" -t 1 -l 127.0.0.1 -p 21511 -U 21511 &
M=$!
taskset -c 1 target/release/evloop-memcached -l 127.0.0.1 -p 21512 -U 21512 >/dev/null &
E=$!
trap 'kill $M $E 2>/dev/null || true' EXIT
sleep 0.5
declare -A all
for r in $(seq "$ROUNDS"); do
    for s in memcached:21511 evloop:21512; do
        name=${s%%:*}
        port=${s##*:}
        out=$(taskset -c 0 memcaslap -s "127.0.0.1:$port" -U -t "${SECS}s" -c 16 -T 1 2>&1)
        tps=$(echo "$out" | grep -o "TPS: [0-9]*" | tail -1 | awk '{print $2}')
        field() { echo "$out" | awk -v k="$1:" '$1 == k {v = $2} END {print v}'; }
        echo "round=$r server=$name ops_s=$tps drop=$(field packet_drop)" \
            "disorder=$(field packet_disorder) timeout=$(field udp_timeout)"
        all[$name]="${all[$name]:-} $tps"
    done
done
for name in memcached evloop; do
    # shellcheck disable=SC2086
    median=$(printf '%s\n' ${all[$name]} | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
    echo "median server=$name ops_s=$median"
done
