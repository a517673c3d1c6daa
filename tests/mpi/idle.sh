#!/usr/bin/env bash
# Idle nodes sleep: 4 nodes on this machine's cores (2 here), idle for 3 s,
# must use almost no CPU time in their event loops, on shm (doorbell) and on
# tcp (the CQ's fd). A spinning node would use about a second per idle second
# shared between the ranks on each core.
. "$(dirname "$0")/lib/common.bash"

for prov in shm tcp; do
  t_bare 4 "$T/m.ini"
  timeout 120 "$DISCO" run --quiet --provider "$prov" --idle 3 --report "$T/r.json" "$T/m.ini" >"$T/out" 2>&1 \
    || t_fail "$prov: disco run failed: $(cat "$T/out")"
  t_json "$T/r.json" 'all(.nodes[]; .wall_s >= 3)' || t_fail "$prov: the nodes did not stay up for 3 s"
  worst=$(jq '[.nodes[].loop_cpu_s] | max' "$T/r.json")
  total=$(jq '[.nodes[] | .cpu_user_s + .cpu_sys_s] | max' "$T/r.json")
  # loop: 3 s idle each; a spinning loop would be >= 1.4 s per node
  jq -e '[.nodes[].loop_cpu_s] | max < 0.15' "$T/r.json" >/dev/null \
    || t_fail "$prov: an idle node used $worst s of CPU in its loop over 3 s"
  # the whole process includes MPI_Init and the bootstrap checks, which cost
  # more on a loaded machine: this bound only catches a node spinning there
  jq -e '[.nodes[] | .cpu_user_s + .cpu_sys_s] | max < 5' "$T/r.json" >/dev/null \
    || t_fail "$prov: a node used $total s of CPU in all"
  echo "ok: $prov: loop CPU at most $worst s over 3 s idle (whole process at most $total s)"
done
