#!/usr/bin/env bash
# A base image served across nodes (docs/disk.md, "Disks across nodes"):
# two ranks, and rank 1 runs in its own mount namespace with an empty tmpfs
# over the image's directory, as a host that does not share node 0's file
# system. Its two VMs boot over that image anyway: node 0 serves the
# blocks over the fabric, the overlays stay on node 1.
#  - vm a (tests/guest/virtio_blk.c) reads sectors 0 and 5 and checks their
#    pattern, writes sector 10 and reads it back through a kept overlay, and
#    gets an I/O error past the end; the overlay then passes `disco disk
#    check` and, committed into a copy of the base, changes sector 10 alone,
#    to what the guest wrote;
#  - vm b (tests/guest/disk_sum.c) reads the whole disk and prints its POSIX
#    cksum, which must be the image file's (`cksum`);
#  - the report: node 1 fetched 2 sectors + the whole image from node 0,
#    node 0 served exactly those bytes, and node 0 slept while it served.
# Then, with a different file at the same path on rank 1 and disk_server =
# 0, the run is refused with a message saying so.
. "$(dirname "$0")/lib/common.bash"

blk="$DISCO_BUILD/guest/virtio_blk.elf"
sum="$DISCO_BUILD/guest/disk_sum.elf"
img="$DISCO_BUILD/guest/disk-pattern.img"
[ -f "$blk" ] && [ -f "$sum" ] && [ -f "$img" ] || t_skip "guest images not built (DISCO_GUESTS=OFF)"
t_need unshare
mkdir -p "$T/img"
cp "$img" "$T/img/base.img"
dd if=/dev/zero of="$T/img/base.img" bs=512 seek=10 count=1 conv=notrunc status=none  # the sector vm a writes
sum0=$(sha256sum < "$T/img/base.img")
read -r crc len < <(cksum < "$T/img/base.img")
unshare -m sh -c "mount -t tmpfs disco-hide '$T/img' && ! test -e '$T/img/base.img'" 2>/dev/null ||
  t_skip "cannot hide a directory from one rank (unshare -m and mount need root or user namespaces)"

# hide.sh DIR [FILE] CMD...: run CMD with an empty tmpfs over DIR (and FILE copied into it as base.img)
cat > "$T/hide.sh" <<'EOF'
#!/bin/sh
dir=$1; shift
other=
[ "$1" != "--" ] && { other=$1; shift; }
shift
exec unshare -m sh -c 'mount -t tmpfs disco-hide "$0" && { [ -z "$1" ] || cp "$1" "$0/base.img"; } && shift && exec "$@"' "$dir" "$other" "$@"
EOF
chmod +x "$T/hide.sh"

desc() {  # desc FILE [DISK_SERVER]
  printf '[machine]\nnodes = 2\nmem = 96M\ntimeout = 60s\nreport = %s\n' "$T/report.json" > "$1"
  printf '[vm a]\nnodes = 1\nmem = 16M\nkernel = %s\ndisk = %s\ndisk_overlay = keep\ndisk_overlay_file = %s\n' \
    "$blk" "$T/img/base.img" "$T/a.ovl" >> "$1"
  [ -n "${2:-}" ] && printf 'disk_server = %s\n' "$2" >> "$1"
  printf '[vm b]\nnodes = 1\nmem = 16M\nkernel = %s\ndisk = %s\ndisk_overlay = temp\n' "$sum" "$T/img/base.img" >> "$1"
}

# run FILE [OTHER_IMAGE]: node 0 as it is, node 1 without the image directory (or with OTHER_IMAGE there)
run() {
  FI_PROVIDER=shm t_mpirun 90 -np 1 "$NODE" --report "$T/report.json" "$1" : \
    -np 1 "$T/hide.sh" "$T/img" ${2:+"$2"} -- "$NODE" --report "$T/report.json" "$1" > "$T/out" 2>&1
}

# 1. node 0 serves the base; node 1's VMs read it and write their overlays at home
desc "$T/remote.ini"
run "$T/remote.ini" || t_fail "VMs on a node without the image: exit $?: $(cat "$T/out")"
t_json "$T/report.json" '[.vms[] | select(.exit_status == 0 and .node == 1)] | length == 2' ||
  t_fail "both VMs must pass on node 1: $(cat "$T/out")"
grep -q "virtio_blk: ok" "$T/out" || t_fail "vm a did not finish its checks: $(cat "$T/out")"
grep -q "disk_sum: cksum $crc $len," "$T/out" || t_fail "vm b must read the image's cksum $crc $len: $(grep disk_sum "$T/out")"
fetched=$(jq '.nodes[1].disk.bytes_fetched_remote' "$T/report.json")
served=$(jq '.nodes[0].disk.bytes_served_remote' "$T/report.json")
want=$(( 2 * 512 + len ))   # vm a: sectors 0 and 5 (sector 10 comes from its overlay); vm b: all of it
[ "$fetched" = "$want" ] && [ "$served" = "$want" ] ||
  t_fail "node 1 must fetch and node 0 serve $want bytes: fetched $fetched, served $served: $(jq -c '[.nodes[].disk]' "$T/report.json")"
t_json "$T/report.json" '.nodes[1].disk.remote_reads_failed == 0 and .nodes[1].disk.errors == 1' ||
  t_fail "only vm a's read past the end may fail: $(jq -c '.nodes[1].disk' "$T/report.json")"
t_json "$T/report.json" '.nodes[0].sleeps > 0' || t_fail "the serving node never slept: $(jq -c '.nodes[0]' "$T/report.json")"
[ "$(sha256sum < "$T/img/base.img")" = "$sum0" ] || t_fail "the served base was written"
"$DISCO" disk check "$T/a.ovl" > "$T/check" || t_fail "disco disk check on vm a's overlay: $(cat "$T/check")"
cp "$T/img/base.img" "$T/commit.img"
"$DISCO" disk rebase -u -b "$T/commit.img" "$T/a.ovl" && "$DISCO" disk commit "$T/a.ovl" ||
  t_fail "committing vm a's overlay into a copy of the base"
LC_ALL=C awk 'BEGIN { for (i = 0; i < 512; i++) printf "%c", (i * 7 + 3) % 256 }' > "$T/sector10"
cmp -s <(dd if="$T/commit.img" bs=512 skip=10 count=1 status=none) "$T/sector10" ||
  t_fail "sector 10 of the committed overlay is not what vm a wrote"
cmp -s <(dd if="$T/commit.img" bs=512 count=10 status=none) <(dd if="$T/img/base.img" bs=512 count=10 status=none) &&
  cmp -s <(dd if="$T/commit.img" bs=512 skip=11 status=none) <(dd if="$T/img/base.img" bs=512 skip=11 status=none) ||
  t_fail "the overlay changed more than sector 10"
echo "ok: node 0 served $served bytes of the base to node 1, whose VMs checked them and kept their writes at home"

# 2. a different file at the same path on node 1, and node 0 named as the server: refused
head -c 16384 /dev/urandom > "$T/other.img"
desc "$T/differ.ini" 0
run "$T/differ.ini" "$T/other.img" && t_fail "a different image at the same path was accepted"
grep -q "same path names a different file" "$T/out" || t_fail "no clear message for a different file: $(cat "$T/out")"
echo "ok: a different file at the same path is refused"
