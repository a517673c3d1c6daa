#!/usr/bin/env bash
# `disco bench cpu --json` runs every kernel to a correct result (the
# kernels check themselves and disco refuses checksums that differ from
# QEMU's) and reports the figures under the documented keys.
. "$(dirname "$0")/lib/common.bash"
[ -f "$DISCO_BUILD/guest/bench_lz.elf" ] || t_skip "guest images not built"
timeout 300 "$DISCO" bench cpu --json > "$T/b.json" 2>"$T/err" || t_fail "bench cpu failed: $(cat "$T/err")"
t_json "$T/b.json" '(.programs | length) == 3 and all(.programs[]; .disco_ips > 1e6 and .instructions > 1e7)' \
  || t_fail "bench cpu figures missing: $(cat "$T/b.json")"
t_json "$T/b.json" '.overall | has("disco_ips") and has("qemu_ips") and has("ratio")' || t_fail "no overall figures"
if command -v qemu-system-riscv64 >/dev/null; then
  t_json "$T/b.json" 'all(.programs[]; .qemu_ips > 0 and .ratio > 0)' || t_fail "QEMU is installed but was not measured"
fi
jq -c '.overall' "$T/b.json"
