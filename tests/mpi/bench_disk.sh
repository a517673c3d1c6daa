#!/usr/bin/env bash
# `disco bench disk --json` measures what it says, under the documented keys
# (docs/disk.md, "Benchmark"): vdisk's IOPS for the four patterns, fio's and
# the ratio when fio is installed; the memory figures show the global disk
# cache holding one copy of blocks that several VMs read (one node, VMs on
# two nodes, disk_cache = machine) and one per node with the default on
# VMs of different nodes; the streaming figure (a guest reading its disk
# with the cache off and on) comes with its ratio. Bad options are refused.
. "$(dirname "$0")/lib/common.bash"
[ -f "$DISCO_BUILD/guest/disk_sum.elf" ] && [ -f "$DISCO_BUILD/guest/disk_share.elf" ] || t_skip "guest images not built"
vms=3
timeout 170 "$DISCO" bench disk --json --seconds 0.1 --size 4 --vms $vms --dir "$T" > "$T/b.json" 2> "$T/err" ||
  t_fail "bench disk failed: $(cat "$T/err")"
B=$T/b.json
t_json "$B" '[.patterns | keys[]] == ["randread", "randwrite", "seqread", "seqwrite"] and all(.patterns[]; .vdisk_iops > 0)' ||
  t_fail "vdisk's IOPS missing: $(jq -c .patterns "$B")"
if t_json "$B" '.fio'; then
  t_json "$B" 'all(.patterns[]; .fio_iops > 0 and ((.ratio - .vdisk_iops / .fio_iops) | fabs) < 1e-6)' ||
    t_fail "fio was run, but its figures or the ratios are wrong: $(jq -c .patterns "$B")"
else
  t_json "$B" 'all(.patterns[]; .fio_iops == null and .ratio == null)' || t_fail "no fio, yet fio figures: $(jq -c .patterns "$B")"
fi
# one copy of the 8 blocks wherever the VMs run, but one per node with disk_cache = on
for k in memory memory_span memory_machine; do
  t_json "$B" ".$k.cache_pages == 8 and .$k.pages_without_sharing == 8 * $vms and .$k.memory_saved_bytes == 8 * ($vms - 1) * 4096" ||
    t_fail "$k: one copy of 8 blocks expected for $vms VMs: $(jq -c ".$k" "$B")"
done
t_json "$B" '.memory_per_node.cache_pages == 16' || t_fail "memory_per_node: one copy per node expected: $(jq -c .memory_per_node "$B")"
t_json "$B" '.stream.bytes == 4 * 1048576 and .stream.request_kib == 64 and .stream.off_mbps > 0 and .stream.on_mbps > 0 and
  ((.stream.ratio - .stream.on_mbps / .stream.off_mbps) | fabs) < 1e-6' || t_fail "the streaming figure: $(jq -c .stream "$B")"
ls "$T" | grep -q disco-bench && t_fail "files left behind: $(ls "$T")"
for bad in "--stream-kib 6" "--vms 0" "--size 0" "--bogus"; do
  # shellcheck disable=SC2086
  "$DISCO" bench disk $bad > "$T/out" 2>&1 && t_fail "bench disk $bad was accepted"
  grep -q "disco bench disk" "$T/out" || t_fail "bench disk $bad: no message: $(cat "$T/out")"
done
echo "ok: $(jq -c '{randread: .patterns.randread.ratio, memory: .memory.cache_pages, per_node: .memory_per_node.cache_pages, stream: .stream.ratio}' "$B")"
