#!/usr/bin/env bash
# `disco bench coherence --json` measures the protocol's remote misses beside
# the fabric's round trip on shm and tcp, under the documented keys; a clean
# miss can never be faster than one round trip's worth of messages.
. "$(dirname "$0")/lib/common.bash"
timeout 120 "$DISCO" bench coherence --json --samples 200 > "$T/b.json" 2>"$T/err" \
  || t_fail "bench coherence failed: $(cat "$T/err")"
for p in shm tcp; do
  t_json "$T/b.json" ".$p | (.rtt_us > 0 and .read_clean_us > 0 and .read_dirty_us > 0 and .write_inval_us > 0 and .ratio_clean > 0)" \
    || t_fail "$p: figures missing: $(cat "$T/b.json")"
done
jq -c '{shm: .shm.ratio_clean, tcp: .tcp.ratio_clean}' "$T/b.json"
