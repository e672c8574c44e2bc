#!/usr/bin/env bash
# netflow's peak memory on a long capture, while netflow captures for DURATION on a
# network namespace's loopback. Prints its RSS over time, its peak RSS (VmHWM), and how
# many flows and processes the report holds. Two workloads (WORKLOAD=...):
#   many   (default) 500 processes each keep 20 UDP flows busy (one 100-byte datagram
#          per flow per second);
#   churn  processes and connections coming and going: a shell loop runs a short-lived
#          TCP client process after another, and one process makes UDP exchanges from
#          a fresh socket every millisecond.
# Run as root: bash tests/benches/memory.sh [DURATION_SECONDS]   (default 300)
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${1:-300}
PROCESSES=500 FLOWS_EACH=20
cargo build --release --quiet --bin netflow --example traffic-peer
NETFLOW=$PWD/target/release/netflow
PEER=$PWD/target/release/examples/traffic-peer
NS=nfmem-$$
OUT=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$OUT"
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up

# NETFLOW_ARGS: extra options, e.g. NETFLOW_ARGS="--buffer-size 8".
# shellcheck disable=SC2086
ip netns exec "$NS" "$NETFLOW" snapshot -d "${DURATION}s" -i lo --format json -n 0 \
    -o "$OUT/report.json" --quiet ${NETFLOW_ARGS:-} &
NF=$!
PIDS+=("$NF")
sleep 1
if [ "${WORKLOAD:-many}" = churn ]; then
    # Bounded: at most one client per 5 ms and one exchange per ms for DURATION.
    CLIENTS=$((DURATION * 200)) EXCHANGES=$((DURATION * 1000))
    ip netns exec "$NS" "$PEER" tcp-storm-server 127.0.0.1:7901 "$CLIENTS" 2048 < /dev/null > /dev/null &
    PIDS+=("$!")
    ip netns exec "$NS" "$PEER" udp-server 127.0.0.1:7902 "$EXCHANGES" 64 < /dev/null > /dev/null &
    PIDS+=("$!")
    sleep 0.3
    ip netns exec "$NS" "$PEER" udp-storm-client 127.0.0.1:7902 "$EXCHANGES" 64 1 < /dev/null > /dev/null &
    PIDS+=("$!")
    ip netns exec "$NS" sh -c "end=\$(( \$(date +%s) + $DURATION - 5 )); i=0;
        while [ \$i -lt $CLIENTS ] && [ \$(date +%s) -lt \$end ]; do
            $PEER tcp-once 127.0.0.1:7901 2048 > /dev/null || break; i=\$((i+1)); sleep 0.005; done" &
    PIDS+=("$!")
else
    ip netns exec "$NS" "$PEER" udp-sink 127.0.0.1:7900 "$DURATION" < /dev/null > /dev/null &
    PIDS+=("$!")
    sleep 0.3
    for _ in $(seq "$PROCESSES"); do
        ip netns exec "$NS" "$PEER" udp-chatter 127.0.0.1:7900 "$FLOWS_EACH" "$((DURATION - 5))" \
            < /dev/null > /dev/null &
        PIDS+=("$!")
    done
fi
peak=0
while kill -0 "$NF" 2>/dev/null; do
    hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$NF/status" 2>/dev/null || echo 0)
    # RssAnon is netflow's heap and stacks; RssShmem the kernel capture ring mapped in.
    parts=$(awk '/^(VmRSS|RssAnon|RssFile|RssShmem)/ { printf "%s=%s ", $1, $2 }' \
        "/proc/$NF/status" 2>/dev/null || true)
    [ -n "$hwm" ] && [ "$hwm" -gt "$peak" ] && peak=$hwm
    echo "t=$(date +%s) ${parts}KiB peak=${peak} KiB"
    sleep 10
done
wait "$NF" || true
python3 - "$OUT/report.json" "$peak" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["summary"]
print(f"report: {s['flows_seen']} flows, {s['processes_seen']} processes, "
      f"{s['captured']['packets']} packets, dropped {s['dropped']['queue']['packets']}")
print(f"netflow peak RSS (VmHWM): {int(sys.argv[2]) / 1024:.1f} MiB")
PY
