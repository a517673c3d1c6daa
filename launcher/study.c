/*
 * study.c — `disco study`: sweeps of machine runs, their figures as a CSV,
 * a Markdown summary and gnuplot plots.
 *
 *   disco study FILE.ini     the sweep a study file describes ([study] section)
 *   disco study scaling      built-in: ocean, raytrace, fft on 1, 2, 4 (8) nodes
 *   disco study policy       built-in: one workload under each NUMA policy
 *
 * Every point of the sweep (workload x nodes x line x rcache x provider x
 * policy, each `repeat` times) becomes a machine description, written to
 * OUT/points/ and checked with desc_parse_string + desc_validate before
 * anything runs, and is run through `disco run --quiet --report` (this same
 * program, fork/exec of /proc/self/exe). Its figures come from the run
 * report (and the WORKLOAD line the guest prints) into OUT/results.csv, one
 * row per run; the CSV is rewritten (write + rename) after every run, so an
 * interrupted study resumes where it stopped: a point whose row is already
 * there with status ok is not run again.
 *
 * Honesty: every figure names the hosts, provider and oversubscription it
 * ran with (ranks sharing a core distort timings), and the summary says
 * which swept parameters have no effect yet in disco.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/desc.h"
#include "disco_version.h"
#include "launcher/launcher.h"

#define LIST_MAX 32

/* ---------------------------------------------------------------- columns */

enum col {
	C_WORKLOAD, C_NODES, C_CPUS, C_LINE, C_RCACHE, C_PROVIDER, C_POLICY, C_ARGS, C_REPEAT,
	C_STATUS, C_EXIT, C_RUNTIME, C_COMPUTE, C_TICKS, C_INSTR, C_MIPS, C_WALL, C_PROV_USED, C_HOSTS,
	C_HOST_NAMES, C_CORES, C_RANKS_PER_HOST, C_OVERSUB, C_LOCAL_MISSES, C_REMOTE_MISSES, C_LOCAL_SHARE,
	C_REMOTE_STALL, C_MIGRATIONS, C_REPLICATIONS, C_CHECKSUM, C_STARTED, C_REPORT,
	C_TWO_HOP, C_THREE_HOP, C_MISS_P50, C_MISS_P99, NCOL
};
#define NKEY (C_REPEAT + 1)	/* the columns that identify a run: the point's parameters and its repeat index */

static const char *const col_name[NCOL] = {
	"workload", "nodes", "cpus", "line", "rcache", "provider", "policy", "args", "repeat",
	"status", "exit_status", "runtime_s", "compute_s", "ticks_s", "instructions", "mips", "wall_s",
	"provider_used", "hosts", "host_names", "host_cores", "ranks_per_host", "oversubscribed",
	"local_misses", "remote_misses", "local_miss_share", "remote_stall_s", "migrations", "replications", "checksum",
	"started", "report",
	"two_hop", "three_hop", "remote_miss_p50_us", "remote_miss_p99_us",
};

struct row {
	char *f[NCOL];		/* "" = not known */
};

struct rows {
	struct row *v;
	size_t n, cap;
};

static char *xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");
	if (!p) {
		perror("disco study");
		exit(1);
	}
	return p;
}

static void row_set(struct row *r, enum col c, const char *s)
{
	free(r->f[c]);
	r->f[c] = xstrdup(s);
}

static void row_setf(struct row *r, enum col c, double v, int prec)
{
	char b[64];
	snprintf(b, sizeof(b), "%.*f", prec, v);
	row_set(r, c, b);
}

static void row_setu(struct row *r, enum col c, unsigned long long v)
{
	char b[32];
	snprintf(b, sizeof(b), "%llu", v);
	row_set(r, c, b);
}

static void row_free(struct row *r)
{
	for (int i = 0; i < NCOL; i++) {
		free(r->f[i]);
		r->f[i] = NULL;
	}
}

static struct row *rows_add(struct rows *rs)
{
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? rs->cap * 2 : 64;
		rs->v = realloc(rs->v, rs->cap * sizeof(*rs->v));
		if (!rs->v) {
			perror("disco study");
			exit(1);
		}
	}
	struct row *r = &rs->v[rs->n++];
	for (int i = 0; i < NCOL; i++)
		r->f[i] = xstrdup("");
	return r;
}

static bool same_key(const struct row *a, const struct row *b, bool with_repeat)
{
	for (int i = 0; i < (with_repeat ? NKEY : C_REPEAT); i++)
		if (strcmp(a->f[i], b->f[i]))
			return false;
	return true;
}

static void csv_field(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\n\r") && (!*s || (s[0] != ' ' && s[strlen(s) - 1] != ' '))) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* Split one CSV line into at most max fields (quotes as csv_field writes them). Returns the count. */
static int csv_split(char *line, char **out, int max)
{
	int n = 0;
	char *p = line, *w;
	while (n < max) {
		out[n++] = w = p;
		if (*p == '"') {
			p++;
			for (;;) {
				if (!*p)
					break;
				if (*p == '"' && p[1] == '"') {
					*w++ = '"';
					p += 2;
				} else if (*p == '"') {
					p++;
					break;
				} else
					*w++ = *p++;
			}
		} else {
			while (*p && *p != ',' && *p != '\n' && *p != '\r')
				*w++ = *p++;
		}
		char c = *p;
		*w = 0;
		if (c != ',')
			break;
		p++;
	}
	return n;
}

static int csv_load(const char *path, struct rows *rs)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	char *line = NULL;
	size_t cap = 0;
	int map[128], nmap = 0;
	char *fields[128];
	if (getline(&line, &cap, f) > 0) {
		nmap = csv_split(line, fields, 128);
		for (int i = 0; i < nmap; i++) {
			map[i] = -1;
			for (int c = 0; c < NCOL; c++)
				if (!strcmp(fields[i], col_name[c]))
					map[i] = c;
		}
	}
	while (nmap && getline(&line, &cap, f) > 0) {
		int n = csv_split(line, fields, 128);
		if (n < NKEY)
			continue;
		struct row *r = rows_add(rs);
		for (int i = 0; i < n && i < nmap; i++)
			if (map[i] >= 0)
				row_set(r, map[i], fields[i]);
		if (!*r->f[C_WORKLOAD]) {
			row_free(r);
			rs->n--;
		}
	}
	free(line);
	fclose(f);
	return 0;
}

static int csv_save(const char *path, const struct rows *rs)
{
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -errno;
	for (int c = 0; c < NCOL; c++)
		fprintf(f, "%s%s", c ? "," : "", col_name[c]);
	fputc('\n', f);
	for (size_t i = 0; i < rs->n; i++) {
		for (int c = 0; c < NCOL; c++) {
			if (c)
				fputc(',', f);
			csv_field(f, rs->v[i].f[c]);
		}
		fputc('\n', f);
	}
	if (fclose(f))
		return -errno;
	return rename(tmp, path) ? -errno : 0;
}

/* ------------------------------------------------------------ the study */

struct study {
	char name[64];
	char *workloads[LIST_MAX];
	int n_workloads;
	unsigned nodes[LIST_MAX];
	int n_nodes;
	uint64_t line[LIST_MAX], rcache[LIST_MAX];
	int n_line, n_rcache;
	char *providers[LIST_MAX], *policies[LIST_MAX];
	int n_providers, n_policies;
	unsigned repeat;
	unsigned cpus;			/* vCPUs per VM; 0: one per node */
	char args[DESC_PATH_MAX];	/* bootargs for every workload */
	char *wargs_name[LIST_MAX], *wargs[LIST_MAX];	/* args.WORKLOAD */
	int n_wargs;
	char mem[32], vm_mem[32], timeout[32], quantum[32];
	char out[PATH_MAX];
	char hostfile[PATH_MAX];
	bool speedup;			/* the scaling study's speedup plot */
	char file[PATH_MAX];		/* for messages */
	char err[PATH_MAX + 1024];
};

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = 0;
	return s;
}

static void list_free(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
}

/* Split a comma list into trimmed non-empty strings. Returns the count or -1 (too many, empty item). */
static int split_list(const char *value, char **out)
{
	char *copy = xstrdup(value), *save = NULL;
	int n = 0;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		t = trim(t);
		if (!*t || n == LIST_MAX) {
			list_free(out, n);
			free(copy);
			return -1;
		}
		out[n++] = xstrdup(t);
	}
	free(copy);
	return n;
}

static bool one_of(const char *s, const char *const *allowed)
{
	for (int i = 0; allowed[i]; i++)
		if (!strcmp(s, allowed[i]))
			return true;
	return false;
}

static bool name_ok(const char *s)
{
	if (!*s || strlen(s) > 48)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'
		      || *s == '-' || *s == '.'))
			return false;
	return true;
}

