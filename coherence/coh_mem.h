/*
 * coh_mem.h — the coherent machine memory: the node controller's protocol
 * engine seen from the monitor (coherence/). No libfabric type appears here.
 *
 * Every node holds a slice of machine memory; a machine address is (node,
 * offset), packed by COH_MADDR(). The line (64..4096 bytes, a power of two)
 * is the unit of coherence. A directory at each line's home keeps it
 * coherent (dir.c: MSI, blocking home with a FIFO queue per busy line,
 * invalidation acks collected at the home); the requesting side keeps
 * remote lines in a finite set-associative remote-line cache (rcache.c);
 * proto.c frames the messages and offers the verbs below. docs/coherence.md
 * has the protocol and its races.
 *
 * Access:
 *   p = coh_mem_lookup(m, a, write)    inline hit path: a pointer or NULL
 *   rc = coh_mem_get(m, a, write, &p, req)
 *        0 and p on a hit; -EAGAIN after starting (or joining) a miss, req
 *        then completes (req->done called from inside coh_mem_poll or
 *        coh_mem_handle) and the caller calls coh_mem_get again, which then
 *        hits: a granted line is held for that one retry (invalidations and
 *        forwards wait until it happens, at most COH_HOLD_MAX_NS), so every
 *        granted request performs at least one access (no livelock).
 *   coh_mem_get_wait()                 blocking form: serves the fabric and
 *        sleeps until granted (tests, the monitor's slow paths).
 * A pointer is valid until the next call into the engine (poll, handle, get,
 * page operations): use it for one access, then look up again.
 *
 * Single-threaded: every call comes from the node's event loop. The message
 * handler (coh_mem_handle) never blocks.
 */
#ifndef DISCO_COH_MEM_H
#define DISCO_COH_MEM_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct coh_fabric;
struct coh_mem;

typedef uint64_t coh_maddr_t;

#define COH_MADDR_OFF_BITS	40	/* up to 1 TiB of machine memory per node */
#define COH_MADDR(node, off)	(((uint64_t)(node) << COH_MADDR_OFF_BITS) | (uint64_t)(off))
#define COH_MADDR_NODE(a)	((unsigned)((a) >> COH_MADDR_OFF_BITS))
#define COH_MADDR_OFF(a)	((a) & ((1ull << COH_MADDR_OFF_BITS) - 1))

#define COH_PAGE_SIZE		4096u	/* the NUMA policy's page */
#define COH_LINE_DEFAULT	128u
#define COH_HOLD_MAX_NS		2000000ull	/* longest a granted line waits for its retry */

enum { COH_READ = 0, COH_WRITE = 1 };

/* Why a line was lost (the lost-line callback). */
enum coh_lost_how {
	COH_LOST_INVAL,		/* invalidated by another node's write */
	COH_LOST_DOWNGRADE,	/* exclusive copy downgraded to shared (another node reads) */
	COH_LOST_EVICT,		/* evicted from the remote-line cache (capacity) */
	COH_LOST_HOME,		/* the home's own write access lost (a remote node took a copy) */
};
typedef void (*coh_lost_fn)(void *opaque, coh_maddr_t line, enum coh_lost_how how);

/*
 * A request handle, owned by the caller (e.g. in the vCPU). Passed to
 * coh_mem_get on a miss; completes once: pending goes to 0, status is 0
 * (retry coh_mem_get now) or -errno (-EFAULT: the home has no such
 * address), then done() is called if set. Must not be reused while pending.
 */
struct coh_req {
	void (*done)(struct coh_req *req, int status);
	void *opaque;
	int status;
	int pending;
	/* private to the engine */
	uint64_t line_;
	struct coh_req *next_;
};

struct coh_mem_config {
	unsigned self, nodes;	/* this node, and how many there are */
	void *mem;		/* this node's machine memory (registered with the fabric) */
	size_t mem_len;		/* a multiple of COH_PAGE_SIZE */
	unsigned line_size;	/* 0 = COH_LINE_DEFAULT */
	size_t cache_bytes;	/* remote-line cache capacity; 0 = 1 MiB */
	unsigned ways;		/* associativity; 0 = 4 */
	unsigned spin_us;	/* blocking forms poll this long after the last event before sleeping; 0 = 50 */
};

/*
 * Another transport than the fabric (the unit tests' in-process one).
 * send never blocks and never fails for lack of buffers (queue instead);
 * poll delivers what arrived (calling coh_mem_handle) and returns how many;
 * wait sleeps up to ms until something may have arrived (NULL: don't);
 * read copies len bytes at off of node src's memory to local (NULL: the
 * page copy falls back to messages).
 */
