/*
 * coh_mem_internal.h — the engine's internals shared by proto.c (framing,
 * verbs, counters), dir.c (the home directory) and rcache.c (the requesting
 * side). Not for use outside coherence/.
 */
#ifndef DISCO_COH_MEM_INTERNAL_H
#define DISCO_COH_MEM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "coherence/coh.h"
#include "coherence/coh_mem.h"

/* Message types (COH_MSG_PROTO..). R requester, H home, O owner, S sharer. */
enum {
	M_GETS = COH_MSG_PROTO,	/* R->H read miss */
	M_GETX,			/* R->H write miss; F_UPGRADE when R holds a shared copy */
	M_PUTX,			/* O->H writeback of a dirty line on eviction (data) */
	M_DATA,			/* H/O->R the line (data); F_EXCL for write permission */
	M_GRANT,		/* H->R upgrade granted, no data: R's copy is current */
	M_INV,			/* H->S invalidate */
	M_INV_ACK,		/* S->H */
	M_FWD_GETS,		/* H->O send the line to node (hdr.node) and a SHWB home */
	M_FWD_GETX,		/* H->O send the line exclusive to node and drop it */
	M_SHWB,			/* O->H sharing writeback (data) */
	M_UNBLOCK,		/* R->H the grant arrived: the home's transaction ends */
	M_PUT_ACK,		/* H->O writeback done (or stale) */
	M_ERR,			/* H->R no such address */
	M_PAGE_RECALL,		/* A->H recall every copy of page offset hdr.line; tag in hdr.node */
	M_RECALL_DONE,		/* H->A */
	M_TYPE_END
};

enum { F_EXCL = 1, F_UPGRADE = 2, F_NOUNBLOCK = 4 };	/* NOUNBLOCK: a clean read, the home is not waiting */

/* Every protocol message: this header, then line data for data types. */
struct pmsg {
	uint64_t line;		/* global line number (maddr >> line shift); page offset for recalls */
	uint32_t node;		/* the requester, for forwards */
	uint16_t flags;
	uint8_t frag, nfrag;	/* data split in nfrag pieces (lines over COH_FRAG) */
	uint32_t seq;		/* sender's message number (reassembly) */
	uint32_t pad;
};
#define COH_FRAG	2048u	/* data bytes per message piece */

/* Directory entry: one 64-bit word per home line. */
enum { DIR_I, DIR_S, DIR_M };
#define DIR_STATE(e)	((unsigned)((e) & 3))
#define DIR_VEC_SHIFT	8
#define DIR_VEC_BITS	56

/* Home transaction kinds. */
enum { K_GETS, K_GETX, K_PUTX, K_LGETS, K_LGETX };

struct hreq {			/* a request waiting at a busy home line */
	struct hreq *next;
	unsigned src, kind, flags;
	uint8_t *data;		/* K_PUTX */
};

struct htxn {			/* a busy home line */
	struct htxn *hnext;	/* hash chain */
	uint64_t idx;		/* home line index */
	unsigned kind, req, owner;	/* requester (self for K_L*), owner forwarded to */
	unsigned acks, pending;		/* invalidation acks, then other replies, still due */
	bool active;			/* a transaction is in progress */
	uint64_t final;			/* directory entry once it completes */
	bool grant_upgrade;	/* after the acks: M_GRANT, not M_DATA */
	bool held;		/* granted to a local waiter, held for its retry */
	uint64_t t_held;
	struct hreq *q_head, *q_tail;
};

struct mshr {			/* a miss in flight to a remote line */
	struct mshr *hnext;
	uint64_t line;
	struct coh_rc_way *way;
	bool write, has_data;
	bool inv_after;		/* invalidated while the data was in flight: use it once */
	uint64_t t0;
};

struct wbuf {			/* a dirty line evicted, waiting for its PUT_ACK */
	struct wbuf *hnext;
	uint64_t line;
	uint8_t data[];
};

struct deferred {		/* a message for a held line, or a partly received one */
	struct deferred *next;
	unsigned src, type;
	uint64_t t;
	size_t len, got;
	uint32_t seq;
	uint8_t buf[] __attribute__((aligned(16)));	/* a struct pmsg, then data */
};

struct page_recall {
	struct page_recall *next;
	uint64_t page_off;
	unsigned src;		/* who asked (self: a local caller) */
	uint32_t tag;
};

#define HBUCKETS	1024u
#define LAT_BUCKETS	256

