/*
 * check.c — `disco check FILE`: read and check a description, print what
 * machine it describes. Exit 0 when it can run, 2 when it cannot.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "common/desc.h"
#include "launcher/launcher.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: disco check [--quiet] FILE\n"
		"       disco check --keys\n"
		"       disco check --default\n"
		"\n"
		"Check a machine description without starting anything: every key's\n"
		"syntax and range, then whether the machine can run it. --keys prints\n"
		"every key with its default, unit and meaning; --default prints the\n"
		"built-in description that `disco run` uses without a file.\n");
}

static void fmt_size(uint64_t b, char *out, size_t len)
{
	const char *u[] = { "B", "K", "M", "G", "T" };
	int i = 0;
	while (b >= 1024 && (b % 1024) == 0 && i < 4) {
		b /= 1024;
		i++;
	}
	snprintf(out, len, "%llu%s", (unsigned long long)b, u[i]);
}

int cmd_check(int argc, char **argv)
{
	bool quiet = false;
	const char *file = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--keys")) {
			desc_print_keys(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--default")) {
			fputs(desc_default_text, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) {
			quiet = true;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "disco check: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		} else if (file) {
			fprintf(stderr, "disco check: one file at a time\n");
			return 2;
		} else {
			file = argv[i];
		}
	}
	if (!file) {
		usage(stderr);
		return 2;
	}
	char err[1024];
	/* as disco run: a VM path with ${NAME} is checked for syntax, and expanded by each node */
	struct desc *d = desc_parse_file_flags(file, DESC_DEFER_PATHS, err, sizeof(err));
	if (d && desc_validate(d, err, sizeof(err))) {
		desc_free(d);
		d = NULL;
	}
	if (!d) {
		fprintf(stderr, "disco check: %s\n", err);
		return 2;
	}
	if (!quiet) {
		char mem[32], rc[32];
		fmt_size(d->machine.mem, mem, sizeof(mem));
		fmt_size(d->machine.rcache, rc, sizeof(rc));
		printf("%s: ok\n", file);
		printf("machine: %u nodes x %u processors, %s memory per node, %u-byte lines, %s remote cache, provider %s\n",
		       d->machine.nodes, d->machine.cpus, mem, d->machine.line, rc, desc_provider_name(d->machine.provider));
		printf("policy:  %s\n", desc_policy_name(d->policy.policy));
		for (unsigned i = 0; i < d->n_vms; i++) {
			const struct desc_vm *v = &d->vms[i];
			fmt_size(v->mem, mem, sizeof(mem));
			printf("vm %-12s %u vCPUs, %s, nodes", v->name, v->cpus, mem);
			for (unsigned k = 0; k < v->n_nodes; k++)
				printf("%s%u", k ? "," : " ", v->nodes[k]);
			printf(", %s, kernel %s\n", desc_placement_name(v->placement), v->kernel);
		}
	}
	desc_free(d);
	return 0;
}