struct coh_transport_ops {
	int (*send)(void *ctx, unsigned dest, unsigned type, const void *p, size_t len);
	int (*poll)(void *ctx);
	void (*wait)(void *ctx, int ms);
	int (*read)(void *ctx, unsigned src, uint64_t off, void *local, size_t len);
};

/*
 * coh_mem_create - the engine over a fabric opened by the node (whose
 * handler must pass message types COH_MSG_PROTO..COH_MSG_PROTO_END-1 to
 * coh_mem_handle). Returns NULL and -errno in *err (-EINVAL: bad line size,
 * memory length or node numbers; -ENOMEM).
 */
struct coh_mem *coh_mem_create(struct coh_fabric *f, const struct coh_mem_config *cfg, int *err);
struct coh_mem *coh_mem_create_ops(const struct coh_transport_ops *ops, void *ctx,
				   const struct coh_mem_config *cfg, int *err);
void coh_mem_destroy(struct coh_mem *m);

/* The message handler's entry: never blocks. A bad message is dropped and counted. */
void coh_mem_handle(struct coh_mem *m, unsigned src, unsigned type, const void *payload, size_t len);
/*
 * coh_mem_poll - progress: drive the transport (fabric poll), release
 * held lines whose retry came, serve deferred messages and page recalls.
 * Returns events handled (>= 0) or -EIO from the transport.
 */
int coh_mem_poll(struct coh_mem *m);
/* Whether the engine has timed work (a held line): the loop must not sleep long. */
int coh_mem_busy(const struct coh_mem *m);

void coh_mem_set_lost_cb(struct coh_mem *m, coh_lost_fn fn, void *opaque);

unsigned coh_mem_line_size(const struct coh_mem *m);
void *coh_mem_base(const struct coh_mem *m);

/* See the top of this file. mode is COH_READ or COH_WRITE. */
int coh_mem_get(struct coh_mem *m, coh_maddr_t a, int mode, void **ptr, struct coh_req *req);
/* Blocking form; returns 0, -EFAULT, -EIO or -ETIMEDOUT (timeout_ms < 0: none). */
int coh_mem_get_wait(struct coh_mem *m, coh_maddr_t a, int mode, void **ptr, int timeout_ms);

/*
 * Page operations for the NUMA policy (page_off: a page of this node's
 * memory, COH_PAGE_SIZE aligned).
 * coh_mem_page_recall - start recalling every remote copy of the page's
 *   lines to the home; returns how many lines are still held elsewhere
 *   (0: the home alone holds the page, read-write), or -EINVAL.
 * coh_mem_page_copy_wait - pull the page at src (any node's) into this
 *   node's memory at dst_off: the home recalls every copy, then the page
 *   moves by one RMA read (or by line reads without RMA). Blocking: call it
 *   from the event loop, never from a callback. Returns 0 or -errno.
 */
int coh_mem_page_recall(struct coh_mem *m, uint64_t page_off);
/*
 * coh_mem_page_clean - like coh_mem_page_recall, but only the lines another
 * node holds exclusive come back (shared copies stay): returns how many
 * lines are still held exclusive elsewhere (0: this node's memory is the
 * page's latest data), or -EINVAL.
 */
int coh_mem_page_clean(struct coh_mem *m, uint64_t page_off);
int coh_mem_page_copy_wait(struct coh_mem *m, coh_maddr_t src, uint64_t dst_off);
/*
 * coh_mem_page_read_wait - the same without recalling the source: for a
 * page that its home already cleaned (coh_mem_page_clean returned 0) and
 * that nobody can write since (a page made read-only everywhere), so the
 * home's memory is the page and an RMA read of it is the latest data.
 * Copies that must recall (no RMA) fall back to coh_mem_page_copy_wait.
 */
int coh_mem_page_read_wait(struct coh_mem *m, coh_maddr_t src, uint64_t dst_off);

/* Per-page miss counters at the home: kinds. */
enum { COH_MISS_READ, COH_MISS_WRITE, COH_MISS_UPGRADE, COH_MISS_KINDS };
/*
 * coh_mem_page_misses - copy the page's counters, out[node * COH_MISS_KINDS +
 * kind] for node < nodes (nout >= nodes * COH_MISS_KINDS). The home's own
 * misses on the page count under its own node. Returns 0 or -EINVAL.
 */
