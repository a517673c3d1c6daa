#!/usr/bin/env bash
# `disco study`: a tiny study file (ocean at a small size on 1 and 2 nodes)
# writes one CSV row per run with the documented columns, summary.md (with
# the environment every figure ran with) and the plots; run again, it runs
# nothing; with a row removed, it runs only that point. The built-in policy
# study's --json rows carry the documented keys (null where not measured).
. "$(dirname "$0")/lib/common.bash"
[ -f "$DISCO_BUILD/guest/ocean.elf" ] || t_skip "guest images not built"
S="$T/s"
cat > "$T/tiny.ini" <<EOT
[study]
name = tiny
workloads = ocean
nodes = 1,2
args = n=32 steps=4
timeout = 20s
out = $S
EOT
timeout 60 "$DISCO" study --no-progress "$T/tiny.ini" > "$T/out1" 2> "$T/err1" || t_fail "study failed: $(cat "$T/err1" "$T/out1")"
csv="$S/results.csv"
[ -f "$csv" ] || t_fail "no results.csv"
[ "$(wc -l < "$csv")" = 3 ] || t_fail "results.csv should have a header and 2 rows: $(cat "$csv")"
head -1 "$csv" | grep -q '^workload,nodes,cpus,line,rcache,provider,policy,args,repeat,status,' || t_fail "header: $(head -1 "$csv")"
for c in runtime_s instructions mips wall_s provider_used hosts host_cores ranks_per_host oversubscribed local_miss_share remote_stall_s started; do
  head -1 "$csv" | tr ',' '\n' | grep -qx "$c" || t_fail "results.csv has no column $c"
done
# columns by name (args has a blank but no comma here)
col() { head -1 "$csv" | tr ',' '\n' | grep -nx "$1" | cut -d: -f1; }
rows=$(tail -n +2 "$csv")
[ "$(echo "$rows" | cut -d, -f"$(col status)" | sort -u)" = ok ] || t_fail "a run failed: $rows"
[ "$(echo "$rows" | cut -d, -f"$(col nodes)" | tr '\n' ' ')" = "1 2 " ] || t_fail "nodes column: $rows"
[ "$(echo "$rows" | cut -d, -f"$(col hosts)" | sort -u)" = 1 ] || t_fail "hosts column: $rows"
echo "$rows" | cut -d, -f"$(col oversubscribed)" | grep -qvx 'yes\|no' && t_fail "oversubscribed column: $rows"
echo "$rows" | cut -d, -f"$(col runtime_s)" | awk '!($1 > 0) { exit 1 }' || t_fail "runtime_s not positive: $rows"
echo "$rows" | cut -d, -f"$(col instructions)" | awk '!($1 > 100000) { exit 1 }' || t_fail "instructions: $rows"
grep -q '^| ocean | 2 | 2 | 1 |' "$S/summary.md" || t_fail "summary.md has no median row for 2 nodes: $(cat "$S/summary.md")"
grep -q 'Environment.*1 host.*provider shm.*oversubscribed' "$S/summary.md" || t_fail "summary.md does not state the environment"
# the 2-node run spreads ocean's harts over both nodes: its misses cross the fabric, and the summary
# does not claim otherwise
share2=$(echo "$rows" | awk -F, -v n="$(col nodes)" -v s="$(col local_miss_share)" '$n == 2 { print $s }')
awk -v s="$share2" 'BEGIN { exit !(s != "" && s < 1) }' || t_fail "2 nodes: local_miss_share is '$share2', no remote miss: $rows"
grep -q 'runs whole on the first node' "$S/summary.md" && t_fail "summary.md says VMs run on one node, but the 2-node run had remote misses"
[ -f "$S/medians.csv" ] && [ -f "$S/plots.gp" ] || t_fail "no medians.csv or plots.gp"
if command -v gnuplot >/dev/null; then
  for p in runtime.png runtime.svg speedup.png speedup.svg; do [ -s "$S/$p" ] || t_fail "no plot $p"; done
else
  echo "gnuplot is not installed: plot files not checked"
fi