/* Set one key of a study; returns 0 or -1 with st->err set. */
static int study_set(struct study *st, const char *key, const char *value, int lineno)
{
	static const char *const providers[] = { "auto", "shm", "tcp", "verbs", "efa", "cxi", NULL };
	static const char *const policies[] = { "off", "migrate", "replicate", "both", NULL };
	char *items[LIST_MAX];
	int n;
#define BAD(...)                                                                                                        \
	do {                                                                                                            \
		char m_[300];                                                                                           \
		snprintf(m_, sizeof(m_), __VA_ARGS__);                                                                  \
		snprintf(st->err, sizeof(st->err), "%s:%d: [study] %s = %s: %s", st->file, lineno, key, value, m_);     \
		return -1;                                                                                              \
	} while (0)
	if (!strcmp(key, "name")) {
		if (!name_ok(value))
			BAD("letters, digits, _, - and . only");
		snprintf(st->name, sizeof(st->name), "%s", value);
	} else if (!strcmp(key, "workloads") || !strcmp(key, "workload")) {
		if ((n = split_list(value, items)) <= 0)
			BAD("a comma list of guest images, e.g. ocean,raytrace");
		for (int i = 0; i < n; i++)
			if (!name_ok(items[i])) {
				list_free(items, n);
				BAD("not a guest image name");
			}
		list_free(st->workloads, st->n_workloads);
		memcpy(st->workloads, items, sizeof(char *) * (size_t)n);
		st->n_workloads = n;
	} else if (!strcmp(key, "nodes") || !strcmp(key, "line") || !strcmp(key, "rcache")) {
		if ((n = split_list(value, items)) <= 0)
			BAD("a comma list, e.g. 1,2,4");
		for (int i = 0; i < n; i++) {
			uint64_t v;
			int rc = !strcmp(key, "nodes") ? desc_parse_uint(items[i], &v) : desc_parse_size(items[i], &v);
			if (rc || (!strcmp(key, "nodes") && (v < 1 || v > DESC_MAX_NODES))) {
				list_free(items, n);
				BAD("%s", !strcmp(key, "nodes") ? "node counts 1..4096" : "sizes like 128, 4K, 4M");
			}
			if (!strcmp(key, "nodes"))
				st->nodes[i] = (unsigned)v;
			else if (!strcmp(key, "line"))
				st->line[i] = v;
			else
				st->rcache[i] = v;
		}
		list_free(items, n);
		if (!strcmp(key, "nodes"))
			st->n_nodes = n;
		else if (!strcmp(key, "line"))
			st->n_line = n;
		else
			st->n_rcache = n;
	} else if (!strcmp(key, "providers") || !strcmp(key, "provider") || !strcmp(key, "policies")
		   || !strcmp(key, "policy")) {
		bool prov = key[1] == 'r';
		if ((n = split_list(value, items)) <= 0)
			BAD("a comma list");
		for (int i = 0; i < n; i++)
			if (!one_of(items[i], prov ? providers : policies)) {
				list_free(items, n);
				BAD("%s", prov ? "providers are auto, shm, tcp, verbs, efa, cxi"
					       : "policies are off, migrate, replicate, both");
			}
		char **dst = prov ? st->providers : st->policies;
		int *dn = prov ? &st->n_providers : &st->n_policies;
		list_free(dst, *dn);
		memcpy(dst, items, sizeof(char *) * (size_t)n);
		*dn = n;
	} else if (!strcmp(key, "repeat") || !strcmp(key, "cpus")) {
		uint64_t v;
		if (!strcmp(key, "cpus") && !strcmp(value, "nodes"))
			v = 0;
		else if (desc_parse_uint(value, &v) || v < 1 || v > (key[0] == 'r' ? 1000 : DESC_MAX_VCPUS))
			BAD("%s", key[0] == 'r' ? "an integer 1..1000" : "vCPUs per VM, 1..512, or nodes (one per node)");
		if (key[0] == 'r')
			st->repeat = (unsigned)v;
		else
			st->cpus = (unsigned)v;
	} else if (!strcmp(key, "args") || !strcmp(key, "append")) {
		snprintf(st->args, sizeof(st->args), "%s", value);
	} else if (!strncmp(key, "args.", 5) && name_ok(key + 5)) {
		if (st->n_wargs == LIST_MAX)
			BAD("too many args.WORKLOAD keys");
		st->wargs_name[st->n_wargs] = xstrdup(key + 5);
		st->wargs[st->n_wargs++] = xstrdup(value);
	} else if (!strcmp(key, "mem") || !strcmp(key, "vm_mem")) {
		uint64_t v;
		if (desc_parse_size(value, &v))
			BAD("a size, e.g. 128M");
		snprintf(key[0] == 'm' ? st->mem : st->vm_mem, sizeof(st->mem), "%s", value);
	} else if (!strcmp(key, "timeout")) {
		uint64_t v;
		if (desc_parse_duration(value, &v))
			BAD("a duration, e.g. 10m");
		snprintf(st->timeout, sizeof(st->timeout), "%s", value);
	} else if (!strcmp(key, "quantum")) {
		uint64_t v;
		if (desc_parse_uint(value, &v) || !v)
			BAD("instructions, e.g. 100000");
		snprintf(st->quantum, sizeof(st->quantum), "%s", value);
	} else if (!strcmp(key, "out")) {
		snprintf(st->out, sizeof(st->out), "%s", value);
	} else if (!strcmp(key, "hostfile")) {
		snprintf(st->hostfile, sizeof(st->hostfile), "%s", value);
	} else {
		BAD("unknown key (keys: name, workloads, nodes, cpus, line, rcache, providers, policies, repeat, args, "
		    "args.WORKLOAD, mem, vm_mem, timeout, quantum, out, hostfile)");
	}
#undef BAD
	return 0;
}

static void study_defaults(struct study *st, const char *name)
{
	memset(st, 0, sizeof(*st));
	snprintf(st->name, sizeof(st->name), "%s", name);
	st->repeat = 1;
	snprintf(st->mem, sizeof(st->mem), "128M");
	snprintf(st->vm_mem, sizeof(st->vm_mem), "64M");
	snprintf(st->timeout, sizeof(st->timeout), "10m");
	snprintf(st->file, sizeof(st->file), "<%s>", name);
}

static void study_fill(struct study *st)
{
	if (!st->n_workloads)
		st->workloads[st->n_workloads++] = xstrdup("ocean");
	if (!st->n_nodes)
		st->nodes[st->n_nodes++] = 1;
	if (!st->n_line)
		st->line[st->n_line++] = 128;
	if (!st->n_rcache)
		st->rcache[st->n_rcache++] = 4ull << 20;
	if (!st->n_providers)	/* across hosts disco run picks tcp */
		st->providers[st->n_providers++] = xstrdup(st->hostfile[0] ? "auto" : "shm");
	if (!st->n_policies)
		st->policies[st->n_policies++] = xstrdup("both");
	if (!st->out[0])
		snprintf(st->out, sizeof(st->out), "study-%s", st->name);
}

static void study_release(struct study *st)
{
	list_free(st->workloads, st->n_workloads);
	list_free(st->providers, st->n_providers);
	list_free(st->policies, st->n_policies);
	list_free(st->wargs_name, st->n_wargs);
	list_free(st->wargs, st->n_wargs);
}

struct ini_ctx {
	struct study *st;
	int failed;
	bool seen;
};

static int study_ini_key(void *user, const char *section, const char *name, const char *value)
{
	struct ini_ctx *c = user;
	if (c->failed)
		return 0;
	if (strcmp(section, "study")) {
		snprintf(c->st->err, sizeof(c->st->err), "%s: [%s]: unknown section (a study file has one [study] section)",
			 c->st->file, section);
		c->failed = 1;
		return 0;
	}
	c->seen = true;
	if (study_set(c->st, name, value, 0)) {
		c->failed = 1;
		return 0;
	}
	return 1;
}

