/*
 * preflight.c — before a machine spreads over several hosts: can every host
 * run it, with the same disco? And inside a Slurm allocation: does the
 * allocation match the description?
 *
 * The check goes through the launch path the run itself will use: for each
 * host, `mpirun -np 1 --host HOST sh -c PROBE` with the same mpirun, the
 * same --mpirun-arg options and the same environment (plm_rsh_agent, Slurm,
 * ssh). All hosts are probed at once, each under a time limit. The probe
 * prints what the run needs from that host:
 *
 *   host NAME                      gethostname() there
 *   node CKSUM SIZE | missing | noexec
 *   version STATUS TEXT            `disco-node --version` (loads libmpi: proves it links)
 *   desc CKSUM SIZE | missing      the description, read at the same path by every node
 *   image ok|missing SPEC [CKSUM]  each guest image the description names
 *   end
 *
 * The same probe runs here with plain sh; a host whose answers differ from
 * this host's, or that does not answer, is named with what it lacks. Any
 * failure stops `disco run` before a single node starts.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/desc.h"
#include "launcher/launcher.h"

#define PF_MAX_HOSTS	4096
#define PF_LINE		1024

static const char probe_script[] =
	"echo \"host $(hostname)\"\n"
	"n=$1 d=$2; shift 2\n"
	"if [ ! -e \"$n\" ]; then echo 'node missing'\n"
	"elif [ ! -x \"$n\" ]; then echo 'node noexec'\n"
	"else echo \"node $(cksum < \"$n\")\"\n"
	"  v=$(\"$n\" --version 2>&1); echo \"version $? $(echo \"$v\" | head -n 1)\"\n"
	"fi\n"
	"if [ -n \"$d\" ]; then\n"
	"  if [ -r \"$d\" ]; then echo \"desc $(cksum < \"$d\")\"; else echo 'desc missing'; fi\n"
	"fi\n"
	"nd=$(dirname \"$n\")\n"
	"for i; do\n"
	"  f=; sum=\n"
	"  case $i in\n"
	"  guest:*) g=${i#guest:}\n"
	"    if [ -n \"$DISCO_GUEST_DIR\" ]; then set -- \"$DISCO_GUEST_DIR/$g.elf\"\n"
	"    else set -- \"$nd/../guest/$g.elf\" \"$nd/../share/disco/guest/$g.elf\"; fi\n"
	"    for c; do [ -r \"$c\" ] && { f=$c; break; }; done\n"
	"    [ -n \"$f\" ] && sum=$(cksum < \"$f\");;\n"
	"  *) [ -r \"$i\" ] && f=$i;;\n"
	"  esac\n"
	"  if [ -n \"$f\" ]; then echo \"image ok $i $sum\"; else echo \"image missing $i\"; fi\n"
	"done\n"
	"echo end\n";

struct probe {
	char host[256];
	pid_t pid;
	int status;		/* wait status; -1 while running or when killed for time */
	bool timed_out;
	char out_path[64], err_path[64];
	char tmp_path[64];	/* its own Open MPI session directory here */
};

/* the answers of one probe, parsed */
struct answers {
	bool ended;
	char host[PF_LINE], node[PF_LINE], version[PF_LINE], desc[PF_LINE];
	char images[PF_LINE * 4];	/* the "image ..." lines, joined by '\n' */
};

static bool host_seen(char (*hosts)[256], unsigned n, const char *h)
{
	for (unsigned i = 0; i < n; i++)
		if (!strcmp(hosts[i], h))
			return true;
	return false;
}

static int add_host(char (*hosts)[256], unsigned *n, const char *h, size_t len)
{
	char name[256];
	if (len == 0)
		return 0;
	if (len >= sizeof(name))
		return -ENAMETOOLONG;
	memcpy(name, h, len);
	name[len] = 0;
	if (host_seen(hosts, *n, name))
		return 0;
	if (*n >= PF_MAX_HOSTS)
		return -E2BIG;
	snprintf(hosts[(*n)++], 256, "%s", name);
	return 0;
}

/*
 * The host names of an Open MPI hostfile (first word of each line, comments
 * after '#') and of a --host list (host[:slots],...), without duplicates.
 * Returns 0 or a negative errno with err set.
 */
