/*
 * bench_net.c — `disco bench net`: VM-to-VM round trip (64-byte
 * datagrams) and throughput (1500-byte and 64 KiB frames; 64 KiB again
 * with net_remap = off, every byte copied) over a virtual subnet, with both VMs on one node and on two nodes, each beside the
 * fabric's own round trip and bandwidth measured in the same run.
 *
 * Every case is one `disco run` of a 2-node machine with two VMs running
 * guest/progs/net_ping.c (a server on node 0; the client on node 0 or 1).
 * The client prints its figures on its console, kept in a console_log file;
 * the fabric's figures come from the same run's report: fabric_rtt_us (the
 * median of node 0's bootstrap pings to node 1) and fabric_gbps (node 0
 * sending DISCO_NET_PROBE full-size messages to node 1 before the VMs
 * start). Round trips are medians on both sides (the guest's of its
 * round trips, the node's of its 32 pings). The guests time themselves with their time CSR around the
 * exchanges only, so start-up is not counted.
 *
 *   disco bench net [--json] [--provider shm|tcp] [--n N]
 *
 * --n scales every case's datagram count (default 1 = the short run).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/paths.h"
#include "launcher/launcher.h"

int bench_net(int argc, char **argv, int json);

#define PROBE_MSGS	"4000"

struct net_case {
	const char *name;
	unsigned mtu;
	const char *args;	/* the client's bootargs, without n= */
	long n;
	bool rtt;
	const char *machine;	/* extra [machine] keys */
};

static const struct net_case cases[] = {
	{ "rtt_64B", 1500, "mode=0 size=64", 300, true, "" },
	{ "stream_1500B", 1500, "mode=1 size=1488 win=16", 2000, false, "" },
	{ "stream_64KiB", 65535, "mode=1 size=65523 win=8", 100, false, "" },
	/* the same with every byte copied: what remapping payload pages costs or saves */
	{ "stream_64KiB_copy", 65535, "mode=1 size=65523 win=8", 100, false, "net_remap = off\n" },
};

struct net_result {
	double rtt_us, gbps, fabric_rtt_us, fabric_gbps;
};

/* Parse "NET rtt ... median_ns=D" or "NET stream ... gbps=G" from the client's console log. */
static int parse_console(const char *path, bool rtt, struct net_result *r)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int found = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *p;

		if (rtt && strstr(line, "NET rtt") && (p = strstr(line, "median_ns="))) {
			r->rtt_us = strtod(p + 10, NULL) / 1e3;
			found = 0;
		} else if (!rtt && strstr(line, "NET stream") && (p = strstr(line, "gbps="))) {
			r->gbps = strtod(p + 5, NULL);
			found = 0;
		}
	}
	fclose(f);
	return found;
}

static int run_case(const struct net_case *c, bool two_nodes, const char *provider, long scale,
		    struct net_result *r)
{
	char dir[] = "/tmp/disco-bench-net-XXXXXX", desc[PATH_MAX], rep[PATH_MAX], con[PATH_MAX];
	char self[PATH_MAX], guests[PATH_MAX], args[256];
	int rc = -1, st;
	FILE *f;
	pid_t pid;

