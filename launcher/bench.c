/*
 * bench.c — `disco bench NAME`: benchmarks that print a readable table and,
 * with --json, one JSON object of the same figures.
 *
 *   fabric   the transport's small-message round trip between two nodes, on
 *            shm and on tcp (loopback), measured by the nodes' bootstrap.
 *   coherence  remote-miss latencies of the coherence protocol against the
 *            transport's own round trip, on shm and tcp (loopback), measured
 *            by disco-cohtest on 3 ranks (docs/coherence.md).
 *   cpu      the integer benchmark kernels of guest/bench on disco and on
 *            QEMU (qemu-system-riscv64 -machine virt, TCG), side by side.
 *
 * How `cpu` counts. Each kernel is deterministic, checks itself and prints
 *   BENCH name=.. checksum=.. instret=N .. ticks=T result=ok
 * where T is the guest's own time CSR (10 MHz on both machines, following
 * the host's clock), read around the kernel only: start-up of mpirun or
 * QEMU is not counted. QEMU's instret is not exact without -icount, so the
 * instruction count of both is disco's exact one; the checksums must agree,
 * which shows both ran the same instructions.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launcher/launcher.h"

int bench_disk(int argc, char **argv, int json);	/* bench_disk.c */
int bench_net(int argc, char **argv, int json);		/* bench_net.c */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: disco bench NAME [--json]\n"
		"\n"
		"benchmarks:\n"
		"  fabric   small-message round trip between 2 nodes on shm and tcp (loopback)\n"
		"  coherence [--provider shm|tcp] [--samples N]\n"
		"           remote read (clean: 2 hops, dirty: 3 hops) and write-with-invalidation\n"
		"           latencies beside the fabric round trip, on shm and tcp (loopback)\n"
		"  cpu      integer kernels (guest/bench) on disco and on qemu-system-riscv64,\n"
		"           instructions per second and the ratio (QEMU: script/bootstrap --bench)\n"
		"  disk [--seconds S] [--size MIB] [--direct]\n"
		"           4 KiB sequential/random reads and writes through vdisk's io_uring server\n"
		"           beside fio's io_uring engine on the same file: IOPS and the ratio\n"
		"  net [--provider shm|tcp] [--n SCALE]\n"
		"           VM-to-VM round trip (64 B) and throughput (1500 B, 64 KiB frames) on one\n"
		"           node and across two, beside the fabric's round trip and bandwidth\n");
}

/* Run a bare 2-node machine on one provider; return its median/min RTT from the report. */
static int fabric_case(const char *prov, double *med, double *min)
{
	char self[PATH_MAX], rep[] = "/tmp/disco-bench-XXXXXX.json", desc[] = "/tmp/disco-bench-XXXXXX.ini";
	launcher_sibling("disco", self, sizeof(self));
	int fd = mkstemps(rep, 5), fd2 = mkstemps(desc, 4);
	if (fd < 0 || fd2 < 0)
		return -1;
	close(fd);
	FILE *f = fdopen(fd2, "w");
	fprintf(f, "[machine]\nnodes = 2\nmem = 16M\n");
	fclose(f);
	pid_t pid = fork();
	if (pid == 0) {
		execl("/proc/self/exe", "disco", "run", "--quiet", "--provider", prov, "--report", rep, desc, (char *)NULL);
		_exit(127);
	}
	int st;
	waitpid(pid, &st, 0);
	unlink(desc);
	json_t *r = json_load_file(rep, 0, NULL);
	unlink(rep);
	if (!WIFEXITED(st) || WEXITSTATUS(st) || !r)
		return -1;
	json_t *n0 = json_array_get(json_object_get(r, "nodes"), 0);
	json_t *rtt = json_object_get(n0, "fabric_rtt_us");
	*med = json_number_value(json_object_get(rtt, "median"));
	*min = json_number_value(json_object_get(rtt, "min"));
	json_decref(r);
	return 0;
}

struct bench_out {
	uint64_t instret, ticks;
	char checksum[64];
	bool ok;
};

/*
 * Start argv with its standard output on a pipe (standard input, and with
 * quiet its standard error too, on /dev/null). Returns the pipe's read end,
 * or NULL; *pid is the child to reap with exited_ok().
 */
