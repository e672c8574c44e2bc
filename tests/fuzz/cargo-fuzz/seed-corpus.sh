#!/bin/sh
# Fills tests/fuzz/cargo-fuzz/corpus with the committed seed captures' frames, each
# prefixed with the selector byte the fuzz target reads as its link type.
set -eu
cd "$(dirname "$0")"
mkdir -p corpus
python3 - <<'PY'
import struct
seeds = {"../../fixtures/pcap/ethernet-seed.pcap": 0, "../../fixtures/pcap/sll2-seed.pcap": 2}
n = 0
for path, selector in seeds.items():
    data = open(path, "rb").read()
    endian = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
    at = 24
    while at + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[at:at + 16])
        frame = data[at + 16:at + 16 + incl]
        open(f"corpus/seed-{n:04}", "wb").write(bytes([selector]) + frame)
        n += 1
        at += 16 + incl
print(f"{n} seed frames in corpus/")
PY