static int collect_hosts(const char *hostfile, const char *hostlist, char (*hosts)[256], unsigned *n,
			 char *err, size_t errlen)
{
	int r = 0;
	*n = 0;
	if (hostfile) {
		FILE *f = fopen(hostfile, "r");
		if (!f) {
			snprintf(err, errlen, "--hostfile %s: %s", hostfile, strerror(errno));
			return -errno;
		}
		char line[PF_LINE];
		while (!r && fgets(line, sizeof(line), f)) {
			char *hash = strchr(line, '#');
			if (hash)
				*hash = 0;
			char *p = line + strspn(line, " \t\r\n");
			r = add_host(hosts, n, p, strcspn(p, " \t\r\n"));
		}
		fclose(f);
	}
	for (const char *p = hostlist; !r && p && *p;) {
		size_t len = strcspn(p, ",");
		size_t name = strcspn(p, ",:");
		r = add_host(hosts, n, p, name < len ? name : len);
		p += len + (p[len] == ',');
	}
	if (r)
		snprintf(err, errlen, "too many hosts or a host name too long (%s)", strerror(-r));
	else if (*n == 0)
		snprintf(err, errlen, "no host names in %s", hostfile ? hostfile : "--host");
	return r ? r : (*n ? 0 : -EINVAL);
}

/* The hosts of the Slurm allocation we run in: `scontrol show hostnames`. */
static int slurm_hosts(char (*hosts)[256], unsigned *n, char *err, size_t errlen)
{
	*n = 0;
	FILE *p = popen("scontrol show hostnames \"$SLURM_JOB_NODELIST\" 2>/dev/null", "r");
	if (!p) {
		snprintf(err, errlen, "cannot run scontrol: %s", strerror(errno));
		return -errno;
	}
	char line[PF_LINE];
	int r = 0;
	while (!r && fgets(line, sizeof(line), p))
		r = add_host(hosts, n, line, strcspn(line, " \t\r\n"));
	int st = pclose(p);
	if (r || st != 0 || *n == 0) {
		snprintf(err, errlen, "cannot list the allocation's hosts with `scontrol show hostnames %s`",
			 getenv("SLURM_JOB_NODELIST") ? getenv("SLURM_JOB_NODELIST") : "");
		return -EINVAL;
	}
	return 0;
}

/* The probe's arguments after the script: disco-node, the description, the images. */
static char **probe_args(const struct launcher_preflight *pf, int *count)
{
	const struct desc *d = pf->desc;
	char **v = calloc(4 + 3 * (size_t)d->n_vms + 1, sizeof(char *));
	int n = 0;
	if (!v)
		return NULL;
	v[n++] = (char *)"disco-probe";		/* $0 */
	v[n++] = (char *)pf->node_prog;
	v[n++] = (char *)(pf->desc_path ? pf->desc_path : "");
	for (unsigned i = 0; i < d->n_vms; i++) {
		const struct desc_vm *vm = &d->vms[i];
		const char *paths[] = { vm->kernel, vm->bios, vm->initrd };
		const char *names[] = { "kernel", "bios", "initrd" };
		for (int k = 0; k < 3; k++) {
			bool dup = false;
			if (!paths[k][0] || !strcmp(paths[k], "none"))
				continue;
			if (desc_vm_path_deferred(vm, names[k]))
				continue;	/* ${NAME}: each node's own file, which may differ by design */
			for (int j = 3; j < n; j++)
				dup |= !strcmp(v[j], paths[k]);
			if (!dup)
				v[n++] = (char *)paths[k];
		}
	}
	v[n] = NULL;
	*count = n;
	return v;
}