static int study_load(struct study *st, const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	char nm[64];
	snprintf(nm, sizeof(nm), "%s", base);
	char *dot = strrchr(nm, '.');
	if (dot)
		*dot = 0;
	study_defaults(st, name_ok(nm) ? nm : "study");
	snprintf(st->file, sizeof(st->file), "%s", path);
	struct ini_ctx c = { .st = st };
	int rc = ini_parse(path, study_ini_key, &c);
	if (rc < 0) {
		snprintf(st->err, sizeof(st->err), "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (c.failed) {
		/* the handler does not know the line: name it here */
		if (rc > 0) {
			char *p = strstr(st->err, ":0: ");
			if (p) {
				char tail[512];
				snprintf(tail, sizeof(tail), "%s", p + 3);
				snprintf(p, sizeof(st->err) - (size_t)(p - st->err), ":%d:%s", rc, tail);
			}
		}
		return -1;
	}
	if (rc > 0) {
		snprintf(st->err, sizeof(st->err), "%s:%d: not a key = value line", path, rc);
		return -1;
	}
	if (!c.seen) {
		snprintf(st->err, sizeof(st->err), "%s: no [study] section with keys", path);
		return -1;
	}
	return 0;
}

/* --------------------------------------------------------------- points */

struct point {
	struct row key;		/* the key columns filled in */
	unsigned nodes, cpus;
	uint64_t line, rcache;
	const char *workload, *provider, *policy, *args;
	char tag[256];		/* file name stem */
	char desc[4096];	/* the description text */
};

static const char *study_args(const struct study *st, const char *workload)
{
	for (int i = 0; i < st->n_wargs; i++)
		if (!strcmp(st->wargs_name[i], workload))
			return st->wargs[i];
	return st->args;
}

static void point_desc(const struct study *st, struct point *p, const char *report)
{
	char lb[32], rb[32], nodes[32];
	desc_format_size(p->line, lb, sizeof(lb));
	desc_format_size(p->rcache, rb, sizeof(rb));
	if (p->nodes > 1)
		snprintf(nodes, sizeof(nodes), "0-%u", p->nodes - 1);
	else
		snprintf(nodes, sizeof(nodes), "0");
	int n = snprintf(p->desc, sizeof(p->desc),
			 "# written by disco study %s: %s\n[machine]\nnodes = %u\nmem = %s\nline = %s\nrcache = %s\n"
			 "provider = %s\ntimeout = %s\nreport = %s\n",
			 st->name, p->tag, p->nodes, st->mem, lb, rb, p->provider, st->timeout, report);
	if (st->quantum[0])
		n += snprintf(p->desc + n, sizeof(p->desc) - (size_t)n, "quantum = %s\n", st->quantum);
	n += snprintf(p->desc + n, sizeof(p->desc) - (size_t)n,
		      "\n[policy]\npolicy = %s\n\n[vm %s]\ncpus = %u\nmem = %s\nnodes = %s\nkernel = guest:%s\n", p->policy,
		      p->workload, p->cpus, st->vm_mem, nodes, p->workload);
	if (p->args[0])
		snprintf(p->desc + n, sizeof(p->desc) - (size_t)n, "append = %s\n", p->args);
}

/* Every point of the study, in sweep order (workload outermost, repeat innermost). */
static struct point *study_points(const struct study *st, size_t *np)
{
	size_t n = (size_t)st->n_workloads * (size_t)st->n_nodes * (size_t)st->n_line * (size_t)st->n_rcache
		   * (size_t)st->n_providers * (size_t)st->n_policies * st->repeat;
	struct point *v = calloc(n ? n : 1, sizeof(*v));
	if (!v) {
		perror("disco study");
		exit(1);
	}
	size_t k = 0;
	for (int w = 0; w < st->n_workloads; w++)
		for (int a = 0; a < st->n_nodes; a++)
			for (int l = 0; l < st->n_line; l++)
				for (int r = 0; r < st->n_rcache; r++)
					for (int pv = 0; pv < st->n_providers; pv++)
						for (int po = 0; po < st->n_policies; po++)
							for (unsigned rep = 1; rep <= st->repeat; rep++) {
								struct point *p = &v[k++];
								p->workload = st->workloads[w];
								p->nodes = st->nodes[a];
								p->cpus = st->cpus ? st->cpus : st->nodes[a];
								p->line = st->line[l];
								p->rcache = st->rcache[r];
								p->provider = st->providers[pv];
								p->policy = st->policies[po];
								p->args = study_args(st, p->workload);
								for (int c = 0; c < NCOL; c++)
									p->key.f[c] = xstrdup("");
								row_set(&p->key, C_WORKLOAD, p->workload);
								row_setu(&p->key, C_NODES, p->nodes);
								row_setu(&p->key, C_CPUS, p->cpus);
								row_setu(&p->key, C_LINE, p->line);
								row_setu(&p->key, C_RCACHE, p->rcache);
								row_set(&p->key, C_PROVIDER, p->provider);
								row_set(&p->key, C_POLICY, p->policy);
								row_set(&p->key, C_ARGS, p->args);
								row_setu(&p->key, C_REPEAT, rep);
								char rb[32];
								desc_format_size(p->rcache, rb, sizeof(rb));
								snprintf(p->tag, sizeof(p->tag), "%s-n%u-c%u-l%llu-r%s-%s-%s-%u",
									 p->workload, p->nodes, p->cpus,
									 (unsigned long long)p->line, rb, p->provider, p->policy,
									 rep);
							}
	*np = k;
	return v;
}

/* ------------------------------------------------------------- one run */

static volatile sig_atomic_t run_child, stop_study;

static void on_stop(int sig)
{
	(void)sig;
	stop_study = 1;
	if (run_child > 0)
		kill(run_child, SIGTERM);
}

static double jnum(json_t *o, const char *k, bool *have)
{
	json_t *v = json_object_get(o, k);
	if (have)
		*have = json_is_number(v);
	return json_is_number(v) ? json_number_value(v) : 0.0;
}

static unsigned host_cores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

/* The WORKLOAD line of a console log: ticks (10 MHz) and checksum. */
static void parse_console(const char *log, struct row *r)
{
	FILE *f = fopen(log, "r");
	if (!f)
		return;
	char line[2048];
	while (fgets(line, sizeof(line), f)) {
		char *w = strstr(line, "WORKLOAD ");
		if (!w)
			continue;
		char *p;
		if ((p = strstr(w, " ticks=")))
			row_setf(r, C_TICKS, (double)strtoull(p + 7, NULL, 10) / 1e7, 6);
		if ((p = strstr(w, " checksum="))) {
			char ck[40];
			if (sscanf(p + 10, "%39s", ck) == 1)
				row_set(r, C_CHECKSUM, ck);
		}
	}
	fclose(f);
}

/* Read a run report into the row's figures. */
static void read_report(const char *path, struct row *r)
{
	json_t *rep = json_load_file(path, 0, NULL);
	if (!rep)
		return;
	row_setf(r, C_WALL, jnum(rep, "wall_s", NULL), 3);
	const char *prov = json_string_value(json_object_get(rep, "provider"));
	row_set(r, C_PROV_USED, prov ? prov : "");
	json_t *hosts = json_object_get(rep, "hosts"), *h;
	size_t i;
	char names[512] = "";
	json_array_foreach(hosts, i, h) {
		size_t len = strlen(names);
		snprintf(names + len, sizeof(names) - len, "%s%s", i ? ";" : "", json_string_value(h) ? json_string_value(h) : "?");
	}
	row_setu(r, C_HOSTS, json_array_size(hosts));
	row_set(r, C_HOST_NAMES, names);
	/* ranks per host: the most nodes any one host ran */
	json_t *nodes = json_object_get(rep, "nodes"), *nd;
	unsigned most = 0;
	double lm = 0, rm = 0, stall = 0;
	bool have_coh = false, have_stall = false;
	/* nodes[].coherence: hops summed; remote-miss latency over the nodes that
	 * counted remote misses: p50 weighted by their counts, p99 the worst */
	double hop2 = 0, hop3 = 0, lat_n = 0, p50w = 0, p99 = 0;
	json_array_foreach(nodes, i, nd) {
		const char *hn = json_string_value(json_object_get(nd, "host"));
		unsigned cnt = 0;
		size_t j;
		json_t *o;
		json_array_foreach(nodes, j, o) {
			const char *on = json_string_value(json_object_get(o, "host"));
			cnt += hn && on && !strcmp(hn, on);
		}
		if (cnt > most)
			most = cnt;
		json_t *coh = json_object_get(nd, "coherence");
		if (json_is_object(coh)) {
			bool a = false, b = false, c = false;
			lm += jnum(coh, "local_misses", &a);
			rm += jnum(coh, "remote_misses", &b);
			stall += jnum(coh, "remote_stall_s", &c);
			have_coh |= a || b;
			have_stall |= c;
			hop2 += jnum(coh, "two_hop", NULL);
			hop3 += jnum(coh, "three_hop", NULL);
			json_t *lat = json_object_get(coh, "remote_miss_latency");
			double lcnt = jnum(lat, "count", NULL);
			if (lcnt > 0) {
				lat_n += lcnt;
				p50w += lcnt * jnum(lat, "p50_us", NULL);
				if (jnum(lat, "p99_us", NULL) > p99)
					p99 = jnum(lat, "p99_us", NULL);
			}
		}
	}
	unsigned cores = host_cores();
	row_setu(r, C_CORES, cores);
	row_setu(r, C_RANKS_PER_HOST, most);
	row_set(r, C_OVERSUB, most > cores ? "yes" : "no");
	json_t *vm = json_array_get(json_object_get(rep, "vms"), 0);
	if (vm) {
		row_setf(r, C_RUNTIME, jnum(vm, "runtime_s", NULL), 6);
		row_setu(r, C_INSTR, (unsigned long long)jnum(vm, "instructions", NULL));
		row_setf(r, C_MIPS, jnum(vm, "mips", NULL), 2);
		row_setu(r, C_EXIT, (unsigned long long)jnum(vm, "exit_status", NULL));
		/* compute phase: from the COMPUTE mark (2) to the next mark */
		json_t *ph = json_object_get(vm, "phases"), *m;
		double t2 = -1, t3 = -1;
		json_array_foreach(ph, i, m) {
			int phase = (int)jnum(m, "phase", NULL);
			double t = jnum(m, "t_s", NULL);
			if (phase == 2 && t2 < 0)
				t2 = t;
			else if (t2 >= 0 && t3 < 0 && phase > 2)
				t3 = t;
		}
		if (t2 >= 0 && t3 >= t2)
			row_setf(r, C_COMPUTE, t3 - t2, 6);
		/* the monitor may report stall time per VM */
		bool s = false;
		double vs = jnum(vm, "remote_stall_s", &s);
		if (s && !have_stall) {
			stall = vs;
			have_stall = true;
		}
	}
	if (have_coh) {
		row_setf(r, C_LOCAL_MISSES, lm, 0);
		row_setf(r, C_REMOTE_MISSES, rm, 0);
		if (lm + rm > 0)
			row_setf(r, C_LOCAL_SHARE, lm / (lm + rm), 4);
		row_setf(r, C_TWO_HOP, hop2, 0);
		row_setf(r, C_THREE_HOP, hop3, 0);
	}
	if (lat_n > 0) {	/* a percentile of no misses is unknown, not 0 */
		row_setf(r, C_MISS_P50, p50w / lat_n, 3);
		row_setf(r, C_MISS_P99, p99, 3);
	}
	if (have_stall)
		row_setf(r, C_REMOTE_STALL, stall, 6);
	/* the monitor's page moves: per VM when it reports them there, else summed over the nodes */
	static const char *const moves[] = { "migrations", "replications" };
	for (int k = 0; k < 2; k++) {
		bool have = false;
		double v = vm ? jnum(vm, moves[k], &have) : 0;
		if (!have) {
			json_array_foreach(nodes, i, nd) {
				bool hv = false;
				v += jnum(nd, moves[k], &hv);
				have |= hv;
			}
		}
		if (have)
			row_setf(r, k ? C_REPLICATIONS : C_MIGRATIONS, v, 0);
	}
	json_decref(rep);
}

/* Run one point; fill r. Returns 0 when it ran (ok or failed), -1 when the study was interrupted. */
static int run_point(const struct study *st, const struct point *p, const char *out, struct row *r)
{
	char dpath[PATH_MAX + 300], rpath[PATH_MAX + 300], lpath[PATH_MAX + 300];
	snprintf(dpath, sizeof(dpath), "%s/points/%s.ini", out, p->tag);
	snprintf(rpath, sizeof(rpath), "%s/reports/%s.json", out, p->tag);
	snprintf(lpath, sizeof(lpath), "%s/logs/%s.log", out, p->tag);
	for (int c = 0; c < NKEY; c++)
		row_set(r, c, p->key.f[c]);
	char started[40];
	time_t now = time(NULL);
	struct tm tmv;
	strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tmv));
	row_set(r, C_STARTED, started);
	row_set(r, C_REPORT, rpath + strlen(out) + 1);
	unlink(rpath);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		row_set(r, C_STATUS, "failed");
		return 0;
	}
	if (pid == 0) {
		setpgid(0, 0);	/* Ctrl-C reaches the study, which stops the run cleanly */
		int fd = open(lpath, O_WRONLY | O_CREAT | O_TRUNC, 0644), nul = open("/dev/null", O_RDONLY);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		if (nul >= 0)
			dup2(nul, STDIN_FILENO);
		if (st->hostfile[0])
			execl("/proc/self/exe", "disco", "run", "--quiet", "--hostfile", st->hostfile, "--report", rpath,
			      dpath, (char *)NULL);
		else
			execl("/proc/self/exe", "disco", "run", "--quiet", "--report", rpath, dpath, (char *)NULL);
		_exit(127);
	}
	run_child = pid;
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	run_child = 0;
	if (stop_study)
		return -1;
	int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	read_report(rpath, r);
	parse_console(lpath, r);
	json_t *rep = json_load_file(rpath, 0, NULL);
	const char *rs = rep ? json_string_value(json_object_get(rep, "status")) : NULL;
	bool ok = rc == 0 && rs && !strcmp(rs, "completed");
	row_set(r, C_STATUS, ok ? "ok" : "failed");
	if (!*r->f[C_EXIT])
		row_setu(r, C_EXIT, (unsigned long long)rc);
	json_decref(rep);
	return 0;
}

