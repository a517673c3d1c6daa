#!/usr/bin/env bash
# A rank killed with SIGKILL mid-run ends the whole job promptly: mpirun
# reports it and no node is left running or hanging. And an mpirun that
# hangs once its ranks have ended is stopped by disco run.
. "$(dirname "$0")/lib/common.bash"

# libfabric's shm provider leaks the region of a rank killed with SIGKILL
# (named after its pid): remove what this test's victims left
killed=()
t_cleanup_shm() { for p in "${killed[@]}"; do rm -f /dev/shm/"$p":*; done; t_cleanup; }
trap t_cleanup_shm EXIT

# (the patterns name this test's own description, $T/..., so that nodes of
# another run on the machine, say one killed before, are never counted or killed)
for prov in shm tcp; do
  t_bare 4 "$T/dead-$prov.ini"
  timeout 120 "$DISCO" run --quiet --provider "$prov" --idle 100 --report "$T/r.json" "$T/dead-$prov.ini" >"$T/out" 2>&1 &
  job=$!
  # wait until all four nodes are up (and idle in their loop)
  for _ in $(seq 100); do
    [ "$(pgrep -f "^[^ ]*disco-node .*$T/dead-$prov.ini" | wc -l)" = 4 ] && break
    sleep 0.1
  done
  [ "$(pgrep -f "^[^ ]*disco-node .*$T/dead-$prov.ini" | wc -l)" = 4 ] || t_fail "$prov: the 4 nodes did not start: $(cat "$T/out")"
  sleep 2
  victim=$(pgrep -f "^[^ ]*disco-node .*$T/dead-$prov.ini" | sed -n 3p)
  kill -9 "$victim"
  killed+=("$victim")
  t0=$(date +%s)
  # (should the job hang: what is still there 30 s after the kill, for the failure message)
  for _ in $(seq 300); do
    kill -0 $job 2>/dev/null || break
    sleep 0.1
  done
  : > "$T/ps"
  kill -0 $job 2>/dev/null && ps -eo pid,ppid,stat,etime,wchan:20,args > "$T/ps" 2>&1
  wait $job
  rc=$?
  dt=$(( $(date +%s) - t0 ))
  [ $rc != 0 ] || t_fail "$prov: the job reported success after losing a node"
  [ $rc != 124 ] || t_fail "$prov: the job hung after a node died: $(cat "$T/out"); processes then: $(cat "$T/ps")"
  [ $dt -le 20 ] || t_fail "$prov: the job took $dt s to end after a node died"
  sleep 0.5
  left=$(pgrep -f "^[^ ]*disco-node .*$T/dead-$prov.ini" | wc -l)
  [ "$left" = 0 ] || t_fail "$prov: $left nodes still running after the job ended"
  echo "ok: $prov: job ended $dt s after node kill (exit $rc)"
done

# An mpirun that outlives the ranks it started (Open MPI 4.1 did, now and
# then, after a kill: its ranks all zombies, itself waiting on a futex):
# disco run ends it once every rank has been gone 5 s, and fails.
cat > "$T/stuck-mpirun" <<'EOF2'
#!/bin/sh
( : ) & ( : ) & ( : ) & ( : ) &
exec sleep 300
EOF2
chmod +x "$T/stuck-mpirun"
t_bare 4 "$T/stuck.ini"
t0=$(date +%s)
DISCO_MPIRUN="$T/stuck-mpirun" timeout 60 "$DISCO" run --quiet "$T/stuck.ini" > "$T/out" 2>&1
rc=$?
dt=$(( $(date +%s) - t0 ))
[ $rc != 124 ] && [ $rc != 0 ] || t_fail "an mpirun whose ranks all ended was waited for: exit $rc: $(cat "$T/out")"
[ $dt -le 20 ] || t_fail "an mpirun whose ranks all ended was stopped only after $dt s"
grep -q "mpirun .* has not returned" "$T/out" || t_fail "no word of the stuck mpirun: $(cat "$T/out")"
echo "ok: an mpirun stuck after its ranks ended was stopped after $dt s (exit $rc)"