	if (!mkdtemp(dir))
		return -1;
	snprintf(desc, sizeof(desc), "%s/m.ini", dir);
	snprintf(rep, sizeof(rep), "%s/r.json", dir);
	snprintf(con, sizeof(con), "%s/cli.log", dir);
	disco_guest_dir(guests, sizeof(guests));
	snprintf(args, sizeof(args), "%s n=%ld", c->args, c->n * scale);
	f = fopen(desc, "w");
	if (!f)
		goto out;
	fprintf(f, "[machine]\nnodes = 2\nmem = 256M\ntimeout = 120s\nnet_mtu = %u\n%s\n"
		   "[vm srv]\nnodes = 0\nkernel = %s/net_ping.elf\nappend = server=1\nnet = lan\n\n"
		   "[vm cli]\nnodes = %d\nkernel = %s/net_ping.elf\nappend = %s\nnet = lan\nconsole_log = %s\n",
		c->mtu, c->machine, guests, two_nodes ? 1 : 0, guests, args, con);
	fclose(f);
	launcher_sibling("disco", self, sizeof(self));
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, STDOUT_FILENO);	/* the consoles: the client's is in its console_log */
		setenv("DISCO_NET_PROBE", PROBE_MSGS, 1);
		if (provider)
			execl(self, "disco", "run", "--quiet", "--provider", provider, "--report", rep, desc, (char *)NULL);
		else
			execl(self, "disco", "run", "--quiet", "--report", rep, desc, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "disco bench net: %s (%s): the run failed; its description was:\n", c->name,
			two_nodes ? "2 nodes" : "1 node");
		f = fopen(desc, "r");
		for (char line[512]; f && fgets(line, sizeof(line), f);)
			fputs(line, stderr);
		if (f)
			fclose(f);
		goto out;
	}
	json_t *j = json_load_file(rep, 0, NULL);
	json_t *n0 = json_array_get(json_object_get(j, "nodes"), 0);
	r->fabric_rtt_us = json_number_value(json_object_get(json_object_get(n0, "fabric_rtt_us"), "median"));
	r->fabric_gbps = json_number_value(json_object_get(n0, "fabric_gbps"));
	json_decref(j);
	if (parse_console(con, c->rtt, r) < 0) {
		fprintf(stderr, "disco bench net: %s: the client printed no figures (console in %s)\n", c->name, con);
		goto out;
	}
	rc = 0;
out:
	unlink(desc);
	unlink(rep);
	unlink(con);
	rmdir(dir);
	return rc;
}

int bench_net(int argc, char **argv, int json)
{
	const char *provider = NULL;
	long scale = 1;
	json_t *list = json_array();

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--provider") && i + 1 < argc) {
			provider = argv[++i];
			if (strcmp(provider, "shm") && strcmp(provider, "tcp")) {
				fprintf(stderr, "disco bench net: --provider %s: use shm or tcp\n", provider);
				return 2;
			}
		} else if (!strcmp(argv[i], "--n") && i + 1 < argc) {
			scale = strtol(argv[++i], NULL, 10);
			if (scale < 1 || scale > 1000) {
				fprintf(stderr, "disco bench net: --n %s: use 1 to 1000\n", argv[i]);
				return 2;
			}
		}
	}
	if (!json)
		printf("%-17s %5s %10s %14s %7s %8s %12s %7s\n", "case", "nodes", "rtt_us", "fabric_rtt_us",
		       "ratio", "gbps", "fabric_gbps", "ratio");
	for (int two = 0; two < 2; two++) {
		for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
			const struct net_case *c = &cases[k];
			struct net_result r = {0};

			if (run_case(c, two, provider, scale, &r) < 0) {
				json_decref(list);
				return 1;
			}
			json_array_append_new(list, json_pack("{s:s, s:i, s:o, s:f, s:o, s:f}",
				"case", c->name, "nodes", two ? 2 : 1,
				"rtt_us", c->rtt ? json_real(r.rtt_us) : json_null(),
				"fabric_rtt_us", r.fabric_rtt_us,
				"gbps", c->rtt ? json_null() : json_real(r.gbps),
				"fabric_gbps", r.fabric_gbps));
			if (json)
				continue;
			if (c->rtt)
				printf("%-17s %5d %10.1f %14.1f %6.2fx %8s %12.2f %7s\n", c->name, two ? 2 : 1, r.rtt_us,
				       r.fabric_rtt_us, r.fabric_rtt_us > 0 ? r.rtt_us / r.fabric_rtt_us : 0.0, "-",
				       r.fabric_gbps, "-");
			else
				printf("%-17s %5d %10s %14.1f %7s %8.3f %12.2f %6.2fx\n", c->name, two ? 2 : 1, "-",
				       r.fabric_rtt_us, "-", r.gbps, r.fabric_gbps,
				       r.fabric_gbps > 0 ? r.gbps / r.fabric_gbps : 0.0);
			fflush(stdout);
		}
	}
	if (json) {
		char *s = json_dumps(list, JSON_INDENT(2));
		puts(s);
		free(s);
	} else {
		printf("rtt ratio: VM-to-VM round trip / fabric round trip (target across 2 nodes: <= 1.5x); "
		       "gbps ratio: VM-to-VM / fabric\n");
	}
	json_decref(list);
	return 0;
}