static pid_t spawn(char **argv, const char *out_path, const char *err_path)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	setpgid(0, 0);	/* so that a probe out of time goes with everything it started */
	int in = open("/dev/null", O_RDONLY);
	int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (in < 0 || out < 0 || err < 0)
		_exit(126);
	dup2(in, 0);
	dup2(out, 1);
	dup2(err, 2);
	execvp(argv[0], argv);
	fprintf(stderr, "cannot start %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/*
 * Read a probe's answers. rank < 0: the whole output is one host's; rank >=
 * 0: a joint probe's output (mpirun --tag-output), only the lines of that
 * rank ("[JOB,RANK]<stdout>:LINE"). Returns 1 when that rank said anything.
 */
static int parse_answers(const char *path, int rank, struct answers *a)
{
	int any = 0;
	memset(a, 0, sizeof(*a));
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char buf[PF_LINE];
	while (fgets(buf, sizeof(buf), f)) {
		char *line = buf;
		buf[strcspn(buf, "\n")] = 0;
		if (rank >= 0) {
			int r, off = 0;
			if (sscanf(buf, "[%*d,%d]<stdout>:%n", &r, &off) < 1 || off == 0 || r != rank)
				continue;
			line = buf + off;
			any = 1;
		}
		/* Open MPI may tag or prefix nothing here, but skip anything that is not ours */
		if (!strncmp(line, "host ", 5))
			snprintf(a->host, sizeof(a->host), "%s", line + 5);
		else if (!strncmp(line, "node ", 5))
			snprintf(a->node, sizeof(a->node), "%s", line + 5);
		else if (!strncmp(line, "version ", 8))
			snprintf(a->version, sizeof(a->version), "%s", line + 8);
		else if (!strncmp(line, "desc ", 5))
			snprintf(a->desc, sizeof(a->desc), "%s", line + 5);
		else if (!strncmp(line, "image ", 6)) {
			size_t used = strlen(a->images);
			snprintf(a->images + used, sizeof(a->images) - used, "%s\n", line + 6);
		} else if (!strcmp(line, "end"))
			a->ended = true;
	}
	fclose(f);
	return any;
}

/* host names equal, or equal up to the first dot (node01 and node01.cluster) */
static bool same_host(const char *a, const char *b)
{
	size_t la = strcspn(a, "."), lb = strcspn(b, ".");
	return !strcmp(a, b) || (la == lb && !strncmp(a, b, la));
}

/* The first line of a probe's stderr that says something (not an Open MPI banner rule). */
static void first_error_line(const char *path, char *out, size_t len)
{
	out[0] = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	char line[PF_LINE];
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		char *p = line + strspn(line, " \t");
		if (*p && *p != '-' && *p != '*') {
			snprintf(out, len, "%s", p);
			break;
		}
	}
	fclose(f);
}

/* Compare one host's answers with this host's; print what is wrong. Returns the problems found. */
static int judge(const char *host, const struct answers *a, const struct answers *here,
		 const struct launcher_preflight *pf, FILE *out)
{
	int bad = 0;
	if (!strcmp(a->node, "missing")) {
		fprintf(out, "disco run: host %s lacks disco-node (%s)\n", host, pf->node_prog);
		return 1;
	}
	if (!strcmp(a->node, "noexec")) {
		fprintf(out, "disco run: host %s: disco-node is not executable (%s)\n", host, pf->node_prog);
		return 1;
	}
	if (strncmp(a->version, "0 ", 2)) {
		fprintf(out, "disco run: host %s: disco-node does not start there (%s): %s\n", host, pf->node_prog,
			a->version[0] ? a->version : "no answer");
		bad++;
	} else if (strcmp(a->node, here->node)) {
		fprintf(out, "disco run: host %s runs another disco-node (%s, cksum %s; here %s, cksum %s)\n", host,
			a->version + 2, a->node, here->version[0] == '0' ? here->version + 2 : "?", here->node);
		bad++;
	}
	if (pf->desc_path && pf->desc_path[0]) {
		if (!strcmp(a->desc, "missing")) {
			fprintf(out, "disco run: host %s lacks the description %s (the nodes read it at the same path: "
				"use a shared file system or copy it)\n", host, pf->desc_path);
			bad++;
		} else if (strcmp(a->desc, here->desc)) {
			fprintf(out, "disco run: host %s has another %s (cksum %s; here %s)\n", host, pf->desc_path,
				a->desc, here->desc);
			bad++;
		}
	}
	/* images: same lines in the same order as here */
	const char *p = a->images, *q = here->images;
	while (*p) {
		size_t lp = strcspn(p, "\n"), lq = strcspn(q, "\n");
		if (!strncmp(p, "missing ", 8)) {
			fprintf(out, "disco run: host %s lacks the guest image %.*s\n", host, (int)(lp - 8), p + 8);
			bad++;
		} else if (lp != lq || strncmp(p, q, lp)) {
			fprintf(out, "disco run: host %s has another guest image: %.*s (here: %.*s)\n", host, (int)lp, p,
				(int)lq, q);
			bad++;
		}
		p += lp + (p[lp] == '\n');
		q += lq + (q[lq] == '\n');
	}
	return bad;
}

