#!/usr/bin/env bash
# vCPUs moving between nodes ([machine] balance, docs/coherence.md "vCPUs
# moving between nodes"):
#  - rotate: every millisecond one vCPU of the VM moves to the next node
#    while the guest runs; ocean (4 harts on 4 nodes, over tcp) gives the
#    same checksum as without moves, smp_atomics (AMOs, LR/SC, a lock,
#    message passing) and time_smp (timers, IPIs) still pass;
#  - on: VM a (2 vCPUs on nodes 0 and 1) shares node 0 with VM b (2 vCPUs on
#    node 0 alone); the balancer moves a's vCPU off the busy node 0, never
#    the other way, and both VMs finish correctly.
. "$(dirname "$0")/lib/common.bash"
. "$(dirname "$0")/lib/span.bash"
[ -f "$G/mix.elf" ] && [ -f "$G/time_smp.elf" ] || t_skip "guest images are not built (-DDISCO_GUEST_TESTS=ON)"
rot='balance = rotate\nbalance_interval = 1ms\n'

# the reference: no moves
machine "$T/ref.ini" 2 0-1 4 "$G/ocean.elf" '' '' 'append = n=96 steps=40\n'
go ref
want=$(grep -o 'checksum=[0-9a-fx]*' <<<"$out")
[ $rc = 0 ] && [ -n "$want" ] && grep -q "result=ok" <<<"$out" || t_fail "ocean without moves: $out"

machine "$T/oc.ini" 4 0-3 4 "$G/ocean.elf" "$rot" '' 'append = n=96 steps=40\n'
go oc tcp
[ $rc = 0 ] && grep -q "result=ok" <<<"$out" || t_fail "ocean with vCPUs moving: rc $rc: $out"
got=$(grep -o 'checksum=[0-9a-fx]*' <<<"$out")
[ "$got" = "$want" ] || t_fail "ocean with vCPUs moving: $got, without: $want"
t_json "$R" '.vms[0].vcpu_moves >= 20' || t_fail "ocean: only $(jq '.vms[0].vcpu_moves' "$R") vCPU moves"
t_json "$R" '([.vms[0].parts[].span.sched.vcpus_in] | add) == ([.vms[0].parts[].span.sched.vcpus_out] | add)
  and ([.vms[0].parts[].harts] | add) == 4 and all(.vms[0].parts[]; .span.dropped == 0)' \
  || t_fail "ocean: moves do not add up: $(jq -c '[.vms[0].parts[] | {node, harts, sched: .span.sched, dropped: .span.dropped}]' "$R")"
echo "ok: ocean, 4 harts on 4 nodes over tcp, $(jq '.vms[0].vcpu_moves' "$R") vCPU moves: $got as without moves"

for k in smp_atomics time_smp; do
  machine "$T/$k.ini" 2 0-1 4 "$G/$k.elf" "$rot"
  go $k
  [ $rc = 0 ] && grep -qE "^$k: (.*[^a-z])?ok\b" <<<"$out" || t_fail "$k with vCPUs moving: rc $rc: $out"
  t_json "$R" '.vms[0].vcpu_moves >= 1' || t_fail "$k: no vCPU moved"
  echo "ok: $k with $(jq '.vms[0].vcpu_moves' "$R") vCPU moves"
done

# the balancer: node 0 runs 3 vCPUs, node 1 one
printf '[machine]\nnodes = 2\nmem = 256M\ntimeout = 60s\nbalance = on\nbalance_interval = 5ms\n' > "$T/bal.ini"
printf '[vm a]\ncpus = 2\nmem = 32M\nnodes = 0-1\nappend = kib=256 rounds=2\nkernel = %s\n' "$G/mix.elf" >> "$T/bal.ini"
printf '[vm b]\ncpus = 2\nmem = 32M\nnodes = 0\nappend = kib=256 rounds=12\nkernel = %s\n' "$G/mix.elf" >> "$T/bal.ini"
go bal
[ $rc = 0 ] && [ "$(grep -c 'result=ok' <<<"$out")" = 2 ] || t_fail "balance = on: rc $rc: $out"
t_json "$R" '.vms[] | select(.name == "a") | .vcpu_moves >= 1 and (.parts[] | select(.node == 0) | .span.sched.vcpus_out >= 1 and .span.sched.vcpus_in == 0)' \
  || t_fail "balance = on: a's vCPU did not leave the busy node: $(jq -c '.vms[] | {name, vcpu_moves, parts: [.parts[]? | {node, harts, sched: .span.sched}]}' "$R")"
echo "ok: balance = on moved a vCPU of a off the node it shared with b"