/* ----------------------------------------------------------- progress */

static void fmt_dur(double s, char *b, size_t n)
{
	long t = (long)(s + 0.5);
	if (t >= 3600)
		snprintf(b, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(b, n, "%ld:%02ld", t / 60, t % 60);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void progress(size_t i, size_t n, size_t ran, size_t left, double t0, const char *what)
{
	struct winsize ws;
	int cols = ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 40 ? ws.ws_col : 80;
	double el = now_s() - t0;
	char e[32], eta[32] = "?";
	fmt_dur(el, e, sizeof(e));
	if (ran)
		fmt_dur(el / (double)ran * (double)left, eta, sizeof(eta));
	const int width = 20;
	int fill = n ? (int)((double)i * width / (double)n) : width;
	char bar[32];
	for (int k = 0; k < width; k++)
		bar[k] = k < fill ? '#' : '.';
	bar[width] = 0;
	char line[512];
	snprintf(line, sizeof(line), "[%s] %zu/%zu  elapsed %s  ETA %s  %s", bar, i, n, e, eta, what);
	if ((int)strlen(line) > cols - 1)
		line[cols - 1] = 0;
	fprintf(stderr, "\r%s\033[K", line);
	fflush(stderr);
}

/* ------------------------------------------------------------ summary */

struct agg {
	const struct row *first;	/* key columns */
	size_t n, nfail;
	double runtime, rmin, rmax, compute, ticks, mips, wall, share, stall, instr;
	bool have_compute, have_ticks, have_share, have_stall, have_coh;
	double speedup;			/* against the 1-node point, 0 = none */
	char hosts[256], prov[64], oversub[16];
	unsigned ranks, cores;
};

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median_of(double *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(double), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* median of column c over the ok rows matching key; sets *have when any row has it */
static double med_col(const struct rows *rs, const struct row *key, enum col c, bool *have)
{
	double *v = malloc(sizeof(double) * (rs->n + 1));
	size_t n = 0;
	for (size_t i = 0; i < rs->n; i++)
		if (same_key(&rs->v[i], key, false) && !strcmp(rs->v[i].f[C_STATUS], "ok") && *rs->v[i].f[c])
			v[n++] = atof(rs->v[i].f[c]);
	if (have)
		*have = n > 0;
	double m = median_of(v, n);
	free(v);
	return m;
}

/* One aggregate per point of this study (repeats folded), in sweep order. */
static struct agg *aggregate(const struct rows *rs, const struct point *pts, size_t np, const struct study *st, size_t *nout)
{
	struct agg *a = calloc(np + 1, sizeof(*a));
	size_t n = 0;
	for (size_t i = 0; i < np; i++) {
		if (strcmp(pts[i].key.f[C_REPEAT], "1"))
			continue;
		struct agg *g = &a[n++];
		g->first = &pts[i].key;
		g->rmin = INFINITY;
		g->rmax = 0;
		for (size_t j = 0; j < rs->n; j++) {
			const struct row *r = &rs->v[j];
			if (!same_key(r, g->first, false) || atoi(r->f[C_REPEAT]) > (int)st->repeat)
				continue;
			if (strcmp(r->f[C_STATUS], "ok")) {
				g->nfail++;
				continue;
			}
			g->n++;
			double t = atof(r->f[C_RUNTIME]);
			g->rmin = t < g->rmin ? t : g->rmin;
			g->rmax = t > g->rmax ? t : g->rmax;
			if (!strstr(g->hosts, r->f[C_HOST_NAMES]) && strlen(g->hosts) + strlen(r->f[C_HOST_NAMES]) + 2 < sizeof(g->hosts))
				snprintf(g->hosts + strlen(g->hosts), sizeof(g->hosts) - strlen(g->hosts), "%s%s", g->hosts[0] ? ";" : "",
					 r->f[C_HOST_NAMES]);
			snprintf(g->prov, sizeof(g->prov), "%s", r->f[C_PROV_USED]);
			if ((unsigned)atoi(r->f[C_RANKS_PER_HOST]) > g->ranks)
				g->ranks = (unsigned)atoi(r->f[C_RANKS_PER_HOST]);
			g->cores = (unsigned)atoi(r->f[C_CORES]);
			if (!strcmp(r->f[C_OVERSUB], "yes"))
				snprintf(g->oversub, sizeof(g->oversub), "yes");
			else if (!g->oversub[0])
				snprintf(g->oversub, sizeof(g->oversub), "no");
		}
		if (!g->n)
			g->rmin = 0;
		g->runtime = med_col(rs, g->first, C_RUNTIME, NULL);
		g->compute = med_col(rs, g->first, C_COMPUTE, &g->have_compute);
		g->ticks = med_col(rs, g->first, C_TICKS, &g->have_ticks);
		g->mips = med_col(rs, g->first, C_MIPS, NULL);
		g->wall = med_col(rs, g->first, C_WALL, NULL);
		g->instr = med_col(rs, g->first, C_INSTR, NULL);
		g->share = med_col(rs, g->first, C_LOCAL_SHARE, &g->have_share);
		med_col(rs, g->first, C_LOCAL_MISSES, &g->have_coh);
		g->stall = med_col(rs, g->first, C_REMOTE_STALL, &g->have_stall);
	}
	/* speedup: the 1-node point with the same workload, line, rcache, provider, policy, args */
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			const struct row *x = a[i].first, *y = a[j].first;
			if (strcmp(y->f[C_NODES], "1") || !a[j].n || !a[i].n || a[i].runtime <= 0)
				continue;
			bool same = true;
			for (int c = 0; c < C_REPEAT; c++)
				if (c != C_NODES && c != C_CPUS && strcmp(x->f[c], y->f[c]))
					same = false;
			if (same)
				a[i].speedup = a[j].runtime / a[i].runtime;
		}
	}
	*nout = n;
	return a;
}

static bool varies(const struct agg *a, size_t n, enum col c)
{
	for (size_t i = 1; i < n; i++)
		if (strcmp(a[i].first->f[c], a[0].first->f[c]))
			return true;
	return false;
}

/* "1 host (h), provider shm, 4 ranks on 2 cores: oversubscribed" for everything the study ran */
static void environment(const struct agg *a, size_t n, char *out, size_t len, char *brief, size_t blen)
{
	char overn[128] = "";	/* the node counts that ran oversubscribed */
	char hosts[512] = "", provs[128] = "";
	unsigned ranks = 0, cores = 0, nhosts = 0;
	bool over = false;
	for (size_t i = 0; i < n; i++) {
		if (!a[i].n)
			continue;
		char copy[256], *save = NULL;
		snprintf(copy, sizeof(copy), "%s", a[i].hosts);
		for (char *t = strtok_r(copy, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
			char pat[260];
			snprintf(pat, sizeof(pat), ",%s,", t);
			char have[520];
			snprintf(have, sizeof(have), ",%s,", hosts);
			if (!strstr(have, pat) && strlen(hosts) + strlen(t) + 2 < sizeof(hosts)) {
				snprintf(hosts + strlen(hosts), sizeof(hosts) - strlen(hosts), "%s%s", hosts[0] ? "," : "", t);
				nhosts++;
			}
		}
		char pat[80], have[140];
		snprintf(pat, sizeof(pat), ",%s,", a[i].prov);
		snprintf(have, sizeof(have), ",%s,", provs);
		if (!strstr(have, pat) && strlen(provs) + strlen(a[i].prov) + 2 < sizeof(provs))
			snprintf(provs + strlen(provs), sizeof(provs) - strlen(provs), "%s%s", provs[0] ? "," : "", a[i].prov);
		if (a[i].ranks > ranks)
			ranks = a[i].ranks;
		cores = a[i].cores;
		if (!strcmp(a[i].oversub, "yes")) {
			over = true;
			char pn[40], hn[140];
			snprintf(pn, sizeof(pn), ",%s,", a[i].first->f[C_NODES]);
			snprintf(hn, sizeof(hn), ",%s,", overn);
			if (!strstr(hn, pn) && strlen(overn) + strlen(a[i].first->f[C_NODES]) + 2 < sizeof(overn))
				snprintf(overn + strlen(overn), sizeof(overn) - strlen(overn), "%s%s", overn[0] ? "," : "",
					 a[i].first->f[C_NODES]);
		}
	}
	if (!nhosts) {
		snprintf(out, len, "no completed runs");
		snprintf(brief, blen, "no completed runs");
		return;
	}
	snprintf(out, len, "%u host%s (%s), provider %s, up to %u rank%s per host on %u core%s: %s%s%s", nhosts,
		 nhosts > 1 ? "s" : "", hosts, provs, ranks, ranks > 1 ? "s" : "", cores, cores > 1 ? "s" : "",
		 over ? "oversubscribed at nodes = " : "not oversubscribed", over ? overn : "",
		 over ? " (ranks share cores: those timings are distorted)" : "");
	snprintf(brief, blen, "%u host%s (%s), %s, %u core%s per host; %s%s", nhosts, nhosts > 1 ? "s" : "", hosts, provs,
		 cores, cores > 1 ? "s" : "", over ? "oversubscribed at nodes = " : "not oversubscribed", over ? overn : "");
}

static void point_label(const struct agg *a, size_t n, const struct agg *g, char *b, size_t len, bool skip_nodes)
{
	static const enum col show[] = { C_WORKLOAD, C_NODES, C_LINE, C_RCACHE, C_PROVIDER, C_POLICY };
	size_t k = 0;
	b[0] = 0;
	for (size_t i = 0; i < sizeof(show) / sizeof(show[0]); i++) {
		enum col c = show[i];
		if ((c != C_WORKLOAD && !varies(a, n, c)) || (skip_nodes && c == C_NODES))
			continue;
		char v[64];
		if (c == C_RCACHE || c == C_LINE)
			desc_format_size(strtoull(g->first->f[c], NULL, 10), v, sizeof(v));
		else
			snprintf(v, sizeof(v), "%s", g->first->f[c]);
		k += (size_t)snprintf(b + k, len > k ? len - k : 0, "%s%s%s%s", k ? " " : "", c == C_WORKLOAD ? "" : col_name[c],
				      c == C_WORKLOAD ? "" : "=", v);
	}
}

static void opt_num(FILE *f, bool have, double v, int prec)
{
	if (have)
		fprintf(f, " %.*f |", prec, v);
	else
		fputs(" – |", f);
}

static void opt_g(FILE *f, bool have, double v)
{
	if (have)
		fprintf(f, " %.4g |", v);
	else
		fputs(" – |", f);
}

static void write_summary(const char *path, const struct study *st, const struct rows *rs, const struct agg *a,
			  size_t n, size_t runs, size_t failed, const char *env, bool have_plots)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return;
	char date[40];
	time_t now = time(NULL);
	struct tm tmv;
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", gmtime_r(&now, &tmv));
	fprintf(f, "# disco study %s\n\n", st->name);
	fprintf(f, "disco %s, %s; %zu run%s in results.csv for this study (%zu failed), %zu point%s, %u repeat%s each.\n\n",
		DISCO_VERSION, date, runs, runs == 1 ? "" : "s", failed, n, n == 1 ? "" : "s", st->repeat,
		st->repeat == 1 ? "" : "s");
	fprintf(f, "**Environment**: %s.\n\n", env);
	fputs("Every figure below ran with this setup; runs whose ranks outnumber the cores of their host are marked "
	      "oversubscribed in the table, and their timings are distorted (correct, but ranks take turns on a core).\n\n",
	      f);
	/* what has no effect yet */
	fputs("## What the figures can show today\n\n", f);
	/* what the reports show disco doing: misses through the protocol, pages moved by the policy */
	bool remote = false, policy_acts = false;
	for (size_t i = 0; i < rs->n; i++) {
		remote |= atof(rs->v[i].f[C_REMOTE_MISSES]) > 0;
		policy_acts |= atof(rs->v[i].f[C_MIGRATIONS]) > 0 || atof(rs->v[i].f[C_REPLICATIONS]) > 0;
	}
	if (!remote)
		fputs("- No run counted a remote miss: a VM runs whole on the first node of its `nodes` list (guest memory "
		      "does not go through the coherence protocol yet), so more nodes only add idle ranks, and the VM's "
		      "vCPUs take turns on one node (runtime does not shrink with nodes; speedup stays at or below 1).\n", f);
	if (varies(a, n, C_POLICY) && !policy_acts)
		fputs("- **policy** varies, but no run moved or replicated a page (the policy acts on pages of VMs that "
		      "span nodes once their misses reach `[policy] trigger`): differences between policies are noise.\n", f);
	if (varies(a, n, C_LINE) && !remote)
		fputs("- **line** varies, but no guest access goes through the coherence protocol yet: the line size has "
		      "no effect.\n", f);
	if (varies(a, n, C_RCACHE) && !remote)
		fputs("- **rcache** varies, but the remote-line cache is not in the memory path yet: its capacity has no "
		      "effect.\n", f);
	if (varies(a, n, C_PROVIDER) && !remote)
		fputs("- **provider** varies: the fabric carries only bootstrap and control traffic today, so the provider "
		      "changes start-up and wall time, not the guest's runtime.\n", f);
	bool any_share = false, any_stall = false, any_compute = false, any_ticks = false, any_coh = false;
	for (size_t i = 0; i < n; i++) {
		any_coh |= a[i].have_coh;
		any_share |= a[i].have_share;
		any_stall |= a[i].have_stall;
		any_compute |= a[i].have_compute;
		any_ticks |= a[i].have_ticks;
	}
	if (st->repeat < 3)
		fputs("- Each point ran fewer than 3 times (`repeat`): on a shared host differences of several percent "
		      "between points are noise.\n", f);
	if (!any_share && any_coh)
		fputs("- Local/remote miss counts: the nodes' `coherence` figures count no misses (guest memory does not "
		      "go through the protocol yet), so the local miss share is empty (–); results.csv has the counts.\n", f);
	else if (!any_share)
		fputs("- Local/remote miss counts: the reports have no `coherence` figures, so those columns are "
		      "empty (–).\n", f);
	if (!any_stall)
		fputs("- Remote stall time: not reported by the monitor yet (–).\n", f);
	fputs("\n## Medians per point\n\n", f);
	fputs("`runtime_s`: the VM's runtime (creation to poweroff); `parallel_s`: the parallel part as the workload "
	      "timed it (its `ticks`); `compute_s`: the compute phase from the phase marks (S-mode workloads only); "
	      "speedup: 1-node runtime / runtime, other parameters equal.\n\n", f);
	fputs("| point | nodes | vCPUs | runs | runtime_s (min–max) | parallel_s | compute_s | speedup | MIPS | wall_s | "
	      "local miss share | remote stall s | provider | hosts | ranks/host | cores | oversubscribed |\n", f);
	fputs("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n", f);
	for (size_t i = 0; i < n; i++) {
		const struct agg *g = &a[i];
		char lab[256];
		point_label(a, n, g, lab, sizeof(lab), true);
		fprintf(f, "| %s | %s | %s | %zu%s |", lab, g->first->f[C_NODES], g->first->f[C_CPUS], g->n,
			g->nfail ? " (+failed)" : "");
		if (g->n)
			fprintf(f, " %.4g (%.4g–%.4g) |", g->runtime, g->rmin, g->rmax);
		else
			fputs(" – |", f);
		opt_g(f, g->have_ticks, g->ticks);
		opt_g(f, g->have_compute, g->compute);
		opt_num(f, g->speedup > 0, g->speedup, 2);
		opt_num(f, g->n > 0, g->mips, 1);
		opt_num(f, g->n > 0, g->wall, 2);
		opt_num(f, g->have_share, g->share, 3);
		opt_num(f, g->have_stall, g->stall, 4);
		fprintf(f, " %s | %s | %u | %u | %s |\n", g->prov[0] ? g->prov : "–", g->hosts[0] ? g->hosts : "–", g->ranks,
			g->cores, g->oversub[0] ? g->oversub : "–");
	}
	(void)any_compute;
	(void)any_ticks;
	fputs("\n## Plots\n\n", f);
	if (have_plots)
		fputs("Each plot's title names the hosts, provider and oversubscription of its runs.\n\n"
		      "![runtime](runtime.png)\n\n", f);
	else
		fputs("No plots: gnuplot is not installed (`apt-get install gnuplot-nox`, or script/bootstrap); "
		      "`gnuplot plots.gp` in this directory draws them.\n\n", f);
	if (have_plots && st->speedup)
		fputs("![speedup](speedup.png)\n\n", f);
	if (have_plots && any_share)
		fputs("![misses](misses.png)\n\n", f);
	else
		fputs("No plot of the local/remote miss shares: the runs counted no misses (guest memory does not go "
		      "through the coherence protocol yet).\n\n", f);
	fputs("SVG versions beside them (runtime.svg, speedup.svg). Data: results.csv (every run), medians.csv (these "
	      "medians), reports/ (every run report), points/ (every description), logs/ (every console).\n", f);
	fclose(f);
}

static void write_medians(const char *path, const struct agg *a, size_t n)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return;
	fputs("workload,nodes,cpus,line,rcache,provider,policy,runs,runtime_s,runtime_min_s,runtime_max_s,parallel_s,"
	      "compute_s,speedup,mips,wall_s,local_miss_share,remote_stall_s,provider_used,hosts,ranks_per_host,host_cores,"
	      "oversubscribed\n", f);
	for (size_t i = 0; i < n; i++) {
		const struct agg *g = &a[i];
		for (int c = 0; c < C_ARGS; c++) {
			csv_field(f, g->first->f[c]);
			fputc(',', f);
		}
		fprintf(f, "%zu,", g->n);
		if (g->n)
			fprintf(f, "%.6f,%.6f,%.6f,", g->runtime, g->rmin, g->rmax);
		else
			fputs(",,,", f);
		if (g->have_ticks)
			fprintf(f, "%.6f", g->ticks);
		fputc(',', f);
		if (g->have_compute)
			fprintf(f, "%.6f", g->compute);
		fputc(',', f);
		if (g->speedup > 0)
			fprintf(f, "%.4f", g->speedup);
		fputc(',', f);
		if (g->n)
			fprintf(f, "%.2f,%.3f", g->mips, g->wall);
		else
			fputc(',', f);
		fputc(',', f);
		if (g->have_share)
			fprintf(f, "%.4f", g->share);
		fputc(',', f);
		if (g->have_stall)
			fprintf(f, "%.6f", g->stall);
		fputc(',', f);
		csv_field(f, g->prov);
		fputc(',', f);
		csv_field(f, g->hosts);
		fprintf(f, ",%u,%u,%s\n", g->ranks, g->cores, g->oversub);
	}
	fclose(f);
}

