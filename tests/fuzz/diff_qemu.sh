#!/bin/sh
# diff_qemu.sh FIRST LAST [N] — differential test of the hart interpreter
# against qemu-system-riscv64: for each seed, a random program of N
# instructions (diff_gen.py) runs under both; registers and memory printed
# at the end must be identical. Needs the cross compiler, QEMU and a built
# disco (DISCO_BUILD, default ./build). Prints OK/DIFF per seed; exit 1 on
# any difference.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${DISCO_BUILD:-$(pwd)/build}
W=$(mktemp -d)
N=${3:-3000}
fail=0
for s in $(seq "$1" "$2"); do
	python3 "$HERE/diff_gen.py" "$s" "$N" > "$W/t.s"
	riscv64-linux-gnu-gcc -march=rv64imac_zicsr_zifencei -mabi=lp64 -nostdlib -ffreestanding -static \
		-Wl,-N -Wl,--build-id=none -T "$HERE/diff_link.ld" "$W/t.s" -o "$W/t.elf" 2>/dev/null || { echo "BUILD $s"; fail=1; continue; }
	timeout 20 qemu-system-riscv64 -machine virt -nographic -bios none -m 128M -kernel "$W/t.elf" 2>&1 |
		tr -d '\r' | grep -E '^[0-9a-f]{16}$' > "$W/q.txt"
	timeout 60 "$BUILD/launcher/disco" run --kernel "$W/t.elf" 2>/dev/null |
		tr -d '\r' | grep -E '^[0-9a-f]{16}$' > "$W/d.txt"
	if [ "$(wc -l < "$W/q.txt")" -ne 288 ]; then echo "QEMU-SHORT $s"; fail=1; continue; fi
	if cmp -s "$W/q.txt" "$W/d.txt"; then echo "OK $s"; else echo "DIFF $s"; fail=1; cp "$W/t.s" "diff_fail_$s.s"; fi
done
rm -rf "$W"
exit $fail