static FILE *spawn_stdout(char *const argv[], bool quiet, pid_t *pid)
{
	int fds[2];
	if (pipe(fds))
		return NULL;
	*pid = fork();
	if (*pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return NULL;
	}
	if (*pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		int devnull = open("/dev/null", O_RDWR);
		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			if (quiet)
				dup2(devnull, STDERR_FILENO);
		}
		close(fds[0]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	FILE *f = fdopen(fds[0], "r");
	if (!f)
		close(fds[0]);
	return f;
}

/* Reap the child; true when it exited with status 0. */
static bool exited_ok(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return false;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Run argv, capture stdout, parse the BENCH line. Returns 0 when it ran and said result=ok. */
static int run_capture(char *const argv[], struct bench_out *o)
{
	pid_t pid;
	memset(o, 0, sizeof(*o));
	FILE *f = spawn_stdout(argv, true, &pid);
	if (!f)
		return -1;
	char line[1024];
	while (fgets(line, sizeof(line), f)) {
		char *b = strstr(line, "BENCH ");
		if (!b)
			continue;
		char *p;
		if ((p = strstr(b, " instret=")))
			o->instret = strtoull(p + 9, NULL, 10);
		if ((p = strstr(b, " ticks=")))
			o->ticks = strtoull(p + 7, NULL, 10);
		if ((p = strstr(b, " checksum=")))
			sscanf(p + 10, "%63s", o->checksum);
		o->ok = strstr(b, "result=ok") != NULL;
	}
	fclose(f);
	return exited_ok(pid) && o->ok && o->ticks ? 0 : -1;
}

static int bench_cpu(int json)
{
	static const char *const progs[] = { "bench_lz", "bench_sort", "bench_mark" };
	char self[PATH_MAX], dir[PATH_MAX];
	launcher_sibling("disco", self, sizeof(self));
	disco_guest_dir(dir, sizeof(dir));
	const char *qemu = getenv("DISCO_QEMU") ? getenv("DISCO_QEMU") : "qemu-system-riscv64";
	bool have_qemu = true;
	json_t *rows = json_array();
	double sum_i = 0, sum_dt = 0, sum_qt = 0;
	if (!json)
		printf("%-12s %14s %12s %12s %8s\n", "program", "instructions", "disco_MIPS", "qemu_MIPS", "ratio");
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		char elf[PATH_MAX + 64];
		snprintf(elf, sizeof(elf), "%s/%s.elf", dir, progs[i]);
		if (access(elf, R_OK)) {
			fprintf(stderr, "disco bench cpu: %s: %s (build the guests: script/build)\n", elf, strerror(errno));
			json_decref(rows);
			return 1;
		}
		struct bench_out d, q;
		char *dargv[] = { self, "run", "--quiet", "--kernel", elf, NULL };
		if (run_capture(dargv, &d)) {
			fprintf(stderr, "disco bench cpu: %s failed on disco\n", progs[i]);
			json_decref(rows);
			return 1;
		}
		double dt = (double)d.ticks / 1e7, dips = (double)d.instret / dt;
		double qips = 0, ratio = 0;
		if (have_qemu) {
			char *qargv[] = { (char *)qemu, "-machine", "virt", "-bios", "none", "-nographic", "-m", "256M",
					  "-kernel", elf, NULL };
			if (run_capture(qargv, &q)) {
				have_qemu = false;
				fprintf(stderr, "disco bench cpu: %s did not run %s (install it: script/bootstrap --bench); disco only\n",
					qemu, progs[i]);
			} else if (strcmp(q.checksum, d.checksum)) {
				fprintf(stderr, "disco bench cpu: %s: checksums differ (disco %s, qemu %s)\n", progs[i],
					d.checksum, q.checksum);
				json_decref(rows);
				return 1;
			} else {
				double qt = (double)q.ticks / 1e7;
				qips = (double)d.instret / qt;
				ratio = dips / qips;
				sum_qt += qt;
			}
		}
		sum_i += (double)d.instret;
		sum_dt += dt;
		if (!json)
			printf("%-12s %14llu %12.1f %12.1f %8.3f\n", progs[i], (unsigned long long)d.instret, dips / 1e6,
			       qips / 1e6, ratio);
		json_array_append_new(rows, json_pack("{s:s, s:I, s:f, s:f, s:f, s:s}", "program", progs[i],
			"instructions", (json_int_t)d.instret, "disco_ips", dips, "qemu_ips", qips, "ratio", ratio,
			"checksum", d.checksum));
	}
	double dall = sum_i / sum_dt, qall = have_qemu && sum_qt > 0 ? sum_i / sum_qt : 0;
	if (json) {
		json_t *o = json_pack("{s:o, s:{s:f, s:f, s:f}}", "programs", rows, "overall", "disco_ips", dall,
				      "qemu_ips", qall, "ratio", qall > 0 ? dall / qall : 0.0);
		char *str = json_dumps(o, JSON_INDENT(2));
		puts(str);
		free(str);
		json_decref(o);
	} else {
		printf("%-12s %14.0f %12.1f %12.1f %8.3f\n", "overall", sum_i, dall / 1e6, qall / 1e6,
		       qall > 0 ? dall / qall : 0.0);
		json_decref(rows);
	}
	return 0;
}

/* Run disco-cohtest's bench mode on 3 ranks of this host; parse its JSON line. */
static json_t *coherence_case(const char *prog, const char *prov, const char *samples)
{
	char fi[64];
	snprintf(fi, sizeof(fi), "FI_PROVIDER=%s", strcmp(prov, "tcp") ? prov : "tcp;ofi_rxm");
	char *argv[40];
	int n = 0;
	argv[n++] = getenv("DISCO_MPIRUN") ? getenv("DISCO_MPIRUN") : "mpirun";
	argv[n++] = "-np";
	argv[n++] = "3";
	if (geteuid() == 0)
		argv[n++] = "--allow-run-as-root";
	char *fixed[] = { "--oversubscribe", "--bind-to", "none", "--mca", "btl_tcp_if_include", "lo",
			  "--mca", "oob_tcp_if_include", "lo", "-x", fi, "-x", "FI_TCP_IFACE=lo", NULL };
	for (int i = 0; fixed[i]; i++)
		argv[n++] = fixed[i];
	argv[n++] = (char *)prog;
	argv[n++] = "bench";
	argv[n++] = "--provider";
	argv[n++] = (char *)prov;
	argv[n++] = "--samples";
	argv[n++] = (char *)samples;
	argv[n] = NULL;

	pid_t pid;
	FILE *f = spawn_stdout(argv, false, &pid);
	if (!f)
		return NULL;
	char line[4096];
	json_t *res = NULL;
	while (fgets(line, sizeof(line), f))
		if (line[0] == '{' && !res)
			res = json_loads(line, 0, NULL);
	fclose(f);
	if (!exited_ok(pid)) {
		json_decref(res);
		return NULL;
	}
	return res;
}

static int bench_coherence(int argc, char **argv, int json)
{
	const char *only = NULL, *samples = "2000";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--provider") && i + 1 < argc)
			only = argv[++i];
		else if (!strcmp(argv[i], "--samples") && i + 1 < argc)
			samples = argv[++i];
	}
	if (only && strcmp(only, "shm") && strcmp(only, "tcp")) {
		fprintf(stderr, "disco bench coherence: --provider %s: use shm or tcp\n", only);
		return 2;
	}
	char prog[PATH_MAX];
	launcher_sibling("disco-cohtest", prog, sizeof(prog));
	if (access(prog, X_OK)) {
		fprintf(stderr, "disco bench coherence: disco-cohtest not found beside disco (build it: script/build)\n");
		return 1;
	}
	const char *provs[] = { "shm", "tcp" };
	json_t *o = json_object();
	if (!json)
		printf("%-6s %9s %14s %14s %15s %12s\n", "fabric", "rtt_us", "read_clean_us", "read_dirty_us",
		       "write_inval_us", "ratio_clean");
	for (int i = 0; i < 2; i++) {
		if (only && strcmp(only, provs[i]))
			continue;
		json_t *r = coherence_case(prog, provs[i], samples);
		if (!r) {
			fprintf(stderr, "disco bench coherence: the %s run failed\n", provs[i]);
			json_decref(o);
			return 1;
		}
		if (!json)
			printf("%-6s %9.2f %14.2f %14.2f %15.2f %12.2f\n", provs[i],
			       json_number_value(json_object_get(r, "rtt_us")),
			       json_number_value(json_object_get(r, "read_clean_us")),
			       json_number_value(json_object_get(r, "read_dirty_us")),
			       json_number_value(json_object_get(r, "write_inval_us")),
			       json_number_value(json_object_get(r, "ratio_clean")));
		json_object_set_new(o, provs[i], r);
	}
	if (json) {
		char *str = json_dumps(o, JSON_INDENT(2));
		puts(str);
		free(str);
	}
	json_decref(o);
	return 0;
}

