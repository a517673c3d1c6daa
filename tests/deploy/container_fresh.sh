#!/usr/bin/env bash
# The container recipe, proven without a container runtime: runs
#   ../shared/tools/fresh-debian deploy/container/build-steps.sh --check
# from the source tree, i.e. the steps the Containerfile and disco.def RUN, on a
# brand-new minimal Debian 12 root holding a clean clone of the committed HEAD:
# packages (script/bootstrap), build (script/build), install into /usr/local,
# then the installed disco runs the built-in machine. Passes when fresh-debian
# exits 0 AND the "build-steps-report:" line that --check prints shows that the
# installed /usr/local/bin/disco completed the default machine, every VM with
# exit status 0.
#
# Slow (apt-get and a full build on a bare root: 15-30 minutes on 2 cores), so
# opt-in: it runs only with DISCO_TEST_CONTAINER=1 (label "slow"); otherwise,
# and where it cannot run (not root, no fresh-debian, no git, inside a chroot
# such as fresh-debian's own, no mount namespaces), it skips with exit 77.
#
#   DISCO_TEST_CONTAINER=1 ctest -R deploy/container_fresh --output-on-failure
set -uo pipefail
: "${DISCO_SRC:?DISCO_SRC must point at the source tree (ctest sets it)}"
S=$(cd "$DISCO_SRC" && pwd)
fresh=$S/../shared/tools/fresh-debian
limit=${DISCO_TEST_CONTAINER_LIMIT:-3300}   # seconds, under ctest's TIMEOUT

skip() { echo "SKIP: $*" >&2; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

[ "${DISCO_TEST_CONTAINER:-}" = 1 ] \
  || skip "slow (apt-get and a full build in a fresh Debian 12 root, 15-30 min): set DISCO_TEST_CONTAINER=1 to run it"
# inside a chroot (fresh-debian's own, when CI runs there) a second one fails.
# A chroot into a directory sees no mount at "/" in its mountinfo (the kernel
# hides mounts outside the process's root); where /proc/1/root is readable,
# our root also differs from pid 1's.
in_chroot() {
  local _a _b _c _d mp _rest seen=0
  [ -r /proc/self/mountinfo ] || return 1
  while read -r _a _b _c _d mp _rest; do [ "$mp" = / ] && seen=1; done </proc/self/mountinfo
  [ $seen = 0 ] && return 0
  local r1
  r1=$(stat -c %d:%i /proc/1/root/ 2>/dev/null) || return 1   # not readable: no verdict
  [ "$r1" != "$(stat -c %d:%i /)" ]
}
in_chroot && skip "running inside a chroot (fresh-debian's own?): fresh-debian does not nest"
[ "$(id -u)" = 0 ] || skip "fresh-debian needs root (debootstrap, chroot, mount namespaces)"
[ -x "$fresh" ] || skip "no $fresh (../shared/tools beside the checkout)"
command -v git >/dev/null || skip "git is not installed (fresh-debian clones the committed HEAD)"
command -v jq >/dev/null || skip "jq is not installed"
command -v unshare >/dev/null || skip "unshare (util-linux) is not installed"
unshare --mount true 2>/dev/null || skip "cannot create a mount namespace here (an unprivileged container?)"
git -C "$S" rev-parse --git-dir >/dev/null 2>&1 || skip "$S is not a git checkout (fresh-debian clones its HEAD)"

head=$(git -C "$S" rev-parse --short HEAD)
if ! git -C "$S" diff --quiet HEAD -- deploy script CMakeLists.txt 2>/dev/null; then
  echo "note: uncommitted changes under deploy/, script/ or CMakeLists.txt are NOT tested: fresh-debian clones HEAD ($head)"
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/disco-fresh-test.XXXXXX")
before=$(ls -d /var/tmp/fresh-debian.* 2>/dev/null)
cleanup() {
  # a killed fresh-debian leaves its work dir: remove the ones that appeared
  # during this run and that no process still uses as its root
  local d p used
  for d in $(ls -d /var/tmp/fresh-debian.* 2>/dev/null); do
    grep -qxF "$d" <<<"$before" && continue
    used=0
    for p in /proc/[0-9]*; do
      case "$(readlink "$p/root" 2>/dev/null)" in "$d"/*) used=1; break ;; esac
    done
    [ $used = 0 ] && rm -rf --one-file-system "$d"
  done
  rm -rf "$T"
}
trap cleanup EXIT

echo "running: ../shared/tools/fresh-debian deploy/container/build-steps.sh --check  (HEAD $head, limit ${limit}s)"
start=$(date +%s)
(cd "$S" && timeout --kill-after=30 "$limit" "$fresh" deploy/container/build-steps.sh --check) >"$T/log" 2>&1
rc=$?
secs=$(( $(date +%s) - start ))
cat "$T/log"
echo "fresh-debian: exit $rc after ${secs}s"
[ $rc != 124 ] && [ $rc != 137 ] || fail "the recipe did not finish within ${limit}s"
[ $rc = 0 ] || fail "fresh-debian deploy/container/build-steps.sh --check exited $rc (log above)"

# the evidence: the installed disco ran the default machine to completion
line=$(grep -m1 '^build-steps-report: ' "$T/log") \
  || fail "exit 0 but no 'build-steps-report:' line: --check did not run the machine"
rep=${line#build-steps-report: }
jq -e . >/dev/null <<<"$rep" || fail "the build-steps-report line is not JSON: $rep"
jq -e '.bin == "/usr/local/bin/disco"' >/dev/null <<<"$rep" \
  || fail "the machine was not run by the installed /usr/local/bin/disco: $rep"
jq -e '.status == "completed" and .description_file == "<default>" and .node_count >= 1' >/dev/null <<<"$rep" \
  || fail "the default machine did not complete: $rep"
jq -e '(.vms | length) >= 1 and all(.vms[]; .exit_status == 0 and .end == "poweroff" and .instructions > 0)' >/dev/null <<<"$rep" \
  || fail "not every VM of the default machine ran and powered off with status 0: $rep"
jq -e '(.disco_version | type) == "string" and (.disco_version | length) > 0' >/dev/null <<<"$rep" \
  || fail "the report names no disco version: $rep"
echo "ok: on a fresh Debian 12 root, the recipe installed disco $(jq -r .disco_version <<<"$rep") and it ran the default machine: $(jq -c '{status, node_count, provider, vms: [.vms[] | "\(.name):\(.exit_status)"]}' <<<"$rep") in ${secs}s"
