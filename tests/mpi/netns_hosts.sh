#!/usr/bin/env bash
# Several hosts on one machine: three network namespaces, each with its own
# host name, joined by veth pairs on a bridge that lives in a fourth
# namespace, so nothing touches the host's own network. `disco run
# --hostfile` starts a machine across them through mpirun with a launch agent
# that does what ssh would (`ip netns exec HOST`), with tcp;ofi_rxm and Open
# MPI pinned to the veth interface. The guest workloads must give the same
# results as on one host, the report must list the three hosts, and the
# traffic must have crossed the veths. Then the pre-flight check must name
# hosts that cannot be reached (refused, silent) and a host that lacks
# disco-node (a tmpfs hides it there), per host and with one joint probe,
# and --skip-preflight must bypass it.
#
# Everything it creates (namespaces, /etc/netns/NAME/hosts, processes inside
# the namespaces) is named after a per-run prefix and removed by a trap, also
# on failure. Traffic goes only to 10.77.0.0/24 inside those namespaces: they
# have no route anywhere else. Needs root; skips (77) where namespaces, veth
# pairs or bridges cannot be created.
. "$(dirname "$0")/lib/common.bash"

[ "$(id -u)" = 0 ] || t_skip "needs root to create network namespaces"
t_need ip
t_need unshare
[ -f "$DISCO_BUILD/guest/ocean.elf" ] && [ -f "$DISCO_BUILD/guest/radix.elf" ] \
  || t_skip "guest images not built (DISCO_GUESTS=OFF)"

# the prefix carries this shell's pid: namespaces left by a run that was
# killed outright (SIGKILL, so no trap ran) are found and removed below
P=dn$$x$(tr -dc a-z0-9 </dev/urandom | head -c 3)
SW=${P}-sw
HOSTS=("$P-h0" "$P-h1" "$P-h2")
IFACE=disco0
created=()            # namespaces this run made, for the trap
made_etc_netns=0

netns_cleanup() {
  local rc=$? ns
  for ns in "${created[@]}"; do
    # processes left inside our namespaces (orted daemonizes there)
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
  done
  for ns in "${created[@]}"; do
    ip netns del "$ns" 2>/dev/null
    rm -rf "/etc/netns/$ns"
  done
  [ $made_etc_netns = 1 ] && rmdir /etc/netns 2>/dev/null
  t_cleanup
  exit $rc
}
trap netns_cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

# leftovers of earlier runs of this test whose shell is gone
stale=0
for ns in $( (ip netns list 2>/dev/null | awk '{print $1}'; ls /etc/netns 2>/dev/null) \
             | grep -E '^dn[0-9]+x[a-z0-9]{3}-(sw|h[0-9])$' | sort -u); do
  owner=${ns#dn}
  owner=${owner%%x*}
  kill -0 "$owner" 2>/dev/null && continue
  ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
  ip netns del "$ns" 2>/dev/null
  rm -rf "/etc/netns/$ns"
  stale=$((stale + 1))
done
if [ $stale -gt 0 ]; then
  echo "removed $stale namespaces left by an earlier run that was killed"
  rmdir /etc/netns 2>/dev/null
fi

unshare --uts true 2>/dev/null || t_skip "cannot create UTS namespaces (unshare --uts)"
mkns() {
  local out
  out=$(ip netns add "$1" 2>&1) || t_skip "cannot create network namespaces: $out"
  created+=("$1")
  # where namespaces can be made but not entered (a chroot without its own
  # /run, a container without CAP_SYS_ADMIN in the right place), skip
  out=$(ip -n "$1" link set lo up 2>&1) || t_skip "cannot configure network namespace $1: $out"
}

# the switch: a bridge alone in its namespace
mkns "$SW"
out=$(ip -n "$SW" link add br0 type bridge 2>&1) || t_skip "cannot create a bridge: $out"
ip -n "$SW" link set br0 up
# the hosts: one veth each, the host end named $IFACE everywhere
[ -d /etc/netns ] || made_etc_netns=1
for i in "${!HOSTS[@]}"; do
  h=${HOSTS[$i]}
  mkns "$h"
  out=$(ip -n "$h" link add $IFACE type veth peer name port$i netns "$SW" 2>&1) \
    || t_skip "cannot create veth pairs: $out"
  ip -n "$SW" link set port$i master br0 && ip -n "$SW" link set port$i up \
    && ip -n "$h" addr add 10.77.0.$((i + 1))/24 dev $IFACE && ip -n "$h" link set $IFACE up \
    || t_fail "cannot wire $h to the bridge"
done
# names resolve from a hosts file of their own (ip netns exec mounts
# /etc/netns/NAME/hosts over /etc/hosts): no resolver is ever asked
for i in "${!HOSTS[@]}"; do
  mkdir -p "/etc/netns/${HOSTS[$i]}"
  {
    echo "127.0.0.1 localhost"
    for j in "${!HOSTS[@]}"; do echo "10.77.0.$((j + 1)) ${HOSTS[$j]}"; done
  } > "/etc/netns/${HOSTS[$i]}/hosts"
done
for h in "${HOSTS[@]}"; do echo "$h slots=1"; done > "$T/hostfile"

# the launch agent, called by mpirun as ssh would be: AGENT HOST COMMAND...
# A host named in $T/hide-HOST lacks disco-node: a tmpfs hides its directory.
cat > "$T/agent" <<EOF
#!/bin/sh
host=\$1; shift
case "\$host" in $P-h[0-9]) ;; *) echo "agent: \$host: not a host of this test" >&2; exit 255;; esac
[ "\$host" = $P-h8 ] && exec sleep 60     # a host that drops the connection silently
[ -e "/run/netns/\$host" ] || { echo "ssh: connect to host \$host port 22: No route to host" >&2; exit 255; }
hide=/nonexistent
[ -e "$T/hide-\$host" ] && hide="$DISCO_BUILD/node"
exec ip netns exec "\$host" unshare --uts --mount sh -c '
  hostname "\$0" || exit 255
  [ "\$1" = /nonexistent ] || mount -t tmpfs none "\$1" || exit 255
  shift; exec sh -c "\$*"' "\$host" "\$hide" "\$@"