struct coh_mem {
	struct coh_mem_fast fast;	/* first: the inline hit path reads it */
	unsigned self, n, line_size, line_shift;
	uint64_t spin_ns;
	uint64_t line_mask_node;	/* line number -> home line index */

	struct coh_transport_ops ops;
	void *ctx;
	struct coh_fabric *fab;
	coh_lost_fn lost;
	void *lost_opaque;

	/* home directory (dir.c) */
	uint64_t *dir;
	size_t nlines;
	unsigned group;			/* nodes per sharer bit: 1 = exact vector */
	struct htxn *txn[HBUCKETS];
	unsigned ntxn, nheld;
	uint32_t **page_cnt;		/* per home page: nodes * kinds counters, allocated on first miss */
	struct page_recall *recalls;

	/* requesting side (rcache.c) */
	struct coh_rc_way *ways;
	uint8_t *cache_data;
	unsigned nsets, nways;
	unsigned *hand;			/* clock hand per set */
	struct mshr *mshr[HBUCKETS];
	struct wbuf *wb[HBUCKETS];
	unsigned nmshr, nwb;
	struct deferred *held_msgs;	/* messages waiting for a held line's retry */
	uint64_t *unblock_q;		/* UNBLOCKs not sent yet: off the miss's critical path */
	unsigned n_unblock, cap_unblock;

	/* proto.c */
	struct coh_req *waiters;	/* requests to complete when their line (or any way) frees */
	uint64_t stalled_since;		/* a request waits for a way (0: none) */
	struct deferred *frags;		/* partly reassembled messages */
	uint32_t seq;
	unsigned recall_done_tag;	/* last M_RECALL_DONE tag received */
	uint32_t recall_tag;
	uint64_t n_events;
	struct coh_mem_stats st;
	uint64_t lat_hist[LAT_BUCKETS];
	uint8_t *scratch;		/* one line */
};

static inline unsigned coh_home_of(const struct coh_mem *m, uint64_t line)
{
	return (unsigned)(line >> (COH_MADDR_OFF_BITS - m->line_shift));
}
static inline uint64_t coh_line_idx(const struct coh_mem *m, uint64_t line)
{
	return line & m->line_mask_node;
}
static inline uint64_t coh_line_of_idx(const struct coh_mem *m, uint64_t idx)
{
	return ((uint64_t)m->self << (COH_MADDR_OFF_BITS - m->line_shift)) | idx;
}
static inline unsigned coh_hash(uint64_t line)
{
	return (unsigned)((line * 0x9e3779b97f4a7c15ull) >> 40) & (HBUCKETS - 1);
}

uint64_t coh_now_ns(void);

/* proto.c */
void coh_msg_send(struct coh_mem *m, unsigned dest, unsigned type, uint64_t line, unsigned node,
		  unsigned flags, const void *data);
unsigned coh_waiters_wake(struct coh_mem *m, uint64_t line, int status);
void coh_waiters_wake_stalled(struct coh_mem *m);
void coh_waiter_add(struct coh_mem *m, struct coh_req *req, uint64_t line);
void coh_lat_record(struct coh_mem *m, uint64_t ns);
void coh_drop(struct coh_mem *m, unsigned src, unsigned type, const char *why);
void coh_lost_notify(struct coh_mem *m, uint64_t line, enum coh_lost_how how);

/* dir.c */
int coh_dir_init(struct coh_mem *m);
void coh_dir_fini(struct coh_mem *m);
void coh_dir_recv(struct coh_mem *m, unsigned src, unsigned type, const struct pmsg *h, const uint8_t *data);
int coh_dir_local(struct coh_mem *m, uint64_t idx, int write, bool count);
bool coh_dir_release_hold(struct coh_mem *m, uint64_t idx);
unsigned coh_dir_release_holds(struct coh_mem *m, bool force);
unsigned coh_dir_serve_recalls(struct coh_mem *m);
void coh_dir_count(struct coh_mem *m, uint64_t idx, unsigned node, unsigned kind);

/* rcache.c */
int coh_rc_init(struct coh_mem *m, size_t cache_bytes, unsigned ways);
void coh_rc_fini(struct coh_mem *m);
int coh_rc_miss(struct coh_mem *m, uint64_t line, int write, void **ptr, unsigned off);
void coh_rc_recv(struct coh_mem *m, unsigned src, unsigned type, const struct pmsg *h, const uint8_t *data);
unsigned coh_rc_release_holds(struct coh_mem *m, bool force);
void coh_rc_flush_unblocks(struct coh_mem *m);

#endif
