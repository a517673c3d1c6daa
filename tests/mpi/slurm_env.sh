#!/usr/bin/env bash
# Inside a Slurm allocation (faked here with its environment variables; no
# Slurm needed) `disco run` takes the rank count from the allocation: a
# description asking for another count is refused before mpirun starts, with
# what to change; an allocation of several hosts runs on tcp and does not pin
# Open MPI to loopback.
. "$(dirname "$0")/lib/common.bash"

t_bare 3 "$T/m3.ini"
# a stand-in mpirun that records that it was started
printf '#!/bin/sh\ntouch "%s/started"\n' "$T" > "$T/mpirun"
chmod +x "$T/mpirun"

out=$(SLURM_JOB_ID=4242 SLURM_NTASKS=2 SLURM_JOB_NUM_NODES=2 DISCO_MPIRUN="$T/mpirun" \
  timeout 30 "$DISCO" run --quiet "$T/m3.ini" 2>&1)
rc=$?
[ $rc = 2 ] || t_fail "a 3-node description in a 2-task allocation: exit $rc, want 2: $out"
grep -q "Slurm job 4242 has 2 tasks (SLURM_NTASKS) but .*m3.ini describes 3 nodes" <<<"$out" \
  || t_fail "the refusal does not say what is wrong: $out"
grep -q -- "--ntasks=3" <<<"$out" || t_fail "the refusal does not say what to ask for: $out"
[ ! -e "$T/started" ] || t_fail "mpirun was started for a refused run"
echo "ok: refused: $out"

# the built-in machine (4 nodes) too
out=$(SLURM_JOB_ID=4242 SLURM_NTASKS=2 DISCO_MPIRUN="$T/mpirun" timeout 30 "$DISCO" run --quiet 2>&1)
[ $? = 2 ] && grep -q "built-in machine describes 4 nodes" <<<"$out" || t_fail "built-in machine not refused: $out"

# a matching allocation over 3 hosts: -np 3, tcp, no loopback pinning
cmd=$(SLURM_JOB_ID=4242 SLURM_NTASKS=3 SLURM_JOB_NUM_NODES=3 timeout 30 "$DISCO" run --dry-run "$T/m3.ini" 2>&1) \
  || t_fail "a matching allocation was refused: $cmd"
grep -q -- "-np 3 " <<<"$cmd" || t_fail "not 3 ranks: $cmd"
grep -q "FI_PROVIDER=tcp;ofi_rxm" <<<"$cmd" || t_fail "not on tcp across the allocation's hosts: $cmd"
grep -q "if_include lo" <<<"$cmd" && t_fail "Open MPI pinned to loopback across hosts: $cmd"
# one host of the allocation: shm and loopback as usual
cmd=$(SLURM_JOB_ID=4242 SLURM_NTASKS=3 SLURM_JOB_NUM_NODES=1 timeout 30 "$DISCO" run --dry-run "$T/m3.ini" 2>&1)
grep -q "FI_PROVIDER=shm" <<<"$cmd" && grep -q "oob_tcp_if_include lo" <<<"$cmd" || t_fail "one-host allocation: $cmd"
echo "ok: matching allocations: tcp over 3 hosts, shm on 1"