EOF
chmod +x "$T/agent"

# on_host HOST CMD...: run CMD as if logged in on HOST
on_host() {
  local h=$1
  shift
  ip netns exec "$h" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$h" "$@"
}
# the environment of a multi-host run: tcp on the veths, mpirun through the agent
mh_env=(env FI_PROVIDER="tcp;ofi_rxm" FI_TCP_IFACE=$IFACE
  OMPI_MCA_plm_rsh_agent="$T/agent" OMPI_MCA_plm_rsh_no_tree_spawn=1
  OMPI_MCA_btl_tcp_if_include=$IFACE OMPI_MCA_oob_tcp_if_include=$IFACE)

# Each VM's console is copied to a file (console_log) by the node that runs
# it: the consoles of VMs on different hosts reach mpirun's standard output
# interleaved in fragments, so results are read from the files.
cat > "$T/m.ini" <<EOF
[machine]
nodes = 3
cpus = 1
mem = 128M
timeout = 60s

[vm ocean]
cpus = 2
mem = 32M
nodes = 0-1
kernel = guest:ocean
console_log = $T/ocean.log

[vm radix]
cpus = 1
mem = 32M
nodes = 2
kernel = guest:radix
console_log = $T/radix.log
EOF

# the workload's result, without its timings
# the workloads' result lines without their timings, from the console logs of the run just ended
results() {
  cat "$T/ocean.log" "$T/radix.log" 2>/dev/null | grep -o 'WORKLOAD name=[^ ]* .*' \
    | sed 's/ ticks=[0-9]*//; s/ instret=[0-9]*//' | sort
  rm -f "$T/ocean.log" "$T/radix.log"
}

# 1. the reference: one host, shm
one=$(timeout 60 "$DISCO" run --quiet --report "$T/one.json" "$T/m.ini" 2>&1)
rc=$?
[ $rc = 0 ] || t_fail "one host: disco run exited $rc: $one"
want=$(results)
[ "$(wc -l <<<"$want")" = 2 ] || t_fail "one host: expected two WORKLOAD lines: $one"

# 2. the same machine over three hosts; mpirun itself runs on the first
t0=$(date +%s.%N)
many=$(on_host "${HOSTS[0]}" "${mh_env[@]}" timeout 90 "$DISCO" run --report "$T/many.json" \
  --hostfile "$T/hostfile" "$T/m.ini" 2>&1)
rc=$?
t1=$(date +%s.%N)
[ $rc = 0 ] || t_fail "three hosts: disco run exited $rc: $many"
got=$(results)
[ "$got" = "$want" ] || t_fail "three hosts gave other results:
one host:
$want
three hosts:
$got"
t_json "$T/many.json" '.provider == "tcp;ofi_rxm" and .status == "completed"' \
  || t_fail "three hosts: not a completed tcp run: $(jq -c '{provider, status}' "$T/many.json")"
hosts_json=$(printf '"%s",' "${HOSTS[@]}")
t_json "$T/many.json" "(.hosts | sort) == ([${hosts_json%,}] | sort) and [.nodes[].host] == [${hosts_json%,}]" \
  || t_fail "report hosts are $(jq -c '[.nodes[].host]' "$T/many.json"), want ${HOSTS[*]} in order"
t_json "$T/many.json" 'all(.vms[]; .exit_status == 0)' || t_fail "a VM failed: $(jq -c '[.vms[]|{name,exit_status}]' "$T/many.json")"
for h in "${HOSTS[@]}"; do
  rx=$(ip netns exec "$h" cat /sys/class/net/$IFACE/statistics/rx_bytes)
  [ "$rx" -gt 4096 ] || t_fail "$h received only $rx bytes on $IFACE: the traffic did not cross the veths"
