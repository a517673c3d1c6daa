#!/usr/bin/env bash
# VMs whose harts run on several nodes, multiplexed and side by side: 8
# vCPUs on 2 nodes, two spanning VMs with different homes on the same nodes
# (each checks its own memory while pages move), and every placement.
. "$(dirname "$0")/lib/common.bash"
. "$(dirname "$0")/lib/span.bash"

# 8 vCPUs multiplexed on 2 nodes of 1 processor each
run atom8 shm 2 8 "$G/smp_atomics.elf"
grep -q "smp_atomics: ok" <<<"$out" || t_fail "smp_atomics, 8 harts on 2 nodes: $out"
t_json "$R" 'all(.vms[0].parts[]; .harts == 4 and .instructions > 0)' || t_fail "8 harts on 2 nodes: not 4 harts per node"
echo "ok: smp_atomics, 8 vCPUs multiplexed on 2 nodes"

# two VMs on the same two nodes at once, pages moving in both: each checks its own memory
printf '[machine]\nnodes = 2\nmem = 128M\nrcache = 64K\ntimeout = 60s\n[policy]\npolicy = migrate\ntrigger = 32\ninterval = 1ms\nreset = 50ms\n' > "$T/two.ini"
for v in a b; do
  printf '[vm %s]\ncpus = 4\nmem = 32M\nnodes = %s\nkernel = %s\n' "$v" "$([ $v = a ] && echo 0-1 || echo 1,0)" \
    "$G/migrate_smp.elf" >> "$T/two.ini"
done
go two
[ $rc = 0 ] || t_fail "two VMs: $out"
[ "$(grep -c 'migrate_smp: ok' <<<"$out")" = 2 ] || t_fail "two VMs: not both passed: $out"
t_json "$T/two.json" '(.vms | length) == 2 and all(.vms[]; .exit_status == 0) and ([.vms[].node] | sort) == [0, 1]' \
  || t_fail "two VMs: report $(jq -c '[.vms[] | {name, node, exit_status}]' "$T/two.json")"
echo "ok: two spanning VMs on the same nodes (homes 0 and 1) keep to their own memory"

# every placement gives the same checked result; fixed keeps every page at home
for pl in round-robin fixed interleave block; do
  machine "$T/pl.ini" 4 0-3 4 "$G/migrate_smp.elf" '' 'policy = off\n' "placement = $pl\n"
  go pl
  [ $rc = 0 ] && grep -q "migrate_smp: ok" <<<"$out" || t_fail "placement = $pl: $out"
  [ $pl != fixed ] || t_json "$T/pl.json" 'all(.vms[0].parts[1:][]; .span.pages_here == 0)' \
    || t_fail "placement = fixed put pages off the home: $(jq -c '[.vms[0].parts[].span.pages_here]' "$T/pl.json")"
  echo "ok: placement = $pl"
done

