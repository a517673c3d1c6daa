#!/usr/bin/env bash
# Two VMs on one subnet, each on its own node (real ranks under mpirun,
# loopback): a windowed stream of 1400-byte datagrams and one of 64 KiB
# frames (split into fabric messages and reassembled) arrive with none
# lost while the queues have room, their payload pages remapped into the
# receiver rather than copied (across nodes and on one); a burst into a server that does not read
# overflows the switch queue, and the drops are counted at its port; the
# report carries per-NIC and per-port counters that agree with the guests;
# the key-value workload (guest/workloads/kv.c) runs across the two nodes.
. "$(dirname "$0")/lib/common.bash"

elf="$DISCO_BUILD/guest/net_ping.elf"
[ -f "$elf" ] || t_skip "guest images not built (DISCO_GUESTS=OFF)"

# desc FILE CLIENT_ARGS [MACHINE KEYS] [SERVER_ARGS]
desc() {
  printf '[machine]\nnodes = 2\nmem = 256M\ntimeout = 60s\nreport = %s.json\n%b\n' "$1" "${3:-}" > "$1"
  printf '[vm srv]\nnodes = 0\nkernel = %s\nappend = server=1 %s\nnet = lan\n' "$elf" "${4:-}" >> "$1"
  printf '[vm cli]\nnodes = 1\nkernel = %s\nappend = %s\nnet = lan\n' "$elf" "$2" >> "$1"
}
run() {   # run FILE: both VMs must power off with 0
  t_mpirun 120 -np 2 "$NODE" "$1" > "$1.out" 2>&1 || t_fail "$1: exit $?: $(tail -20 "$1.out")"
  t_json "$1.json" '.status == "completed" and ([.vms[].exit_status] | all(. == 0))' ||
    t_fail "$1: a VM failed: $(jq -c '[.vms[] | {name, exit_status}]' "$1.json")"
}
port() {  # port FILE VM: that VM's switch port on its node
  jq -c --arg vm "$2" '[.nodes[].net[].ports[] | select(.kind == "nic" and .name == $vm)][0]' "$1.json"
}

# 1. 3000 datagrams of 1400 bytes, at most 8 unacknowledged: none lost
desc "$T/s.ini" "mode=1 n=3000 size=1400 win=8"
run "$T/s.ini"
grep -q "NET stream size=1400 n=3000" "$T/s.ini.out" || t_fail "no stream line: $(cat "$T/s.ini.out")"
srv=$(port "$T/s.ini" srv)
t_json "$T/s.ini.json" '[.nodes[].net[].ports[].drops[]] | add == 0' || t_fail "drops in a stream with room: $(jq -c '.nodes[].net' "$T/s.ini.json")"
jq -e '.out_frames >= 3000 and .in_frames >= 3000' <<<"$srv" >/dev/null || t_fail "server port counters: $srv"
t_json "$T/s.ini.json" '[.nodes[] | select(.node == 1) | .net[].ports[] | select(.kind == "node" and .node == 0)][0].out_frames >= 3000' ||
  t_fail "node 1's port toward node 0 did not carry the stream: $(jq -c '.nodes[].net' "$T/s.ini.json")"
t_json "$T/s.ini.json" '[.vms[] | select(.name == "cli")][0].nic.tx_frames >= 3000' || t_fail "client NIC counters"
echo "ok: 3000 datagrams of 1400 bytes across two nodes, none lost"

# 2. 64 KiB frames: 17 fabric messages each, reassembled
desc "$T/j.ini" "mode=1 n=150 size=65500 win=4" "net_mtu = 65535"
run "$T/j.ini"
grep -q "NET stream size=65500 n=150" "$T/j.ini.out" || t_fail "no jumbo stream line: $(cat "$T/j.ini.out")"
t_json "$T/j.ini.json" '[.nodes[].net[].ports[].drops[]] | add == 0' || t_fail "drops with 64 KiB frames"
t_json "$T/j.ini.json" '[.vms[] | select(.name == "srv")][0].nic.rx_bytes >= 150 * 65500' || t_fail "server did not receive the jumbo bytes"
# the payload's 15 whole pages per frame were mapped into the server, not copied (the page phase crossed the fabric)
t_json "$T/j.ini.json" '[.vms[] | select(.name == "srv")][0].nic.bytes_remapped >= 150 * 15 * 4096' ||
  t_fail "jumbo payload pages were not remapped: $(jq -c '[.vms[] | .nic]' "$T/j.ini.json")"
t_json "$T/j.ini.json" '([.nodes[].net[].ports[] | select(.name == "srv")][0].bytes_remapped) >= 150 * 15 * 4096' ||
  t_fail "the server's switch port does not count the remapped bytes"
echo "ok: 150 frames of 64 KiB across two nodes, none lost, $(jq '[.vms[] | select(.name == "srv")][0].nic.bytes_remapped' "$T/j.ini.json") bytes remapped"

# 2b. the same on one node: sender and receiver share it
desc "$T/o.ini" "mode=1 n=100 size=65500 win=4" "net_mtu = 65535"
sed -i '/^\[vm cli\]/,$ s/^nodes = 1$/nodes = 0/' "$T/o.ini"
run "$T/o.ini"
t_json "$T/o.ini.json" '[.vms[] | select(.name == "srv")][0].nic.bytes_remapped >= 100 * 15 * 4096' ||
  t_fail "one node: jumbo payload pages were not remapped: $(jq -c '[.vms[] | .nic]' "$T/o.ini.json")"
echo "ok: one node, 100 frames of 64 KiB, $(jq '[.vms[] | select(.name == "srv")][0].nic.bytes_remapped' "$T/o.ini.json") bytes remapped"

# 3. a burst of 400 into a server that stalls 300 ms: the queue (16) overflows, drops are counted
desc "$T/b.ini" "mode=2 n=400 size=1000" "net_queue = 16" "stall=300"
run "$T/b.ini"
line=$(grep -o "NET burst sent=400 received=[0-9]*" "$T/b.ini.out") || t_fail "no burst line: $(cat "$T/b.ini.out")"
got=${line##*=}
[ "$got" -ge 16 ] && [ "$got" -lt 400 ] || t_fail "burst: $got of 400 arrived (expected some, not all)"
srv=$(port "$T/b.ini" srv)
jq -e --argjson lost $((400 - got)) '.drops.queue_full >= $lost' <<<"$srv" >/dev/null ||
  t_fail "burst: $((400 - got)) datagrams lost but the port counted fewer tail drops: $srv"
echo "ok: burst of 400, $got arrived, $(jq .drops.queue_full <<<"$srv") tail drops counted at the server's port"

# 4. the key-value workload across the two nodes: 300 puts, 301 gets, every value checked
kv="$DISCO_BUILD/guest/kv.elf"
printf '[machine]\nnodes = 2\nmem = 256M\ntimeout = 60s\nreport = %s.json\n' "$T/kv.ini" > "$T/kv.ini"
printf '[vm srv]\nnodes = 0\nkernel = %s\nappend = server=1\nnet = kvnet\n' "$kv" >> "$T/kv.ini"
printf '[vm cli]\nnodes = 1\nkernel = %s\nappend = n=300 vlen=100\nnet = kvnet\n' "$kv" >> "$T/kv.ini"
run "$T/kv.ini"
grep -q "KV puts=300 gets=301" "$T/kv.ini.out" || t_fail "kv: $(cat "$T/kv.ini.out")"
echo "ok: key-value client and server on two nodes: $(grep -o 'KV .*' "$T/kv.ini.out")"
