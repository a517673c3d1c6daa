#!/usr/bin/env bash
# The global disk cache (docs/disk.md) through disco run: three VMs on one
# node read the same 8 blocks of one base image (tests/guest/disk_share.c:
# one 32 KiB read into whole, page-aligned guest pages) and hold one copy
# of them; the VM that then stores into one of those pages gets its own
# copy of that page alone. The report's figures say so: 8 cache pages,
# (3 x 8 - 1 - 8) pages saved. Then the same with two of the VMs spanning
# nodes 0 and 1: node 0's cache pages are mapped into them and read from
# node 1 through the coherence engine, one copy in the machine. Then, with
# [machine] disk_cache = machine, VMs on one node each of nodes 0 and 1 map
# one copy too, and a read that finds only some of its blocks in caches
# reads only the others from the disk.
. "$(dirname "$0")/lib/common.bash"

elf="$DISCO_BUILD/guest/disk_share.elf"
img="$DISCO_BUILD/guest/disk-pattern.img"
[ -f "$elf" ] && [ -f "$img" ] || t_skip "guest images not built (DISCO_GUESTS=OFF)"
cp "$img" "$T/base.img"
page=4096

# machine NAME NODES [KEYS]: [machine] of $T/NAME.ini (report $T/NAME.json; KEYS: more lines, as printf %b reads them)
machine() { printf '[machine]\nnodes = %s\nmem = 128M\ntimeout = 60s\nreport = %s\n%b' "$2" "$T/$1.json" "${3:-}" > "$T/$1.ini"; }
# vm NAME VM [KEYS]: a VM of guest:disk_share over the test's base, with a temporary overlay
vm() {
  printf '[vm %s]\nmem = 16M\nkernel = %s\ndisk = %s\ndisk_overlay = temp\n%b' "$2" "$elf" "$T/base.img" "${3:-}" >> "$T/$1.ini"
}
# go NAME WHAT: disco run $T/NAME.ini; its three VMs must pass and the base stay as it was; R: the report
go() {
  timeout 120 "$DISCO" run --quiet "$T/$1.ini" > "$T/out" 2>&1 || t_fail "$2: exit $?: $(cat "$T/out")"
  R=$T/$1.json
  t_json "$R" '[.vms[] | select(.exit_status == 0)] | length == 3' || t_fail "$2: every VM must pass: $(cat "$T/out")"
  [ "$(sha256sum < "$T/base.img")" = "$(sha256sum < "$img")" ] || t_fail "$2: the base was written"
}

machine share 1
vm share v1
vm share v2 'append = write=1\n'
vm share v3
go share "three VMs on one base"
t_json "$R" ".nodes[0].disk.cache_pages == 8" ||
  t_fail "one copy of the 8 blocks expected: $(jq -c '.nodes[0].disk' "$R")"
t_json "$R" ".nodes[0].disk.memory_saved_bytes == (3 * 8 - 1 - 8) * $page" ||
  t_fail "saved memory: want $(( (3 * 8 - 1 - 8) * page )): $(jq -c '.nodes[0].disk' "$R")"
t_json "$R" "[.vms[] | select(.name == \"v2\") | .disk.shared_bytes] == [7 * $page]" ||
  t_fail "the VM that stored must share 7 pages: $(jq -c '[.vms[] | {name, disk}]' "$R")"
t_json "$R" "[.vms[] | select(.name != \"v2\") | .disk.shared_bytes] == [8 * $page, 8 * $page]" ||
  t_fail "the others must share all 8: $(jq -c '[.vms[] | {name, disk}]' "$R")"
echo "ok: 3 VMs hold one copy of 8 blocks ($(jq '.nodes[0].disk.memory_saved_bytes' "$R") bytes saved); a store broke sharing for its VM alone"

# The same across nodes: two of the three VMs run on nodes 0 and 1 (home 0,
# one hart on each node: the guest checks the blocks from both), so node 0's
# cache pages are read from node 1 through the coherence engine; s2's hart on
# node 1 stores into block 3. Still one copy of the 8 blocks in the machine.
# (a policy quick enough that node 1's reads of the cache pages may get them replicas before the store)
machine span 2 '[policy]\ninterval = 1ms\ntrigger = 16\n'
vm span one 'nodes = 0\n'
vm span s1 'cpus = 2\nnodes = 0,1\n'
vm span s2 'cpus = 2\nnodes = 0,1\nappend = write=1\n'
go span "VMs on two nodes"
t_json "$R" "[.nodes[].disk.cache_pages // 0] | add == 8" ||
  t_fail "one copy of the 8 blocks in the machine expected: $(jq -c '[.nodes[].disk]' "$R")"
t_json "$R" ".nodes[0].disk.memory_saved_bytes == (3 * 8 - 1 - 8) * $page" ||
  t_fail "saved memory on two nodes: want $(( (3 * 8 - 1 - 8) * page )): $(jq -c '.nodes[0].disk' "$R")"
