#!/usr/bin/env bash
# The console works both ways: what is typed reaches the guest's UART and the
# guest's output reaches disco's standard output; Ctrl-A x ends the run with
# exit status 0 (as QEMU's does); a guest that powers off ends it with its own.
. "$(dirname "$0")/lib/common.bash"

echo_elf="$DISCO_BUILD/guest/echo.elf"
[ -f "$echo_elf" ] || t_skip "guest images not built (DISCO_GUESTS=OFF)"

out=$( (sleep 1; printf 'hello disco\r'; sleep 0.5; printf 'quit\r') | timeout 60 "$DISCO" run --kernel "$echo_elf" 2>&1)
rc=$?
[ $rc = 0 ] || t_fail "echo guest exited $rc: $out"
grep -q "echo: hello disco" <<<"$out" || t_fail "typed line did not come back: $out"
echo "ok: typed line echoed, guest powered off"

# the keyboard stays open after Ctrl-A x: the run must end by itself. Keys
# are typed only once the guest has answered, so a slow start cannot merge
# them into one read.
mkfifo "$T/keys"
wait_for() {   # pattern: up to 60 s for it to appear in the output
  for _ in $(seq 600); do grep -q "$1" "$T/out" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
(wait_for "echo: ready" && printf 'abc\r' && wait_for "echo: abc" && printf '\001x'; sleep 60) > "$T/keys" &
feeder=$!
t0=$(date +%s)
timeout 90 "$DISCO" run --kernel "$echo_elf" < "$T/keys" > "$T/out" 2>&1
rc=$?
dt=$(( $(date +%s) - t0 ))
kill $feeder 2>/dev/null
out=$(cat "$T/out")
[ $rc = 0 ] || t_fail "Ctrl-A x: exit $rc: $out"
grep -q "echo: abc" <<<"$out" || t_fail "Ctrl-A x run lost the console output: $out"
grep -q "Ctrl-A x" <<<"$out" || t_fail "Ctrl-A x was not acknowledged: $out"
[ $dt -lt 60 ] || t_fail "Ctrl-A x took $dt s to end the run"
echo "ok: Ctrl-A x ended the run in $dt s"
