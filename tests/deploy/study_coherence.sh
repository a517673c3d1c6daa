#!/usr/bin/env bash
# `disco study` rows carry the coherence figures of the run report, so that
# the scaling study's "share of remote misses" is the machine's own figure:
#  1. a real 2-node run's report has nodes[].coherence with the keys the
#     study reads (local_misses, remote_misses, two_hop, three_hop,
#     remote_miss_latency.{count,p50_us,p99_us}; docs/coherence.md);
#  2. the built-in scaling study (ocean, 1 and 2 nodes), run through a
#     stand-in mpirun that writes reports with random coherence figures:
#     every results.csv row holds the sums over the nodes of its own report
#     (computed here with jq), the local miss share, the count-weighted p50
#     and the worst p99; plot.dat's remote share is 1 - local share.
. "$(dirname "$0")/../mpi/lib/common.bash"

# 1. the real report's keys
t_bare 2 "$T/m2.ini"
timeout 60 "$DISCO" run --quiet --report "$T/real.json" "$T/m2.ini" > "$T/real.out" 2>&1 \
  || t_fail "a bare 2-node machine failed: $(cat "$T/real.out")"
t_json "$T/real.json" '.node_count == 2 and all(.nodes[]; .coherence | type == "object"
    and ([.local_misses, .remote_misses, .two_hop, .three_hop,
          .remote_miss_latency.count, .remote_miss_latency.p50_us, .remote_miss_latency.p99_us]
         | all(type == "number")))' \
  || t_fail "the report's nodes[].coherence lacks a key the study reads: $(jq -c '.nodes[0].coherence' "$T/real.json")"
echo "ok: a real report has every coherence key the study reads"

# 2. the scaling study over reports with coherence figures
cat > "$T/fake-mpirun" <<'EOT'
#!/usr/bin/env bash
np=1
while [ $# -gt 0 ]; do
  case $1 in -np) np=$2 ;; --report) rep=$2 ;; esac
  shift
done
echo "WORKLOAD name=ocean harts=2 size=32 steps=4 ticks=$((4000000 / np)) instret=1 checksum=0xabc result=ok"
nodes=""
for ((i = 0; i < np; i++)); do
  lm=$((RANDOM % 1000 + 1)) rm=$((RANDOM % 1000)) h3=$((RANDOM % 100))
  if [ $((RANDOM % 4)) = 0 ]; then cnt=0 p50=0 p99=0; else cnt=$((RANDOM % 500 + 1)) p50=$((RANDOM % 40 + 5)).5 p99=$((RANDOM % 400 + 50)).25; fi
  nodes+="${nodes:+,}{\"node\": $i, \"host\": \"h\", \"coherence\": {\"local_misses\": $lm, \"remote_misses\": $rm,
    \"two_hop\": $((rm - h3 > 0 ? rm - h3 : 0)), \"three_hop\": $h3,
    \"remote_miss_latency\": {\"count\": $cnt, \"p50_us\": $p50, \"p99_us\": $p99, \"max_us\": 999, \"mean_us\": 1}}}"
done
cat > "$rep" <<EOJ
{"schema": 1, "status": "completed", "wall_s": 0.5, "provider": "shm", "node_count": $np, "hosts": ["h"],
 "nodes": [$nodes],
 "vms": [{"name": "ocean", "exit_status": 0, "runtime_s": $(awk -v n="$np" 'BEGIN { printf "%.3f", 2 / n }'), "instructions": 1000000, "mips": 1}]}
EOJ
EOT
chmod +x "$T/fake-mpirun"
DISCO_MPIRUN="$T/fake-mpirun" timeout 60 "$DISCO" study scaling --workload ocean --max-nodes 2 --repeat 2 \
  --no-progress --out "$T/s" > "$T/s.out" 2>&1 || t_fail "the scaling study failed: $(cat "$T/s.out")"
csv="$T/s/results.csv"
[ -f "$csv" ] || t_fail "no results.csv"
# results.csv as JSON objects by column name (no field here holds a comma)
jq -R -s 'split("\n") | map(select(length > 0) | split(",")) | .[0] as $h
          | .[1:] | map([$h, .] | transpose | map({(.[0]): .[1]}) | add)' "$csv" > "$T/rows.json"
t_json "$T/rows.json" 'length == 4 and all(.[]; .status == "ok")' || t_fail "expected 4 ok runs: $(cat "$csv")"
n=0
while read -r rep; do
  row=$(jq -c --arg r "$rep" '.[] | select(.report == $r)' "$T/rows.json")
  want=$(jq -c '[.nodes[].coherence] as $c
    | ($c | map(.local_misses) | add) as $lm | ($c | map(.remote_misses) | add) as $rm
    | ($c | map(.remote_miss_latency | select(.count > 0))) as $lat
    | {local_misses: $lm, remote_misses: $rm, share: ($lm / ($lm + $rm)),
       two_hop: ($c | map(.two_hop) | add), three_hop: ($c | map(.three_hop) | add),
       p50: (if ($lat | length) > 0 then ($lat | map(.count * .p50_us) | add) / ($lat | map(.count) | add) else null end),
       p99: (if ($lat | length) > 0 then ($lat | map(.p99_us) | max) else null end)}' "$T/s/$rep")
  jq -e -n --argjson row "$row" --argjson w "$want" '
    def num: if . == "" then null else tonumber end;
    def near($a; $b): ($a == null and $b == null) or ($a != null and $b != null and (($a - $b) | fabs) < 0.001 * (1 + ($b | fabs)));
    ($row.local_misses | num) == $w.local_misses and ($row.remote_misses | num) == $w.remote_misses
    and ($row.two_hop | num) == $w.two_hop and ($row.three_hop | num) == $w.three_hop
    and near($row.local_miss_share | num; $w.share)
    and near($row.remote_miss_p50_us | num; $w.p50) and near($row.remote_miss_p99_us | num; $w.p99)' >/dev/null \
    || t_fail "row of $rep does not hold its report's coherence figures: row $row, from the report $want"
  n=$((n + 1))
done < <(jq -r '.[].report' "$T/rows.json")
[ $n = 4 ] || t_fail "checked $n rows, not 4"
echo "ok: 4 rows of the scaling study hold their reports' miss counts, hops, share and latency percentiles"

# plot.dat: the remote share the scaling plot draws is 1 - the local share of the medians
[ -f "$T/s/plot.dat" ] || t_fail "no plot.dat"
med="$T/s/medians.csv"
while read -r nodes share; do
  ls=$(jq -R -s --arg n "$nodes" 'split("\n") | map(select(length > 0) | split(",")) | .[0] as $h
        | (.[1:] | map([$h, .] | transpose | map({(.[0]): .[1]}) | add) | map(select(.nodes == $n)) | .[0].local_miss_share)' "$med")
  jq -e -n --argjson s "$share" --argjson l "$ls" '(($l | tonumber) > 0) and ((1 - ($l | tonumber) - $s) | fabs) < 0.0002' >/dev/null \
    || t_fail "plot.dat remote share $share at $nodes nodes is not 1 - the median local share $ls"
done < <(awk '!/^#/ && NF >= 4 { print $1, $4 }' "$T/s/plot.dat")
grep -q 'No plot of the local/remote miss shares' "$T/s/summary.md" \
  && t_fail "summary.md says there is no miss-share plot although the reports count misses"
echo "study_coherence: ok"
