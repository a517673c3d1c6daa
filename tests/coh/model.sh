#!/usr/bin/env bash
# The Promela model of the protocol (coherence/model/msi.pml), checked
# exhaustively by spin: 3 nodes (the home accesses too), one line, any
# message order. Exit 0 when spin finds no assertion violation and no
# invalid end state, 1 when it does, 77 when spin or a C compiler is missing.
set -uo pipefail
src="${DISCO_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/coherence/model/msi.pml"
command -v spin >/dev/null || { echo "SKIP: spin is not installed (apt-get install spin)"; exit 77; }
command -v cc >/dev/null || { echo "SKIP: no C compiler"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/disco-model.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
cp "$src" msi.pml
spin -a msi.pml >spin.out 2>&1 || { cat spin.out; echo "FAIL: spin could not read the model"; exit 1; }
cc -O2 -DSAFETY -DCOLLAPSE -DVECTORSZ=2048 -o pan pan.c 2>cc.out || { cat cc.out; echo "FAIL: pan did not build"; exit 1; }
./pan -m100000 >pan.out 2>&1
grep -E "errors:|states, stored" pan.out
if ! grep -q "errors: 0" pan.out || grep -q "search not completed\|max search depth too small" pan.out; then
  cat pan.out
  [ -f msi.pml.trail ] && spin -t -p msi.pml | tail -60
  echo "FAIL: the model has an error (trail above)"
  exit 1
fi
echo "ok: protocol model checked exhaustively"
