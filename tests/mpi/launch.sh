#!/usr/bin/env bash
# 1, 2 and 4 nodes start on shm and on tcp (loopback), every node reaches
# every other (pings, timed round trips, an RMA read), and the run report
# lists every node with the provider that carried the traffic.
. "$(dirname "$0")/lib/common.bash"

for prov in shm tcp; do
  for n in 1 2 4; do
    t_bare "$n" "$T/m$n.ini"
    out=$(timeout 90 "$DISCO" run --quiet --provider "$prov" --report "$T/r.json" "$T/m$n.ini" 2>&1)
    rc=$?
    [ $rc = 0 ] || t_fail "$prov, $n nodes: disco run exited $rc: $out"
    t_json "$T/r.json" ".status == \"completed\" and .node_count == $n and (.nodes | length) == $n" \
      || t_fail "$prov, $n nodes: report does not list $n nodes of a completed run"
    want=$([ $prov = shm ] && echo shm || echo "tcp;ofi_rxm")
    t_json "$T/r.json" ".provider == \"$want\"" || t_fail "$prov, $n nodes: provider is $(jq -r .provider "$T/r.json")"
    t_json "$T/r.json" '[.nodes[].node] == [range(0; .node_count)]' || t_fail "$prov: nodes out of order or missing"
    if [ $n -gt 1 ]; then
      # each node pinged every peer once and its successor 32 times, and answered the same
      t_json "$T/r.json" "all(.nodes[]; .msgs_recv >= ($n - 1) + 32 and .rma_reads == 1 and .fabric_rtt_us.min > 0)" \
        || t_fail "$prov, $n nodes: a node did not complete its fabric checks"
      t_json "$T/r.json" 'all(.nodes[]; .dropped_bad_key == 0 and .dropped_malformed == 0)' \
        || t_fail "$prov, $n nodes: messages were dropped"
    fi
    echo "ok: $prov, $n nodes"
  done
done
