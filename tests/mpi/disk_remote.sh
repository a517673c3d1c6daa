#!/usr/bin/env bash
# Base images served across nodes (docs/disk.md, "Disks across nodes"): two
# ranks that do not see the same files. The description names node-local
# paths, `disk = ${IMG}/...`, and mpirun starts each rank with its own IMG
# (Open MPI's MPMD syntax, `-x IMG=DIR` per rank), as hosts with their own
# scratch disks: rank 0's directory has the images, rank 1's has none of
# them, only vm c's overlay. Node 1's three VMs boot anyway: node 0 serves
# the blocks over the fabric, the overlays stay on node 1.
#  - vm a (tests/guest/virtio_blk.c) reads sectors 0 and 5 and checks their
#    pattern, writes sector 10 and reads it back through a kept overlay, and
#    gets an I/O error past the end; the overlay then passes `disco disk
#    check` and, committed into a copy of the base, changes sector 10 alone,
#    to what the guest wrote;
#  - vm b (tests/guest/disk_sum.c) reads the whole disk through a temp
#    overlay and prints its POSIX cksum, which must be the image file's;
#  - vm c (disk_sum) has for disk an overlay that lives on node 1 while its
#    base (recorded as "c-base.img", beside the overlay) exists on node 0
#    only: node 1 finds it there by the identity the overlay records, and the
#    guest reads the overlay's sector 3 over the served base (the cksum of
#    the disk the overlay was made for);
#  - the report: node 1 fetched exactly the bytes its VMs read from the bases
#    and node 0 served them, and node 0 slept while it served.
# Then a second run, where rank 1's directory holds a different file at the
# same path (with disk_server = 0) and rank 0's overlay base is another image:
# both VMs are refused, each with a message saying why.
. "$(dirname "$0")/lib/common.bash"

blk="$DISCO_BUILD/guest/virtio_blk.elf"
sum="$DISCO_BUILD/guest/disk_sum.elf"
img="$DISCO_BUILD/guest/disk-pattern.img"
[ -f "$blk" ] && [ -f "$sum" ] && [ -f "$img" ] || t_skip "guest images not built (DISCO_GUESTS=OFF)"
mkdir -p "$T/a" "$T/b" "$T/x" "$T/y"
cp "$img" "$T/a/base.img"
dd if=/dev/zero of="$T/a/base.img" bs=512 seek=10 count=1 conv=notrunc status=none  # the sector vm a writes
sum0=$(sha256sum < "$T/a/base.img")
read -r crc len < <(cksum < "$T/a/base.img")

# vm c's overlay, in rank 1's directory: made over old.img, then rebased (safe) onto c-base.img, so that
# it holds old.img's sector 3, where the two differ; neither base stays on rank 1
{ cat "$img"; head -c 16384 /dev/urandom; } > "$T/a/c-base.img"
cp "$T/a/c-base.img" "$T/b/old.img"
printf 'sector three of vm c, from its overlay' | dd of="$T/b/old.img" bs=512 seek=3 conv=notrunc status=none
cp "$T/a/c-base.img" "$T/b/c-base.img"
"$DISCO" disk create -b old.img "$T/b/c.ovl" > /dev/null && "$DISCO" disk rebase -b c-base.img "$T/b/c.ovl" ||
  t_fail "making vm c's overlay"
read -r crc_c len_c < <(cksum < "$T/b/old.img")
rm "$T/b/old.img" "$T/b/c-base.img"

desc() {  # desc FILE [DISK_SERVER of vm a]
  printf '[machine]\nnodes = 2\nmem = 96M\ntimeout = 60s\nreport = %s\n' "$T/report.json" > "$1"
  printf '[vm a]\nnodes = 1\nmem = 16M\nkernel = %s\ndisk = ${IMG}/base.img\ndisk_overlay = keep\ndisk_overlay_file = %s\n' \
    "$blk" "$T/a.ovl" >> "$1"
  [ -n "${2:-}" ] && printf 'disk_server = %s\n' "$2" >> "$1"
  printf '[vm b]\nnodes = 1\nmem = 16M\nkernel = %s\ndisk = ${IMG}/base.img\ndisk_overlay = temp\n' "$sum" >> "$1"
  printf '[vm c]\nnodes = 1\nmem = 16M\nkernel = %s\ndisk = ${IMG}/c.ovl\n' "$sum" >> "$1"
}

# run FILE DIR0 DIR1: rank 0 with IMG=DIR0, rank 1 with IMG=DIR1
run() {
  FI_PROVIDER=shm t_mpirun 90 -np 1 -x IMG="$2" "$NODE" --report "$T/report.json" "$1" : \
    -np 1 -x IMG="$3" "$NODE" --report "$T/report.json" "$1" > "$T/out" 2>&1
}

