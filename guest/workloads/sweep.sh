#!/bin/sh
# sweep.sh: run a scaling workload for 1, 2, 4, ... MAX_HARTS harts and print CSV
# (workload,harts,size,steps,ticks,speedup), on QEMU or on disco.
#
#   guest/workloads/sweep.sh [--disco PATH | --qemu] ELF MAX_HARTS ["bootargs"]
#   guest/workloads/sweep.sh --qemu build/guest/ocean.elf 4 "n=256 steps=20"
#   guest/workloads/sweep.sh --disco build/launcher/disco build/guest/radix.elf 8 "n=262144"
#
# The VM always has MAX_HARTS harts; "harts=K" in the bootargs picks how
# many work, so every point runs on the same machine. ticks are mtime ticks
# (10 MHz) of the parallel part, as the workload reports them.
set -eu
runner=qemu
disco=
case "${1:-}" in
--disco) runner=disco; disco=$2; shift 2 ;;
--qemu) shift ;;
esac
[ $# -ge 2 ] || { sed -n '2,12p' "$0"; exit 2; }
elf=$1 max=$2 args=${3:-}

run() {
	if [ "$runner" = disco ]; then
		timeout 600 "$disco" run --quiet --kernel "$elf" --smp "$max" --append "$args harts=$1"
	else
		timeout 600 qemu-system-riscv64 -machine virt -bios none -nographic -m 256M \
			-smp "$max" -kernel "$elf" -append "$args harts=$1"
	fi
}

echo "workload,harts,size,steps,ticks,speedup"
base=
h=1
while [ "$h" -le "$max" ]; do
	line=$(run "$h" | tr -d '\r' | grep '^WORKLOAD ' || true)
	[ -n "$line" ] || { echo "sweep: no WORKLOAD line for harts=$h" >&2; exit 1; }
	case "$line" in *result=ok*) ;; *) echo "sweep: $line" >&2; exit 1 ;; esac
	get() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
	ticks=$(get ticks)
	[ -n "$base" ] || base=$ticks
	speedup=$(awk -v b="$base" -v t="$ticks" 'BEGIN { printf "%.2f", (t > 0 ? b / t : 0) }')
	echo "$(get name),$h,$(get size),$(get steps),$ticks,$speedup"
	h=$((h * 2))
done
