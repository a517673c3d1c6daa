#!/usr/bin/env bash
# mpirun -np 2 on a 4-node description: every rank says what is wrong and the
# job ends at once with an error, instead of hanging.
. "$(dirname "$0")/lib/common.bash"

t_bare 4 "$T/m4.ini"
start=$(date +%s)
out=$(t_mpirun 60 -np 2 -x FI_PROVIDER=shm "$NODE" --report "$T/r.json" "$T/m4.ini" 2>&1)
rc=$?
elapsed=$(( $(date +%s) - start ))
[ $rc != 0 ] || t_fail "a 2-rank job on a 4-node description succeeded"
[ $rc != 124 ] || t_fail "the job hung"
n=$(grep -c "describes 4 nodes but 2 ranks were started" <<<"$out")
[ "$n" = 2 ] || t_fail "expected the message from both ranks, got $n: $out"
[ $elapsed -lt 30 ] || t_fail "took $elapsed s to refuse"
[ ! -e "$T/r.json" ] || t_fail "a report was written for a refused run"
echo "ok: refused on every rank in $elapsed s"
