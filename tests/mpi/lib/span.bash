# Helpers of the tests of VMs whose harts run on several nodes (tests/mpi/span*.sh),
# sourced after common.bash. A test's VM is [vm t].
G=$DISCO_BUILD/guest
[ -f "$G/smp_atomics.elf" ] && [ -f "$G/ocean.elf" ] || t_skip "guest images are not built (-DDISCO_GUEST_TESTS=ON)"

# machine FILE NODES VM_NODES CPUS KERNEL [MACHINE_KEYS [POLICY_KEYS [VM_KEYS]]]: a description of VM t
# (the optional keys are lines, "key = value\n..." as printf %b reads them)
machine() {
  {
    printf '[machine]\nnodes = %s\nmem = 128M\ntimeout = 60s\n%b' "$2" "${6:-}"
    [ -z "${7:-}" ] || printf '[policy]\n%b' "$7"
    printf '[vm t]\ncpus = %s\nmem = 32M\nnodes = %s\n%bkernel = %s\n' "$4" "$3" "${8:-}" "$5"
  } > "$1"
}
# go NAME [PROVIDER]: disco run $T/NAME.ini, its report in $T/NAME.json; sets out, rc and R (the report)
go() {
  local prov=()
  [ -n "${2:-}" ] && prov=(--provider "$2")
  out=$(timeout 120 "$DISCO" run --quiet "${prov[@]}" --report "$T/$1.json" "$T/$1.ini" 2>&1)
  rc=$?
  R=$T/$1.json
}
# run NAME PROVIDER NODES CPUS KERNEL: VM t with its harts on nodes 0..NODES-1, which must pass
run() {
  machine "$T/$1.ini" "$3" "0-$(($3 - 1))" "$4" "$5"
  go "$1" "$2"
  [ $rc = 0 ] || t_fail "$1: $4 harts on $3 nodes ($2): disco run exited $rc: $out"
}
