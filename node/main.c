/*
 * main.c — disco-node: one MPI rank is one node of the machine.
 *
 *   mpirun -np N disco-node [--report FILE] [MACHINE.ini]
 *
 * `disco run` builds this command line; running it by hand works as well.
 */
#include <getopt.h>
#include <mpi.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "disco_version.h"
#include "node/node.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: mpirun -np N disco-node [OPTIONS] [MACHINE.ini]\n"
		"\n"
		"One MPI rank = one node of a disco machine. Without a description the\n"
		"embedded default machine is used. Usually started by `disco run`.\n"
		"\n"
		"options:\n"
		"  --report FILE   write the JSON run report here (default: [machine] report)\n"
		"  --idle SECONDS  keep the nodes up this long even with nothing to run\n"
		"  --progress      print a progress line on stderr (node 0)\n"
		"  --console-prefix  prefix each console line with its VM's name\n"
		"  --version       print the version\n"
		"  --help          this text\n"
		"\n"
		"environment: DISCO_LOG=LEVEL[,SUBSYS=LEVEL] (error, warn, info, debug, trace;\n"
		"subsystems node, coh, vmm, disk, net, desc, launch), FI_PROVIDER.\n");
}

int main(int argc, char **argv)
{
	struct node_options opt = { 0 };
	static const struct option longopts[] = {
		{ "report", required_argument, NULL, 'r' },
		{ "idle", required_argument, NULL, 'i' },
		{ "progress", no_argument, NULL, 'p' },
		{ "console-prefix", no_argument, NULL, 'c' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': opt.report = optarg; break;
		case 'i': {
			char *end;
			opt.idle_s = strtod(optarg, &end);
			if (*end || opt.idle_s < 0) {
				fprintf(stderr, "disco-node: --idle %s: not a number of seconds\n", optarg);
				return 2;
			}
			break;
		}
		case 'p': opt.progress = true; break;
		case 'c': opt.console_prefix = true; break;
		case 'V': printf("disco-node %s\n", DISCO_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc)
		opt.desc_file = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "disco-node: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	log_init(NULL);

	/*
	 * Block the signals the event loop takes through its signalfd before
	 * MPI_Init: threads that MPI starts inherit the mask, and a signal left
	 * deliverable to one of them would kill the node with no report.
	 */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	int provided;
	if (MPI_Init_thread(&argc, &argv, MPI_THREAD_SINGLE, &provided) != MPI_SUCCESS) {
		fprintf(stderr, "disco-node: MPI_Init failed\n");
		return 1;
	}
	int rc = node_main(&opt);
	MPI_Finalize();
	return rc;
}
