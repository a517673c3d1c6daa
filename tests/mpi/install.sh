#!/usr/bin/env bash
# `cmake --install` puts disco and disco-node in bin/ and the guest images in
# share/disco/guest/, and the installed disco runs the default machine from
# there, finding its disco-node and its guests without the build tree.
. "$(dirname "$0")/lib/common.bash"
t_need cmake
cmake --install "$DISCO_BUILD" --prefix "$T/prefix" >"$T/log" 2>&1 || t_fail "install failed: $(cat "$T/log")"
[ -x "$T/prefix/bin/disco" ] && [ -x "$T/prefix/bin/disco-node" ] || t_fail "disco or disco-node not in bin/"
[ -f "$T/prefix/share/disco/guest/hello.elf" ] || t_skip "guest images not built"
cd "$T"
out=$(timeout 120 "$T/prefix/bin/disco" run --report "$T/r.json" 2>&1) || t_fail "installed disco run failed: $out"
grep -q "disco-node" <<<"$("$T/prefix/bin/disco" run --dry-run)" || t_fail "dry run names no disco-node"
"$T/prefix/bin/disco" run --dry-run | grep -q "$T/prefix/bin/disco-node" || t_fail "installed disco does not use the installed disco-node"
t_json "$T/r.json" '.status == "completed" and (.vms | length) == 2 and all(.vms[]; .exit_status == 0)' \
  || t_fail "default machine from the installed tree did not complete: $out"
echo "ok: installed disco ran the default machine"
