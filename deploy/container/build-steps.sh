#!/usr/bin/env bash
# build-steps.sh: how a container image of disco is made, as plain shell, so
# that the recipe can be proven where no image can be built:
#
#   deploy/container/build-steps.sh [--check]        (as root, from a checkout)
#   ../shared/tools/fresh-debian deploy/container/build-steps.sh --check
#
# The Containerfile and the Apptainer definition RUN exactly this, on a
# Debian 12 base with nothing else installed. It installs the build and run
# dependencies (script/bootstrap), builds disco, disco-node, the guest images
# and the tests into build/ (script/build), installs disco into
# ${DISCO_PREFIX:-/usr/local} and the container launch agent as
# disco-exec-agent, and with --check runs the default machine and a guest
# as a container would (FI_SHM_DISABLE_CMA=1, as root) and prints a line
# "build-steps-report: {...}" (the run's report, abridged, as compact JSON)
# that tests/deploy/container_fresh.sh checks.
set -euo pipefail
cd "$(dirname "$0")/../.."
prefix=${DISCO_PREFIX:-/usr/local}
check=0
[ "${1:-}" = --check ] && check=1

step() { echo "== build-steps: $*" >&2; }

step "packages (script/bootstrap)"
# a bare Debian base has neither sudo nor certificates; script/bootstrap runs as root here
[ "$(id -u)" = 0 ] || { echo "build-steps.sh: run as root (as a container build does)" >&2; exit 1; }
script/bootstrap

step "build (script/build: disco, disco-node, guest images, tests)"
# a build/ copied in with the sources (a builder that ignores
# Containerfile.dockerignore, as podman and docker's legacy builder may) was
# configured for another source tree, and CMake refuses it: start afresh
if [ -f build/CMakeCache.txt ] && ! grep -qxF "CMAKE_HOME_DIRECTORY:INTERNAL=$PWD" build/CMakeCache.txt; then
  echo "build-steps.sh: build/ was configured for another source tree: removing it" >&2
  rm -rf build
fi
script/build

step "install into $prefix"
cmake --install build --prefix "$prefix" >/dev/null
install -m 0755 deploy/container/exec-agent "$prefix/bin/disco-exec-agent"

if [ $check = 1 ]; then
  step "check: the installed disco runs the default machine"
  export FI_SHM_DISABLE_CMA=1 OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_hwloc_base_binding_policy=none
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  "$prefix/bin/disco" --version
  (cd "$tmp" && timeout 120 "$prefix/bin/disco" run --report "$tmp/r.json") \
    || { echo "build-steps.sh: the default machine failed" >&2; exit 1; }
  jq -e '.status == "completed" and all(.vms[]; .exit_status == 0)' "$tmp/r.json" >/dev/null \
    || { echo "build-steps.sh: the default machine did not complete" >&2; exit 1; }
  # one line of evidence for whoever ran this from outside the root (the
  # fresh-debian test): which disco, what it ran, how it ended
  echo "build-steps-report: $(jq -c --arg bin "$prefix/bin/disco" \
    '{bin: $bin, disco_version, status, provider, node_count, description_file,
      vms: [.vms[] | {name, end: .end, exit_status, instructions}]}' "$tmp/r.json")"
  step "check passed"
fi