/* gnuplot string: no quotes or backslashes inside */
static void gp_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++)
		fputc(*s == '"' || *s == '\\' ? '\'' : *s, f);
	fputc('"', f);
}

/*
 * plots.gp and plot.dat: with several node counts, runtime (and, for the
 * scaling study, speedup) against nodes, one line per series (the other
 * parameters); otherwise runtime per point as boxes.
 */
static int write_plots(const char *out, const struct study *st, const struct agg *a, size_t n, const char *env)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/plot.dat", out);
	FILE *d = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/plots.gp", out);
	FILE *g = fopen(path, "w");
	if (!d || !g) {
		if (d)
			fclose(d);
		if (g)
			fclose(g);
		return -1;
	}
	bool by_nodes = varies(a, n, C_NODES), any_share = false;
	for (size_t i = 0; i < n; i++)
		any_share |= a[i].have_share;
	fprintf(g, "# written by disco study %s; run `gnuplot plots.gp` here\n", st->name);
	fputs("set datafile separator whitespace\nset grid\nset key outside right\n", g);
	/* series: points with equal parameters but nodes */
	size_t series[LIST_MAX * 8], ns = 0;
	char labels[LIST_MAX * 8][160];
	if (by_nodes) {
		bool *done = calloc(n + 1, sizeof(bool));
		for (size_t i = 0; i < n && ns < sizeof(series) / sizeof(series[0]); i++) {
			if (done[i])
				continue;
			fprintf(d, "# series %zu\n# nodes runtime_s speedup remote_miss_share\n", ns);
			for (size_t j = i; j < n; j++) {
				bool same = true;
				for (int c = 0; c < C_REPEAT; c++)
					if (c != C_NODES && c != C_CPUS && strcmp(a[i].first->f[c], a[j].first->f[c]))
						same = false;
				if (!same)
					continue;
				done[j] = true;
				if (!a[j].n)
					continue;
				fprintf(d, "%s %.6f %.4f ", a[j].first->f[C_NODES], a[j].runtime,
					a[j].speedup > 0 ? a[j].speedup : 0.0);
				if (a[j].have_share)
					fprintf(d, "%.4f\n", 1.0 - a[j].share);
				else
					fputs("NaN\n", d);
			}
			fputs("\n\n", d);
			point_label(a, n, &a[i], labels[ns], sizeof(labels[ns]), true);
			series[ns++] = i;
		}
		free(done);
	} else {
		fputs("# point runtime_s local_miss_share label\n", d);
		for (size_t i = 0; i < n; i++) {
			char lab[160];
			point_label(a, n, &a[i], lab, sizeof(lab), false);
			for (char *p = lab; *p; p++)
				if (*p == ' ')
					*p = '_';
			fprintf(d, "%zu %.6f ", i, a[i].n ? a[i].runtime : 0.0);
			if (a[i].have_share)
				fprintf(d, "%.4f", a[i].share);
			else
				fputs("NaN", d);
			fprintf(d, " \"%s\"\n", lab);
		}
	}
	fclose(d);
	static const char *const term[][2] = { { "pngcairo size 1000,560 noenhanced", "png" },
					       { "svg size 1000,560 noenhanced dynamic", "svg" } };
	char title[1200];
	for (int t = 0; t < 2; t++) {
		fprintf(g, "\nset terminal %s\n", term[t][0]);
		snprintf(title, sizeof(title), "disco study %s: runtime\\n%s", st->name, env);
		fprintf(g, "set output \"runtime.%s\"\nset title \"%s\"\nset ylabel \"VM runtime (s), median\"\n", term[t][1], title);
		if (by_nodes) {
			fputs("set xlabel \"nodes\"\nset logscale x 2\nset yrange [0:*]\nplot \\\n", g);
			for (size_t s = 0; s < ns; s++) {
				fprintf(g, "  \"plot.dat\" index %zu using 1:2 with linespoints lw 2 title ", s);
				gp_str(g, labels[s]);
				fputs(s + 1 < ns ? ", \\\n" : "\n", g);
			}
			if (st->speedup) {
				snprintf(title, sizeof(title), "disco study %s: speedup over 1 node\\n%s", st->name, env);
				fprintf(g, "set output \"speedup.%s\"\nset title \"%s\"\nset ylabel \"speedup (1-node runtime / runtime)\"\n",
					term[t][1], title);
				fputs("plot \\\n", g);
				for (size_t s = 0; s < ns; s++) {
					fprintf(g, "  \"plot.dat\" index %zu using 1:3 with linespoints lw 2 title ", s);
					gp_str(g, labels[s]);
					fputs(", \\\n", g);
				}
				fputs("  \"plot.dat\" index 0 using 1:1 with lines dt 2 lc rgb \"gray\" title \"ideal\"\n", g);
			}
			if (any_share) {
				snprintf(title, sizeof(title), "disco study %s: share of misses served remotely\\n%s", st->name, env);
				fprintf(g, "set output \"misses.%s\"\nset title \"%s\"\nset ylabel \"remote misses / all misses\"\n"
					"set yrange [0:1]\nplot \\\n", term[t][1], title);
				for (size_t s = 0; s < ns; s++) {
					fprintf(g, "  \"plot.dat\" index %zu using 1:4 with linespoints lw 2 title ", s);
					gp_str(g, labels[s]);
					fputs(s + 1 < ns ? ", \\\n" : "\n", g);
				}
				fputs("set yrange [0:*]\n", g);
			}
			fputs("unset logscale x\n", g);
		} else {
			fputs("set xlabel \"\"\nset style fill solid 0.6\nset boxwidth 0.6\nset yrange [0:*]\nset xtics rotate by -30\n"
			      "plot \"plot.dat\" using 1:2:xtic(4) with boxes notitle\n", g);
			if (any_share) {
				snprintf(title, sizeof(title), "disco study %s: share of misses served locally\\n%s", st->name, env);
				fprintf(g, "set output \"misses.%s\"\nset title \"%s\"\nset ylabel \"local misses / all misses\"\n"
					"set yrange [0:1]\nplot \"plot.dat\" using 1:3:xtic(4) with boxes notitle\n", term[t][1], title);
			}
		}
	}
	fclose(g);
	return 0;
}

