/*
 * report.c — `disco report RUN.json`: the run report as a person reads it.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "launcher/launcher.h"

static double num(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_number(v) ? json_number_value(v) : 0.0;
}

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "?";
}

int report_print(const char *path, FILE *out, int brief)
{
	json_error_t je;
	json_t *r = json_load_file(path, 0, &je);
	if (!r) {
		fprintf(stderr, "disco report: %s:%d: %s\n", path, je.line, je.text);
		return 1;
	}
	json_t *nodes = json_object_get(r, "nodes"), *vms = json_object_get(r, "vms");
	if (!json_is_array(nodes) || !json_is_array(vms)) {
		fprintf(stderr, "disco report: %s: not a disco run report (no 'nodes' and 'vms' lists)\n", path);
		json_decref(r);
		return 1;
	}
	fprintf(out, "disco %s run: %s, %d nodes on %zu host(s), provider %s, %.2f s (%s to %s)\n",
		str(r, "disco_version"), str(r, "status"), (int)num(r, "node_count"),
		json_array_size(json_object_get(r, "hosts")), str(r, "provider"), num(r, "wall_s"),
		str(r, "start"), str(r, "end"));
	size_t i;
	json_t *v;
	if (json_array_size(vms)) {
		fprintf(out, "\n%-14s %4s %5s %-11s %6s %14s %10s %9s\n", "vm", "node", "vcpus", "end", "exit", "instructions",
			"runtime_s", "MIPS");
		json_array_foreach(vms, i, v)
			fprintf(out, "%-14s %4d %5d %-11s %6d %14.0f %10.3f %9.1f\n", str(v, "name"), (int)num(v, "node"),
				(int)num(v, "cpus"), str(v, "end"), (int)num(v, "exit_status"), num(v, "instructions"),
				num(v, "runtime_s"), num(v, "mips"));
	} else {
		fprintf(out, "no VMs (a bare machine)\n");
	}
	if (!brief) {
		fprintf(out, "\n%4s %-16s %8s %8s %8s %10s %10s %10s %9s %7s\n", "node", "host", "wall_s", "cpu_s",
			"sleeps", "msgs_sent", "msgs_recv", "rtt_us", "dropped", "wait");
		json_array_foreach(nodes, i, v) {
			json_t *rtt = json_object_get(v, "fabric_rtt_us");
			fprintf(out, "%4d %-16.16s %8.2f %8.2f %8.0f %10.0f %10.0f %10.1f %9.0f %7s\n", (int)num(v, "node"),
				str(v, "host"), num(v, "wall_s"), num(v, "cpu_user_s") + num(v, "cpu_sys_s"),
				num(v, "sleeps"), num(v, "msgs_sent"), num(v, "msgs_recv"), num(rtt, "median"),
				num(v, "dropped_bad_key") + num(v, "dropped_malformed"), str(v, "wait"));
		}
	}
	fprintf(out, "%sreport: %s\n", brief ? "" : "\n", path);
	json_decref(r);
	return 0;
}

int cmd_report(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-') {
		FILE *o = argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? stdout : stderr;
		fprintf(o, "usage: disco report RUN.json\n\nPrint a summary of a run report: the run, every VM, every node.\n");
		return o == stdout ? 0 : 2;
	}
	return report_print(argv[1], stdout, 0);
}