int cmd_bench(int argc, char **argv)
{
	const char *name = NULL;
	int json = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (!name && argv[i][0] != '-') {
			name = argv[i];
		} else if (name && (!strcmp(name, "coherence") || !strcmp(name, "disk") || !strcmp(name, "net"))) {
			continue;	/* their own options, read by bench_coherence, bench_disk */
		} else {
			fprintf(stderr, "disco bench: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (!name) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(name, "fabric")) {
		const char *provs[] = { "shm", "tcp" };
		json_t *o = json_object();
		if (!json)
			printf("%-6s %14s %14s\n", "fabric", "rtt_median_us", "rtt_min_us");
		for (int i = 0; i < 2; i++) {
			double med = 0, min = 0;
			if (fabric_case(provs[i], &med, &min)) {
				fprintf(stderr, "disco bench fabric: the %s run failed\n", provs[i]);
				json_decref(o);
				return 1;
			}
			if (!json)
				printf("%-6s %14.2f %14.2f\n", provs[i], med, min);
			json_object_set_new(o, provs[i], json_pack("{s:f, s:f}", "rtt_us", med, "rtt_min_us", min));
		}
		if (json) {
			char *s = json_dumps(o, JSON_INDENT(2));
			puts(s);
			free(s);
		}
		json_decref(o);
		return 0;
	}
	if (!strcmp(name, "cpu"))
		return bench_cpu(json);
	if (!strcmp(name, "coherence"))
		return bench_coherence(argc, argv, json);
	if (!strcmp(name, "disk"))
		return bench_disk(argc, argv, json);	/* bench_disk.c */
	if (!strcmp(name, "net"))
		return bench_net(argc, argv, json);	/* bench_net.c */
	fprintf(stderr, "disco bench: unknown benchmark '%s' (have: fabric, coherence, cpu, disk, net)\n", name);
	return 2;
}
