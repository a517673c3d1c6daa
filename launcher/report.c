/*
 * report.c — `disco report RUN.json`: the run report as a person reads it.
 */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
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
		/* VMs whose harts ran on several nodes: where their time went, what the policy did */
		bool span = false;
		json_array_foreach(vms, i, v)
			span |= json_is_array(json_object_get(v, "parts"));
		if (span) {
			fprintf(out, "\n%-14s %-12s %14s %13s %15s %10s %12s %9s %10s\n", "spanning vm", "nodes", "remote_stall_s",
				"local_stall_s", "monitor_stall_s", "migrations", "replications", "collapses", "vcpu_moves");
			json_array_foreach(vms, i, v) {
				json_t *nl = json_object_get(v, "nodes"), *n;
				char list[64] = "";
				size_t k, used = 0;
				if (!json_is_array(json_object_get(v, "parts")))
					continue;
				json_array_foreach(nl, k, n) {
					int w = snprintf(list + used, sizeof(list) - used, "%s%lld", k ? "," : "",
							 (long long)json_integer_value(n));
					if (w < 0 || (size_t)w >= sizeof(list) - used)
						break;
					used += (size_t)w;
				}
				fprintf(out, "%-14s %-12s %14.3f %13.3f %15.3f %10.0f %12.0f %9.0f %10.0f\n", str(v, "name"), list,
					num(v, "remote_stall_s"), num(v, "local_stall_s"), num(v, "monitor_stall_s"),
					num(v, "migrations"), num(v, "replications"), num(v, "collapses"), num(v, "vcpu_moves"));
			}
		}
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

/* ---- the heat map: misses per page and requesting node, before and after the policy acted ---- */

/* Every row of one snapshot ("before" or "after") of VM v, over its nodes' parts. */
static json_t *heat_rows(json_t *v, const char *which, double *t_s, int *nodes)
{
	json_t *rows = json_array(), *part;
	size_t i;
	json_array_foreach(json_object_get(v, "parts"), i, part) {
		json_t *h = json_object_get(json_object_get(part, "heat"), which);
		if (!json_is_object(h))
			continue;
		if (num(h, "t_s") > *t_s)
			*t_s = num(h, "t_s");
		*nodes = (int)num(h, "nodes");
		json_array_extend(rows, json_object_get(h, "pages"));
	}
	return rows;
}

static int cmp_gpa(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_array_get(*(json_t *const *)a, 0));
	json_int_t y = json_integer_value(json_array_get(*(json_t *const *)b, 0));
	return (x > y) - (x < y);
}

/* data: one block per snapshot, "page-index node misses home-node" lines; pages in guest order */
static int heat_write_block(FILE *f, json_t *rows, int nodes, size_t *npages)
{
	size_t n = json_array_size(rows);
	json_t **r = calloc(n ? n : 1, sizeof(*r));
	if (!r)
		return -1;
	for (size_t i = 0; i < n; i++)
		r[i] = json_array_get(rows, i);
	qsort(r, n, sizeof(*r), cmp_gpa);
	for (size_t i = 0; i < n; i++) {
		for (int k = 0; k < nodes; k++)
			fprintf(f, "%zu %d %lld %lld\n", i, k, (long long)json_integer_value(json_array_get(r[i], 2 + k)),
				(long long)json_integer_value(json_array_get(r[i], 1)));
		fprintf(f, "\n");
	}
	fprintf(f, "\n\n");
	*npages = n;
	free(r);
	return 0;
}