static int run_gnuplot(const char *out)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (chdir(out))
			_exit(127);
		char log[] = "plots.log";
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execlp("gnuplot", "gnuplot", "plots.gp", (char *)NULL);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void print_table(FILE *f, const struct agg *a, size_t n)
{
	fprintf(f, "%-32s %5s %5s %4s %10s %10s %8s %8s %8s %10s %6s\n", "point", "nodes", "vcpus", "runs", "runtime_s",
		"parallel_s", "speedup", "MIPS", "wall_s", "local_shr", "oversub");
	for (size_t i = 0; i < n; i++) {
		const struct agg *g = &a[i];
		char lab[160], sp[16] = "-", sh[16] = "-", tk[16] = "-";
		point_label(a, n, g, lab, sizeof(lab), true);
		if (g->speedup > 0)
			snprintf(sp, sizeof(sp), "%.2f", g->speedup);
		if (g->have_share)
			snprintf(sh, sizeof(sh), "%.3f", g->share);
		if (g->have_ticks)
			snprintf(tk, sizeof(tk), "%.4g", g->ticks);
		fprintf(f, "%-32.32s %5s %5s %4zu %10.4g %10s %8s %8.1f %8.2f %10s %6s\n", lab, g->first->f[C_NODES],
			g->first->f[C_CPUS], g->n, g->runtime, tk, sp, g->mips, g->wall, sh, g->oversub[0] ? g->oversub : "-");
	}
}

