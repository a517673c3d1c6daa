/*
 * node.h — one node of the machine: one MPI rank, its machine memory, its
 * transport, its event loop and its share of the VMs.
 *
 * Life of a node (node_run):
 *   1. MPI is up (main.c); the description is read and checked on every rank;
 *      a rank count that differs from [machine] nodes is refused on every rank.
 *   2. Machine memory is mapped and registered for RMA; the transport opens.
 *   3. Reachability: every node pings every other over the fabric and reads a
 *      word of its successor's memory by RMA; a silent peer is named.
 *   4. The event loop runs the node's vCPUs a poll budget at a time, serving
 *      the fabric between budgets, and sleeps when nothing is runnable.
 *   5. When its work is done a node tells node 0; node 0 ends the run when
 *      every node is done (or on a signal, a timeout, a failure).
 *   6. Per-node figures are gathered at node 0 into one JSON report.
 */
#ifndef DISCO_NODE_H
#define DISCO_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/desc.h"

struct node_options {
	const char *desc_file;		/* NULL: the embedded default */
	const char *report;		/* overrides [machine] report; "-" = none */
	double idle_s;			/* stay up this long with nothing to do (tests, benchmarks) */
	bool progress;			/* progress line on stderr (node 0) */
	bool console_prefix;		/* prefix console lines with the VM name */
};

/*
 * node_main - everything between MPI_Init and MPI_Finalize for one rank.
 * Returns the process exit status: 0, the guest's failure code, or 1/2 for
 * disco's own failures (2: bad description or launch).
 */
int node_main(const struct node_options *opt);

#endif
