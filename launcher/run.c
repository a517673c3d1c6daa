/*
 * run.c — `disco run`: check the description, build the mpirun command
 * line, run it, and summarise the report.
 *
 * The description is checked here, before any rank starts: a bad file is a
 * message naming its line, not N failing ranks. On one host (the default)
 * every rank runs here on the shm provider, with Open MPI pinned to the
 * loopback interface; with a hostfile the ranks spread over its hosts on
 * tcp;ofi_rxm unless told otherwise, after a pre-flight check (preflight.c)
 * that every host can run the machine with the same disco. Inside a Slurm
 * allocation the allocation gives the rank count and the hosts.
 *
 * Quick runs (`--kernel`) take QEMU's option names and write a one-VM,
 * one-node description to a temporary file; the guest's exit status becomes
 * disco's.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common/desc.h"
#include "launcher/launcher.h"

struct argv_buf {
	char **v;
	int n, cap;
};

static void av_push(struct argv_buf *a, const char *s)
{
	if (a->n + 2 > a->cap) {
		a->cap = a->cap ? a->cap * 2 : 64;
		a->v = realloc(a->v, sizeof(char *) * (size_t)a->cap);
		if (!a->v) {
			perror("disco");
			exit(1);
		}
	}
	a->v[a->n++] = strdup(s);
	a->v[a->n] = NULL;
}

/* push "prefix" followed by value */
static void av_push2(struct argv_buf *a, const char *prefix, const char *value)
{
	size_t n = strlen(prefix) + strlen(value) + 1;
	char *buf = malloc(n);
	if (!buf) {
		perror("disco");
		exit(1);
	}
	snprintf(buf, n, "%s%s", prefix, value);
	av_push(a, buf);
	free(buf);
}

static void run_usage(FILE *out)
{
	fprintf(out,
		"usage: disco run [OPTIONS] [MACHINE.ini]\n"
		"       disco run --kernel FILE [--bios FILE] [--initrd FILE] [--append ARGS]\n"
		"                 [--disk IMG] [--smp N] [--mem SIZE] [OPTIONS]\n"
		"\n"
		"Start the machine a description gives (the built-in default without one):\n"
		"one MPI rank per node through mpirun, and write the JSON run report.\n"
		"With --kernel, run one VM on one node, as QEMU would; the guest's exit\n"
		"status (test device, HTIF, SBI reset) becomes disco's.\n"
		"\n"
		"options:\n"
		"  --dry-run            print the mpirun command line and exit\n"
		"  --report FILE        where to write the report (default: [machine] report)\n"
		"  --provider NAME      fabric: shm, tcp, verbs, efa, cxi (default: shm on one\n"
		"                       host, tcp across hosts; FI_PROVIDER overrides all)\n"
		"  --hostfile FILE      spread the nodes over these hosts (Open MPI hostfile)\n"
		"  --host LIST          the same, as host[:slots],host... (Open MPI --host)\n"
		"  --skip-preflight     across hosts, start without first checking that every\n"
		"                       host is reachable and has the same disco-node, the\n"
		"                       description and the guest images\n"
		"  --idle SECONDS       keep the nodes up this long even with nothing to run\n"
		"  --mpirun-arg ARG     pass ARG to mpirun (repeatable)\n"
		"  --quiet              no summary after the run\n"
		"  --help               this text\n"
		"quick-run options (QEMU's names):\n"
		"  --kernel FILE        guest ELF or raw image\n"
		"  --bios FILE|none     firmware run in M mode at 0x80000000 (e.g. OpenSBI fw_jump)\n"
		"  --initrd FILE, --append ARGS, --disk IMG\n"
		"  --smp N              harts (default 1)\n"
		"  --mem SIZE           guest memory (default 128M)\n"
		"\n"
		"environment: DISCO_MPIRUN (mpirun to use), DISCO_LOG, FI_PROVIDER,\n"
		"DISCO_PREFLIGHT_TIMEOUT (seconds per host, default 30).\n"
		"Inside a Slurm allocation (SLURM_JOB_ID set) the description's node count\n"
		"must equal SLURM_NTASKS, and an allocation of several hosts runs on tcp.\n");
}

void launcher_sibling(const char *name, char *out, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			/* installed: bin/disco beside bin/disco-node; build tree: launcher/ beside node/ */
			snprintf(out, len, "%s/%s", exe, name);
			if (access(out, X_OK) == 0)
				return;
			snprintf(out, len, "%s/../node/%s", exe, name);
			if (access(out, X_OK) == 0)
				return;
			/* helper programs: installed in libexec/disco, built in tests/ */
			snprintf(out, len, "%s/../libexec/disco/%s", exe, name);
			if (access(out, X_OK) == 0)
				return;
			snprintf(out, len, "%s/../tests/coh/%s", exe, name);
			if (access(out, X_OK) == 0)
				return;
		}
	}
	snprintf(out, len, "%s", name);
}

