#!/usr/bin/env bash
# A bad or impossible description is refused by `disco run` and `disco check`
# with a message naming the file, the line and the key, before any rank starts.
. "$(dirname "$0")/lib/common.bash"

printf '[machine]\nnodes = 2\n\n[vm a]\nmem = 12Q\nkernel = x.elf\n' > "$T/bad-size.ini"
printf '[machine]\nnodes = 2\nline = 96\n' > "$T/bad-line.ini"
printf '[machine]\nnodes = 2\n[vm a]\nkernel = x.elf\nnodes = 0-5\n' > "$T/bad-nodes.ini"
printf '[machine]\nnodes = 2\nmem = 64M\n[vm big]\nkernel = x.elf\nmem = 1G\n' > "$T/bad-big.ini"

check() {   # file, pattern the message must contain
  for cmd in check run; do
    out=$(timeout 20 "$DISCO" $cmd "$T/$1" 2>&1)
    rc=$?
    [ $rc = 2 ] || t_fail "disco $cmd $1 exited $rc (want 2): $out"
    grep -q -- "$2" <<<"$out" || t_fail "disco $cmd $1: message lacks '$2': $out"
    ! grep -qi "mpirun\|primary job" <<<"$out" || t_fail "disco $cmd $1 started ranks: $out"
  done
  echo "ok: $1: $out"
}
check bad-size.ini "bad-size.ini:5: \[vm a\] mem"
check bad-line.ini "bad-line.ini:3:.*line"
check bad-nodes.ini "bad-nodes.ini:5"
check bad-big.ini "bad-big.ini:6:.*\[vm big\] mem"
out=$("$DISCO" check "$T/missing.ini" 2>&1); [ $? = 2 ] && grep -q "missing.ini" <<<"$out" || t_fail "missing file: $out"
echo "ok: missing file: $out"
