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
G=$DISCO_BUILD/guest
[ -f "$G/smp_atomics.elf" ] && [ -f "$G/ocean.elf" ] || t_skip "guest images are not built (-DDISCO_GUEST_TESTS=ON)"

# machine FILE NODES VM_NODES CPUS KERNEL
machine() {
  printf '[machine]\nnodes = %s\nmem = 128M\ntimeout = 60s\n[vm t]\ncpus = %s\nmem = 32M\nnodes = %s\nkernel = %s\n' \
    "$2" "$4" "$3" "$5" > "$1"
}
# run NAME PROVIDER NODES CPUS KERNEL: runs the VM with its harts on nodes 0..NODES-1
run() {
  local name=$1 prov=$2 n=$3 cpus=$4 kernel=$5
  machine "$T/$name.ini" "$n" "0-$((n - 1))" "$cpus" "$kernel"
  out=$(timeout 120 "$DISCO" run --quiet --provider "$prov" --report "$T/$name.json" "$T/$name.ini" 2>&1)
  rc=$?
  [ $rc = 0 ] || t_fail "$name: $cpus harts on $n nodes ($prov): disco run exited $rc: $out"
  R=$T/$name.json
}

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

# the NUMA policy moves pages while harts on several nodes read and write them
# (migrate_smp checks every word and that none is seen going backwards)
policy_run() {  # NAME PROVIDER NODES POLICY
  printf '[machine]\nnodes = %s\nmem = 128M\nrcache = 64K\ntimeout = 60s\n[policy]\npolicy = %s\ntrigger = 32\ninterval = 1ms\nreset = 50ms\n[vm t]\ncpus = 4\nmem = 32M\nnodes = 0-%s\nkernel = %s\n' \
    "$3" "$4" "$(($3 - 1))" "$G/migrate_smp.elf" > "$T/$1.ini"
  out=$(timeout 120 "$DISCO" run --quiet --provider "$2" --report "$T/$1.json" "$T/$1.ini" 2>&1)
  rc=$?
  [ $rc = 0 ] && grep -q "migrate_smp: ok" <<<"$out" || t_fail "migrate_smp on $3 nodes ($2, policy $4): exit $rc: $out"
  R=$T/$1.json
}
for cfg in "shm 2" "tcp 2" "shm 4" "tcp 4"; do
  set -- $cfg
  policy_run mig-$1-$2 "$1" "$2" migrate
  t_json "$R" '.vms[0].migrations > 0' || t_fail "$2 nodes ($1): the policy moved no page: $(jq -c '.vms[0].parts' "$R")"
  t_json "$R" '([.vms[0].parts[].span.policy.pages_in] | add) == ([.vms[0].parts[].span.policy.pages_out] | add)' \
    || t_fail "$2 nodes ($1): pages copied in and given up do not match"
  t_json "$R" 'all(.vms[0].parts[]; .span.policy.shootdowns >= 1 and .span.dropped == 0)' \
    || t_fail "$2 nodes ($1): a node did not drop its translations before a move"
  echo "ok: migrate_smp on $2 nodes ($1): $(jq '.vms[0].migrations' "$R") pages moved, every word exact"
done
policy_run mig-off shm 2 off
t_json "$R" '.vms[0].migrations == 0 and all(.vms[0].parts[]; .span.policy.moves_asked == 0)' \
  || t_fail "policy = off moved pages"
echo "ok: policy = off moves nothing"

# the heat map of the last migrating run: misses per page by node, before and after the policy acted
R=$T/mig-tcp-4.json
t_json "$R" '[.vms[0].parts[].heat.after.pages[]] | length > 0 and all(.[]; length == 2 + 4)' \
  || t_fail "the report has no per-page, per-node miss counts"
t_json "$R" '[.vms[0].parts[].heat.before | select(. != null)] | length > 0' \
  || t_fail "no heat map of the moment the policy first acted"
if command -v gnuplot >/dev/null; then
  "$DISCO" report "$R" --heatmap "$T/heat.png" >/dev/null || t_fail "disco report --heatmap failed"
  [ -s "$T/heat.png" ] && grep -q "index 1" "$T/heat.png.gp" || t_fail "no two-panel heat map"
  echo "ok: heat map of misses by page and node, before and after"
fi

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
out=$(timeout 120 "$DISCO" run --quiet --report "$T/two.json" "$T/two.ini" 2>&1) || t_fail "two VMs: $out"
[ "$(grep -c 'migrate_smp: ok' <<<"$out")" = 2 ] || t_fail "two VMs: not both passed: $out"
t_json "$T/two.json" '(.vms | length) == 2 and all(.vms[]; .exit_status == 0) and ([.vms[].node] | sort) == [0, 1]' \
  || t_fail "two VMs: report $(jq -c '[.vms[] | {name, node, exit_status}]' "$T/two.json")"
echo "ok: two spanning VMs on the same nodes (homes 0 and 1) keep to their own memory"

# every placement gives the same checked result; fixed keeps every page at home
for pl in round-robin fixed interleave block; do
  printf '[machine]\nnodes = 4\nmem = 128M\ntimeout = 60s\n[policy]\npolicy = off\n[vm t]\ncpus = 4\nmem = 32M\nnodes = 0-3\nplacement = %s\nkernel = %s\n' \
    "$pl" "$G/migrate_smp.elf" > "$T/pl.ini"
  out=$(timeout 120 "$DISCO" run --quiet --report "$T/pl.json" "$T/pl.ini" 2>&1) && grep -q "migrate_smp: ok" <<<"$out" \
    || t_fail "placement = $pl: $out"
  [ $pl != fixed ] || t_json "$T/pl.json" 'all(.vms[0].parts[1:][]; .span.pages_here == 0)' \
    || t_fail "placement = fixed put pages off the home: $(jq -c '[.vms[0].parts[].span.pages_here]' "$T/pl.json")"
  echo "ok: placement = $pl"
done

# replication: read-shared pages get a read-only copy on each reader, and a write collapses them
# first (replicate_smp checks that no hart ever reads a value older than the last write phase)
for cfg in "shm 2" "tcp 2"; do
  set -- $cfg
  printf '[machine]\nnodes = %s\nmem = 128M\nrcache = 64K\ntimeout = 60s\n[policy]\npolicy = replicate\ntrigger = 32\ninterval = 1ms\nreset = 50ms\n[vm t]\ncpus = 4\nmem = 32M\nnodes = 0-%s\nkernel = %s\n' \
    "$2" "$(($2 - 1))" "$G/replicate_smp.elf" > "$T/rep.ini"
  out=$(timeout 120 "$DISCO" run --quiet --provider "$1" --report "$T/rep.json" "$T/rep.ini" 2>&1)
  rc=$?
  [ $rc = 0 ] && grep -q "replicate_smp: ok" <<<"$out" || t_fail "replicate_smp on $2 nodes ($1): exit $rc: $out"
  t_json "$T/rep.json" '.vms[0].replications > 0 and .vms[0].collapses > 0 and .vms[0].migrations == 0' \
    || t_fail "replicate_smp on $2 nodes ($1): $(jq -c '.vms[0] | {replications, collapses, migrations}' "$T/rep.json")"
  t_json "$T/rep.json" 'all(.vms[0].parts[]; .span.dropped == 0)' || t_fail "replicate_smp ($1): messages dropped"
  echo "ok: replicate_smp on $2 nodes ($1): $(jq '.vms[0].replications' "$T/rep.json") replicas made, $(jq '.vms[0].collapses' "$T/rep.json") collapses, no stale read"
done