done
echo "ok: 3 hosts (${HOSTS[*]}) on tcp;ofi_rxm over veths, same results as one host, $(echo "$t1 - $t0" | bc 2>/dev/null || echo '?') s"
grep -q 'pre-flight' <<<"$many" && echo "   $(grep 'pre-flight' <<<"$many" | head -n 1)"
echo "   median fabric round trip: $(jq -r '[.nodes[].fabric_rtt_us.median] | add / length | floor' "$T/many.json") us over the veths (tcp), $(jq -r '[.nodes[].fabric_rtt_us.median] | add / length | floor' "$T/one.json") us on one host (shm)"

# 3. pre-flight: unreachable hosts are named, before any node starts: one
# that refuses at once (h9) and one that never answers (h8)
printf '%s slots=1\n' "$P-h9" "${HOSTS[0]}" "$P-h8" > "$T/hostfile-bad"
t0=$(date +%s)
out=$(on_host "${HOSTS[0]}" "${mh_env[@]}" DISCO_PREFLIGHT_TIMEOUT=3 timeout 60 "$DISCO" run \
  --report "$T/bad.json" --hostfile "$T/hostfile-bad" "$T/m.ini" 2>&1)
rc=$?
dt=$(( $(date +%s) - t0 ))
[ $rc != 0 ] || t_fail "a run with unreachable hosts succeeded"
[ $rc != 124 ] || t_fail "a run with unreachable hosts hung"
[ $dt -lt 15 ] || t_fail "pre-flight took $dt s with a 3 s limit"
grep -q "host $P-h9 is unreachable.*No route to host" <<<"$out" || t_fail "the refusing host is not named with the reason: $out"
grep -q "host $P-h8 is unreachable: no answer" <<<"$out" || t_fail "the silent host is not named: $out"
grep -q "host ${HOSTS[0]}" <<<"$out" && t_fail "a good host was blamed: $out"
[ ! -e "$T/bad.json" ] || t_fail "a report was written: a node started"
pgrep -f "$T/agent" >/dev/null && t_fail "pre-flight left launch agents running"
echo "ok: unreachable hosts named in $dt s:"
grep "unreachable" <<<"$out" | sed 's/^/   /'

# 4. pre-flight: a host without disco-node is named
touch "$T/hide-${HOSTS[2]}"
out=$(on_host "${HOSTS[0]}" "${mh_env[@]}" timeout 60 "$DISCO" run --report "$T/bad.json" \
  --hostfile "$T/hostfile" "$T/m.ini" 2>&1)
rc=$?
[ $rc != 0 ] || t_fail "a run with a host lacking disco-node succeeded"
grep -q "${HOSTS[2]}.*disco-node" <<<"$out" || t_fail "the host lacking disco-node is not named: $out"
grep -q "${HOSTS[1]}.*disco-node" <<<"$out" && t_fail "a good host was blamed: $out"
[ ! -e "$T/bad.json" ] || t_fail "a report was written: a node started"
echo "ok: host lacking disco-node named: $(grep -m1 "${HOSTS[2]}" <<<"$out")"

# 5. the same with one joint probe (as inside a Slurm allocation)
out=$(on_host "${HOSTS[0]}" "${mh_env[@]}" DISCO_PREFLIGHT=joint timeout 60 "$DISCO" run --report "$T/bad.json" \
  --hostfile "$T/hostfile" "$T/m.ini" 2>&1)
rc=$?
[ $rc != 0 ] || t_fail "joint probe: a run with a host lacking disco-node succeeded"
grep -q "host ${HOSTS[2]} lacks disco-node" <<<"$out" || t_fail "joint probe: the host lacking disco-node is not named: $out"
grep -q "${HOSTS[1]}.*disco-node" <<<"$out" && t_fail "joint probe: a good host was blamed: $out"
[ ! -e "$T/bad.json" ] || t_fail "joint probe: a report was written: a node started"
rm -f "$T/hide-${HOSTS[2]}"
out=$(on_host "${HOSTS[0]}" "${mh_env[@]}" DISCO_PREFLIGHT=joint timeout 60 "$DISCO" run --quiet \
  --report "$T/joint.json" --hostfile "$T/hostfile" "$T/m.ini" 2>&1) || t_fail "joint probe: the good run failed: $out"
[ "$(results)" = "$want" ] || t_fail "joint probe: other results: $out"
echo "ok: joint probe names the host lacking disco-node, passes the good hosts"

# 6. --skip-preflight starts at once (and fails where a host lacks disco-node)
out=$(on_host "${HOSTS[0]}" "${mh_env[@]}" timeout 60 "$DISCO" run --skip-preflight --report "$T/skip.json" \
  --hostfile "$T/hostfile" "$T/m.ini" 2>&1) || t_fail "--skip-preflight: the run failed: $out"
grep -q "pre-flight" <<<"$out" && t_fail "--skip-preflight still probed: $out"
echo "ok: --skip-preflight"
