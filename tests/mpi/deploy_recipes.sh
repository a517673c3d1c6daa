#!/usr/bin/env bash
# The deployment recipes hold together without a container runtime, Slurm or
# a registry: the Containerfile's and the Apptainer definition's RUN steps
# name scripts that exist and parse, the CI workflow is valid YAML naming
# files that exist, the Slurm scripts parse, and the container launch agent
# really starts a machine (a stand-in `docker` that runs `docker exec HOST
# CMD` here, on loopback). The full recipe is proven by
#   ../shared/tools/fresh-debian deploy/container/build-steps.sh --check
# which the slow test deploy/container_fresh runs (DISCO_TEST_CONTAINER=1).
. "$(dirname "$0")/lib/common.bash"
: "${DISCO_SRC:?DISCO_SRC must point at the source tree (ctest sets it)}"
S=$DISCO_SRC
cf=$S/deploy/container/Containerfile
def=$S/deploy/apptainer/disco.def
ci=$S/.github/workflows/ci.yml

# repo paths a recipe names: deploy/... script/... .ci/...
paths_in() { grep -oE '(^|[ /"=])(deploy|script|\.ci)/[A-Za-z0-9_./-]*[A-Za-z0-9_-]' | sed -E 's/^[ /"=]//' | sort -u; }
check_paths() {   # check_paths WHAT < text
  local p n=0
  while read -r p; do
    [ -e "$S/$p" ] || t_fail "$1 names $p, which does not exist"
    n=$((n + 1))
  done < <(paths_in)
  [ $n -gt 0 ] || t_fail "$1 names no script of the project"
}

# 1. the Containerfile: Debian 12, the checkout copied in, RUN steps that exist
[ -f "$cf" ] || t_fail "no $cf"
grep -qE '^FROM debian:(12|bookworm)' "$cf" || t_fail "the Containerfile is not based on Debian 12"
grep -qE '^COPY \. /src' "$cf" || t_fail "the Containerfile does not copy the checkout"
# RUN instructions with their continuation lines
sed -n '/^RUN /,/[^\\]$/p' "$cf" | check_paths "a RUN step of the Containerfile"
sed -n '/^RUN /,/[^\\]$/p' "$cf" | grep -q 'deploy/container/build-steps.sh' \
  || t_fail "the Containerfile does not RUN deploy/container/build-steps.sh"
for flag in --shm-size FI_SHM_DISABLE_CMA=1 memlock; do
  grep -q -- "$flag" "$cf" || t_fail "the Containerfile does not document $flag"
done
echo "ok: Containerfile"

# 2. the steps themselves: plain shell that parses, naming scripts that exist
for f in deploy/container/build-steps.sh deploy/container/machine.sh script/bootstrap script/build; do
  bash -n "$S/$f" || t_fail "$f does not parse"
done
sh -n "$S/deploy/container/exec-agent" || t_fail "exec-agent does not parse"
for f in build-steps.sh machine.sh exec-agent; do
  [ -x "$S/deploy/container/$f" ] || t_fail "deploy/container/$f is not executable"
done
grep -v '^ *#' "$S/deploy/container/build-steps.sh" | check_paths "build-steps.sh"
echo "ok: build-steps.sh, machine.sh, exec-agent parse"

# 3. Apptainer: the same steps in %post
[ -f "$def" ] || t_fail "no $def"
grep -qE '^From: debian:(12|bookworm)' "$def" || t_fail "disco.def is not based on Debian 12"
sed -n '/^%post/,/^%[a-z]/p' "$def" | grep -v '^ *#' | check_paths "%post of disco.def"
sed -n '/^%post/,/^%[a-z]/p' "$def" | grep -q 'deploy/container/build-steps.sh' \
  || t_fail "disco.def does not run build-steps.sh"
echo "ok: disco.def"

# 4. the CI workflow
[ -f "$ci" ] || t_fail "no $ci"
if python3 -c 'import yaml' 2>/dev/null; then
  python3 - "$ci" <<'PY' || t_fail "ci.yml is not a valid workflow"