int coh_mem_page_misses(const struct coh_mem *m, uint64_t page_off, uint32_t *out, size_t nout);
void coh_mem_page_misses_reset(struct coh_mem *m);
/*
 * coh_mem_page_remote_seen - whether another node has missed on this home
 * page since the last reset: from then on the monitor counts (or samples)
 * the home's own accesses with coh_mem_page_note_local (kind COH_MISS_*),
 * which adds them under this node, so that a page never leaves the node
 * that uses it most.
 */
int coh_mem_page_remote_seen(const struct coh_mem *m, uint64_t page_off);
void coh_mem_page_note_local(struct coh_mem *m, uint64_t page_off, unsigned kind);

struct coh_mem_stats {
	uint64_t local_misses, remote_misses;	/* accesses that needed the protocol */
	uint64_t read_misses, write_misses, upgrades;
	uint64_t two_hop, three_hop;
	uint64_t inval_sent, inval_recv;
	uint64_t fwd_recv;			/* forwards served as owner */
	uint64_t writebacks, evictions;
	uint64_t queued_at_home, deferred;	/* races: requests queued at a busy home, messages held for a retry */
	uint64_t inv_overtook;			/* races: an INV overtook a read's data (data used once) */
	uint64_t msgs_sent, msgs_recv, bytes_sent, bytes_recv;
	uint64_t dropped;			/* malformed or unexpected messages */
	uint64_t page_recalls, page_copies;
	uint64_t lat_count, lat_max_ns, lat_sum_ns;
};
void coh_mem_get_stats(const struct coh_mem *m, struct coh_mem_stats *st);
/* Remote-miss latency percentile (0 < q < 1) in ns, from the histogram. */
uint64_t coh_mem_latency_ns(const struct coh_mem *m, double q);
/* The run report's "coherence" object (keys in docs/coherence.md). */
json_t *coh_mem_stats_json(const struct coh_mem *m);
/* Bytes the directory and the engine's per-line state take (and the line count). */
size_t coh_mem_dir_overhead(const struct coh_mem *m, size_t *lines);

/* ---- the inline hit path ---- */

struct coh_rc_way {
	uint64_t tag;		/* global line number (maddr >> line shift) */
	uint8_t state;		/* what the hit path may do: 0 nothing, 1 read, 2 read+write */
	uint8_t rstate;		/* the copy held (state is 0 while held for a retry) */
	uint8_t busy;		/* a miss is in flight for it (not a victim) */
	uint8_t ref;		/* clock reference bit */
	uint8_t once;		/* held for one access, then invalid (an INV overtook the data) */
	uint8_t pad_[3];
	uint32_t held_ms;	/* when the hold began (ms, wrapping) */
	uint32_t pad2_;
	uint8_t *data;
};

/* First member of struct coh_mem: what the hit path reads. */
struct coh_mem_fast {
	uint8_t *mem;
	uint64_t mem_len;
	uint8_t *hstate;	/* per home line: 0 none, 1 read, 2 read+write (no remote copy) */
	struct coh_rc_way *ways;
	uint32_t self, line_shift, nways, set_mask;
};

static inline uint32_t coh_mem_set_(const struct coh_mem_fast *f, uint64_t line)
{
	return (uint32_t)((line * 0x9e3779b97f4a7c15ull) >> 32) & f->set_mask;
}

/*
 * coh_mem_lookup - the hit path: the host pointer for an access of mode
 * write (0/1) to machine address a, or NULL (call coh_mem_get).
 * A home line is one state byte; a remote line one set of the cache.
 */
static inline void *coh_mem_lookup(struct coh_mem *m, coh_maddr_t a, int write)
{
	const struct coh_mem_fast *f = (const struct coh_mem_fast *)m;
	if (COH_MADDR_NODE(a) == f->self) {
		uint64_t off = COH_MADDR_OFF(a);
		if (off < f->mem_len && f->hstate[off >> f->line_shift] > (unsigned)write)
			return f->mem + off;
		return NULL;
	}
	uint64_t line = a >> f->line_shift;
	struct coh_rc_way *w = f->ways + (size_t)coh_mem_set_(f, line) * f->nways;
	for (uint32_t i = 0; i < f->nways; i++)
		if (w[i].tag == line && w[i].state > (unsigned)write) {
			w[i].ref = 1;
			return w[i].data + (a & ((1ull << f->line_shift) - 1));
		}
	return NULL;
}

#endif