# 1. node 0 serves the bases; node 1's VMs read them and keep their writes at home
desc "$T/remote.ini"
run "$T/remote.ini" "$T/a" "$T/b" || t_fail "VMs on a node without the images: exit $?: $(cat "$T/out")"
t_json "$T/report.json" '[.vms[] | select(.exit_status == 0 and .node == 1)] | length == 3' ||
  t_fail "the three VMs must pass on node 1: $(cat "$T/out")"
grep -q "virtio_blk: ok" "$T/out" || t_fail "vm a did not finish its checks: $(cat "$T/out")"
grep -q "disk_sum: cksum $crc $len," "$T/out" || t_fail "vm b must read the image's cksum $crc $len: $(grep disk_sum "$T/out")"
grep -q "disk_sum: cksum $crc_c $len_c," "$T/out" ||
  t_fail "vm c must read its overlay over the served base, cksum $crc_c $len_c: $(grep disk_sum "$T/out")"
fetched=$(jq '.nodes[1].disk.bytes_fetched_remote' "$T/report.json")
served=$(jq '.nodes[0].disk.bytes_served_remote' "$T/report.json")
# vm a: sectors 0 and 5 (sector 10 comes from its overlay); vm b: all of it; vm c: all but its overlay's sector
want=$(( 2 * 512 + len + len_c - 512 ))
[ "$fetched" = "$want" ] && [ "$served" = "$want" ] ||
  t_fail "node 1 must fetch and node 0 serve $want bytes: fetched $fetched, served $served: $(jq -c '[.nodes[].disk]' "$T/report.json")"
t_json "$T/report.json" '.nodes[1].disk.remote_reads_failed == 0 and .nodes[1].disk.errors == 1' ||
  t_fail "only vm a's read past the end may fail: $(jq -c '.nodes[1].disk' "$T/report.json")"
t_json "$T/report.json" '.nodes[0].sleeps > 0' || t_fail "the serving node never slept: $(jq -c '.nodes[0]' "$T/report.json")"
[ "$(sha256sum < "$T/a/base.img")" = "$sum0" ] || t_fail "the served base was written"
[ ! -e "$T/b/base.img" ] && [ ! -e "$T/b/c-base.img" ] || t_fail "a base appeared in rank 1's directory"
"$DISCO" disk check "$T/a.ovl" > "$T/check" || t_fail "disco disk check on vm a's overlay: $(cat "$T/check")"
cp "$T/a/base.img" "$T/commit.img"
"$DISCO" disk rebase -u -b "$T/commit.img" "$T/a.ovl" && "$DISCO" disk commit "$T/a.ovl" ||
  t_fail "committing vm a's overlay into a copy of the base"
LC_ALL=C awk 'BEGIN { for (i = 0; i < 512; i++) printf "%c", (i * 7 + 3) % 256 }' > "$T/sector10"
cmp -s <(dd if="$T/commit.img" bs=512 skip=10 count=1 status=none) "$T/sector10" ||
  t_fail "sector 10 of the committed overlay is not what vm a wrote"
cmp -s <(dd if="$T/commit.img" bs=512 count=10 status=none) <(dd if="$T/a/base.img" bs=512 count=10 status=none) &&
  cmp -s <(dd if="$T/commit.img" bs=512 skip=11 status=none) <(dd if="$T/a/base.img" bs=512 skip=11 status=none) ||
  t_fail "the overlay changed more than sector 10"
echo "ok: node 0 served $served bytes of two bases to node 1, whose VMs checked them and kept their writes at home"

# 2. rank 1 (IMG=y): a different file at vm a's path, and node 0 named as the server; rank 0 (IMG=x): the base
#    image, but a different c-base.img than vm c's overlay records: both refused, each saying why
head -c 16384 /dev/urandom > "$T/y/base.img"
cp "$T/b/c.ovl" "$T/y/c.ovl"
cp "$T/a/base.img" "$T/x/base.img"
head -c "$len_c" /dev/urandom > "$T/x/c-base.img"
desc "$T/differ.ini" 0
run "$T/differ.ini" "$T/x" "$T/y" && t_fail "a different image at the same path was accepted"
grep -q "same path names a different file" "$T/out" || t_fail "no clear message for a different file: $(cat "$T/out")"
grep -q "\[vm c\] disk $T/y/c.ovl: no node has the base c-base.img of node 1's overlay with the identity the overlay records" "$T/out" &&
  grep -q "node 0: a different image; node 1: No such file or directory" "$T/out" ||
  t_fail "no clear message for an overlay whose base no node has: $(cat "$T/out")"
echo "ok: a different file at the same path, and an overlay whose base no node has, are refused"
