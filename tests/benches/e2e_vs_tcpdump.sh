#!/usr/bin/env bash
# End-to-end cost: netflow against `tcpdump -w /dev/null`, side by side on the same
# traffic (a 64-byte UDP flood, then a bulk TCP transfer) between two network
# namespaces joined by a veth pair. Prints CPU per million packets for each, their
# ratio, and the drops. Run as root: bash tests/benches/e2e_vs_tcpdump.sh [PACKETS]
# The socket log (on by default) runs in the senders' every send and slows the flood;
# NETFLOW_ARGS="--ebpf off" compares without it. FLOWS=64 floods from 64 sockets in
# turn, so consecutive packets are never of one flow (netflow's worst case: no runs).
set -euo pipefail
cd "$(dirname "$0")/../.."

PACKETS=${1:-2000000}
cargo build --release --quiet --bin netflow --example traffic-peer
NETFLOW=target/release/netflow
PEER=target/release/examples/traffic-peer
A=nfbench-a-$$ B=nfbench-b-$$
OUT=$(mktemp -d)
HOLDER=
cleanup() {
    for pid in $(jobs -p) $HOLDER; do kill "$pid" 2>/dev/null || true; done
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
    rm -rf "$OUT"
}
trap cleanup EXIT

ip netns add "$A"; ip netns add "$B"
ip -n "$A" link add eth0 type veth peer name eth0 netns "$B"
ip -n "$A" addr add 198.18.0.1/24 dev eth0; ip -n "$B" addr add 198.18.0.2/24 dev eth0
for ns in "$A" "$B"; do ip -n "$ns" link set eth0 up; ip -n "$ns" link set lo up; done

# CPU seconds (user + system) of a running process.
cpu() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"; }

# NETFLOW_ARGS: extra options, e.g. NETFLOW_ARGS="--ebpf off".
# shellcheck disable=SC2086
ip netns exec "$A" "$NETFLOW" snapshot -d 1h -i eth0 --format json -o "$OUT/report.json" --quiet ${NETFLOW_ARGS:-} &
NF=$!
ip netns exec "$A" tcpdump -i eth0 -w /dev/null -B 65536 -n 2> "$OUT/tcpdump.err" &
TD=$!
sleep 1
exec 3< <(exec sleep 600)   # keeps the peers' stdin open until this script ends
HOLDER=$!
ip netns exec "$A" "$PEER" udp-sink 198.18.0.1:7700 2 <&3 > /dev/null &
ip netns exec "$A" "$PEER" tcp-server 198.18.0.1:7701 500000000 0 <&3 > /dev/null &
sleep 0.5
# Stdin at EOF: the clients exit as soon as their traffic is done.
ip netns exec "$B" "$PEER" udp-flood 198.18.0.1:7700 "$PACKETS" 64 "${FLOWS:-1}" < /dev/null
ip netns exec "$B" "$PEER" tcp-client 198.18.0.1:7701 500000000 0 < /dev/null
sleep 1
NF_CPU=$(cpu "$NF"); TD_CPU=$(cpu "$TD")
kill -INT "$NF" "$TD"
wait "$NF" "$TD" || true

python3 - "$OUT/report.json" "$OUT/tcpdump.err" "$NF_CPU" "$TD_CPU" <<'PY'
import json, re, sys
report, tcpdump_err, nf_cpu, td_cpu = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
s = json.load(open(report))["summary"]
text = open(tcpdump_err).read()
td_packets = int(re.search(r"(\d+) packets captured", text).group(1))
td_dropped = int(re.search(r"(\d+) packets dropped by kernel", text).group(1))
nf_packets = s["captured"]["packets"]
print(f"packets: netflow captured {nf_packets}, tcpdump captured {td_packets}")
print(f"netflow: {nf_cpu:.2f} CPU s, {nf_cpu / nf_packets * 1e6:.3f} s per million packets,"
      f" dropped: queue {s['dropped']['queue']['packets']}, kernel {s['dropped']['kernel_packets']}")
print(f"tcpdump: {td_cpu:.2f} CPU s, {td_cpu / td_packets * 1e6:.3f} s per million packets,"
      f" dropped by kernel {td_dropped}")
print(f"ratio (netflow / tcpdump, CPU per packet): {(nf_cpu / nf_packets) / (td_cpu / td_packets):.2f}")
PY
