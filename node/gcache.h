/*
 * gcache.h — the global disk cache across nodes (docs/disk.md, "One copy in
 * the machine"): which node's cache holds a base-image block, so that a VM
 * on one node maps another node's cache page instead of reading the block
 * into a page of its own.
 *
 * Every base (named by the disk cache's key, vdisk_base_key) has a directory
 * node, key mod nodes. A node whose cache takes a block publishes it there;
 * a node that misses asks there (LOOKUP) and gets, per block, the machine
 * address of a page that holds it, with a reference the directory counts
 * until the mapping ends (PUT). A holder that gives a published page back
 * asks the directory first (UNPUBLISH) and reuses the page only once no
 * other node maps it any more (FREE_OK).
 */
#ifndef DISCO_NODE_GCACHE_H
#define DISCO_NODE_GCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/vmm.h"

/* Messages: node message types 240..245 (within vdisk's 232..247). */
enum {
	GC_MSG_LOOKUP = 240,	/* u64 req, key; u32 n, pad; u64 block[n] (1..64) */
	GC_MSG_FOUND,		/* u64 req, key; u32 n, pad; (u64 block, maddr)[n]: maddr 0 none, else a reference */
	GC_MSG_PUBLISH,		/* u64 key, block, maddr: the sender's cache holds the block there */
	GC_MSG_PUT,		/* u64 key, block, maddr: a reference from FOUND ends */
	GC_MSG_UNPUBLISH,	/* u64 key, block, maddr: the sender's cache gives that page back */
	GC_MSG_FREE_OK,		/* u64 key, block, maddr: no other node maps it: the holder may reuse it */
	GC_MSG_END
};
#define GC_LOOKUP_MAX	64	/* blocks per LOOKUP */

struct coh_mem;
struct gcache;

struct gcache_config {
	unsigned self, nodes;
	struct coh_mem *coh;	/* this node's machine memory: cache pages are in it */
	void *opaque;
	int (*send)(void *opaque, unsigned node, unsigned type, const void *payload, size_t len);
	/* a page the directory let go: back to the node (recalled first) */
	void (*release)(void *opaque, uint8_t *page);
	uint64_t timeout_ns;	/* a LOOKUP unanswered this long is answered "none" (0: 2 s) */
};

struct gcache_stats {
	uint64_t lookups, lookup_blocks, remote_hits;	/* asked, blocks asked, blocks found on another node */
	uint64_t remote_mapped;		/* references this node holds now (pages its VMs map from other nodes) */
	uint64_t published, unpublished, dir_entries;	/* blocks this node published, gave back; directory entries here */
	uint64_t held;			/* pages the node's cache gave back, kept while other nodes map them */
	uint64_t timeouts, dropped;	/* lookups answered "none" for silence; malformed or stray messages */
};

struct gcache *gcache_new(const struct gcache_config *cfg);
void gcache_free(struct gcache *g);
/* The run is over (the VMs and the cache go next): nothing is sent any more, pages are freed at once. */
void gcache_close(struct gcache *g);
/* What the VMs' disks use (vmm.h). */
const struct vmm_gcache_ops *gcache_ops(struct gcache *g);
void gcache_on_msg(struct gcache *g, unsigned src, unsigned type, const void *payload, size_t len);
/* From the loop: answers that came, lookups that timed out. Returns how many were answered. */
unsigned gcache_poll(struct gcache *g, uint64_t now_ns);
/* When gcache_poll must run next (UINT64_MAX: nothing waits; 0: now). */
uint64_t gcache_next_ns(const struct gcache *g);
/*
 * The node's disk cache gives page back: true when the page was published
 * and the gcache keeps it until the directory says no other node maps it
 * (then cfg->release); false: the caller frees it now.
 */
bool gcache_page_freed(struct gcache *g, uint8_t *page);
void gcache_get_stats(const struct gcache *g, struct gcache_stats *st);

#endif
