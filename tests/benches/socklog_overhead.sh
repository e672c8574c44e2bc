#!/usr/bin/env bash
# What the kernel socket log costs the traffic it watches. Bulk TCP over a veth pair
# between two network namespaces, several runs each:
#   base  no netflow;
#   off   netflow --ebpf off, capturing nothing (a filter no packet matches);
#   on    netflow --ebpf on, the same filter: the difference to `off` is the BPF
#         programs, run on every send and receive of the transfer.
# Then, with kernel.bpf_stats_enabled, the programs' own run time per call.
# Run as root: bash tests/benches/socklog_overhead.sh [RUNS] [BYTES]   (needs bpftool)
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=${1:-5}
BYTES=${2:-4000000000}
cargo build --release --quiet --bin netflow --example traffic-peer
NETFLOW=target/release/netflow
PEER=target/release/examples/traffic-peer
A=nfsock-a-$$ B=nfsock-b-$$
STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
    for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
    sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
}
trap cleanup EXIT

ip netns add "$A"; ip netns add "$B"
ip -n "$A" link add eth0 type veth peer name eth0 netns "$B"
ip -n "$A" addr add 198.18.0.1/24 dev eth0; ip -n "$B" addr add 198.18.0.2/24 dev eth0
for ns in "$A" "$B"; do ip -n "$ns" link set eth0 up; ip -n "$ns" link set lo up; done

# One bulk transfer B -> A; prints its rate in Gbit/s.
PORT=7800
transfer() {
    PORT=$((PORT + 1))
    ip netns exec "$A" "$PEER" tcp-server 198.18.0.1:$PORT "$BYTES" 0 < /dev/null > /dev/null &
    local server=$!
    sleep 0.2
    local t0 t1
    t0=$(date +%s.%N)
    ip netns exec "$B" "$PEER" tcp-client 198.18.0.1:$PORT "$BYTES" 0 < /dev/null > /dev/null
    wait "$server"
    t1=$(date +%s.%N)
    python3 -c "print(f'{$BYTES * 8 / ($t1 - $t0) / 1e9:.2f}')"
}

series() {
    local rates=()
    for _ in $(seq "$RUNS"); do rates+=("$(transfer)"); done
    python3 - "$1" "${rates[@]}" <<'PY'
import statistics, sys
label, rates = sys.argv[1], [float(r) for r in sys.argv[2:]]
print(f"{label:<5} median {statistics.median(rates):6.2f} Gbit/s  min {min(rates):6.2f}  max {max(rates):6.2f}  runs {rates}")
PY
}

with_netflow() {
    ip netns exec "$A" "$NETFLOW" snapshot -d 1h -i eth0 -f "udp port 9" --ebpf "$1" \
        --format json --quiet > /dev/null &
    local nf=$!
    sleep 1
    series "$1"
    kill -INT "$nf"; wait "$nf" || true
}

series base
with_netflow off
sysctl -qw kernel.bpf_stats_enabled=1
ip netns exec "$A" "$NETFLOW" snapshot -d 1h -i eth0 -f "udp port 9" --ebpf on \
    --format json --quiet > /dev/null &
NF=$!
sleep 1
series on
bpftool prog show --json | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    name, calls = p.get("name", ""), p.get("run_cnt", 0)
    if name.startswith("socklog_") and calls:
        per_call = p["run_time_ns"] / calls
        print(f"{name:<14} {calls:>10} calls  {per_call:7.1f} ns per call")
'
kill -INT "$NF"; wait "$NF" || true
