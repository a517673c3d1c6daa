/*
 * launcher.h — the pieces of the `disco` command.
 */
#ifndef DISCO_LAUNCHER_H
#define DISCO_LAUNCHER_H

#include <stdbool.h>
#include <stdio.h>

#include "common/paths.h"

int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_study(int argc, char **argv);

/* report.c: print a person-readable summary of a run report; returns 0 or 1 (unreadable). */
int report_print(const char *path, FILE *out, int brief);

/* Path of a program installed beside `disco` (disco-node), or its bare name for PATH lookup. */
void launcher_sibling(const char *name, char *out, size_t len);
/* Whether an executable of that name is on PATH. */
bool launcher_have_program(const char *name);

/* preflight.c: before a run over several hosts, check that each can run it. */
struct desc;
struct launcher_preflight {
	const char *mpirun;		/* the mpirun the run will use */
	const char *hostfile, *hostlist;	/* Open MPI's --hostfile and --host; both NULL: the Slurm allocation */
	char **mpirun_args;		/* the run's --mpirun-arg options */
	int n_mpirun_args;
	const char *node_prog;		/* disco-node, the path every host runs */
	const char *desc_path;		/* the description every node reads; NULL or "" for the built-in one */
	const struct desc *desc;	/* for the guest images it names */
	double timeout_s;		/* per host, all probed at once */
	int quiet;			/* no line when all is well */
};
/*
 * launcher_preflight - probe every host through mpirun: reachable, same
 * disco-node (checksum and version), the description and the guest images
 * there. Prints one line per problem naming the host. Returns 0 when all
 * hosts are fit, a negative errno otherwise.
 */
int launcher_preflight(const struct launcher_preflight *pf, FILE *out);

struct launcher_slurm {
	int in_allocation;		/* SLURM_JOB_ID is set */
	unsigned hosts;			/* SLURM_JOB_NUM_NODES */
	unsigned tasks;			/* SLURM_NTASKS, 0 when Slurm gave none */
};
/*
 * launcher_slurm_check - inside a Slurm allocation, the description's node
 * count must be the allocation's task count. Fills s; returns 0 or -EINVAL
 * with err set to a message that says what to change.
 */
int launcher_slurm_check(unsigned nodes, const char *file, struct launcher_slurm *s, char *err, size_t errlen);

#endif