bool launcher_have_program(const char *name)
{
	const char *path = getenv("PATH");
	if (!path)
		return false;
	char *copy = strdup(path), *save = NULL;
	bool found = false;
	for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s", d, name);
		found = access(p, X_OK) == 0;
	}
	free(copy);
	return found;
}

static void abs_path(const char *in, char *out, size_t len)
{
	char *r = realpath(in, NULL);
	snprintf(out, len, "%s", r ? r : in);
	free(r);
}

/* `key = path` in a description: a '$' in the path is written $$, as paths expand ${NAME} (docs/machine.md) */
static void put_path(FILE *f, const char *key, const char *path)
{
	fprintf(f, "%s = ", key);
	for (const char *p = path; *p; p++)
		fputs(*p == '$' ? "$$" : (char[2]){ *p, 0 }, f);
	fputc('\n', f);
}

static void shell_quote_print(char **v, FILE *out)
{
	for (int i = 0; v[i]; i++) {
		const char *s = v[i];
		bool plain = *s != 0;
		for (const char *p = s; *p; p++)
			if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,@+%", *p))
				plain = false;
		if (i)
			fputc(' ', out);
		if (plain) {
			fputs(s, out);
		} else {
			fputc('\'', out);
			for (const char *p = s; *p; p++)
				if (*p == '\'')
					fputs("'\\''", out);
				else
					fputc(*p, out);
			fputc('\'', out);
		}
	}
	fputc('\n', out);
}

static const char *fabric_name(const char *p)
{
	if (!strcmp(p, "tcp"))
		return "tcp;ofi_rxm";
	if (!strcmp(p, "verbs"))
		return "verbs;ofi_rxm";
	return p;
}

static volatile sig_atomic_t child_pid, stop_requests;

/*
 * A stop request (SIGINT, SIGTERM, SIGHUP to disco) reaches the nodes as
 * SIGUSR1, which mpirun forwards to every rank: the nodes stop their VMs and
 * write the report. mpirun's own reaction to SIGTERM would kill the ranks
 * before they could. A second request kills the job outright.
 */
/* How many processes whose parent is pid are running, and how many have ended (zombies), from /proc. */
static void children_of(pid_t pid, unsigned *alive, unsigned *ended)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	*alive = *ended = 0;
	while (d && (e = readdir(d))) {
		char path[300], buf[512], state;
		const char *rp;
		long ppid;
		FILE *f;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		buf[fread(buf, 1, sizeof(buf) - 1, f)] = '\0';
		fclose(f);
		rp = strrchr(buf, ')');	/* (the command may hold spaces and parentheses) */
		if (!rp || sscanf(rp + 1, " %c %ld", &state, &ppid) != 2 || ppid != pid)
			continue;
		if (state == 'Z')
			(*ended)++;
		else
			(*alive)++;
	}
	if (d)
		closedir(d);
}

#define MPIRUN_STUCK_S	5

/*
 * Wait for mpirun. Open MPI 4.1's mpirun sometimes never returns after a
 * rank was killed: every rank it started has ended, it does not reap them
 * (zombies) and waits on a futex for ever (seen in mpi/dead_rank's fresh
 * Debian runs). Once mpirun's children have all been zombies for
 * MPIRUN_STUCK_S seconds, it is stuck: it is ended with SIGKILL. (Across
 * hosts its children are its launchers, alive while the job runs.)
 */
static void wait_mpirun(pid_t pid, int *status)
{
	const struct timespec tick = { 0, 250000000 };
	int stuck_ticks = 0;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		unsigned alive, ended;

		if (r == pid || (r < 0 && errno != EINTR))
			return;
		children_of(pid, &alive, &ended);
		stuck_ticks = ended && !alive ? stuck_ticks + 1 : 0;
		if (stuck_ticks == MPIRUN_STUCK_S * 4) {
			fprintf(stderr, "disco run: every node has ended but mpirun (pid %d) has not returned for %d s: "
				"stopping it\n", (int)pid, MPIRUN_STUCK_S);
			kill(pid, SIGKILL);
			while (waitpid(pid, status, 0) < 0 && errno == EINTR)
				;
			return;
		}
		nanosleep(&tick, NULL);
	}
}

