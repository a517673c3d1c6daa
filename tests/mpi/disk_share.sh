#!/usr/bin/env bash
# The global disk cache (docs/disk.md) through disco run: three VMs on one
# node read the same 8 blocks of one base image (tests/guest/disk_share.c:
# one 32 KiB read into whole, page-aligned guest pages) and hold one copy
# of them; the VM that then stores into one of those pages gets its own
# copy of that page alone. The report's figures say so: 8 cache pages,
# (3 x 8 - 1 - 8) pages saved.
. "$(dirname "$0")/lib/common.bash"

elf="$DISCO_BUILD/guest/disk_share.elf"
img="$DISCO_BUILD/guest/disk-pattern.img"
[ -f "$elf" ] && [ -f "$img" ] || t_skip "guest images not built (DISCO_GUESTS=OFF)"
cp "$img" "$T/base.img"

{
  printf '[machine]\nnodes = 1\nmem = 128M\ntimeout = 60s\nreport = %s\n' "$T/report.json"
  for i in 1 2 3; do
    printf '[vm v%s]\nmem = 16M\nkernel = %s\ndisk = %s\ndisk_overlay = temp\n' "$i" "$elf" "$T/base.img"
    [ $i = 2 ] && printf 'append = write=1\n'
  done
} > "$T/share.ini"
timeout 90 "$DISCO" run --quiet "$T/share.ini" > "$T/out" 2>&1 || t_fail "three VMs on one base: exit $?: $(cat "$T/out")"
t_json "$T/report.json" '[.vms[] | select(.exit_status == 0)] | length == 3' || t_fail "every VM must pass: $(cat "$T/out")"
page=4096
t_json "$T/report.json" ".nodes[0].disk.cache_pages == 8" ||
  t_fail "one copy of the 8 blocks expected: $(jq -c '.nodes[0].disk' "$T/report.json")"
t_json "$T/report.json" ".nodes[0].disk.memory_saved_bytes == (3 * 8 - 1 - 8) * $page" ||
  t_fail "saved memory: want $(( (3 * 8 - 1 - 8) * page )): $(jq -c '.nodes[0].disk' "$T/report.json")"
t_json "$T/report.json" "[.vms[] | select(.name == \"v2\") | .disk.shared_bytes] == [7 * $page]" ||
  t_fail "the VM that stored must share 7 pages: $(jq -c '[.vms[] | {name, disk}]' "$T/report.json")"
t_json "$T/report.json" "[.vms[] | select(.name != \"v2\") | .disk.shared_bytes] == [8 * $page, 8 * $page]" ||
  t_fail "the others must share all 8: $(jq -c '[.vms[] | {name, disk}]' "$T/report.json")"
[ "$(sha256sum < "$T/base.img")" = "$(sha256sum < "$img")" ] || t_fail "the base was written"
echo "ok: 3 VMs hold one copy of 8 blocks ($(jq '.nodes[0].disk.memory_saved_bytes' "$T/report.json") bytes saved); a store broke sharing for its VM alone"