static void print_json(const struct agg *a, size_t n, const char *env)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		const struct agg *g = &a[i];
		json_t *o = json_object();
		json_object_set_new(o, "workload", json_string(g->first->f[C_WORKLOAD]));
		json_object_set_new(o, "policy", json_string(g->first->f[C_POLICY]));
		json_object_set_new(o, "nodes", json_integer(atoi(g->first->f[C_NODES])));
		json_object_set_new(o, "cpus", json_integer(atoi(g->first->f[C_CPUS])));
		json_object_set_new(o, "line", json_integer(atoll(g->first->f[C_LINE])));
		json_object_set_new(o, "rcache", json_integer(atoll(g->first->f[C_RCACHE])));
		json_object_set_new(o, "provider", json_string(g->first->f[C_PROVIDER]));
		json_object_set_new(o, "runs", json_integer((json_int_t)g->n));
		json_object_set_new(o, "runtime_s", g->n ? json_real(g->runtime) : json_null());
		json_object_set_new(o, "parallel_s", g->have_ticks ? json_real(g->ticks) : json_null());
		json_object_set_new(o, "compute_s", g->have_compute ? json_real(g->compute) : json_null());
		json_object_set_new(o, "speedup", g->speedup > 0 ? json_real(g->speedup) : json_null());
		json_object_set_new(o, "mips", g->n ? json_real(g->mips) : json_null());
		json_object_set_new(o, "wall_s", g->n ? json_real(g->wall) : json_null());
		json_object_set_new(o, "local_miss_share", g->have_share ? json_real(g->share) : json_null());
		json_object_set_new(o, "remote_stall_s", g->have_stall ? json_real(g->stall) : json_null());
		json_object_set_new(o, "provider_used", json_string(g->prov));
		json_object_set_new(o, "hosts", json_string(g->hosts));
		json_object_set_new(o, "ranks_per_host", json_integer(g->ranks));
		json_object_set_new(o, "host_cores", json_integer(g->cores));
		json_object_set_new(o, "oversubscribed", json_boolean(!strcmp(g->oversub, "yes")));
		json_object_set_new(o, "environment", json_string(env));
		json_array_append_new(arr, o);
	}
	char *s = json_dumps(arr, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
	puts(s);
	free(s);
	json_decref(arr);
}

/* ------------------------------------------------------------ command */

static void study_usage(FILE *out)
{
	fputs("usage: disco study [OPTIONS] FILE.ini | scaling | policy\n"
	      "\n"
	      "Run a sweep of machine runs and write OUT/results.csv (one row per run),\n"
	      "OUT/medians.csv, OUT/summary.md and gnuplot plots (runtime, speedup; PNG and\n"
	      "SVG). A study that was interrupted resumes: runs already in results.csv\n"
	      "with status ok are not run again.\n"
	      "\n"
	      "  FILE.ini   a study file: one [study] section (docs/study.md), e.g.\n"
	      "               workloads = ocean,raytrace   nodes = 1,2,4   repeat = 3\n"
	      "  scaling    ocean, raytrace, fft on 1, 2, 4 nodes (--max-nodes 8 adds 8);\n"
	      "             speedup against 1 node\n"
	      "  policy     one workload (ocean; --workload) on 4 nodes over tcp under the\n"
	      "             policies off, migrate, replicate, both, with a 64K remote cache\n"
	      "             and args n=256 steps=10 (data larger than the caches)\n"
	      "\n"
	      "options:\n"
	      "  --out DIR          where the outputs go (default: the study's out, or study-NAME)\n"
	      "  --repeat N         runs per point (overrides the study's repeat)\n"
	      "  --max-nodes N      scaling: largest node count (1, 2, 4 or 8; default 4)\n"
	      "  --workload LIST    the workloads (overrides the study's workloads)\n"
	      "  --args ARGS        bootargs for every workload (e.g. \"n=64 steps=5\")\n"
	      "  --provider LIST    the providers (default: shm on one host; policy: tcp)\n"
	      "  --hostfile FILE    run every point over these hosts (disco run --hostfile)\n"
	      "  --timeout DUR      wall-clock limit of each run (default 10m); a run that\n"
	      "                     hits it is a failed run\n"
	      "  --json             print the medians as a JSON list of rows (workload, policy,\n"
	      "                     runtime_s, local_miss_share, remote_stall_s, ...; null\n"
	      "                     where not measured) instead of a table\n"
	      "  --dry-run          list the points and check their descriptions; run nothing\n"
	      "  --no-progress      no progress bar (it is shown when stderr is a terminal)\n"
	      "  --help             this text\n",
	      out);
}

