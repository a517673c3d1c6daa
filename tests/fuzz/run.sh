#!/bin/sh
# run.sh [SECONDS] — build the libFuzzer target of the hart interpreter with
# clang (ASan + UBSan + fuzzer) and run it for SECONDS (default 60).
# Corpus and crashes go under $OUT (default /tmp/disco-fuzz-cpu).
set -eu
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-/tmp/disco-fuzz-cpu}
SECS=${1:-60}
mkdir -p "$OUT/corpus"
clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-I"$SRC" -o "$OUT/fuzz_cpu" "$SRC/tests/fuzz/fuzz_cpu.c" \
	"$SRC/vmm/cpu.c" "$SRC/vmm/csr.c" "$SRC/vmm/mmu.c" "$SRC/vmm/decode.c" "$SRC/vmm/pmap.c" "$SRC/vmm/jit.c" \
	"$SRC/common/log.c"
cd "$OUT"
ASAN_OPTIONS=verify_asan_link_order=0 ./fuzz_cpu -max_total_time="$SECS" -max_len=8192 -len_control=0 -timeout=10 corpus
