#!/usr/bin/env bash
# With stderr on a terminal, a long run shows a progress line (elapsed time,
# nodes, instructions, rate); with stderr not a terminal it shows none.
. "$(dirname "$0")/lib/common.bash"
t_need script
elf="$DISCO_BUILD/guest/bench_lz.elf"
[ -f "$elf" ] || t_skip "guest images not built"
out=$(script -qec "$DISCO run --kernel $elf" /dev/null 2>&1 | tr '\r' '\n')
grep -aq '^\[disco\] .* s  1 nodes  .* G instructions  .* MIPS' <<<"$out" || t_fail "no progress line on a terminal: $out"
grep -aq 'BENCH name=lz .*result=ok' <<<"$out" || t_fail "the guest did not finish: $out"
out=$("$DISCO" run --kernel "$elf" 2>&1)
! grep -aq '^\[disco\]' <<<"$(tr '\r' '\n' <<<"$out")" || t_fail "progress line printed to a pipe: $out"
echo "ok: progress line on a terminal only"