# again: everything is there, nothing runs, the CSV is unchanged
cp "$csv" "$T/before.csv"
m1=$(stat -c %y "$S"/reports/*-n1-*.json)
timeout 60 "$DISCO" study --no-progress "$T/tiny.ini" > "$T/out2" 2> "$T/err2" || t_fail "second study failed: $(cat "$T/err2")"
grep -q '2 runs (2 already in' "$T/err2" || t_fail "the second study did not see the finished runs: $(cat "$T/err2")"
cmp -s "$csv" "$T/before.csv" || t_fail "results.csv changed although nothing had to run"

# interrupted after the first point: only the second runs again
head -2 "$T/before.csv" > "$csv"
timeout 60 "$DISCO" study --no-progress "$T/tiny.ini" > "$T/out3" 2> "$T/err3" || t_fail "resumed study failed: $(cat "$T/err3")"
grep -q '2 runs (1 already in' "$T/err3" || t_fail "resume: $(cat "$T/err3")"
[ "$(wc -l < "$csv")" = 3 ] || t_fail "resumed results.csv: $(cat "$csv")"
[ "$(sed -n 2p "$csv")" = "$(sed -n 2p "$T/before.csv")" ] || t_fail "the finished point was run again"
[ "$(stat -c %y "$S"/reports/*-n1-*.json)" = "$m1" ] || t_fail "the finished point's report was rewritten"
tail -1 "$csv" | grep -q '^ocean,2,2,.*,ok,' || t_fail "the missing point was not run: $(cat "$csv")"

# the policy study, tiny and on shm: the documented JSON rows
timeout 60 "$DISCO" study policy --no-progress --provider shm --timeout 20s --args "n=32 steps=4" --out "$T/p" --json > "$T/p.json" 2> "$T/perr" \
  || t_fail "policy study failed: $(cat "$T/perr")"
t_json "$T/p.json" 'length == 4 and ([.[].policy] == ["off","migrate","replicate","both"])
  and all(.[]; has("workload") and (.runtime_s > 0) and has("local_miss_share") and has("remote_stall_s")
                and (.oversubscribed | type) == "boolean")' || t_fail "policy --json: $(cat "$T/p.json")"
# the summary says when the policy moved nothing, and not when it did
mcol=$(head -1 "$T/p/results.csv" | tr ',' '\n' | grep -nx migrations | cut -d: -f1)
rcol=$(head -1 "$T/p/results.csv" | tr ',' '\n' | grep -nx replications | cut -d: -f1)
if [ "$(tail -n +2 "$T/p/results.csv" | cut -d, -f"$mcol,$rcol" | tr ',' ' ' | awk '{ s += $1 + $2 } END { print s + 0 }')" = 0 ]; then
  grep -q 'policy.*varies.*no run moved' "$T/p/summary.md" || t_fail "policy summary.md does not say that nothing moved"
else
  grep -q 'no run moved' "$T/p/summary.md" && t_fail "policy summary.md says nothing moved, but pages moved"
fi

# the figures the coherence layer and the monitor will add, from a stand-in
# mpirun that writes such a report: miss counts, share, stall, compute phase
cat > "$T/fake-mpirun" <<'EOT'
#!/usr/bin/env bash
while [ $# -gt 0 ]; do [ "$1" = --report ] && rep=$2; shift; done
echo "WORKLOAD name=ocean harts=2 size=32 steps=4 ticks=5000000 instret=1 checksum=0xabc result=ok"
cat > "$rep" <<EOJ
{"schema": 1, "status": "completed", "wall_s": 0.5, "provider": "tcp;ofi_rxm", "node_count": 2, "hosts": ["a", "b"],
 "nodes": [{"node": 0, "host": "a", "coherence": {"local_misses": 30, "remote_misses": 10, "remote_stall_s": 0.25}},
           {"node": 1, "host": "b", "coherence": {"local_misses": 10, "remote_misses": 50}}],
 "vms": [{"name": "ocean", "exit_status": 0, "runtime_s": 1.5, "instructions": 1000000, "mips": 0.67, "migrations": 3,
          "phases": [{"phase": 1, "t_s": 0.1}, {"phase": 2, "t_s": 0.2}, {"phase": 3, "t_s": 1.2}]}]}
EOJ
EOT
chmod +x "$T/fake-mpirun"
printf '[study]\nworkloads = ocean\nnodes = 2\npolicies = off,both\nout = %s\n' "$T/f" > "$T/fake.ini"
DISCO_MPIRUN="$T/fake-mpirun" timeout 30 "$DISCO" study --no-progress --json "$T/fake.ini" > "$T/f.json" 2> "$T/ferr" \
  || t_fail "study with coherence figures failed: $(cat "$T/ferr")"
t_json "$T/f.json" 'length == 2 and all(.[]; .local_miss_share == 0.4 and .remote_stall_s == 0.25 and .compute_s == 1
  and .parallel_s == 0.5 and .ranks_per_host == 1 and .hosts == "a;b")' || t_fail "coherence figures: $(cat "$T/f.json")"
fcsv="$T/f/results.csv"
fcol() { head -1 "$fcsv" | tr ',' '\n' | grep -nx "$1" | cut -d: -f1; }
[ "$(sed -n 2p "$fcsv" | cut -d, -f"$(fcol local_misses)")/$(sed -n 2p "$fcsv" | cut -d, -f"$(fcol remote_misses)")/$(sed -n 2p "$fcsv" | cut -d, -f"$(fcol hosts)")" = "40/60/2" ] \
  || t_fail "miss counts in results.csv: $(cat "$fcsv")"
grep -q '2 hosts (a,b)' "$T/f/summary.md" || t_fail "summary.md does not name the hosts: $(grep Environment "$T/f/summary.md")"
if command -v gnuplot >/dev/null; then [ -s "$T/f/misses.png" ] || t_fail "no misses.png"; fi
grep -q 'runs whole on the first node\|policy.*varies, but' "$T/f/summary.md" \
  && t_fail "summary.md says misses and moves are missing although the reports have them"

# a bad study file: one message naming the line
printf '[study]\nnodes = 1\nnodez = 2\n' > "$T/bad.ini"
"$DISCO" study "$T/bad.ini" 2> "$T/bad.err" && t_fail "a bad study file was accepted"
grep -q 'bad.ini:3: \[study\] nodez = 2: unknown key' "$T/bad.err" || t_fail "bad study file message: $(cat "$T/bad.err")"
echo "study: ok ($(tail -n +2 "$csv" | wc -l) runs, resumed without re-running)"
