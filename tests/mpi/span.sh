#!/usr/bin/env bash
# A VM whose harts run on several nodes (docs/coherence.md, "The monitor's
# memory path"): guest programs with their harts on 1, 2 and 4 nodes, on
# shm and tcp, give the same checked result as on one node, and the report
# shows that the nodes really shared the work through the coherence engine.
#  - smp_atomics: AMOs, LR/SC loops, a spinlock, message passing (fences)
#    and a barrier between harts on different nodes lose no update;
#  - ocean (4 harts): the same checksum on 1, 2 and 4 nodes;
#  - mmio_smp: harts off the home node reach the UART, the PLIC and the
#    CLINT, and the last hart (on another node) powers the VM off;
#  - lrsc_smp, time_smp, sbi_calls (S mode: SBI HSM starts harts elsewhere).
. "$(dirname "$0")/lib/common.bash"
. "$(dirname "$0")/lib/span.bash"

for prov in shm tcp; do
  for n in 1 2 4; do
    run atom-$prov-$n "$prov" "$n" 4 "$G/smp_atomics.elf"
    grep -q "smp_atomics: ok" <<<"$out" || t_fail "smp_atomics on $n nodes ($prov): $out"
    t_json "$R" "(.vms | length) == 1 and .vms[0].exit_status == 0" || t_fail "$n nodes ($prov): not one VM that passed"
    if [ "$n" -gt 1 ]; then
      t_json "$R" "[.vms[0].nodes[]] == [range(0; $n)] and (.vms[0].parts | length) == $n" \
        || t_fail "$n nodes ($prov): the report does not list the VM's $n nodes"
      t_json "$R" "all(.vms[0].parts[]; .instructions > 0 and .harts > 0)" \
        || t_fail "$n nodes ($prov): a node ran none of the VM's harts"
      t_json "$R" ".vms[0].instructions == ([.vms[0].parts[].instructions] | add)" \
        || t_fail "$n nodes ($prov): the VM's instructions are not the sum of its nodes'"
      # the harts off the home node missed on the home's lines, over the fabric
      t_json "$R" "([.nodes[1:][].coherence.remote_misses] | add) > 0 and ([.nodes[1:][].coherence.two_hop] | add) > 0" \
        || t_fail "$n nodes ($prov): no remote misses: the harts did not share memory through the engine"
      t_json "$R" "all(.vms[0].parts[]; .span.dropped == 0) and all(.nodes[]; .coherence.dropped == 0)" \
        || t_fail "$n nodes ($prov): messages were dropped"
    fi
    echo "ok: smp_atomics, 4 harts on $n nodes ($prov)"
  done
done

# disco report shows where the spanning VM ran and where its harts waited
"$DISCO" report "$R" | grep -qE '^t +0,1,2,3 +[0-9.]+ +[0-9.]+ +[0-9.]+ ' \
  || t_fail "disco report does not list the spanning VM's nodes and stall times: $("$DISCO" report "$R")"

# the same computation gives the same checksum wherever its harts run
sum() { grep -o 'WORKLOAD .*' <<<"$out" | grep -o 'checksum=[0-9a-fx]*'; }
run ocean-1 shm 1 4 "$G/ocean.elf"
want=$(sum)
[ -n "$want" ] && grep -q "result=ok" <<<"$out" || t_fail "ocean on one node gave no checked result: $out"
for n in 2 4; do
  run ocean-$n shm "$n" 4 "$G/ocean.elf"
  grep -q "result=ok" <<<"$out" || t_fail "ocean on $n nodes failed its own check: $out"
  [ "$(sum)" = "$want" ] || t_fail "ocean on $n nodes: $(sum), on one node: $want"
  echo "ok: ocean, 4 harts on $n nodes: $want as on one node"
done

# devices live at the VM's home: the other nodes forward MMIO there
run mmio shm 4 4 "$G/mmio_smp.elf"
grep -q "hart 3 powers off" <<<"$out" || t_fail "mmio_smp: hart 3 did not power off: $out"
[ "$(grep -c 'reaches the UART' <<<"$out")" = 4 ] || t_fail "mmio_smp: not every hart's line reached the console: $out"
t_json "$R" "all(.vms[0].parts[1:][]; .span.mmio_forwarded > 0)" || t_fail "mmio_smp: no MMIO was forwarded"
echo "ok: mmio_smp, MMIO from 3 nodes reaches the home's devices"

run lrsc shm 2 2 "$G/lrsc_smp.elf"
echo "ok: lrsc_smp on 2 nodes"
run time shm 4 4 "$G/time_smp.elf"
echo "ok: time_smp on 4 nodes"
run sbi shm 2 2 "$G/sbi_calls.elf"
echo "ok: sbi_calls (S mode, HSM) on 2 nodes"
