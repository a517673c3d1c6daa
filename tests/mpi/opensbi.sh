#!/usr/bin/env bash
# Unmodified firmware built for QEMU's virt board boots on disco: Debian's
# OpenSBI (fw_jump) runs in M mode at 0x80000000, finds the board in disco's
# device tree (UART, CLINT, test device, two harts) and starts an S-mode
# kernel at 0x80200000, which powers off through SBI; the exit status is 0.
. "$(dirname "$0")/lib/common.bash"

fw=/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin
[ -f "$fw" ] || t_skip "Debian's opensbi package is not installed"
kernel="$DISCO_BUILD/guest/smode_hello.elf"
[ -f "$kernel" ] || t_skip "guest images not built"
out=$(timeout 60 "$DISCO" run --bios "$fw" --kernel "$kernel" --smp 2 2>&1)
rc=$?
[ $rc = 0 ] || t_fail "exit $rc: $out"
grep -q "OpenSBI" <<<"$out" || t_fail "no OpenSBI banner: $out"
grep -q "Platform Shutdown Device *: sifive_test" <<<"$out" || t_fail "OpenSBI did not find the test device: $out"
grep -q "Domain0 HARTs *: 0\*,1\*" <<<"$out" || t_fail "OpenSBI did not see both harts: $out"
grep -q "Domain0 Next Address *: 0x0*80200000" <<<"$out" || t_fail "kernel not at 0x80200000: $out"
grep -q "S-mode hello: boot hart 0, 2 harts" <<<"$out" || t_fail "the S-mode kernel did not run on both harts: $out"
echo "ok: OpenSBI booted the S-mode kernel on 2 harts"