int cmd_study(int argc, char **argv)
{
	const char *what = NULL, *out = NULL, *repeat = NULL, *maxn = NULL, *workload = NULL, *args = NULL, *prov = NULL,
		   *hostfile = NULL, *tmo = NULL;
	bool json = false, dry = false, show_progress = isatty(STDERR_FILENO);
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		bool more = i + 1 < argc;
#define OPT(name, var)                                                                                                  \
	if (!strcmp(o, name)) {                                                                                         \
		if (!more) {                                                                                            \
			fprintf(stderr, "disco study: %s needs a value\n", name);                                       \
			return 2;                                                                                       \
		}                                                                                                       \
		var = argv[++i];                                                                                        \
		continue;                                                                                               \
	}
		OPT("--out", out)
		OPT("--repeat", repeat)
		OPT("--max-nodes", maxn)
		OPT("--workload", workload)
		OPT("--workloads", workload)
		OPT("--args", args)
		OPT("--provider", prov)
		OPT("--providers", prov)
		OPT("--hostfile", hostfile)
		OPT("--timeout", tmo)
#undef OPT
		if (!strcmp(o, "--json"))
			json = true;
		else if (!strcmp(o, "--dry-run"))
			dry = true;
		else if (!strcmp(o, "--no-progress"))
			show_progress = false;
		else if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
			study_usage(stdout);
			return 0;
		} else if (o[0] != '-' && !what)
			what = o;
		else {
			fprintf(stderr, "disco study: unexpected argument '%s' (disco study --help)\n", o);
			return 2;
		}
	}
	if (!what) {
		study_usage(stderr);
		return 2;
	}
	struct study st;
	int bad = 0;
	if (!strcmp(what, "scaling")) {
		study_defaults(&st, "scaling");
		bad |= study_set(&st, "workloads", "ocean,raytrace,fft", 0);
		unsigned mx = maxn ? (unsigned)atoi(maxn) : 4;
		if (mx != 4 && mx != 8 && mx != 2 && mx != 1) {
			fprintf(stderr, "disco study: --max-nodes %s: 1, 2, 4 or 8\n", maxn);
			return 2;
		}
		bad |= study_set(&st, "nodes", mx >= 8 ? "1,2,4,8" : mx >= 4 ? "1,2,4" : mx >= 2 ? "1,2" : "1", 0);
		st.speedup = true;
	} else if (!strcmp(what, "policy")) {
		study_defaults(&st, "policy");
		bad |= study_set(&st, "workloads", "ocean", 0);
		bad |= study_set(&st, "nodes", "4", 0);
		bad |= study_set(&st, "providers", "tcp", 0);
		bad |= study_set(&st, "policies", "off,migrate,replicate,both", 0);
		/*
		 * Data larger than the caches, as on FLASH: with the default 4 MiB
		 * remote cache ocean's and raytrace's data stay cached after the
		 * first touch and there is nothing for a policy to remove
		 * (docs/study.md). --args and a study file choose otherwise.
		 */
		bad |= study_set(&st, "rcache", "64K", 0);
		bad |= study_set(&st, "args", "n=256 steps=10", 0);
	} else {
		if (study_load(&st, what)) {
			fprintf(stderr, "disco study: %s\n", st.err);
			study_release(&st);
			return 2;
		}
		for (int i = 0; i < st.n_nodes; i++)
			st.speedup |= st.nodes[i] == 1 && st.n_nodes > 1;
	}
	snprintf(st.file, sizeof(st.file), "%s", strcmp(what, "scaling") && strcmp(what, "policy") ? what : "command line");
	if (repeat)
		bad |= study_set(&st, "repeat", repeat, 0);
	if (workload)
		bad |= study_set(&st, "workloads", workload, 0);
	if (args)
		bad |= study_set(&st, "args", args, 0);
	if (prov)
		bad |= study_set(&st, "providers", prov, 0);
	if (tmo)
		bad |= study_set(&st, "timeout", tmo, 0);
	if (out)
		snprintf(st.out, sizeof(st.out), "%s", out);
	if (hostfile) {
		char *r = realpath(hostfile, NULL);
		snprintf(st.hostfile, sizeof(st.hostfile), "%s", r ? r : hostfile);
		free(r);
	}
	if (bad) {
		fprintf(stderr, "disco study: %s\n", st.err);
		study_release(&st);
		return 2;
	}
	study_fill(&st);

	/* the guest images must be there */
	char gdir[PATH_MAX];
	disco_guest_dir(gdir, sizeof(gdir));
	for (int i = 0; i < st.n_workloads; i++) {
		char elf[PATH_MAX + 80];
		snprintf(elf, sizeof(elf), "%s/%s.elf", gdir, st.workloads[i]);
		if (access(elf, R_OK)) {
			fprintf(stderr, "disco study: workload %s: no guest image %s (docs/workloads.md lists them; build the guests: script/build)\n",
				st.workloads[i], elf);
			study_release(&st);
			return 2;
		}
	}

	/* the outputs */
	char outabs[PATH_MAX];
	if (mkdir(st.out, 0755) && errno != EEXIST) {
		fprintf(stderr, "disco study: cannot create %s: %s\n", st.out, strerror(errno));
		study_release(&st);
		return 1;
	}
	if (!realpath(st.out, outabs)) {
		fprintf(stderr, "disco study: %s: %s\n", st.out, strerror(errno));
		study_release(&st);
		return 1;
	}
	static const char *const sub[] = { "points", "reports", "logs" };
	for (int i = 0; i < 3; i++) {
		char p[PATH_MAX + 16];
		snprintf(p, sizeof(p), "%s/%s", outabs, sub[i]);
		mkdir(p, 0755);
	}

	/* every point, written and checked before anything runs */
	size_t np;
	struct point *pts = study_points(&st, &np);
	for (size_t i = 0; i < np; i++) {
		char rpath[PATH_MAX + 300], dpath[PATH_MAX + 300], err[1024];
		snprintf(rpath, sizeof(rpath), "%s/reports/%s.json", outabs, pts[i].tag);
		snprintf(dpath, sizeof(dpath), "%s/points/%s.ini", outabs, pts[i].tag);
		point_desc(&st, &pts[i], rpath);
		struct desc *d = desc_parse_string(pts[i].desc, dpath, err, sizeof(err));
		if (d && desc_validate(d, err, sizeof(err))) {
			desc_free(d);
			d = NULL;
		}
		if (!d) {
			fprintf(stderr, "disco study: point %s: %s\n", pts[i].tag, err);
			study_release(&st);
			return 2;
		}
		desc_free(d);
		FILE *f = fopen(dpath, "w");
		if (!f || fputs(pts[i].desc, f) < 0) {
			fprintf(stderr, "disco study: cannot write %s: %s\n", dpath, strerror(errno));
			if (f)
				fclose(f);
			study_release(&st);
			return 1;
		}
		fclose(f);
	}

	/* what is already done */
	char csv[PATH_MAX + 32];
	snprintf(csv, sizeof(csv), "%s/results.csv", outabs);
	struct rows rs = { 0 };
	if (csv_load(csv, &rs)) {
		fprintf(stderr, "disco study: cannot read %s: %s\n", csv, strerror(errno));
		return 1;
	}
	size_t todo = 0;
	bool *need = calloc(np + 1, sizeof(bool));
	for (size_t i = 0; i < np; i++) {
		need[i] = true;
		for (size_t j = 0; j < rs.n; j++)
			if (same_key(&rs.v[j], &pts[i].key, true) && !strcmp(rs.v[j].f[C_STATUS], "ok"))
				need[i] = false;
		todo += need[i];
	}
	if (dry) {
		for (size_t i = 0; i < np; i++)
			printf("%s %s\n", need[i] ? "run " : "done", pts[i].tag);
		printf("%zu runs (%zu points x %u repeats), %zu to run, descriptions in %s/points\n", np,
		       st.repeat ? np / st.repeat : np, st.repeat, todo, outabs);
		return 0;
	}
	if (!json || show_progress)
		fprintf(stderr, "disco study %s: %zu runs (%zu already in %s), outputs in %s\n", st.name, np, np - todo, csv, outabs);

	struct sigaction sa = { .sa_handler = on_stop }, old_int, old_term, old_hup;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	double t0 = now_s();
	size_t ran = 0, failed_now = 0;
	for (size_t i = 0; i < np && !stop_study; i++) {
		if (!need[i])
			continue;
		if (show_progress)
			progress(i, np, ran, todo - ran, t0, pts[i].tag);
		struct row r = { 0 };
		for (int c = 0; c < NCOL; c++)
			r.f[c] = xstrdup("");
		if (run_point(&st, &pts[i], outabs, &r)) {
			row_free(&r);
			break;
		}
		if (strcmp(r.f[C_STATUS], "ok")) {
			failed_now++;
			if (show_progress)
				fputc('\n', stderr);
			fprintf(stderr, "disco study: %s failed (exit %s; console in %s/logs/%s.log)\n", pts[i].tag,
				r.f[C_EXIT], outabs, pts[i].tag);
		}
		/* replace an earlier row of the same run (a failed one), else append */
		size_t j;
		for (j = 0; j < rs.n; j++)
			if (same_key(&rs.v[j], &r, true))
				break;
		if (j < rs.n) {
			row_free(&rs.v[j]);
		} else {
			rows_add(&rs);
			j = rs.n - 1;
			row_free(&rs.v[j]);
		}
		rs.v[j] = r;
		if (csv_save(csv, &rs))
			fprintf(stderr, "disco study: cannot write %s: %s\n", csv, strerror(errno));
		ran++;
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	if (show_progress) {
		progress(stop_study ? ran + (np - todo) : np, np, ran, stop_study ? todo - ran : 0, t0, stop_study ? "interrupted" : "done");
		fputc('\n', stderr);
	}
	if (!rs.n || csv_save(csv, &rs))	/* a study with nothing run still gets its header */
		csv_save(csv, &rs);

	/* the outputs, from every row of this study's points */
	size_t na, runs = 0, failed = 0;
	struct agg *a = aggregate(&rs, pts, np, &st, &na);
	for (size_t i = 0; i < na; i++) {
		runs += a[i].n + a[i].nfail;
		failed += a[i].nfail;
	}
	char env[900], brief[700];
	environment(a, na, env, sizeof(env), brief, sizeof(brief));
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/medians.csv", outabs);
	write_medians(path, a, na);
	bool plots = false;
	if (write_plots(outabs, &st, a, na, brief) == 0) {
		if (!launcher_have_program("gnuplot"))
			fprintf(stderr, "disco study: gnuplot is not installed (apt-get install gnuplot-nox): no plots; %s/plots.gp draws them\n",
				outabs);
		else if (run_gnuplot(outabs))
			fprintf(stderr, "disco study: gnuplot failed (see %s/plots.log)\n", outabs);
		else
			plots = true;
	}
	snprintf(path, sizeof(path), "%s/summary.md", outabs);
	write_summary(path, &st, &rs, a, na, runs, failed, env, plots);
	if (json) {
		print_json(a, na, env);
	} else {
		print_table(stdout, a, na);
		printf("environment: %s\n", env);
		printf("%s/results.csv, %s/summary.md%s\n", outabs, outabs, plots ? ", runtime.png/.svg" : "");
	}
	int rc = stop_study ? 130 : (failed_now ? 1 : 0);
	if (stop_study)
		fprintf(stderr, "disco study: interrupted; run the same command again to resume (%zu runs left)\n", todo - ran);
	free(a);
	free(need);
	for (size_t i = 0; i < np; i++)
		row_free(&pts[i].key);
	free(pts);
	for (size_t i = 0; i < rs.n; i++)
		row_free(&rs.v[i]);
	free(rs.v);
	study_release(&st);
	return rc;
}
