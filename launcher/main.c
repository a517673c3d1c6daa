/*
 * main.c — `disco`, the command users type.
 *
 *   disco run [FILE]        start a machine (mpirun + disco-node) and report
 *   disco check FILE        check a machine description
 *   disco report RUN.json   summarise a run report
 *   disco bench NAME        benchmarks
 *   disco study FILE|NAME   sweeps of runs: CSV, summary, plots
 *   disco disk COMMAND      disk images: create, info, check, commit, rebase
 */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "disco_version.h"
#include "launcher/launcher.h"

int cmd_disk(int argc, char **argv);	/* disk.c */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: disco [--version] [--help] COMMAND [ARGS]\n"
		"\n"
		"disco emulates a cache-coherent NUMA machine on MPI ranks and runs\n"
		"virtual machines on it.\n"
		"\n"
		"commands:\n"
		"  run [FILE]        start a machine from a description (default: the built-in one)\n"
		"  check FILE        check a machine description without starting anything\n"
		"  report RUN.json   print a summary of a run report\n"
		"  bench NAME        run a benchmark (disco bench --help lists them)\n"
		"  study FILE|NAME   run a sweep (a study file, or scaling, policy): CSV, summary, plots\n"
		"  disk COMMAND      disk images: create, info, check, commit, rebase\n"
		"\n"
		"`disco COMMAND --help` describes each command. Machine descriptions:\n"
		"docs/machine.md, or `disco check --keys`.\n");
}

int main(int argc, char **argv)
{
	log_init(NULL);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
		printf("disco %s\n", DISCO_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "check"))
		return cmd_check(argc - 1, argv + 1);
	if (!strcmp(cmd, "report"))
		return cmd_report(argc - 1, argv + 1);
	if (!strcmp(cmd, "bench"))
		return cmd_bench(argc - 1, argv + 1);
	if (!strcmp(cmd, "study"))
		return cmd_study(argc - 1, argv + 1);
	if (!strcmp(cmd, "disk"))
		return cmd_disk(argc - 1, argv + 1);
	fprintf(stderr, "disco: unknown command '%s' (commands: run, check, report, bench, study, disk; see disco --help)\n", cmd);
	return 2;
}
