#!/usr/bin/env bash
# run.sh PROVIDER NODES PROGRAM: the burst test on one provider, loopback only.
prov=$1 n=$2 prog=$3
fi=$([ "$prov" = tcp ] && echo "tcp;ofi_rxm" || echo shm)
root=(); [ "$(id -u)" = 0 ] && root=(--allow-run-as-root)
exec timeout 100 mpirun "${root[@]}" -np "$n" --oversubscribe --bind-to none \
  --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo \
  -x FI_PROVIDER="$fi" -x FI_TCP_IFACE=lo "$prog" 10000
