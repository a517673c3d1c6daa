#!/usr/bin/env bash
# Isolation: a misbehaving guest harms no one but itself. Three VMs on two
# nodes at once, pages migrating and replicating and vCPUs moving:
#  - rogue (4 vCPUs on nodes 0 and 1, a disk): stores, AMOs and jumps to
#    addresses outside its RAM, illegal instructions, made-up PLIC claims,
#    a virtio-blk queue outside its RAM and a request whose buffers are;
#  - good (4 vCPUs, home on node 1): migrate_smp, which checks that every
#    word of its memory holds what its harts wrote while pages move;
#  - calm (2 vCPUs on node 0 alone): smp_atomics.
# Every VM must end with its own checks passed, the rogue's device must
# have answered with an error instead of touching memory, and no node may
# have dropped a message or crashed.
. "$(dirname "$0")/lib/common.bash"
. "$(dirname "$0")/lib/span.bash"
[ -f "$G/rogue.elf" ] && [ -f "$G/migrate_smp.elf" ] && [ -f "$G/disk-pattern.img" ] \
  || t_skip "guest images are not built (-DDISCO_GUEST_TESTS=ON)"
cp "$G/disk-pattern.img" "$T/disk.img"
sum0=$(md5sum < "$T/disk.img")
{
  printf '[machine]\nnodes = 2\nmem = 256M\ntimeout = 90s\nbalance = rotate\nbalance_interval = 2ms\n'
  printf '[policy]\npolicy = both\ntrigger = 32\ninterval = 1ms\nreset = 50ms\n'
  printf '[vm rogue]\ncpus = 4\nmem = 32M\nnodes = 0-1\ndisk = %s\ndisk_overlay = temp\nkernel = %s\n' "$T/disk.img" "$G/rogue.elf"
  printf '[vm good]\ncpus = 4\nmem = 32M\nnodes = 1,0\nkernel = %s\n' "$G/migrate_smp.elf"
  printf '[vm calm]\ncpus = 2\nmem = 16M\nnodes = 0\nkernel = %s\n' "$G/smp_atomics.elf"
} > "$T/iso.ini"
go iso
[ $rc = 0 ] || t_fail "three VMs, one rogue: disco run exited $rc: $out"
for ok in "\[rogue\] rogue: ok" "\[rogue\] rogue: virtio device 2 abused and reset" "\[good\] migrate_smp: ok" "\[calm\] smp_atomics: ok"; do
  grep -q "$ok" <<<"$out" || t_fail "no \"$ok\" on the console: $out"
done
t_json "$R" '(.vms | length) == 3 and all(.vms[]; .exit_status == 0)' \
  || t_fail "not every VM ended well: $(jq -c '[.vms[] | {name, exit_status}]' "$R")"
t_json "$R" '.vms[] | select(.name == "rogue") | .disk.errors >= 1' \
  || t_fail "the rogue's malformed virtio request was not answered with an error: $(jq -c '.vms[] | select(.name == "rogue") | .disk' "$R")"
t_json "$R" 'all(.vms[] | .parts[]?; .span.dropped == 0)' || t_fail "a node dropped messages"
t_json "$R" '([.vms[] | .vcpu_moves // 0] | add) >= 2 and ([.vms[] | .migrations // 0] | add) >= 1' \
  || t_fail "nothing moved under the guests: $(jq -c '[.vms[] | {name, vcpu_moves, migrations}]' "$R")"
[ "$(md5sum < "$T/disk.img")" = "$sum0" ] || t_fail "the rogue's base image changed under its temporary overlay"
echo "ok: a rogue VM beside two others: each kept its memory, the device refused, nothing crashed ($(jq -c '[.vms[] | {name, vcpu_moves, migrations}]' "$R"))"
