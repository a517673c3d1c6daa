/*
 * internal.h — pieces of node/ shared between its files.
 */
#ifndef DISCO_NODE_INTERNAL_H
#define DISCO_NODE_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/desc.h"
#include "vdisk/vdisk.h"

/* ---- machine memory (mem.c) ---- */

/*
 * The node's slice of machine memory: one mapping registered with the
 * fabric. Page 0 is the node's header page (a magic word that peers read by
 * RMA at bootstrap, and scratch space); the rest is handed out a 4 KiB page
 * at a time.
 */
struct node_mem {
	uint8_t *base;
	size_t len;
	size_t next;		/* bump pointer, bytes */
	void *free_list;	/* freed pages, linked through their first word */
	uint64_t pages_used, pages_peak;
};

#define NODE_MEM_MAGIC	0xd15c0000d15c0000ull

int node_mem_init(struct node_mem *m, size_t len, unsigned node);
void node_mem_fini(struct node_mem *m);
void *node_mem_alloc_page(void *opaque);
/* The same without zeroing a reused page, for one the caller overwrites whole (a disk cache page). */
void *node_mem_alloc_page_dirty(void *opaque);
void node_mem_free_page(void *opaque, void *page);

/* ---- which node reads each VM's base image (disks.c) ---- */

struct node_disk_plan {
	int server;			/* -1: the VM's home opens its disk itself; else the node serving its base */
	struct vdisk_remote_base base;	/* server >= 0: what that node serves (base.r is filled by vms.c) */
	bool overlay;			/* the VM's disk is an overlay (used as it is) whose base that node serves */
};

/*
 * node_disks_plan - collective over MPI_COMM_WORLD when a VM has a disk
 * (every rank calls it with the same description): every node says which
 * VM disks it can read and their identity, and every node reaches the same
 * verdict. *out: one entry per VM of d (NULL: no VM has a disk); free() it.
 * Returns 0, or -errno with the same message on every node (e.g. a server
 * whose file differs from the home's).
 */
int node_disks_plan(const struct desc *d, unsigned self, unsigned nodes, struct node_disk_plan **out,
		    char *err, size_t errlen);

/* ---- the VMs this node runs (vms.c) ---- */

struct node_vms;
struct vnet;

struct coh_mem;

/*
 * What VMs whose harts run on several nodes need from the node: the
 * coherence engine, the machine's common time origin, and a way to send
 * messages (types VMM_MSG_FIRST..VMM_MSG_END-1) to other nodes.
 */
struct node_vms_env {
	struct coh_mem *coh;
	unsigned machine_nodes;
	uint64_t start_ns;
	void *opaque;
	int (*send)(void *opaque, unsigned node, unsigned type, const void *payload, size_t len);
	const struct node_disk_plan *disks;	/* node_disks_plan's verdict (NULL: no VM has a disk); copied */
};

/*
 * net: the node's subnets (NULL: no VM has a NIC); a VM with `net` gets a port on its subnet.
 * A node creates every VM one of whose harts runs here (hart i on the VM's
 * node i mod min(cpus, nodes)); the VM's first node is its home.
 */
struct node_vms *node_vms_create(const struct desc *d, unsigned self, struct node_mem *mem,
				 bool console_prefix, struct vnet *net, const struct node_vms_env *env,
				 char *err, size_t errlen);
/* Once every node created its VMs (collective): the homes start the harts elsewhere. */
void node_vms_start(struct node_vms *v);
/* A message for a VM spanning nodes (types VMM_MSG_FIRST..VMM_MSG_END-1). */
void node_vms_handle_msg(struct node_vms *v, unsigned src, unsigned type, const void *payload, size_t len);
/* The coherence engine's lost-line callback. */
void node_vms_line_lost(struct node_vms *v, uint64_t line);
/* Node 0, assembling the report: fold the parts of spanning VMs into their home's entry. */
void node_vms_merge_parts(json_t *vms);
void node_vms_destroy(struct node_vms *v);
/* The disk server's eventfd for the node's epoll set (-1: no disks), and its completions run from the loop (returns how many). */
int node_vms_disk_fd(const struct node_vms *v);
int node_vms_disk_poll(struct node_vms *v);
/* A message of types VDISK_MSG_FIRST..VDISK_MSG_END-1 (a base image served across nodes). */
void node_vms_disk_msg(struct node_vms *v, unsigned src, unsigned type, const void *payload, size_t len);
/* Disk figures summed over the node's VMs, or NULL when none has a disk and the node serves none. */
json_t *node_vms_disk_report(const struct node_vms *v);
/* How many of this node's VMs have not exited. */
unsigned node_vms_active(const struct node_vms *v);
/* Whether any VM has a runnable hart (not all idle). */
bool node_vms_runnable(const struct node_vms *v);
/* Run every active VM for up to budget instructions; returns instructions retired. */
uint64_t node_vms_run(struct node_vms *v, uint64_t budget);
/* Earliest timer event of an idle VM (CLOCK_MONOTONIC ns), UINT64_MAX if none. */
uint64_t node_vms_next_event_ns(const struct node_vms *v);
void node_vms_console_input(struct node_vms *v, const char *buf, size_t len);
/* Whether this node hosts the console that takes keyboard input. */
bool node_vms_wants_input(const struct node_vms *v);
uint64_t node_vms_instret(const struct node_vms *v);
/* Per-VM report objects of the VMs at home here (a new JSON array). */
json_t *node_vms_report(const struct node_vms *v);
/* Mark every active VM as stopped by the machine (signal, timeout). */
void node_vms_stop(struct node_vms *v, const char *why);

#endif
