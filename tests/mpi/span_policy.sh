#!/usr/bin/env bash
# The NUMA policy on VMs whose harts run on several nodes (docs/coherence.md,
# "Page migration and replication"): pages migrate and are replicated and
# collapsed under harts on 2 and 4 nodes, over shm and tcp, and the guest
# programs check that no value is lost or read stale; policy = off moves
# nothing; the report's heat maps are drawn.
. "$(dirname "$0")/lib/common.bash"
. "$(dirname "$0")/lib/span.bash"

# the NUMA policy moves pages while harts on several nodes read and write them
# (migrate_smp checks every word and that none is seen going backwards)
policy_run() {  # NAME PROVIDER NODES POLICY
  machine "$T/$1.ini" "$3" "0-$(($3 - 1))" 4 "$G/migrate_smp.elf" 'rcache = 64K\n' \
    "policy = $4\ntrigger = 32\ninterval = 1ms\nreset = 50ms\n"
  go "$1" "$2"
  [ $rc = 0 ] && grep -q "migrate_smp: ok" <<<"$out" || t_fail "migrate_smp on $3 nodes ($2, policy $4): exit $rc: $out"
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
# the hottest pages, most misses first, each with one count per node
t_json "$R" '.vms[0].hot_pages | length > 0 and length <= 8 and all(.[]; (.misses | length) == 4)
  and ([.[].misses | add] | . == (sort | reverse))' || t_fail "hot_pages: $(jq -c '.vms[0].hot_pages' "$R")"
if command -v gnuplot >/dev/null; then
  "$DISCO" report "$R" --heatmap "$T/heat.png" >/dev/null || t_fail "disco report --heatmap failed"
  [ -s "$T/heat.png" ] && grep -q "index 1" "$T/heat.png.gp" || t_fail "no two-panel heat map"
  echo "ok: heat map of misses by page and node, before and after"
fi

# replication: read-shared pages get a read-only copy on each reader, and a write collapses them
# first (replicate_smp checks that no hart ever reads a value older than the last write phase)
for cfg in "shm 2" "tcp 2"; do
  set -- $cfg
  machine "$T/rep.ini" "$2" "0-$(($2 - 1))" 4 "$G/replicate_smp.elf" 'rcache = 64K\n' \
    'policy = replicate\ntrigger = 16\nwrite_share = 64\ninterval = 1ms\nreset = 20ms\n'
  go rep "$1"
  [ $rc = 0 ] && grep -q "replicate_smp: ok" <<<"$out" || t_fail "replicate_smp on $2 nodes ($1): exit $rc: $out"
  t_json "$T/rep.json" '.vms[0].replications > 0 and .vms[0].collapses > 0 and .vms[0].migrations == 0' \
    || t_fail "replicate_smp on $2 nodes ($1): $(jq -c '.vms[0] | {replications, collapses, migrations}' "$T/rep.json")"
  t_json "$T/rep.json" 'all(.vms[0].parts[]; .span.dropped == 0)' || t_fail "replicate_smp ($1): messages dropped"
  echo "ok: replicate_smp on $2 nodes ($1): $(jq '.vms[0].replications' "$T/rep.json") replicas made, $(jq '.vms[0].collapses' "$T/rep.json") collapses, no stale read"
done