import sys, yaml
w = yaml.safe_load(open(sys.argv[1]))
jobs = w["jobs"]
assert jobs and all("runs-on" in j and "steps" in j for j in jobs.values()), "jobs need runs-on and steps"
assert any(str(j.get("container", {}).get("image", "")).startswith("debian:12") for j in jobs.values()), "no Debian 12 container job"
# ../shared/RUNNING.md: a container's /dev/shm is 64 MB; Open MPI as root needs both variables
for name, j in jobs.items():
    c = j.get("container")
    if not c:
        continue
    assert "--shm-size" in str(c.get("options", "")), name + ": the container has no --shm-size"
    env = {**w.get("env", {}), **j.get("env", {})}
    assert str(env.get("OMPI_ALLOW_RUN_AS_ROOT")) == "1" and str(env.get("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM")) == "1", \
        name + ": Open MPI as root needs OMPI_ALLOW_RUN_AS_ROOT=1 and OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"
    assert str(env.get("FI_SHM_DISABLE_CMA")) == "1", name + ": containers block CMA: FI_SHM_DISABLE_CMA=1"
PY
else
  echo "   (python3-yaml not installed: YAML not parsed)"
fi
grep -v '^ *#' "$ci" | check_paths "ci.yml"
echo "ok: ci.yml"

# 5. Slurm scripts parse and follow ../shared/RUNNING.md: --ntasks (not
# --cpus-per-task), srun through pmix (pmi2 cannot start Debian's Open MPI)
# naming libpmix-dev, interfaces pinned with include lists only
for f in "$S"/deploy/slurm/*.sbatch; do
  bash -n "$f" || t_fail "$f does not parse"
  grep -q '^#SBATCH --ntasks=' "$f" || t_fail "$f does not ask for --ntasks"
  grep -v '^ *#' "$f" | grep -q -- '--cpus-per-task' && t_fail "$f uses --cpus-per-task"
  grep -v '^ *#' "$f" | grep -q 'if_exclude' && t_fail "$f uses an exclude list"
done
srun_cmd=$(grep -v '^ *#' "$S/deploy/slurm/disco-srun.sbatch" | grep -E '^\s*srun ')
grep -q -- '--mpi=pmix' <<<"$srun_cmd" || t_fail "disco-srun.sbatch does not run srun --mpi=pmix: $srun_cmd"
grep -q 'libpmix-dev' "$S/deploy/slurm/disco-srun.sbatch" "$S/deploy/slurm/README.md" \
  || t_fail "the srun recipe does not say it needs libpmix-dev"
for f in "$S"/deploy/slurm/*.sbatch; do
  grep -q 'DISCO_IFACE' "$f" || continue
  grep -q 'OMPI_MCA_btl_tcp_if_include=\$DISCO_IFACE' "$f" || t_fail "$f pins FI_TCP_IFACE but not Open MPI's btl_tcp_if_include"
done
echo "ok: deploy/slurm"

# 6. the launch agent starts a machine: `docker exec HOST CMD` runs here,
# with a /tmp of its own per "container" as real ones have: orteds that share
# one session directory (same host name, same mpirun) race on writing its
# hwloc topology file, and one of them segfaults in
# hwloc_shmem_topology_write about one start in ten, leaving mpirun waiting
mkdir -p "$T/bin"
cat > "$T/bin/docker" <<EOF2
#!/bin/sh
echo "\$*" >> "$T/docker.log"
[ "\$1" = exec ] || exit 125
mkdir -p "$T/tmp-\$2" && export TMPDIR="$T/tmp-\$2" || exit 125
shift 2
exec "\$@"
EOF2
chmod +x "$T/bin/docker"
t_bare 3 "$T/m3.ini"
out=$(PATH="$T/bin:$PATH" OMPI_MCA_plm_rsh_agent="$S/deploy/container/exec-agent" OMPI_MCA_plm_rsh_no_tree_spawn=1 \
  OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo FI_TCP_IFACE=lo \
  timeout 90 "$DISCO" run --quiet --host c1,c2,c3 --report "$T/r.json" "$T/m3.ini" 2>&1)
rc=$?
[ $rc = 0 ] || t_fail "a machine over 3 'containers' through exec-agent: exit $rc: $out"
t_json "$T/r.json" '.status == "completed" and .node_count == 3 and .provider == "tcp;ofi_rxm"' \
  || t_fail "the report is not a completed 3-node tcp run"
for c in c1 c2 c3; do
  grep -q "^exec $c sh -c .*orted" "$T/docker.log" || t_fail "orted was not started in $c by docker exec: $(cat "$T/docker.log")"
done
echo "ok: exec-agent: pre-flight and a 3-node machine started through 'docker exec' ($(wc -l < "$T/docker.log") execs)"
