/*
 * bench.c — `disco bench NAME`: benchmarks that print a readable table and,
 * with --json, one JSON object of the same figures.
 *
 *   fabric   the transport's small-message round trip between two nodes, on
 *            shm and on tcp (loopback), measured by the nodes' bootstrap.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launcher/launcher.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: disco bench NAME [--json]\n"
		"\n"
		"benchmarks:\n"
		"  fabric   small-message round trip between 2 nodes on shm and tcp (loopback)\n");
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
		} else if (!name && argv[i][0] != '-')
			name = argv[i];
		else {
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
	fprintf(stderr, "disco bench: unknown benchmark '%s' (have: fabric)\n", name);
	return 2;
}
