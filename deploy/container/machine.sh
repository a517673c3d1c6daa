#!/usr/bin/env bash
# machine.sh: a disco machine over several containers on one user-defined
# network, started without ssh: mpirun runs in the first container and
# starts its daemons in the others through `docker exec` (disco-exec-agent as
# Open MPI's plm_rsh_agent). Run on the container host:
#
#   deploy/container/machine.sh up N            # N containers disco-0..N-1 on network disco-net
#   deploy/container/machine.sh run FILE [ARGS] # disco run FILE over them (FILE under the
#                                               # current directory, mounted at /work in each)
#   deploy/container/machine.sh exec CMD...     # a command in disco-0
#   deploy/container/machine.sh down            # remove the containers and the network
#
# Environment: DISCO_IMAGE (default disco), DISCO_CONTAINER_RT (docker or
# podman; default docker), DISCO_NET (default disco-net), DISCO_PREFIX
# (container name prefix, default disco).
#
# The first container gets the runtime's socket and command so that its
# mpirun can reach the others; that is power over the host's containers:
# use it on a machine of your own. With podman, start its socket first
# (systemctl --user start podman.socket; as root, podman.socket) and build the
# image with the podman command in it:
#   podman build --build-arg EXTRA_PACKAGES=podman -f deploy/container/Containerfile -t disco .
set -euo pipefail
rt=${DISCO_CONTAINER_RT:-docker}
image=${DISCO_IMAGE:-disco}
net=${DISCO_NET:-disco-net}
pfx=${DISCO_PREFIX:-disco}
state=${XDG_RUNTIME_DIR:-/tmp}/$pfx-machine.count

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

# what every container runs with: see Containerfile for why
common_flags=(--shm-size=1g --ulimit memlock=-1 -e FI_SHM_DISABLE_CMA=1 --network "$net" -v "$PWD:/work" -w /work)

socket_flags() {
  case $rt in
  docker)
    local sock=/var/run/docker.sock cli
    cli=$(command -v docker)
    # lend the host's docker command to the container (a Go binary, usually
    # self-contained; where it is not, build the image with
    # --build-arg EXTRA_PACKAGES=docker.io and drop this mount)
    echo "-v $sock:/var/run/docker.sock -v $cli:/usr/local/bin/docker:ro" ;;
  podman)
    local sock=${XDG_RUNTIME_DIR:-/run}/podman/podman.sock
    [ "$(id -u)" = 0 ] && sock=/run/podman/podman.sock
    echo "-v $sock:/run/podman/podman.sock -e CONTAINER_HOST=unix:///run/podman/podman.sock" ;;
  *) echo "machine.sh: DISCO_CONTAINER_RT=$rt: docker or podman" >&2; exit 2 ;;
  esac
}

cmd=${1:-}
[ -n "$cmd" ] || usage
shift
case $cmd in
up)
  n=${1:?usage: machine.sh up N}
  $rt network inspect "$net" >/dev/null 2>&1 || $rt network create "$net" >/dev/null
  for ((i = 0; i < n; i++)); do
    extra=()
    # shellcheck disable=SC2207
    [ $i = 0 ] && extra=($(socket_flags))
    $rt run -d --name "$pfx-$i" --hostname "$pfx-$i" "${common_flags[@]}" "${extra[@]}" \
      "$image" sleep infinity >/dev/null
  done
  # the hostfile, inside the first container
  for ((i = 0; i < n; i++)); do echo "$pfx-$i slots=1"; done \
    | $rt exec -i "$pfx-0" sh -c 'cat > /etc/disco-hosts'
  echo "$n" > "$state"
  echo "machine.sh: $n containers $pfx-0..$pfx-$((n - 1)) on network $net" >&2 ;;
run)
  file=${1:?usage: machine.sh run FILE [disco run options]}
  shift
  # Open MPI and libfabric's tcp provider on the user network's interface
  # (eth0 in each container), never on loopback or a stray bridge
  exec $rt exec -e OMPI_MCA_plm_rsh_agent=/usr/local/bin/disco-exec-agent \
    -e DISCO_CONTAINER_RT="$rt" \
    -e OMPI_MCA_plm_rsh_no_tree_spawn=1 \
    -e OMPI_MCA_btl_tcp_if_include=eth0 -e OMPI_MCA_oob_tcp_if_include=eth0 \
    -e FI_TCP_IFACE=eth0 \
    "$pfx-0" disco run --hostfile /etc/disco-hosts "$@" "$file" ;;
exec)
  exec $rt exec -it "$pfx-0" "$@" ;;
down)
  n=$(cat "$state" 2>/dev/null || echo 64)
  for ((i = 0; i < n; i++)); do $rt rm -f "$pfx-$i" >/dev/null 2>&1 || true; done
  $rt network rm "$net" >/dev/null 2>&1 || true
  rm -f "$state" ;;
*) usage ;;
esac