/*
 * Signal a probe and everything it started. mpirun puts its ssh (or agent)
 * children in process groups of their own, so killing mpirun's group would
 * leave an ssh to an unreachable host behind: walk /proc for descendants.
 */
static void kill_tree(pid_t root, int sig)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	if (d) {
		while ((e = readdir(d))) {
			char path[300], buf[512];
			pid_t pid = (pid_t)atoi(e->d_name);
			if (pid <= 0)
				continue;
			snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
			FILE *f = fopen(path, "r");
			if (!f)
				continue;
			size_t n = fread(buf, 1, sizeof(buf) - 1, f);
			fclose(f);
			buf[n] = 0;
			/* "pid (comm) state ppid ...": comm may hold spaces and parentheses */
			char *rp = strrchr(buf, ')');
			int ppid = 0;
			if (rp && sscanf(rp + 1, " %*c %d", &ppid) == 1 && ppid == root)
				kill_tree(pid, sig);
		}
		closedir(d);
	}
	kill(root, sig);
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;	/* remove what can be removed */
}

/*
 * A joint probe: one mpirun over every host, answers tagged by rank. Each
 * rank is judged under the host name it reports; hosts of the list that no
 * rank reports are named when fewer hosts answered than were listed.
 */
static int judge_joint(const struct probe *p, char (*hosts)[256], unsigned n, const struct answers *here,
		       const struct launcher_preflight *pf, FILE *out)
{
	struct answers a;
	bool *answered = calloc(n, sizeof(bool));
	unsigned ranks = 0, ended = 0;
	int bad = 0;
	if (!answered)
		return 1;
	for (int rank = 0; rank < PF_MAX_HOSTS && parse_answers(p->out_path, rank, &a); rank++) {
		ranks++;
		if (!a.ended)
			continue;
		ended++;
		for (unsigned i = 0; i < n; i++)
			if (same_host(hosts[i], a.host))
				answered[i] = true;
		bad += judge(a.host, &a, here, pf, out);
	}
	if (ended < n) {
		char why[PF_LINE];
		first_error_line(p->err_path, why, sizeof(why));
		for (unsigned i = 0; i < n; i++)
			if (!answered[i]) {
				fprintf(out, "disco run: host %s did not answer the pre-flight probe%s%s\n", hosts[i],
					p->timed_out ? " in time" : "", ended < ranks ? " completely" : "");
				bad++;
			}
		if (why[0])
			fprintf(out, "disco run: pre-flight: mpirun said: %s\n", why);
	}
	free(answered);
	return bad;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int launcher_preflight(const struct launcher_preflight *pf, FILE *out)
{
	char err[PF_LINE] = "", dir[] = "/tmp/disco-preflight-XXXXXX";
	char (*hosts)[256] = calloc(PF_MAX_HOSTS, 256);
	struct probe *pr = NULL;
	char **pargs = NULL;
	unsigned n = 0;
	int bad = 0, r, nargs;
	double t0 = now_s();
	/*
	 * Per host by default, so that an unreachable host is named; one joint
	 * mpirun inside a Slurm allocation (whose hosts Slurm vouches for, and
	 * where concurrent job steps may queue) or when asked
	 * (DISCO_PREFLIGHT=joint, quicker with many hosts).
	 */
	const char *mode = getenv("DISCO_PREFLIGHT");
	bool joint = !(pf->hostfile || pf->hostlist) || (mode && !strcmp(mode, "joint"));

	if (!hosts)
		return -ENOMEM;
	if (pf->hostfile || pf->hostlist)
		r = collect_hosts(pf->hostfile, pf->hostlist, hosts, &n, err, sizeof(err));
	else
		r = slurm_hosts(hosts, &n, err, sizeof(err));
	if (r) {
		fprintf(out, "disco run: pre-flight: %s (--skip-preflight to start anyway)\n", err);
		goto out_hosts;
	}
	pargs = probe_args(pf, &nargs);
	pr = calloc(n + 1, sizeof(*pr));	/* pr[n]: this host */
	if (!pargs || !pr || !mkdtemp(dir)) {
		r = -ENOMEM;
		if (pargs && pr)
			r = -errno;
		fprintf(out, "disco run: pre-flight: %s\n", strerror(-r));
		goto out_mem;
	}

	/*
	 * argv: MPIRUN (-np 1 --host H | --map-by ppr:1:node --tag-output [HOSTS]) --mca
	 * orte_local_tmpdir_base DIR [--allow-run-as-root] ARGS... sh -c SCRIPT PROBE-ARGS...
	 */
	int pre = 0;
	char **argv = calloc((size_t)(16 + pf->n_mpirun_args + nargs + 4), sizeof(char *));
	if (!argv) {
		r = -ENOMEM;
		goto out_dir;
	}
	argv[pre++] = (char *)pf->mpirun;
	int host_slot = 0;
	if (joint) {
		/* one process on each host of the hostfile, the --host list or the allocation */
		argv[pre++] = (char *)"--map-by";
		argv[pre++] = (char *)"ppr:1:node";
		argv[pre++] = (char *)"--tag-output";
		if (pf->hostfile) {
			argv[pre++] = (char *)"--hostfile";
			argv[pre++] = (char *)pf->hostfile;
		}
		if (pf->hostlist) {
			argv[pre++] = (char *)"--host";
			argv[pre++] = (char *)pf->hostlist;
		}
	} else {
		argv[pre++] = (char *)"-np";
		argv[pre++] = (char *)"1";
		argv[pre++] = (char *)"--host";
		host_slot = pre++;
	}
	/*
	 * Probes started at once share the session directory Open MPI makes
	 * under /tmp for this host, and one that ends removes it while another
	 * creates its own in it ("A call to mkdir was unable to create the
	 * desired directory"): each gets a base of its own here.
	 */
	argv[pre++] = (char *)"--mca";
	argv[pre++] = (char *)"orte_local_tmpdir_base";
	int tmp_slot = pre++;
	if (geteuid() == 0)
		argv[pre++] = (char *)"--allow-run-as-root";
	if (getenv("DISCO_GUEST_DIR")) {
		argv[pre++] = (char *)"-x";
		argv[pre++] = (char *)"DISCO_GUEST_DIR";
	}
	for (int i = 0; i < pf->n_mpirun_args; i++)
		argv[pre++] = pf->mpirun_args[i];
	int sh_slot = pre;
	argv[pre++] = (char *)"sh";
	argv[pre++] = (char *)"-c";
	argv[pre++] = (char *)probe_script;
	for (int i = 0; i < nargs; i++)
		argv[pre++] = pargs[i];
	argv[pre] = NULL;

	fflush(NULL);
	for (unsigned i = 0; i <= n; i++) {
		struct probe *p = &pr[i];
		snprintf(p->out_path, sizeof(p->out_path), "%s/%u.out", dir, i);
		snprintf(p->err_path, sizeof(p->err_path), "%s/%u.err", dir, i);
		snprintf(p->tmp_path, sizeof(p->tmp_path), "%s/%u.d", dir, i);
		p->status = -1;
		if (joint && i > 0 && i < n)
			continue;	/* pr[0] probes them all */
		if (i < n) {
			snprintf(p->host, sizeof(p->host), "%s", joint ? "(all)" : hosts[i]);
			mkdir(p->tmp_path, 0700);
			if (!joint)
				argv[host_slot] = p->host;
			argv[tmp_slot] = p->tmp_path;
			p->pid = spawn(argv, p->out_path, p->err_path);
		} else {
			snprintf(p->host, sizeof(p->host), "this host");
			p->pid = spawn(argv + sh_slot, p->out_path, p->err_path);
		}
		if (p->pid < 0) {
			r = -errno;
			fprintf(out, "disco run: pre-flight: fork: %s\n", strerror(errno));
			n = i;		/* wait for the ones started */
			break;
		}
	}

	/* wait for every probe, up to the time limit */
	unsigned left = 0;
	for (unsigned i = 0; i <= n; i++)
		left += pr[i].pid > 0;
	bool killed = false;
	while (left) {
		int st;
		pid_t w = waitpid(-1, &st, WNOHANG);
		if (w > 0) {
			for (unsigned i = 0; i <= n; i++)
				if (pr[i].pid == w) {
					pr[i].status = st;
					pr[i].pid = 0;
					left--;
				}
			continue;
		}
		if (w < 0 && errno != EINTR)
			break;
		double el = now_s() - t0;
		if (!killed && el > pf->timeout_s) {
			for (unsigned i = 0; i <= n; i++)
				if (pr[i].pid > 0) {
					pr[i].timed_out = true;
					kill_tree(pr[i].pid, SIGTERM);
					kill(-pr[i].pid, SIGTERM);
				}
			killed = true;
		} else if (killed && el > pf->timeout_s + 5) {
			for (unsigned i = 0; i <= n; i++)
				if (pr[i].pid > 0) {
					kill_tree(pr[i].pid, SIGKILL);
					kill(-pr[i].pid, SIGKILL);
				}
		}
		usleep(20000);
	}
	free(argv);
	if (r)
		goto out_files;

	struct answers here, a;
	parse_answers(pr[n].out_path, -1, &here);
	if (!here.ended || strncmp(here.version, "0 ", 2)) {
		fprintf(out, "disco run: pre-flight: disco-node does not run on this host (%s): %s\n", pf->node_prog,
			here.version[0] ? here.version : here.node);
		bad++;
	}
	if (joint) {
		bad += judge_joint(&pr[0], hosts, n, &here, pf, out);
		goto verdict;
	}
	for (unsigned i = 0; i < n; i++) {
		struct probe *p = &pr[i];
		parse_answers(p->out_path, -1, &a);
		if (p->timed_out && !a.ended) {
			fprintf(out, "disco run: host %s is unreachable: no answer through mpirun within %.0f s\n", p->host,
				pf->timeout_s);
			bad++;
			continue;
		}
		if (!a.ended) {
			char why[PF_LINE];
			first_error_line(p->err_path, why, sizeof(why));
			int code = WIFEXITED(p->status) ? WEXITSTATUS(p->status) : 128 + WTERMSIG(p->status);
			fprintf(out, "disco run: host %s is unreachable: mpirun could not start a process there (exit %d)%s%s\n",
				p->host, code, why[0] ? ": " : "", why);
			bad++;
			continue;
		}
		bad += judge(p->host, &a, &here, pf, out);
	}
verdict:
	if (bad) {
		fprintf(out, "disco run: pre-flight failed on %s (%.1f s); nothing was started (--skip-preflight to start anyway)\n",
			n == 1 ? "the host" : "the hosts", now_s() - t0);
		r = -EHOSTUNREACH;
	} else if (!pf->quiet) {
		fprintf(out, "disco run: pre-flight: %u host%s run%s %s (cksum %.*s)%s, %.1f s\n", n,
			n == 1 ? "" : "s", n == 1 ? "s" : "", here.version + 2, (int)strcspn(here.node, " "), here.node,
			nargs > 3 ? " with the description's guest images" : "", now_s() - t0);
	}

out_files:
	for (unsigned i = 0; i <= n; i++) {
		unlink(pr[i].out_path);
		unlink(pr[i].err_path);
		if (pr[i].tmp_path[0])
			nftw(pr[i].tmp_path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	}
out_dir:
	rmdir(dir);
out_mem:
	free(pargs);
	free(pr);
out_hosts:
	free(hosts);
	return r;
}

/*
 * Inside a Slurm allocation the allocation decides the rank count: a
 * description that asks for another count is refused here, before mpirun
 * starts, with what to change. Returns 0, or -EINVAL with err set.
 */
int launcher_slurm_check(unsigned nodes, const char *file, struct launcher_slurm *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	const char *job = getenv("SLURM_JOB_ID");
	if (!job || !*job)
		return 0;
	s->in_allocation = true;
	const char *nn = getenv("SLURM_JOB_NUM_NODES") ? getenv("SLURM_JOB_NUM_NODES") : getenv("SLURM_NNODES");
	s->hosts = nn ? (unsigned)atoi(nn) : 1;
	const char *nt = getenv("SLURM_NTASKS") ? getenv("SLURM_NTASKS") : getenv("SLURM_NPROCS");
	s->tasks = nt ? (unsigned)atoi(nt) : 0;
	if (s->tasks && s->tasks != nodes) {
		snprintf(err, errlen,
			 "Slurm job %s has %u tasks (SLURM_NTASKS) but %s describes %u nodes: "
			 "submit with --ntasks=%u, or set nodes = %u in [machine]",
			 job, s->tasks, file ? file : "the built-in machine", nodes, nodes, s->tasks);
		return -EINVAL;
	}
	return 0;
}
