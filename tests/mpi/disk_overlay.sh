#!/usr/bin/env bash
# Copy-on-write disks through disco run (docs/disk.md): two VMs share one raw
# base with temporary overlays, each reads the base's blocks and writes its
# own, and the base is never written; a persistent overlay keeps a VM's
# writes, passes `disco disk check` and is locked to one VM; a raw disk
# written in place (disk_overlay = none, the default) still works and is
# one VM's at a time; bad images are refused with a message naming the
# file and what is wrong. The guest is tests/guest/virtio_blk.c: it reads
# the pattern, writes sector 10 and reads it back, and gets an I/O error
# past the end.
. "$(dirname "$0")/lib/common.bash"

elf="$DISCO_BUILD/guest/virtio_blk.elf"
img="$DISCO_BUILD/guest/disk-pattern.img"
[ -f "$elf" ] && [ -f "$img" ] || t_skip "guest images not built (DISCO_GUESTS=OFF)"

cp "$img" "$T/base.img"
# sector 10 is the one the guest writes: clear it, so that a write in place shows
# (guest/virtio_blk may have written the shared test image already)
dd if=/dev/zero of="$T/base.img" bs=512 seek=10 count=1 conv=notrunc status=none
sum0=$(sha256sum < "$T/base.img")

# desc FILE MODE [OVERLAY_FILE] [NVMS]
desc() {
  printf '[machine]\nnodes = 1\nmem = 128M\ntimeout = 60s\nreport = %s\n' "$T/report.json" > "$1"
  for i in $(seq "${4:-2}"); do
    printf '[vm v%s]\nmem = 16M\nkernel = %s\ndisk = %s\ndisk_overlay = %s\n' "$i" "$elf" "$T/base.img" "$2" >> "$1"
    [ -n "${3:-}" ] && printf 'disk_overlay_file = %s\n' "$3" >> "$1"
  done
  return 0
}

run() { timeout 90 "$DISCO" run --quiet "$1" > "$T/out" 2>&1; }

# 1. two VMs, temporary overlays over one base
desc "$T/temp.ini" temp
run "$T/temp.ini" || t_fail "two VMs with temp overlays: exit $?: $(cat "$T/out")"
[ "$(sha256sum < "$T/base.img")" = "$sum0" ] || t_fail "the shared base was written"
t_json "$T/report.json" '[.vms[] | select(.exit_status == 0)] | length == 2' || t_fail "both VMs must pass: $(cat "$T/out")"
t_json "$T/report.json" '[.vms[].disk | select(.bytes_from_base > 0 and .writes >= 1 and .errors >= 1)] | length == 2' ||
  t_fail "each VM's disk figures must show base reads, its write and the out-of-range error: $(jq -c '[.vms[].disk]' "$T/report.json")"
t_json "$T/report.json" '.nodes[0].disk.requests == ([.vms[].disk.requests] | add)' || t_fail "node disk figures are not the sum of its VMs'"
ls /var/tmp/disco-v1-*.ovl >/dev/null 2>&1 && t_fail "a temporary overlay was left behind"
echo "ok: two VMs on one base with temp overlays; base unchanged"

# 2. a persistent overlay: kept, consistent, locked to one VM
desc "$T/p.ini" persistent "$T/p.ovl" 1
run "$T/p.ini" || t_fail "persistent overlay: exit $?: $(cat "$T/out")"
[ -f "$T/p.ovl" ] || t_fail "the persistent overlay was not created"
"$DISCO" disk check "$T/p.ovl" > "$T/check" || t_fail "disco disk check on the persistent overlay: $(cat "$T/check")"
"$DISCO" disk info --json "$T/p.ovl" | jq -e '.clusters_allocated >= 1 and .format == "disco-overlay"' >/dev/null ||
  t_fail "the overlay holds no cluster of the VM's write"
run "$T/p.ini" || t_fail "reusing the persistent overlay: exit $?: $(cat "$T/out")"
desc "$T/p2.ini" persistent "$T/p.ovl" 2
run "$T/p2.ini" && t_fail "two VMs on one persistent overlay were allowed"
grep -q "p.ovl: in use" "$T/out" || t_fail "the lock refusal must name the overlay: $(cat "$T/out")"
[ "$(sha256sum < "$T/base.img")" = "$sum0" ] || t_fail "the base was written through a persistent overlay"
echo "ok: persistent overlay kept, checked, reused and locked"

# 3. the raw image written in place (the default), one VM at a time
desc "$T/raw1.ini" none "" 1
run "$T/raw1.ini" || t_fail "raw disk written in place: exit $?: $(cat "$T/out")"
[ "$(sha256sum < "$T/base.img")" != "$sum0" ] || t_fail "a raw disk (disk_overlay = none) must be written in place"
desc "$T/raw2.ini" none "" 2
run "$T/raw2.ini" && t_fail "two VMs writing one raw image were allowed"
grep -q "base.img: in use" "$T/out" || t_fail "the refusal must name the image: $(cat "$T/out")"
echo "ok: raw disk written in place, one VM at a time"

# 4. bad images are refused with the file and the reason
cp "$img" "$T/b.img"
"$DISCO" disk create -b b.img "$T/b.ovl" || t_fail "disco disk create"
printf 'X' | dd of="$T/b.img" bs=1 seek=0 conv=notrunc status=none   # the base changes under its overlay
printf '[machine]\nnodes = 1\nmem = 64M\n[vm v]\nmem = 16M\nkernel = %s\ndisk = %s\n' "$elf" "$T/b.ovl" > "$T/bad.ini"
run "$T/bad.ini" && t_fail "an overlay whose base changed was used"
grep -q "b.ovl: base .*b.img changed" "$T/out" || t_fail "no clear message for a changed base: $(cat "$T/out")"
"$DISCO" disk check "$T/b.ovl" > /dev/null; rc=$?
[ $rc = 2 ] || t_fail "disco disk check of an overlay whose base changed: exit $rc, want 2"
head -c 5000 "$T/p.ovl" > "$T/t.ovl"
printf '[machine]\nnodes = 1\nmem = 64M\n[vm v]\nmem = 16M\nkernel = %s\ndisk = %s\n' "$elf" "$T/t.ovl" > "$T/bad.ini"
run "$T/bad.ini" && t_fail "a truncated overlay was used"
grep -q "t.ovl: truncated" "$T/out" || t_fail "no clear message for a truncated overlay: $(cat "$T/out")"
echo "ok: bad images refused with the file and the reason"