static void forward_signal(int sig)
{
	if (child_pid <= 0)
		return;
	kill(child_pid, stop_requests++ ? SIGTERM : SIGUSR1);
}

int cmd_run(int argc, char **argv)
{
	enum { O_DRY = 1000, O_REPORT, O_PROVIDER, O_HOSTFILE, O_HOST, O_NOPRE, O_IDLE, O_MPIARG, O_QUIET,
	       O_KERNEL, O_BIOS, O_INITRD, O_APPEND, O_DISK, O_SMP, O_MEM, O_HELP };
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, O_DRY },
		{ "report", required_argument, NULL, O_REPORT },
		{ "provider", required_argument, NULL, O_PROVIDER },
		{ "hostfile", required_argument, NULL, O_HOSTFILE },
		{ "host", required_argument, NULL, O_HOST },
		{ "skip-preflight", no_argument, NULL, O_NOPRE },
		{ "idle", required_argument, NULL, O_IDLE },
		{ "mpirun-arg", required_argument, NULL, O_MPIARG },
		{ "quiet", no_argument, NULL, O_QUIET },
		{ "kernel", required_argument, NULL, O_KERNEL },
		{ "bios", required_argument, NULL, O_BIOS },
		{ "initrd", required_argument, NULL, O_INITRD },
		{ "append", required_argument, NULL, O_APPEND },
		{ "disk", required_argument, NULL, O_DISK },
		{ "smp", required_argument, NULL, O_SMP },
		{ "mem", required_argument, NULL, O_MEM },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	bool dry = false, quiet = false, preflight = true;
	const char *report = NULL, *provider = NULL, *hostfile = NULL, *host = NULL, *idle = NULL;
	const char *kernel = NULL, *bios = NULL, *initrd = NULL, *append = NULL, *disk = NULL;
	const char *smp = "1", *mem = "128M";
	struct argv_buf extra = { 0 };
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_DRY: dry = true; break;
		case O_REPORT: report = optarg; break;
		case O_PROVIDER: provider = optarg; break;
		case O_HOSTFILE: hostfile = optarg; break;
		case O_HOST: host = optarg; break;
		case O_NOPRE: preflight = false; break;
		case O_IDLE: idle = optarg; break;
		case O_MPIARG: av_push(&extra, optarg); break;
		case O_QUIET: quiet = true; break;
		case O_KERNEL: kernel = optarg; break;
		case O_BIOS: bios = optarg; break;
		case O_INITRD: initrd = optarg; break;
		case O_APPEND: append = optarg; break;
		case O_DISK: disk = optarg; break;
		case O_SMP: smp = optarg; break;
		case O_MEM: mem = optarg; break;
		case 'h':
		case O_HELP: run_usage(stdout); return 0;
		default: run_usage(stderr); return 2;
		}
	}
	const char *file = optind < argc ? argv[optind++] : NULL;
	if (optind < argc) {
		fprintf(stderr, "disco run: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (file && kernel) {
		fprintf(stderr, "disco run: give either a description or --kernel, not both\n");
		return 2;
	}
	if (provider) {
		static const char *const ok[] = { "shm", "tcp", "verbs", "efa", "cxi", "tcp;ofi_rxm", "verbs;ofi_rxm", NULL };
		bool good = false;
		for (int i = 0; ok[i]; i++)
			good |= !strcmp(provider, ok[i]);
		if (!good) {
			fprintf(stderr, "disco run: --provider %s: unknown (allowed: shm, tcp, verbs, efa, cxi)\n", provider);
			return 2;
		}
	}
	if (idle) {
		char *end;
		double s = strtod(idle, &end);
		if (*end || s < 0) {
			fprintf(stderr, "disco run: --idle %s: not a number of seconds\n", idle);
			return 2;
		}
	}

	/* the description: checked here, before any rank starts */
	char err[1024], tmpdesc[PATH_MAX] = "", descpath[PATH_MAX] = "";
	struct desc *d;
	if (kernel) {
		uint64_t m, n;
		char *end;
		n = strtoull(smp, &end, 10);
		if (*end || n < 1 || n > 1024) {
			fprintf(stderr, "disco run: --smp %s: not a hart count (1..1024)\n", smp);
			return 2;
		}
		if (desc_parse_size(mem, &m) || m < (1u << 20)) {
			fprintf(stderr, "disco run: --mem %s: not a size of at least 1M (e.g. 128M)\n", mem);
			return 2;
		}
		char kabs[PATH_MAX], babs[PATH_MAX] = "", iabs[PATH_MAX] = "", dabs[PATH_MAX] = "";
		if (access(kernel, R_OK)) {
			fprintf(stderr, "disco run: --kernel %s: %s\n", kernel, strerror(errno));
			return 2;
		}
		abs_path(kernel, kabs, sizeof(kabs));
		if (bios && strcmp(bios, "none"))
			abs_path(bios, babs, sizeof(babs));
		if (initrd)
			abs_path(initrd, iabs, sizeof(iabs));
		if (disk)
			abs_path(disk, dabs, sizeof(dabs));
		const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
		snprintf(tmpdesc, sizeof(tmpdesc), "%s/disco-run-XXXXXX.ini", tmp);
		int fd = mkstemps(tmpdesc, 4);
		FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (!f) {
			fprintf(stderr, "disco run: cannot write a temporary description in %s: %s\n", tmp, strerror(errno));
			return 1;
		}
		uint64_t node_mem = m + (64ull << 20);
		fprintf(f, "# written by disco run --kernel\n[machine]\nnodes = 1\nmem = %lluK\n\n[vm main]\ncpus = %llu\nmem = %lluK\n",
			(unsigned long long)(node_mem >> 10), (unsigned long long)n, (unsigned long long)(m >> 10));
		put_path(f, "kernel", kabs);
		if (babs[0])
			put_path(f, "bios", babs);
		if (iabs[0])
			put_path(f, "initrd", iabs);
		if (append)
			fprintf(f, "append = %s\n", append);
		if (dabs[0])
			put_path(f, "disk", dabs);
		fclose(f);
		file = tmpdesc;
	}
	if (file)	/* a VM path with ${NAME} is the nodes' to expand, from their environment (desc.h) */
		d = desc_parse_file_flags(file, DESC_DEFER_PATHS, err, sizeof(err));
	else
		d = desc_parse_string(desc_default_text, "<default>", err, sizeof(err));
	if (d && desc_validate(d, err, sizeof(err))) {
		desc_free(d);
		d = NULL;
	}
	if (!d) {
		fprintf(stderr, "disco run: %s\n", err);
		if (tmpdesc[0])
			unlink(tmpdesc);
		return 2;
	}
	if (file)
		abs_path(file, descpath, sizeof(descpath));
	unsigned nodes = d->machine.nodes;
	struct launcher_slurm slurm;
	if (launcher_slurm_check(nodes, file && !tmpdesc[0] ? file : NULL, &slurm, err, sizeof(err))) {
		fprintf(stderr, "disco run: %s\n", err);
		if (tmpdesc[0])
			unlink(tmpdesc);
		desc_free(d);
		return 2;
	}
	/* an allocation of several hosts is spread over them by mpirun itself */
	bool multi_host = hostfile || host || (slurm.in_allocation && slurm.hosts > 1);
	const char *prov = provider ? provider : (d->machine.provider != PROV_AUTO ? desc_provider_name(d->machine.provider)
						  : (multi_host ? "tcp" : "shm"));
	char report_abs[PATH_MAX + DESC_PATH_MAX + 2];
	/* quick runs keep the working directory clean unless asked for a report */
	const char *rep = report ? report : (kernel ? "-" : d->machine.report);
	if (strcmp(rep, "-")) {
		/* relative to where the user ran disco, whatever mpirun's working directory */
		if (rep[0] == '/')
			snprintf(report_abs, sizeof(report_abs), "%s", rep);
		else {
			char cwd[PATH_MAX];
			if (!getcwd(cwd, sizeof(cwd)))
				snprintf(cwd, sizeof(cwd), ".");
			snprintf(report_abs, sizeof(report_abs), "%s/%s", cwd, rep);
		}
	} else {
		snprintf(report_abs, sizeof(report_abs), "-");
	}

	/* the mpirun command line */
	struct argv_buf a = { 0 };
	const char *mpirun = getenv("DISCO_MPIRUN") ? getenv("DISCO_MPIRUN") : "mpirun";
	char nbuf[32];
	snprintf(nbuf, sizeof(nbuf), "%u", nodes);
	av_push(&a, mpirun);
	av_push(&a, "-np");
	av_push(&a, nbuf);
	if (geteuid() == 0)
		av_push(&a, "--allow-run-as-root");
	av_push(&a, "--oversubscribe");
	av_push(&a, "--bind-to");
	av_push(&a, "none");
	if (hostfile) {
		av_push(&a, "--hostfile");
		av_push(&a, hostfile);
	}
	if (host) {
		av_push(&a, "--host");
		av_push(&a, host);
	}
	if (!multi_host) {
		/* one host: Open MPI's own traffic stays on loopback */
		const char *lo[] = { "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo", NULL };
		for (int i = 0; lo[i]; i++)
			av_push(&a, lo[i]);
		if (!launcher_have_program("ssh") && !launcher_have_program("rsh")) {
			av_push(&a, "--mca");
			av_push(&a, "plm");
			av_push(&a, "isolated");
		}
	}
	const char *fp = getenv("FI_PROVIDER");
	av_push(&a, "-x");
	av_push2(&a, "FI_PROVIDER=", fp ? fp : fabric_name(prov));
	if (getenv("FI_TCP_IFACE")) {
		av_push(&a, "-x");
		av_push(&a, "FI_TCP_IFACE");
	} else if (!multi_host) {
		av_push(&a, "-x");
		av_push(&a, "FI_TCP_IFACE=lo");
	}
	static const char *const pass[] = { "DISCO_LOG", "DISCO_GUEST_DIR", "FI_SHM_DISABLE_CMA", "FI_LOG_LEVEL", NULL };
	for (int i = 0; pass[i]; i++)
		if (getenv(pass[i])) {
			av_push(&a, "-x");
			av_push(&a, pass[i]);
		}
	for (int i = 0; i < extra.n; i++)
		av_push(&a, extra.v[i]);
	char node_prog[PATH_MAX];
	launcher_sibling("disco-node", node_prog, sizeof(node_prog));
	av_push(&a, node_prog);
	av_push(&a, "--report");
	av_push(&a, report_abs);
	if (idle) {
		av_push(&a, "--idle");
		av_push(&a, idle);
	}
	if (isatty(STDERR_FILENO) && !quiet)
		av_push(&a, "--progress");
	if (descpath[0])
		av_push(&a, descpath);

	if (dry) {
		shell_quote_print(a.v, stdout);
		if (tmpdesc[0])
			unlink(tmpdesc);
		desc_free(d);
		return 0;
	}
	if (multi_host && preflight) {
		const char *t = getenv("DISCO_PREFLIGHT_TIMEOUT");
		struct launcher_preflight pf = {
			.mpirun = mpirun,
			.hostfile = hostfile,
			.hostlist = host,
			.mpirun_args = extra.v,
			.n_mpirun_args = extra.n,
			.node_prog = node_prog,
			.desc_path = descpath,
			.desc = d,
			.timeout_s = t && atof(t) > 0 ? atof(t) : 30,
			.quiet = quiet,
		};
		if (launcher_preflight(&pf, stderr)) {
			if (tmpdesc[0])
				unlink(tmpdesc);
			desc_free(d);
			return 1;
		}
	}
	desc_free(d);

	if (strcmp(report_abs, "-"))
		unlink(report_abs);	/* never summarise a previous run's report */

	/* run it: Ctrl-C reaches mpirun through the terminal; TERM/HUP are forwarded */
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		perror("disco run: fork");
		return 1;
	}
	if (pid == 0) {
		execvp(a.v[0], a.v);
		fprintf(stderr, "disco run: cannot start %s: %s (install Open MPI: apt-get install openmpi-bin, or set DISCO_MPIRUN)\n",
			a.v[0], strerror(errno));
		_exit(127);
	}
	child_pid = pid;
	/*
	 * An interactive console, as QEMU's -nographic: keys go to the guest as
	 * typed (no line editing, no echo: the guest echoes; Ctrl-C is the
	 * guest's), Enter as CR like a serial line. Ctrl-A x ends the run
	 * (node 0 handles it).
	 */
	struct termios saved;
	bool raw = !dry && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
	if (raw) {
		struct termios t = saved;
		t.c_lflag &= ~(tcflag_t)(ICANON | ECHO | IEXTEN | ISIG);
		t.c_iflag &= ~(tcflag_t)(ICRNL | IXON);
		t.c_cc[VMIN] = 1;
		t.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSANOW, &t);
	}
	struct sigaction sa = { .sa_handler = forward_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	int status = 0;
	wait_mpirun(pid, &status);
	if (raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (tmpdesc[0])
		unlink(tmpdesc);
	if (!quiet && strcmp(report_abs, "-") && access(report_abs, R_OK) == 0)
		report_print(report_abs, stderr, 1);
	for (int i = 0; i < a.n; i++)
		free(a.v[i]);
	free(a.v);
	for (int i = 0; i < extra.n; i++)
		free(extra.v[i]);
	free(extra.v);
	return rc;
}
