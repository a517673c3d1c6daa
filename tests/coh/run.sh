#!/usr/bin/env bash
# run.sh NP PROVIDER MODE ARGS...: disco-cohtest on NP ranks on one host,
# loopback only, under a time limit (the driver aborts itself first, so a
# livelock or deadlock fails the test rather than hanging it).
. "$(dirname "$0")/../mpi/lib/common.bash"
np=$1 prov=$2 mode=$3
shift 3
exe="$DISCO_BUILD/tests/coh/disco-cohtest"
[ -x "$exe" ] || t_skip "disco-cohtest is not built"
[ "$prov" = tcp ] && export FI_PROVIDER="tcp;ofi_rxm" || export FI_PROVIDER="$prov"
t_mpirun 110 -np "$np" "$exe" "$mode" --provider "$prov" --time-limit 90 "$@" >"$T/out" 2>"$T/err"
rc=$?
cat "$T/out"
[ $rc = 77 ] && t_skip "the $prov provider is not usable here: $(head -3 "$T/err")"
[ $rc = 0 ] || t_fail "disco-cohtest $mode on $np ranks ($prov) exited $rc: $(tail -20 "$T/err")"
if [ "$mode" = bench ]; then
  jq -e 'has("rtt_us") and has("read_clean_us") and has("read_dirty_us") and has("write_inval_us") and has("ratio_clean") and .rtt_us > 0 and .read_clean_us > 0' "$T/out" >/dev/null \
    || t_fail "bench printed no JSON with the expected keys"
else
  grep -q '^ok:' "$T/out" || t_fail "no ok line"
fi
exit 0