t_json "$R" "[.vms[] | select(.name == \"s2\") | .disk.shared_bytes] == [7 * $page]" ||
  t_fail "the spanning VM that stored must share 7 pages: $(jq -c '[.vms[] | {name, disk}]' "$R")"
t_json "$R" "[.vms[] | select(.name != \"s2\") | .disk.shared_bytes] == [8 * $page, 8 * $page]" ||
  t_fail "the others must share all 8 on two nodes: $(jq -c '[.vms[] | {name, disk}]' "$R")"
t_json "$R" 'all(.vms[] | .parts[]?; .span.dropped == 0)' || t_fail "a node dropped messages: $(jq -c '[.vms[] | .parts]' "$R")"
echo "ok: VMs on two nodes share node 0's copy of 8 blocks ($(jq '.nodes[0].disk.memory_saved_bytes' "$R") bytes saved; replicas the policy made of them: $(jq '[.vms[] | .parts[]?.span.policy.replications] | add' "$R"))"

# One copy in the machine for VMs on one node each (disk_cache = machine):
# vm one on node 0 reads the blocks first; two and three on node 1 read
# them later (delay_ms) and map node 0's cache pages, read through the
# coherence engine; three then stores into one (it gets its own copy of
# that page alone). Node 1 reads nothing from the disk.
machine machine 2 'disk_cache = machine\n'
vm machine one 'nodes = 0\n'
vm machine two 'nodes = 1\nappend = delay_ms=500\n'
vm machine three 'nodes = 1\nappend = delay_ms=800 write=1\n'
go machine "disk_cache = machine"
t_json "$R" '[.nodes[].disk.cache_pages] == [8, 0]' ||
  t_fail "one copy of the 8 blocks, on node 0: $(jq -c '[.nodes[].disk]' "$R")"
t_json "$R" '.nodes[1].disk.bytes_read_from_disk == 0 and .nodes[1].disk.cache_pages_mapped_remote == 15' ||
  t_fail "node 1's VMs must map node 0's pages, not read the disk: $(jq -c '.nodes[1].disk' "$R")"
t_json "$R" "([.nodes[].disk.memory_saved_bytes] | add) == (3 * 8 - 1 - 8) * $page" ||
  t_fail "saved memory in the machine: want $(( (3 * 8 - 1 - 8) * page )): $(jq -c '[.nodes[].disk]' "$R")"
t_json "$R" "[.vms[] | .disk.remote_shared_bytes] == [0, 8 * $page, 7 * $page]" ||
  t_fail "two must map 8 pages of node 0, three 7: $(jq -c '[.vms[] | {name, disk}]' "$R")"
t_json "$R" '([.nodes[].disk.cache_msgs_dropped] | add) == 0 and ([.nodes[].disk.cache_lookup_timeouts] | add) == 0' ||
  t_fail "cache messages dropped or lookups unanswered: $(jq -c '[.nodes[].disk]' "$R")"
echo "ok: VMs on one node each hold one copy of 8 blocks in the machine ($(jq '[.nodes[].disk.memory_saved_bytes] | add' "$R") bytes saved)"

# A read that finds only some of its blocks in other nodes' caches maps
# those and reads only the rest from the disk: vm one on node 0 stores into
# block 3 right after its read, so node 0's cache gives that page back; two
# (node 1) then finds 7 blocks on node 0 and reads block 3 alone; three finds
# the 7 on node 0 and block 3 in node 1's cache, and reads nothing.
machine partial 2 'disk_cache = machine\n'
vm partial one 'nodes = 0\nappend = write=1\n'
vm partial two 'nodes = 1\nappend = delay_ms=500\n'
vm partial three 'nodes = 1\nappend = delay_ms=800\n'
go partial "disk_cache = machine, a partial hit"
t_json "$R" "[.nodes[].disk.cache_pages] == [7, 1] and .nodes[1].disk.bytes_read_from_disk == $page" ||
  t_fail "node 1 must read block 3 alone from the disk: $(jq -c '[.nodes[].disk]' "$R")"
t_json "$R" ".nodes[1].disk.cache_pages_mapped_remote == 14 and ([.nodes[].disk.memory_saved_bytes] | add) == (7 + 8 + 8 - 8) * $page" ||
  t_fail "two and three must map node 0's 7 pages each, 15 pages saved: $(jq -c '[.nodes[].disk]' "$R")"
t_json "$R" '[.vms[] | .disk.bytes_from_cache] == [0, 7 * 4096, 8 * 4096]' ||
  t_fail "two must map 7 blocks from caches, three all 8: $(jq -c '[.vms[] | {name, disk}]' "$R")"
echo "ok: a partial hit maps what other nodes hold and reads only the rest ($(jq '.nodes[1].disk.bytes_read_from_disk' "$R") bytes from the disk on node 1)"
