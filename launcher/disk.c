/*
 * disk.c — `disco disk`: create, inspect, check, commit and rebase disk
 * images, in the spirit of qemu-img. The work is vdisk's (vdisk/tool.c);
 * this file is the command line. docs/disk.md describes the format.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "vdisk/vdisk.h"

int cmd_disk(int argc, char **argv);

static void usage(FILE *out)
{
	fprintf(out,
		"usage: disco disk COMMAND [OPTIONS] IMAGE\n"
		"\n"
		"commands:\n"
		"  create -b BASE OVERLAY     a new, empty copy-on-write overlay over the raw image BASE\n"
		"                             (a relative BASE is relative to the overlay's directory)\n"
		"  info [--json] IMAGE        format, sizes, base and its identity, space used\n"
		"  check IMAGE                look for inconsistencies; exit 0 consistent, 2 corrupt,\n"
		"                             3 only leaked clusters (harmless: space a crash left), 1 not checked\n"
		"  commit OVERLAY             write the overlay's data into its base and empty the overlay\n"
		"  rebase [-u] -b BASE OVERLAY\n"
		"                             make BASE the overlay's base; without -u the sectors in which\n"
		"                             the old and new base differ are first copied into the overlay,\n"
		"                             so the disk the guest sees does not change. -u (unsafe) only\n"
		"                             changes the reference, e.g. after the base was moved\n"
		"\n"
		"Images: a raw base is shared read-only by every VM; an overlay holds one VM's\n"
		"writes (docs/disk.md). commit and rebase refuse images a running VM holds.\n");
}

static int parse(int argc, char **argv, const char **base, bool *unsafe, bool *json)
{
	static const struct option opts[] = {
		{ "base", required_argument, NULL, 'b' },
		{ "unsafe", no_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "b:uh", opts, NULL)) != -1) {
		switch (c) {
		case 'b': *base = optarg; break;
		case 'u': *unsafe = true; break;
		case 'j': *json = true; break;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "disco disk %s: exactly one image expected (see disco disk --help)\n", argv[0]);
		return 2;
	}
	return 0;
}

int cmd_disk(int argc, char **argv)
{
	const char *base = NULL, *cmd;
	bool unsafe = false, json = false;
	char err[1024];
	int r;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	r = parse(argc - 1, argv + 1, &base, &unsafe, &json);
	if (r)
		return r == 1 ? 0 : r;
	const char *img = argv[argc - 1];

	if (!strcmp(cmd, "create")) {
		if (!base) {
			fprintf(stderr, "disco disk create: -b BASE is required\n");
			return 2;
		}
		r = vdisk_create(img, base, err, sizeof(err));
	} else if (!strcmp(cmd, "info")) {
		r = vdisk_info(img, json, stdout, err, sizeof(err));
	} else if (!strcmp(cmd, "check")) {
		return vdisk_check(img, stdout);
	} else if (!strcmp(cmd, "commit")) {
		r = vdisk_commit(img, err, sizeof(err));
		if (r == 0)
			printf("%s: committed to its base; the overlay is now empty\n", img);
	} else if (!strcmp(cmd, "rebase")) {
		if (!base) {
			fprintf(stderr, "disco disk rebase: -b BASE is required\n");
			return 2;
		}
		r = vdisk_rebase(img, base, unsafe, err, sizeof(err));
	} else {
		fprintf(stderr, "disco disk: unknown command '%s' (create, info, check, commit, rebase)\n", cmd);
		return 2;
	}
	if (r < 0) {
		fprintf(stderr, "disco disk %s: %s\n", cmd, err);
		return 1;
	}
	return 0;
}
