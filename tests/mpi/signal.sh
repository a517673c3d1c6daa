#!/usr/bin/env bash
# SIGTERM to `disco run` (what a batch system sends) ends every node promptly
# and cleanly: the nodes stop and node 0 still writes the report, marked
# interrupted.
. "$(dirname "$0")/lib/common.bash"

t_bare 4 "$T/sig.ini"
timeout 120 "$DISCO" run --quiet --idle 100 --report "$T/r.json" "$T/sig.ini" >"$T/out" 2>&1 &
job=$!
for _ in $(seq 100); do
  [ "$(pgrep -f "^[^ ]*disco-node .*sig.ini" | wc -l)" = 4 ] && break
  sleep 0.1
done
sleep 2
t0=$(date +%s)
kill -TERM "$(pgrep -f "^[^ ]*launcher/disco run.*sig.ini")"
wait $job
rc=$?
dt=$(( $(date +%s) - t0 ))
[ $rc != 124 ] || t_fail "the job hung after SIGTERM"
[ $dt -le 15 ] || t_fail "the job took $dt s to end after SIGTERM"
sleep 0.5
[ "$(pgrep -f "^[^ ]*disco-node .*sig.ini" | wc -l)" = 0 ] || t_fail "nodes still running after SIGTERM"
[ $rc = 1 ] || t_fail "exit status $rc after SIGTERM (want 1: the run did not complete)"
[ -f "$T/r.json" ] || t_fail "no report after SIGTERM: $(cat "$T/out")"
t_json "$T/r.json" '.status == "interrupted" and (.nodes | length) == 4' || t_fail "report not marked interrupted"
echo "ok: ended $dt s after SIGTERM (exit $rc), report marked interrupted"
