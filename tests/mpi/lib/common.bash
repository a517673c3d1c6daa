# Helpers for the multi-rank tests: real ranks under mpirun, loopback only.
# Each test sources this file, gets a private temporary directory ($T), and
# exits 0 (pass), 1 (fail) or 77 (skip, with a reason).

set -uo pipefail
: "${DISCO_BUILD:?DISCO_BUILD must point at the build directory (ctest sets it)}"
DISCO="$DISCO_BUILD/launcher/disco"
NODE="$DISCO_BUILD/node/disco-node"
T=$(mktemp -d "${TMPDIR:-/tmp}/disco-test.XXXXXX")
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_hwloc_base_binding_policy=none
export FI_TCP_IFACE=lo FI_SOCKETS_IFACE=lo
t_cleanup() {
  # end anything this test started (its files are named after $T)
  pkill -9 -f "$T" 2>/dev/null
  rm -rf "$T"
}
trap t_cleanup EXIT

t_fail() { echo "FAIL: $*" >&2; exit 1; }
t_skip() { echo "SKIP: $*" >&2; exit 77; }
t_need() { command -v "$1" >/dev/null || t_skip "$1 is not installed"; }

# t_bare N FILE: a machine description of N nodes and no VMs
t_bare() {
  printf '[machine]\nnodes = %s\nmem = 32M\n' "$1" > "$2"
}

# t_mpirun SECONDS ARGS...: Open MPI on loopback only (as root where we are root), under a time limit
t_mpirun() {
  local limit=$1 root=()
  shift
  [ "$(id -u)" = 0 ] && root=(--allow-run-as-root)
  timeout "$limit" mpirun "${root[@]}" --oversubscribe --bind-to none --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo "$@"
}

# t_json FILE FILTER: jq -e on a report
t_json() { jq -e "$2" "$1" >/dev/null; }

t_need jq
t_need mpirun