static int heatmap(const char *path, const char *vmname, const char *out)
{
	json_error_t je;
	json_t *r = json_load_file(path, 0, &je), *v = NULL, *x;
	size_t i;
	if (!r) {
		fprintf(stderr, "disco report: %s:%d: %s\n", path, je.line, je.text);
		return 1;
	}
	json_array_foreach(json_object_get(r, "vms"), i, x)
		if (json_is_array(json_object_get(x, "parts")) && (!vmname || !strcmp(str(x, "name"), vmname)) && !v)
			v = x;
	if (!v) {
		fprintf(stderr, "disco report: %s: %s\n", path, vmname ? "no VM of that name runs on several nodes"
			: "no VM ran on several nodes: a heat map shows misses by node of such a VM");
		json_decref(r);
		return 1;
	}
	double tb = 0, ta = 0;
	int nodes = 0;
	json_t *before = heat_rows(v, "before", &tb, &nodes), *after = heat_rows(v, "after", &ta, &nodes);
	char dat[4096], gp[4096];
	snprintf(dat, sizeof(dat), "%s.dat", out);
	snprintf(gp, sizeof(gp), "%s.gp", out);
	FILE *f = fopen(dat, "w"), *g = f ? fopen(gp, "w") : NULL;
	size_t nb = 0, na = 0;
	int rc = 1;
	if (!f || !g) {
		fprintf(stderr, "disco report: cannot write %s: %s\n", f ? gp : dat, strerror(errno));
		goto out;
	}
	bool has_before = json_array_size(before) > 0;
	if (has_before)
		heat_write_block(f, before, nodes, &nb);
	heat_write_block(f, after, nodes, &na);
	fclose(f);
	f = NULL;
	/* gnuplot: one panel per snapshot; x the VM's pages with misses, y the requesting node */
	char t[128];
	if (strstr(out, ".svg"))
		snprintf(t, sizeof(t), "svg size 1000,%d dynamic", has_before ? 700 : 380);
	else
		snprintf(t, sizeof(t), "pngcairo size 1000,%d", has_before ? 700 : 380);
	fprintf(g, "# written by disco report --heatmap from %s; run `gnuplot %s`\n", path, gp);
	fprintf(g, "set terminal %s\nset output '%s'\n", t, out);
	fprintf(g, "set view map\nset palette rgbformulae 22,13,-31\nset cblabel 'misses'\n");
	fprintf(g, "set ylabel 'requesting node'\nset ytics 1\nset yrange [-0.5:%d.5]\n", nodes - 1);
	fprintf(g, "set xlabel 'guest pages with misses, in address order (a dot: the node holding the page)'\n");
	if (has_before)
		fprintf(g, "set multiplot layout 2,1 title 'VM %s: misses per page by node'\n", str(v, "name"));
	if (has_before) {
		fprintf(g, "set title 'before: when the policy first acted (%.3f s; counters since the last reset)'\n", tb);
		fprintf(g, "set xrange [-0.5:%zu.5]\n", nb ? nb - 1 : 0);
		fprintf(g, "plot '%s' index 0 using 1:2:3 with image notitle, '' index 0 using 1:($4==$2?$2:1/0) with points pt 7 ps 0.4 lc rgb 'black' notitle\n", dat);
	}
	fprintf(g, "set title 'after: end of the run (%.3f s; counters since the last reset)%s'\n", ta,
		has_before ? "" : " - the policy never acted");
	fprintf(g, "set xrange [-0.5:%zu.5]\n", na ? na - 1 : 0);
	fprintf(g, "plot '%s' index %d using 1:2:3 with image notitle, '' index %d using 1:($4==$2?$2:1/0) with points pt 7 ps 0.4 lc rgb 'black' notitle\n",
		dat, has_before, has_before);
	if (has_before)
		fprintf(g, "unset multiplot\n");
	fclose(g);
	g = NULL;
	if (!na && !nb) {
		fprintf(stderr, "disco report: VM %s: no page had a miss in either snapshot: nothing to draw\n", str(v, "name"));
		goto out;
	}
	if (!launcher_have_program("gnuplot")) {
		fprintf(stderr, "disco report: gnuplot is not installed (apt-get install gnuplot-nox): %s draws %s\n", gp, out);
		goto out;
	}
	char cmd[8300];
	snprintf(cmd, sizeof(cmd), "gnuplot '%s'", gp);
	if (system(cmd) != 0) {
		fprintf(stderr, "disco report: gnuplot failed on %s\n", gp);
		goto out;
	}
	printf("%s: VM %s, %zu pages before (%.3f s), %zu after (%.3f s), %d nodes\n", out, str(v, "name"), nb, tb, na,
	       ta, nodes);
	rc = 0;
out:
	if (f)
		fclose(f);
	if (g)
		fclose(g);
	json_decref(before);
	json_decref(after);
	json_decref(r);
	return rc;
}

int cmd_report(int argc, char **argv)
{
	const char *heat = NULL, *vm = NULL, *file = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: disco report RUN.json\n"
			       "       disco report RUN.json --heatmap OUT.png|OUT.svg [--vm NAME]\n\n"
			       "Print a summary of a run report: the run, every VM, every node. With --heatmap,\n"
			       "draw the misses on each page of a VM that ran on several nodes, by requesting\n"
			       "node, when the NUMA policy first acted and at the end of the run (gnuplot;\n"
			       "OUT.dat and OUT.gp are kept beside the picture).\n");
			return 0;
		} else if (!strcmp(argv[i], "--heatmap") && i + 1 < argc) {
			heat = argv[++i];
		} else if (!strcmp(argv[i], "--vm") && i + 1 < argc) {
			vm = argv[++i];
		} else if (argv[i][0] != '-' && !file) {
			file = argv[i];
		} else {
			fprintf(stderr, "disco report: unexpected '%s' (see disco report --help)\n", argv[i]);
			return 2;
		}
	}
	if (!file) {
		fprintf(stderr, "usage: disco report RUN.json [--heatmap OUT.png [--vm NAME]]\n");
		return 2;
	}
	return heat ? heatmap(file, vm, heat) : report_print(file, stdout, 0);
}
