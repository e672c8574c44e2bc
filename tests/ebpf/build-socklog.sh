#!/bin/sh
# Builds the kernel socket log's BPF object from its committed source.
#   tests/ebpf/build-socklog.sh [OUT]   (default: src/os/ebpf/socklog.bpf.o)
# Needs clang-19, llvm-19 and libbpf-dev (apt-get install -y clang-19 llvm-19 libbpf-dev).
# The object is committed so that cargo needs no clang; tests/socket_log.rs checks that it
# is what this script builds. Runs from the source directory with relative paths, so
# the BTF line info (which names the source file) is the same in every checkout.
set -eu
src="$(cd "$(dirname "$0")/../../src/os/ebpf" && pwd)"
out=$(realpath -m "${1:-$src/socklog.bpf.o}")
cd "$src"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
# The prefix map keeps the checkout's path out of the BTF line info.
clang-19 -O2 -g -target bpf -D__TARGET_ARCH_x86 -ffile-prefix-map="$src"=. -I. -c socklog.bpf.c -o "$tmp"
# -g keeps the .BTF sections CO-RE needs and drops the DWARF (about a third of the size).
llvm-strip-19 -g "$tmp" -o "$out"
