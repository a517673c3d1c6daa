/*
 * span.c — a VM whose harts run on several nodes (docs/coherence.md, "The
 * monitor's memory path").
 *
 * Every node on the VM's list holds an instance of the VM. Hart i runs on
 * the list's node i mod n (the first min(harts, n) nodes take part); on
 * the other instances it is a shadow: the home node (the list's first)
 * uses its shadow as the hart's stand-in for devices (PLIC contexts, SBI),
 * and an interrupt level given to a shadow travels to the hart's node.
 *
 *  - Guest memory. Guest-physical pages map to machine addresses, decided
 *    by the home node: a page is placed on the node of the hart that
 *    touches it first. The home allocates its own pages directly; another
 *    node allocates a page of its own, proposes it to the home (PMAP_REQ)
 *    and stalls the hart; the home keeps the first proposal for a page and
 *    answers every request with the page's machine address (PMAP_REP); a
 *    losing proposal goes back to its node's allocator. Every access then
 *    goes through the coherence engine (mmu.c).
 *  - Devices live on the home node. A hart elsewhere forwards its MMIO
 *    (except the CLINT, which every node serves for its own harts from the
 *    one machine clock) as MMIO_REQ and stalls until MMIO_REP. The home
 *    queues requests in the message handler and performs them from
 *    vmm_vm_run, never from inside a handler.
 *  - Power-off on any node ends the VM everywhere (EXIT).
 *  - SBI HSM hart_start of a shadow travels as HART_START.
 *  - Lines lost by this node (the engine's callback) break LR reservations
 *    and make decoded code of their page be read again.
 *
 * Every message starts with the VM's id; one that names another VM, a bad
 * hart or page, or comes from a node off the VM's list is dropped and
 * counted, never acted on.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "coherence/coh_mem.h"
#include "vmm/board.h"
#include "vmm/span.h"

enum {
	SPAN_PMAP_REQ = VMM_MSG_FIRST,	/* a: guest page index, b: proposed machine address */
	SPAN_PMAP_REP,			/* a: guest page index, b: its machine address */
	SPAN_MMIO_REQ,			/* hart, a: gpa, b: value, c: size | write << 8 */
	SPAN_MMIO_REP,			/* hart, b: value, rc */
	SPAN_IRQ,			/* hart, a: irq, b: level */
	SPAN_EXIT,			/* rc: exit code */
	SPAN_HART_START,		/* hart, a: pc, b: a1 (opaque); priv S, a0 = hart */
	SPAN_BOOT,			/* hart, a: pc, b: a1, c: a2; rc: priv | state << 4 | sbi << 8 */
	SPAN_FLUSH,			/* hart, a: 0 TLB, 1 decoded code (SBI RFENCE, FENCE.I by SBI) */
	/* page migration (the NUMA policy): one move at a time per VM, run by its home */
	SPAN_MOVE_REQ,			/* page's node -> home: a: page index, b: its machine address, hart: target node */
	SPAN_UNMAP,			/* home -> every node: a: page index; forget it, drop translations */
	SPAN_UNMAP_ACK,			/* every node -> home: a: page index */
	SPAN_COPY,			/* home -> target: a: page index, b: the old machine address */
	SPAN_COPIED,			/* target -> home: a: page index, b: the new machine address (rc < 0: failed) */
	SPAN_MAPPED,			/* home -> every node: a: page index, b: new, c: old machine address */
	/* placement other than first touch */
	SPAN_ALLOC,			/* home -> the page's node: a: page index; give me a page */
	SPAN_ALLOC_REP,			/* -> home: a: page index, b: machine address (rc < 0: none) */
	/* replication (the NUMA policy): also one operation at a time per VM, run by its home */
	SPAN_REPLICATE,			/* master's node -> home: a: page index, b: master, c: reader nodes (bits) */
	SPAN_PROTECT,			/* home -> every node: a: page index; make it read-only, drop translations */
	SPAN_PROTECT_ACK,		/* every node -> home */
	SPAN_REPLICA,			/* home -> a reader: a: page index, b: master; copy it here */
	SPAN_REPLICATED,		/* reader -> home: a: page index, b: the replica (rc < 0: none) */
	SPAN_COLLAPSE,			/* any node -> home: a: page index; a write wants it back to one copy */
	/* vCPUs moving between nodes ([machine] balance) */
	SPAN_HART_MOVE,			/* home -> the hart's node: hart, a: the node it goes to */
	SPAN_HART_STATE,		/* leaving node -> target: struct span_hart_msg (a: the move's epoch) */
	SPAN_HART_NODE,			/* target -> every other node: hart, a: its node now, b: the move's epoch */
	SPAN_LOAD,			/* node -> home: a: runnable vCPUs x1000, b: the VM's runnable harts here (bits) */
};
/*
 * The global disk cache (docs/disk.md): the home maps a cache page in place
 * of a guest page with UNMAP, UNMAP_ACK and MAPPED (rc = 1: read-only
 * everywhere); the page's `master` is then the cache page, so the policy
 * leaves it alone and a write collapses it into a private copy.
 */

enum { PLACE_FIRST_TOUCH, PLACE_ROUND_ROBIN, PLACE_FIXED, PLACE_INTERLEAVE, PLACE_BLOCK };
enum { OP_MOVE, OP_REPLICATE, OP_COLLAPSE, OP_SHARE };

struct span_msg {
	uint32_t vm, hart;
	uint64_t a, b, c;
	int32_t rc;
	uint32_t hops;			/* times a message for a hart was passed on after the hart moved */
};

/* A vCPU's state on its way to another node, with what the node's devices keep of it. */
struct span_hart_msg {
	struct span_msg m;
	struct hart_img img;
	uint64_t mtimecmp;		/* CLINT */
	uint64_t sbi_timer, sbi_resume_addr, sbi_resume_opaque;	/* built-in SBI */
	uint8_t msip, mtip, sbi_timer_used, sbi_sti, sbi_nonret, pad[3];
};

#define HOPS_MAX	8	/* a hart cannot outrun its messages more often than this */

#define PM_VALID	(1ull << 63)
#define PM_PEND		(1ull << 62)
#define PM_RO		(1ull << 61)	/* replicated: a read-only replica here, or the master read-only */
#define PM_ADDR		(PM_RO - 1)

struct mmio_req {
	unsigned src, hart;
	uint64_t gpa, val;
	unsigned size;
	bool write;
};

#define MOVE_QUEUE	256	/* moves a home keeps waiting */
#define OPS_MAX		8	/* page operations a home runs at once, each on its own page */
#define MMIO_QUEUE_MAX	(4 * VM_MAX_HARTS)	/* forwarded MMIO accesses a home keeps waiting */
#define MOVES_PER_TICK	32	/* pages a node proposes per policy interval */

/* Who waits for a disk cache page to be mapped (span_share). */
struct share_cb {
	span_share_fn done;
	void *arg;
};

struct vm_span {
	struct vmm_span_config cfg;
	unsigned nodes[VM_MAX_HARTS];	/* the nodes taking part; [0] is home */
	unsigned n_nodes;
	unsigned hart_node[VM_MAX_HARTS];
	bool home;
	struct vmm_mem_ops mem;
	uint64_t npages;
	uint64_t *pm;			/* [npages]: PM_VALID | maddr, PM_PEND | proposal, or 0 */
	uint64_t *rkey, *rval;		/* reverse map: machine page -> guest page index + 1 */
	uint64_t rmask;
	struct mmio_req *q;		/* home: forwarded MMIO waiting to be performed */
	unsigned qn, qcap;
	bool booting;
	bool exit_sent;
	struct vmm_span_stats st;

	/* the NUMA policy */
	uint64_t next_tick, next_reset;
	uint8_t *moves;			/* home: moves of each page since the last reset */
	uint8_t *asked;			/* this node asked to move the page since the last reset */
	struct move_req {
		uint64_t idx, from, readers;
		unsigned to;
		uint8_t kind;
		struct share_cb cb;	/* OP_SHARE: from is the cache page */
	} mq[MOVE_QUEUE];		/* home: operations waiting for a slot, or for their page */
	unsigned mq_n;
	struct page_op {
		bool on;
		uint8_t kind;		/* OP_MOVE, OP_REPLICATE, OP_COLLAPSE, OP_SHARE */
		uint64_t idx, from, readers;
		unsigned to, acks, waiting;
		bool recall;		/* replication: the master's node could not recall it, the copies must */
		uint64_t shared;	/* OP_SHARE: the cache page (from: what was there, 0 none) */
		unsigned need;		/* OP_SHARE: acks it waits for (the nodes that knew the page) */
		struct share_cb cb;
	} mv[OPS_MAX];			/* home: the page operations in progress */
	uint64_t *master;		/* home: a replicated page's master (0: not replicated) */
	uint8_t *collapse_asked;	/* this node asked the home to collapse the page */
	struct page_copy {
		bool on, replica, recall;
		uint64_t idx, from;
	} cp[OPS_MAX];			/* target: copies to make from the loop (moves and replicas; one per operation) */
	struct waiter {
		uint64_t idx;
		unsigned node;
	} *waiters;			/* home: nodes waiting for a page another node allocates */
	unsigned n_wait, cap_wait;
	unsigned rr;			/* home: round-robin placement's next node */
	uint64_t *to_free;		/* old pages of this node, freed once no other node holds a line */
	unsigned n_free, cap_free;
	struct pwait {
		uint64_t idx, addr;
	} *protect_wait;		/* pages of this node to replicate: acked once no other node holds a line */
	unsigned n_pwait, cap_pwait;

	/* vCPUs moving between nodes */
	uint32_t hart_epoch[VM_MAX_HARTS];	/* moves of each hart: the newest HART_NODE wins */
	unsigned give[VM_MAX_HARTS];	/* a hart of this node asked to leave: target node + 1 */
	uint64_t give_t0[VM_MAX_HARTS];
	uint64_t next_balance, last_sample, load_sum, load_n;
	uint32_t load[VM_MAX_HARTS];	/* home: each node's reported load (x1000), by place in nodes[] */
	uint64_t runbits[VM_MAX_HARTS];	/* home: ... and its runnable harts of this VM */
	uint64_t load_at[VM_MAX_HARTS];	/* home: when that report came (0: none yet) */
	struct {
		bool on;
		unsigned hart;
		uint64_t t0, deadline;
	} hm;				/* home: the vCPU move in flight (one per VM) */
	unsigned rot;			/* home: the next hart to consider */

	/* the global disk cache (home) */
	uint8_t *cached;		/* the page's master is a disk cache page, referenced through share_ops */
	uint8_t *cache_repl;		/* ... and the policy made replicas of it */
	uint64_t *known;		/* home: nodes (bits by place in nodes[]) that may map the page */
	const struct pmap_share_ops *share_ops;
	struct share_fin {
		struct share_cb cb;
		uint64_t gpa;
		int rc;
	} *fin;				/* span_share answers, given from the loop */
	unsigned n_fin, cap_fin;
	struct vm *vm;
};

static int span_send(struct vm_span *s, unsigned node, unsigned type, const struct span_msg *m)
{
	int rc = s->cfg.send(s->cfg.opaque, node, type, m, sizeof(*m));

	if (rc)
		LOG_RATELIMITED(SUB_VMM, LOG_ERROR, "vm %u: cannot send message %u to node %u: %d",
				s->cfg.vm_id, type, node, rc);
	s->st.msgs_sent++;
	return rc;
}

/* ---- reverse map ---- */

static uint64_t rhash(uint64_t k)
{
	return (k * 0x9e3779b97f4a7c15ull) >> 17;
}

#define RMAP_TOMB	UINT64_MAX	/* a deleted entry: lookups go on past it */

static bool rmap_slot(const struct vm_span *s, uint64_t k, uint64_t *slot)
{
	uint64_t i = rhash(k) & s->rmask;

	for (uint64_t n = 0; n <= s->rmask && s->rval[i]; n++, i = (i + 1) & s->rmask) {
		if (s->rval[i] != RMAP_TOMB && s->rkey[i] == k) {
			*slot = i;
			return true;
		}
	}
	return false;
}

static void rmap_add(struct vm_span *s, uint64_t maddr, uint64_t idx)
{
	uint64_t k = maddr >> VM_PAGE_SHIFT, i;

	if (rmap_slot(s, k, &i)) {
		s->rval[i] = idx + 1;
		return;
	}
	i = rhash(k) & s->rmask;
	for (uint64_t n = 0; n <= s->rmask; n++, i = (i + 1) & s->rmask) {
		if (!s->rval[i] || s->rval[i] == RMAP_TOMB) {
			s->rkey[i] = k;
			s->rval[i] = idx + 1;
			return;
		}
	}
	LOG_RATELIMITED(SUB_VMM, LOG_WARN, "vm %u: reverse page map full", s->cfg.vm_id);
}

static void rmap_del(struct vm_span *s, uint64_t maddr)
{
	uint64_t i;

	if (rmap_slot(s, maddr >> VM_PAGE_SHIFT, &i))
		s->rval[i] = RMAP_TOMB;
}

static bool rmap_find(const struct vm_span *s, uint64_t maddr, uint64_t *idx)
{
	uint64_t i;

	if (!rmap_slot(s, maddr >> VM_PAGE_SHIFT, &i))
		return false;
	*idx = s->rval[i] - 1;
	return true;
}

static void pm_set(struct vm_span *s, uint64_t idx, uint64_t maddr)
{
	s->pm[idx] = PM_VALID | maddr;
	rmap_add(s, maddr, idx);
	s->st.pages_mapped++;
	if (COH_MADDR_NODE(maddr) == s->cfg.self)
		s->st.pages_here++;
}

static uint8_t *local_host(struct vm_span *s, uint64_t maddr)
{
	return (uint8_t *)coh_mem_base(s->cfg.coh) + COH_MADDR_OFF(maddr);
}

/* ---- set-up ---- */

int span_create(struct vm *vm, const struct vmm_span_config *cfg, const struct vmm_mem_ops *mem,
		char *err, size_t errlen)
{
	struct vm_span *s;
	unsigned n;

	if (!cfg->coh || !cfg->send || cfg->n_nodes == 0 || cfg->n_nodes > VM_MAX_HARTS) {
		snprintf(err, errlen, "a VM on several nodes needs the coherence engine and 1 to %u nodes",
			 VM_MAX_HARTS);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->cfg = *cfg;
	s->mem = *mem;
	n = cfg->n_nodes < vm->nharts ? cfg->n_nodes : vm->nharts;
	for (unsigned i = 0; i < n; i++)
		s->nodes[i] = cfg->nodes[i];
	s->n_nodes = n;
	s->home = cfg->self == s->nodes[0];
	s->npages = vm->ram_size >> VM_PAGE_SHIFT;
	s->pm = calloc(s->npages, sizeof(*s->pm));
	for (s->rmask = 1; s->rmask < 4 * s->npages; s->rmask <<= 1)
		;
	s->rkey = calloc(s->rmask, sizeof(*s->rkey));
	s->rval = calloc(s->rmask, sizeof(*s->rval));
	s->rmask--;
	s->moves = calloc(s->npages, 1);
	s->asked = calloc(s->npages, 1);
	s->master = calloc(s->npages, sizeof(*s->master));
	s->collapse_asked = calloc(s->npages, 1);
	s->cached = calloc(s->npages, 1);
	s->cache_repl = calloc(s->npages, 1);
	s->known = calloc(s->npages, sizeof(*s->known));
	if (!s->pm || !s->rkey || !s->rval || !s->moves || !s->asked || !s->master || !s->collapse_asked || !s->cached ||
	    !s->cache_repl || !s->known) {
		free(s->pm);
		free(s->rkey);
		free(s->rval);
		free(s->moves);
		free(s->asked);
		free(s->master);
		free(s->collapse_asked);
		free(s->cached);
		free(s->cache_repl);
		free(s->known);
		free(s);
		snprintf(err, errlen, "out of memory for the guest-physical map");
		return -ENOMEM;
	}
	s->booting = true;
	s->vm = vm;
	vm->span = s;
	vm->start_ns = cfg->start_ns;
	for (unsigned i = 0; i < vm->nharts; i++) {
		s->hart_node[i] = s->nodes[i % n];
		hart_set_span(vm->harts[i], cfg->coh, s->hart_node[i] != cfg->self);
	}
	return 0;
}

void span_boot_done(struct vm *vm)
{
	if (vm->span)
		vm->span->booting = false;
}

void span_free(struct vm *vm)
{
	struct vm_span *s = vm->span;

	if (!s)
		return;
	for (uint64_t i = 0; i < s->npages; i++) {
		uint64_t e = s->pm[i], a = e & PM_ADDR;
		if (s->cached[i])
			s->share_ops->put(s->share_ops->opaque, local_host(s, s->master[i]));	/* the cache's */
		else if ((e & (PM_VALID | PM_PEND)) && a && COH_MADDR_NODE(a) == s->cfg.self && s->mem.free_page)
			s->mem.free_page(s->mem.opaque, local_host(s, a));
	}
	for (unsigned i = 0; i < OPS_MAX; i++)
		if (s->mv[i].on && s->mv[i].kind == OP_SHARE)
			s->share_ops->put(s->share_ops->opaque, local_host(s, s->mv[i].shared));
	for (unsigned i = 0; i < s->mq_n; i++)
		if (s->mq[i].kind == OP_SHARE)
			s->share_ops->put(s->share_ops->opaque, local_host(s, s->mq[i].from));
	free(s->fin);	/* (their requests end with the VM's devices) */
	free(s->cached);
	free(s->cache_repl);
	free(s->known);
	free(s->pm);
	free(s->rkey);
	free(s->rval);
	for (unsigned i = 0; i < s->n_free; i++)
		if (s->mem.free_page)
			s->mem.free_page(s->mem.opaque, local_host(s, s->to_free[i]));
	free(s->to_free);
	free(s->protect_wait);
	free(s->waiters);
	free(s->moves);
	free(s->asked);
	free(s->master);
	free(s->collapse_asked);
	free(s->q);
	free(s);
	vm->span = NULL;
}

bool span_is_home(const struct vm *vm)
{
	return !vm->span || vm->span->home;
}

unsigned span_hart_node(const struct vm *vm, unsigned i)
{
	return vm->span ? vm->span->hart_node[i] : 0;
}

void span_get_stats(const struct vm *vm, struct vmm_span_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (vm->span)
		*st = vm->span->st;
}

size_t span_local_pages(const struct vm *vm, uint64_t *gpa, uint64_t *maddr, size_t max)
{
	const struct vm_span *s = vm->span;
	size_t n = 0;

	for (uint64_t i = 0; s && i < s->npages; i++) {
		uint64_t e = s->pm[i];
		if (!(e & PM_VALID) || COH_MADDR_NODE(e & PM_ADDR) != s->cfg.self)
			continue;
		if (n < max) {
			gpa[n] = vm->ram_base + (i << VM_PAGE_SHIFT);
			maddr[n] = e & PM_ADDR;
		}
		n++;
	}
	return n;
}

/* ---- guest memory ---- */

struct coh_mem *vm_coh(struct vm *vm)
{
	return vm->span ? vm->span->cfg.coh : vm->coh;
}

bool vm_coh_spans(const struct vm *vm)
{
	return vm->span != NULL;
}

void vm_coh_enter(struct vm *vm, struct coh_mem *coh)
{
	if (vm->span || vm->coh)
		return;
	vm->coh = coh;
	for (unsigned i = 0; i < vm->nharts; i++) {
		hart_set_span(vm->harts[i], coh, false);
		hart_flush_tlb(vm->harts[i]);	/* (every entry is made again the coherent way) */
	}
}

/*
 * A VM on one node that maps pages of other nodes (vm_coh_enter): its own
 * pages are this node's, allocated on first touch as ever; a remote page is
 * read where it is, and written only once it is the VM's own (pmap.c).
 */
static int one_node_maddr(struct vm *vm, uint64_t gpa, bool write, uint64_t *maddr)
{
	const struct coh_mem_fast *f = (const struct coh_mem_fast *)vm->coh;
	uint64_t r = pmap_remote(vm->pmap, gpa);
	uint8_t *host;

	if (r && !write) {
		*maddr = r;
		return 0;
	}
	host = write ? pmap_page_write(vm->pmap, gpa) : pmap_page(vm->pmap, gpa);
	if (!host)
		return -ENOMEM;
	*maddr = COH_MADDR(f->self, (uint64_t)(host - (uint8_t *)coh_mem_base(vm->coh)));
	return 0;
}

/* The node a new page idx goes to, by placement (first touch: the toucher; round-robin: the home decides). */
static unsigned place(struct vm_span *s, uint64_t idx, unsigned toucher)
{
	unsigned k = s->n_nodes;

	if (s->booting)
		return s->nodes[0];	/* the images the home loads */
	switch (s->cfg.placement) {
	case PLACE_FIXED:
		return s->nodes[0];
	case PLACE_INTERLEAVE:
		return s->nodes[idx % k];
	case PLACE_BLOCK:
		return s->nodes[idx * k / s->npages];
	case PLACE_ROUND_ROBIN:
		return s->home ? s->nodes[s->rr++ % k] : s->nodes[0];	/* elsewhere: ask the home, which decides */
	default:
		return toucher;
	}
}

static uint64_t alloc_here(struct vm_span *s)
{
	uint8_t *page = s->mem.alloc_page(s->mem.opaque);

	return page ? COH_MADDR(s->cfg.self, (uint64_t)(page - (uint8_t *)coh_mem_base(s->cfg.coh))) : 0;
}

/*
 * grow - the array a of n elements (capacity *cap) with room for one more:
 * a itself, or a larger copy (*cap updated), or NULL when memory is short
 * (a is left as it was).
 */
static void *grow(void *a, unsigned n, unsigned *cap, size_t size)
{
	if (n < *cap)
		return a;
	unsigned c = *cap ? 2 * *cap : 16;
	void *p = realloc(a, c * size);
	if (p)
		*cap = c;
	return p;
}

static void wait_add(struct vm_span *s, uint64_t idx, unsigned node)
{
	struct waiter *w = grow(s->waiters, s->n_wait, &s->cap_wait, sizeof(*w));

	if (!w)
		return;		/* (the node asks again: it stays waiting) */
	s->waiters = w;
	s->waiters[s->n_wait++] = (struct waiter){ idx, node };
}

/* Home: page idx goes to node t, not the home: ask t for a page, the requester waits. */
static void alloc_elsewhere(struct vm_span *s, uint64_t idx, unsigned t, unsigned requester)
{
	if (requester != s->cfg.self)
		wait_add(s, idx, requester);
	if (s->pm[idx] & PM_PEND)
		return;		/* asked already */
	s->pm[idx] = PM_PEND;
	struct span_msg m = { .vm = s->cfg.vm_id, .a = idx };
	span_send(s, t, SPAN_ALLOC, &m);
}

static void span_deliver(struct vm_span *s, unsigned node, unsigned type, struct span_msg *m);

int vm_ram_maddr(struct vm *vm, struct hart *h, uint64_t gpa, bool write, uint64_t *maddr)
{
	struct vm_span *s = vm->span;
	uint64_t idx, e;
	unsigned t;

	if (gpa < vm->ram_base || gpa - vm->ram_base >= vm->ram_size || (!s && !vm->coh))
		return -EFAULT;
	if (!s)
		return one_node_maddr(vm, gpa, write, maddr);
	idx = (gpa - vm->ram_base) >> VM_PAGE_SHIFT;
	e = s->pm[idx];
	if ((e & PM_VALID) && !(write && (e & PM_RO))) {
		*maddr = e & PM_ADDR;
		return 0;
	}
	if (e & PM_VALID) {
		/* a write to a replicated page: every replica goes first (COLLAPSE), then it retries */
		if (!s->collapse_asked[idx]) {
			struct span_msg m = { .vm = s->cfg.vm_id, .a = idx };
			s->collapse_asked[idx] = 1;
			span_deliver(s, s->nodes[0], SPAN_COLLAPSE, &m);
		}
	} else if (!(e & PM_PEND)) {
		t = place(s, idx, s->cfg.self);
		if (s->home && t != s->cfg.self) {
			alloc_elsewhere(s, idx, t, s->cfg.self);
		} else {
			/* here: a page of this node (proposed to the home), or the home asked to choose */
			e = t == s->cfg.self ? alloc_here(s) : 0;
			if (t == s->cfg.self && !e) {
				LOG_RATELIMITED(SUB_VMM, LOG_WARN, "%s: node memory exhausted at gpa %#llx", vm->name,
						(unsigned long long)gpa);
				return -ENOMEM;
			}
			if (s->home) {
				pm_set(s, idx, e);
				*maddr = e;
				return 0;
			}
			s->pm[idx] = PM_PEND | e;
			struct span_msg m = { .vm = s->cfg.vm_id, .a = idx, .b = e };
			s->st.pmap_requests++;
			span_send(s, s->nodes[0], SPAN_PMAP_REQ, &m);
		}
	}
	if (h) {
		hart_stall(h, STALL_PMAP);
		s->st.stalls_pmap++;
	}
	return -EAGAIN;
}

/* Blocking form for the monitor's own copies (devices, loader, SBI): serves the fabric meanwhile. */
static int maddr_wait(struct vm *vm, uint64_t gpa, bool write, uint64_t *maddr)
{
	uint64_t t0 = vm_now_ns();
	int rc;

	while ((rc = vm_ram_maddr(vm, NULL, gpa, write, maddr)) == -EAGAIN) {
		if (coh_mem_poll(vm->span->cfg.coh) < 0)
			return -EIO;
		if (vm_now_ns() - t0 > 10000000000ull) {
			LOG(SUB_VMM, LOG_ERROR, "%s: the home node did not map gpa %#llx within 10 s", vm->name,
			    (unsigned long long)gpa);
			return -ETIMEDOUT;
		}
	}
	return rc;
}

int span_gpa_copy(struct vm *vm, uint64_t gpa, void *buf, size_t len, bool to_guest)
{
	struct vm_span *s = vm->span;
	unsigned line = coh_mem_line_size(s->cfg.coh);
	uint8_t *p = buf;

	if (s->booting && !s->home) {
		/* the home node loads the images; the others only learn where things are */
		if (!to_guest)
			memset(buf, 0, len);
		return 0;
	}
	while (len) {
		uint64_t m;
		void *q;
		int rc = maddr_wait(vm, gpa, to_guest, &m);
		size_t chunk;

		if (rc)
			return rc == -EFAULT ? -EFAULT : -ENOMEM;
		m += gpa & (VM_PAGE_SIZE - 1);
		chunk = line - (m & (line - 1));
		if (chunk > len)
			chunk = len;
		q = coh_mem_lookup(s->cfg.coh, m, to_guest);
		if (!q && coh_mem_get_wait(s->cfg.coh, m, to_guest ? COH_WRITE : COH_READ, &q, 10000))
			return -EIO;
		if (to_guest)
			memcpy(q, p, chunk);
		else
			memcpy(p, q, chunk);
		if (to_guest && pmap_code_find(vm->pmap, gpa))
			vm_code_changed(vm, gpa);
		p += chunk;
		gpa += chunk;
		len -= chunk;
	}
	return 0;
}

uint64_t span_pages_here(const struct vm *vm)
{
	return vm->span ? vm->span->st.pages_here : 0;
}

void vm_code_changed(struct vm *vm, uint64_t gpa)
{
	for (unsigned i = 0; i < vm->nharts; i++)
		if (!hart_is_shadow(vm->harts[i]))
			hart_code_lost(vm->harts[i], gpa);
}

void vm_direct_drop(struct vm *vm, uint64_t gpa)
{
	for (unsigned i = 0; i < vm->nharts; i++)
		if (!hart_is_shadow(vm->harts[i]))
			hart_data_lost(vm->harts[i], gpa);
}

void span_line_lost(struct vm *vm, uint64_t line)
{
	struct vm_span *s = vm->span;
	uint64_t idx, mask;

	if (!s || !rmap_find(s, line, &idx))
		return;
	mask = coh_mem_line_size(s->cfg.coh) - 1;
	for (unsigned i = 0; i < vm->nharts; i++) {
		if (hart_is_shadow(vm->harts[i]))
			continue;
		hart_line_lost(vm->harts[i], line, mask);
		if (COH_MADDR_NODE(line) == s->cfg.self)
			hart_data_lost(vm->harts[i], vm->ram_base + (idx << VM_PAGE_SHIFT));	/* direct entries */
	}
	if (pmap_code_find(vm->pmap, vm->ram_base + (idx << VM_PAGE_SHIFT))) {
		s->st.code_lost++;
		vm_code_changed(vm, vm->ram_base + (idx << VM_PAGE_SHIFT));
	}
}

/* ---- devices on the home node ---- */

int span_mmio(struct vm *vm, struct hart *h, uint64_t gpa, unsigned size, bool write, uint64_t *val)
{
	struct vm_span *s = vm->span;
	int rc = -1;

	switch (hart_mmio_forwarded(h, gpa, size, write, val, &rc)) {
	case 1:
		return rc;
	case 0: {
		struct span_msg m = {
			.vm = s->cfg.vm_id, .hart = hart_get_id(h), .a = gpa, .b = write ? *val : 0,
			.c = size | (write ? 0x100u : 0),
		};
		s->st.mmio_forwarded++;
		span_send(s, s->nodes[0], SPAN_MMIO_REQ, &m);
		break;
	}
	default:
		break;
	}
	hart_stall(h, STALL_MMIO);
	return -EAGAIN;
}

bool span_forwards_mmio(const struct vm *vm, uint64_t gpa)
{
	return vm->span && !vm->span->home &&
	       !(gpa >= VM_CLINT_BASE && gpa - VM_CLINT_BASE < VM_CLINT_SIZE);
}

void span_serve(struct vm *vm)
{
	struct vm_span *s = vm->span;

	if (!s || !s->qn)
		return;
	/* performing one may serve the fabric (a device's DMA), which may queue more */
	for (unsigned i = 0; i < s->qn; i++) {
		struct mmio_req r = s->q[i];
		struct span_msg m = { .vm = s->cfg.vm_id, .hart = r.hart };
		uint64_t v = r.val;

		if (r.write)
			m.rc = vm_mmio_write(vm, vm->harts[r.hart], r.gpa, r.size, v);
		else
			m.rc = vm_mmio_read(vm, vm->harts[r.hart], r.gpa, r.size, &v);
		m.b = v;
		span_send(s, r.src, SPAN_MMIO_REP, &m);
	}
	s->qn = 0;
}

bool span_ready(const struct vm *vm)
{
	if (!vm->span)
		return false;
	if (vm->span->qn || vm->span->n_free || vm->span->n_pwait || vm->span->n_fin)
		return true;
	for (unsigned i = 0; i < OPS_MAX; i++)
		if (vm->span->cp[i].on)
			return true;
	for (unsigned i = 0; i < vm->nharts; i++) {
		const struct hart *h = vm->harts[i];
		if (!hart_is_shadow(h) && !hart_stalled(h) && hart_get_state(h) == HART_RUNNING)
			return true;
		if (vm->span->give[i] && hart_can_move(h))
			return true;	/* a vCPU (even one in WFI) to send away */
	}
	return false;
}

/* ---- interrupts, harts, power ---- */

void vm_irq_forward(struct vm *vm, unsigned hartid, unsigned irq, bool level)
{
	struct vm_span *s = vm->span;

	if (!s || hartid >= vm->nharts)
		return;
	struct span_msg m = { .vm = s->cfg.vm_id, .hart = hartid, .a = irq, .b = level };
	s->st.irqs_forwarded++;
	span_send(s, s->hart_node[hartid], SPAN_IRQ, &m);
}

void span_boot_hart(struct vm *vm, unsigned i, uint64_t pc, unsigned priv, uint64_t a1, uint64_t a2,
		    unsigned state)
{
	struct vm_span *s = vm->span;
	struct span_msg m = { .vm = s->cfg.vm_id, .hart = i, .a = pc, .b = a1, .c = a2,
			      .rc = (int32_t)(priv | state << 4 | (vm->sbi ? 1u : 0u) << 8) };

	span_send(s, s->hart_node[i], SPAN_BOOT, &m);
}

void vm_flush_forward(struct vm *vm, unsigned hartid, bool icache)
{
	struct vm_span *s = vm->span;

	if (!s || hartid >= vm->nharts)
		return;
	struct span_msg m = { .vm = s->cfg.vm_id, .hart = hartid, .a = icache };
	span_send(s, s->hart_node[hartid], SPAN_FLUSH, &m);
}

bool span_hart_start(struct vm *vm, unsigned i, uint64_t pc, uint64_t opaque)
{
	struct vm_span *s = vm->span;

	if (!s || !hart_is_shadow(vm->harts[i]))
		return false;
	struct span_msg m = { .vm = s->cfg.vm_id, .hart = i, .a = pc, .b = opaque };
	span_send(s, s->hart_node[i], SPAN_HART_START, &m);
	return true;
}

void span_power_off(struct vm *vm)
{
	struct vm_span *s = vm->span;

	if (!s || s->exit_sent)
		return;
	s->exit_sent = true;
	struct span_msg m = { .vm = s->cfg.vm_id, .rc = vm->exit_code };
	for (unsigned i = 0; i < s->n_nodes; i++)
		if (s->nodes[i] != s->cfg.self)
			span_send(s, s->nodes[i], SPAN_EXIT, &m);
}

/* ---- vCPUs moving between nodes (docs/coherence.md, "vCPUs moving between nodes") ---- */

static int node_place(const struct vm_span *s, unsigned node)
{
	for (unsigned j = 0; j < s->n_nodes; j++)
		if (s->nodes[j] == node)
			return (int)j;
	return -1;
}

static void span_deliver(struct vm_span *s, unsigned node, unsigned type, struct span_msg *m);

/* Home: the move of hart i is over (it runs on its new node). */
static void hart_move_done(struct vm_span *s, unsigned i, uint64_t now)
{
	if (!s->hm.on || s->hm.hart != i)
		return;
	s->hm.on = false;
	s->st.vcpu_moves++;
	s->st.vcpu_move_ns += now - s->hm.t0;
}

/*
 * Home: hart i now runs on node n (not the home). Its interrupt levels from
 * the home's devices may have gone to the node it left, which drops them:
 * send them again, and from now on every change goes to n.
 */
static void hart_levels_resend(struct vm *vm, unsigned i, unsigned n)
{
	struct vm_span *s = vm->span;
	uint64_t lv = hart_irq_levels(vm->harts[i]);
	static const unsigned irqs[] = { IRQ_MEI, IRQ_SEI };

	for (unsigned k = 0; k < 2; k++) {
		struct span_msg m = { .vm = s->cfg.vm_id, .hart = i, .a = irqs[k], .b = (lv >> irqs[k]) & 1 };
		span_send(s, n, SPAN_IRQ, &m);
	}
}

/* Hart i of this node leaves for node `to`: its state travels, it is a shadow here from now on. */
static void hart_send_away(struct vm *vm, unsigned i, unsigned to, uint64_t now)
{
	struct vm_span *s = vm->span;
	struct hart *h = vm->harts[i];
	struct span_hart_msg hm;
	int rc;

	memset(&hm, 0, sizeof(hm));
	hm.m = (struct span_msg){ .vm = s->cfg.vm_id, .hart = i, .a = s->hart_epoch[i] + 1 };
	hart_export(h, &hm.img);
	hm.mtimecmp = vm->clint.mtimecmp[i];
	hm.msip = vm->clint.msip[i];
	hm.mtip = vm->clint.mtip[i];
	hm.sbi_timer = vm->sbi_hart[i].timer;
	hm.sbi_timer_used = vm->sbi_hart[i].timer_used;
	hm.sbi_sti = vm->sbi_hart[i].sti;
	hm.sbi_nonret = vm->sbi_hart[i].nonret_suspend;
	hm.sbi_resume_addr = vm->sbi_hart[i].resume_addr;
	hm.sbi_resume_opaque = vm->sbi_hart[i].resume_opaque;
	rc = s->cfg.send(s->cfg.opaque, to, SPAN_HART_STATE, &hm, sizeof(hm));
	s->st.msgs_sent++;
	if (rc) {	/* the hart stays and keeps running here */
		LOG_RATELIMITED(SUB_VMM, LOG_ERROR, "%s: cannot send vCPU %u to node %u: %d", vm->name, i, to, rc);
		return;
	}
	hart_leave(h);
	s->hart_epoch[i]++;
	s->hart_node[i] = to;
	s->st.vcpus_out++;
	s->st.vcpu_move_wait_ns += now - s->give_t0[i];
	if (vm->rr_next == i)
		vm->quantum_left = 0;
	LOG(SUB_VMM, LOG_DEBUG, "%s: vCPU %u leaves for node %u (move %u)", vm->name, i, to, s->hart_epoch[i]);
}

/* A vCPU arrives. */
static void hart_receive(struct vm *vm, unsigned src, const struct span_hart_msg *hm)
{
	struct vm_span *s = vm->span;
	unsigned i = hm->m.hart;
	struct hart *h;
	int rc;

	if (i >= vm->nharts || !hart_is_shadow(vm->harts[i]) || hm->m.a <= s->hart_epoch[i] ||
	    hm->msip > 1 || hm->mtip > 1) {
		s->st.dropped++;
		return;
	}
	h = vm->harts[i];
	rc = hart_import(h, &hm->img);
	if (rc) {
		/* nothing else holds this vCPU now: the VM cannot go on */
		LOG(SUB_VMM, LOG_ERROR, "%s: vCPU %u from node %u: its state is malformed (%d); the VM stops",
		    vm->name, i, src, rc);
		s->st.dropped++;
		vm_power_off(vm, 1, "a vCPU's state arrived malformed");
		return;
	}
	vm->clint.mtimecmp[i] = hm->mtimecmp;
	vm->clint.msip[i] = hm->msip;
	vm->clint.mtip[i] = hm->mtip;
	vm->sbi_hart[i].timer = hm->sbi_timer;
	vm->sbi_hart[i].timer_used = hm->sbi_timer_used != 0;
	vm->sbi_hart[i].sti = hm->sbi_sti != 0;
	vm->sbi_hart[i].nonret_suspend = hm->sbi_nonret != 0;
	vm->sbi_hart[i].resume_addr = hm->sbi_resume_addr;
	vm->sbi_hart[i].resume_opaque = hm->sbi_resume_opaque;
	hart_arrive(h, s->home);
	s->hart_epoch[i] = (uint32_t)hm->m.a;
	s->hart_node[i] = s->cfg.self;
	s->give[i] = 0;
	s->st.vcpus_in++;
	LOG(SUB_VMM, LOG_DEBUG, "%s: vCPU %u arrived from node %u (move %u)", vm->name, i, src, s->hart_epoch[i]);
	for (unsigned j = 0; j < s->n_nodes; j++) {
		struct span_msg m = { .vm = s->cfg.vm_id, .hart = i, .a = s->cfg.self, .b = hm->m.a };
		if (s->nodes[j] != s->cfg.self)
			span_send(s, s->nodes[j], SPAN_HART_NODE, &m);
	}
	if (s->home)
		hart_move_done(s, i, vm_now_ns());
}

/*
 * A message for hart i reached a node it has left: pass it on to where the
 * hart went (this node knows, it sent it there or heard so). True if passed.
 */
static bool hart_pass_on(struct vm_span *s, unsigned type, struct span_msg *m)
{
	unsigned n = s->hart_node[m->hart];

	if (n == s->cfg.self || m->hops >= HOPS_MAX)
		return false;
	m->hops++;
	span_send(s, n, type, m);
	return true;
}

/* Home: pick a vCPU to move, if the policy says one should. */
static void balance_decide(struct vm *vm, uint64_t now)
{
	struct vm_span *s = vm->span;
	unsigned i, to;

	if (s->hm.on && now < s->hm.deadline)
		return;
	s->hm.on = false;	/* (a move that never finished: its HART_MOVE found the hart gone) */
	if (s->cfg.balance == 2) {
		i = s->rot++ % vm->nharts;
		int j = node_place(s, s->hart_node[i]);
		if (j < 0)
			return;
		to = s->nodes[((unsigned)j + 1) % s->n_nodes];
	} else {
		unsigned hi = 0, lo = 0;
		for (unsigned j = 0; j < s->n_nodes; j++) {
			if (!s->load_at[j] || s->load_at[j] + 3 * s->cfg.balance_ns < now)
				return;	/* a node has not reported lately */
			if (s->load[j] > s->load[hi])
				hi = j;
			if (s->load[j] < s->load[lo])
				lo = j;
		}
		if (s->load[hi] < s->load[lo] + 1000u * s->cfg.balance_threshold || !s->runbits[hi])
			return;
		for (i = 0; i < vm->nharts; i++) {	/* the next runnable hart of the busiest node, in turn */
			unsigned k = (s->rot + i) % vm->nharts;
			if ((s->runbits[hi] >> k & 1) && s->hart_node[k] == s->nodes[hi])
				break;
		}
		if (i == vm->nharts)
			return;
		i = (s->rot + i) % vm->nharts;
		s->rot = i + 1;
		to = s->nodes[lo];
		/* what the move will do, until the next reports say what it did */
		s->load[hi] -= 1000;
		s->load[lo] += 1000;
		s->runbits[hi] &= ~(1ull << i);
	}
	if (s->hart_node[i] == to)
		return;
	struct span_msg m = { .vm = s->cfg.vm_id, .hart = i, .a = to };
	s->hm.on = true;
	s->hm.hart = i;
	s->hm.t0 = now;
	s->hm.deadline = now + 20 * s->cfg.balance_ns;
	span_deliver(s, s->hart_node[i], SPAN_HART_MOVE, &m);
}

/* From the loop: send away the harts asked to leave, sample the load, report it, decide. */
static void balance_tick(struct vm *vm, uint64_t now)
{
	struct vm_span *s = vm->span;

	for (unsigned i = 0; i < vm->nharts; i++) {
		if (!s->give[i])
			continue;
		if (hart_is_shadow(vm->harts[i]) || s->give[i] - 1 == s->cfg.self)
			s->give[i] = 0;	/* gone already, or nowhere to go */
		else if (hart_can_move(vm->harts[i]))
			hart_send_away(vm, i, s->give[i] - 1, now), s->give[i] = 0;
	}
	if (!s->cfg.balance || s->booting || vm->exited)
		return;
	if (s->cfg.node_load && now - s->last_sample >= 1000000) {
		s->last_sample = now;
		s->load_sum += s->cfg.node_load(s->cfg.load_opaque);
		s->load_n++;
	}
	if (now < s->next_balance)
		return;
	if (!s->next_balance) {	/* the first interval starts now */
		s->next_balance = now + s->cfg.balance_ns;
		return;
	}
	s->next_balance = now + s->cfg.balance_ns;
	uint64_t runbits = 0;
	for (unsigned i = 0; i < vm->nharts && i < 64; i++)
		if (!hart_is_shadow(vm->harts[i]) && hart_get_state(vm->harts[i]) == HART_RUNNING)
			runbits |= 1ull << i;
	s->st.load_milli = s->load_n ? s->load_sum * 1000 / s->load_n : 0;
	s->load_sum = s->load_n = 0;
	struct span_msg m = { .vm = s->cfg.vm_id, .a = s->st.load_milli, .b = runbits };
	span_deliver(s, s->nodes[0], SPAN_LOAD, &m);
	if (s->home)
		balance_decide(vm, now);
}

uint64_t span_next_event_ns(const struct vm *vm)
{
	const struct vm_span *s = vm->span;

	if (!s || !s->cfg.balance || s->booting || vm->exited)
		return UINT64_MAX;
	return s->next_balance ? s->next_balance : 0;
}

/* ---- page migration: the NUMA policy (docs/coherence.md, "Page migration") ---- */

/* Deliver a message to a node of the VM, this one included (handled at once). */
static void span_deliver(struct vm_span *s, unsigned node, unsigned type, struct span_msg *m)
{
	if (node == s->cfg.self)
		span_handle(s->vm, node, type, m, sizeof(*m));
	else
		span_send(s, node, type, m);
}

static bool is_member(const struct vm_span *s, unsigned node)
{
	return node_place(s, node) >= 0;
}

/* Forget page idx until MAPPED: every translation of it on this node goes, and a replica here (not master). */
static void unmap_apply(struct vm *vm, uint64_t idx, uint64_t master)
{
	struct vm_span *s = vm->span;
	uint64_t e = s->pm[idx], gpa = vm->ram_base + (idx << VM_PAGE_SHIFT);
	bool replica = (e & PM_VALID) && (e & PM_RO) && master && (e & PM_ADDR) != master &&
		       COH_MADDR_NODE(e & PM_ADDR) == s->cfg.self;

	if (replica) {
		/* a replica: private to this node (no other node maps it), freed at once */
		for (unsigned i = 0; i < vm->nharts; i++)
			if (!hart_is_shadow(vm->harts[i]))
				hart_page_unmapped(vm->harts[i], gpa);
		if (s->mem.free_page)
			s->mem.free_page(s->mem.opaque, local_host(s, e & PM_ADDR));
		s->st.replica_pages--;
	}
	if (e & PM_VALID) {
		rmap_del(s, e & PM_ADDR);
		if (COH_MADDR_NODE(e & PM_ADDR) == s->cfg.self && !replica)
			s->st.pages_here--;
		s->pm[idx] = PM_PEND;	/* (no proposal: a touch now waits for MAPPED) */
	} else if (!(e & PM_PEND)) {
		s->pm[idx] = PM_PEND;
	}
	for (unsigned i = 0; i < vm->nharts; i++)
		if (!hart_is_shadow(vm->harts[i]))
			hart_page_unmapped(vm->harts[i], gpa);
	s->st.shootdowns++;
}

static void mapped_apply(struct vm *vm, uint64_t idx, uint64_t to, uint64_t from, bool ro)
{
	struct vm_span *s = vm->span;
	uint64_t e = s->pm[idx], prop = (e & PM_PEND) ? e & PM_ADDR : 0;

	if (prop && prop != to && COH_MADDR_NODE(prop) == s->cfg.self && s->mem.free_page)
		s->mem.free_page(s->mem.opaque, local_host(s, prop));	/* a first touch that lost */
	if (e & PM_VALID) {
		rmap_del(s, e & PM_ADDR);
		if (COH_MADDR_NODE(e & PM_ADDR) == s->cfg.self)
			s->st.pages_here--;
	}
	s->pm[idx] = PM_VALID | (ro ? PM_RO : 0) | to;
	s->collapse_asked[idx] = 0;
	rmap_add(s, to, idx);
	if (COH_MADDR_NODE(to) == s->cfg.self)
		s->st.pages_here++;
	if (from != to && COH_MADDR_NODE(from) == s->cfg.self) {
		/* the old page: freed once no other node holds a line of it (span_serve) */
		uint64_t *f = grow(s->to_free, s->n_free, &s->cap_free, sizeof(*f));
		if (f) {
			s->to_free = f;
			s->to_free[s->n_free++] = from;
		}	/* (else the page is leaked, never reused) */
		s->st.pages_out++;
	}
	for (unsigned i = 0; i < vm->nharts; i++)
		hart_wake(vm->harts[i], STALL_PMAP);
}

/*
 * The policy, on every node for the pages of its own memory: a page whose
 * misses since the last reset reach `trigger`, of which one other node of
 * the VM has `dominance` percent, and that is not written by two nodes
 * (`write_share` write misses each), is proposed to the VM's home for a
 * move to that node.
 */
static void policy_tick(struct vm *vm, uint64_t now)
{
	struct vm_span *s = vm->span;
	unsigned nn = s->cfg.machine_nodes, best;
	uint32_t cnt[3 * 256];

	if (!s->cfg.policy || now < s->next_tick || nn > 256)
		return;
	s->next_tick = now + s->cfg.interval_ns;
	if (now >= s->next_reset) {
		if (s->next_reset) {
			if (s->cfg.policy_reset)
				s->cfg.policy_reset(s->cfg.policy_opaque);
			coh_mem_page_misses_reset(s->cfg.coh);
		}
		memset(s->moves, 0, s->npages);
		memset(s->asked, 0, s->npages);
		s->next_reset = now + s->cfg.reset_ns;
		return;
	}
	unsigned asked = 0;
	for (uint64_t idx = 0; idx < s->npages && asked < MOVES_PER_TICK; idx++) {
		uint64_t e = s->pm[idx], off, total = 0, bestc = 0;
		unsigned writers = 0;

		/* (a disk cache page, read-only for good, may get replicas: once) */
		if (!(e & PM_VALID) || ((e & PM_RO) && (!s->cached[idx] || s->cache_repl[idx])) ||
		    COH_MADDR_NODE(e & PM_ADDR) != s->cfg.self || s->asked[idx])
			continue;
		off = COH_MADDR_OFF(e & PM_ADDR);
		if (!coh_mem_page_remote_seen(s->cfg.coh, off) ||
		    coh_mem_page_misses(s->cfg.coh, off, cnt, 3 * nn))
			continue;
		uint64_t writes = 0, readers = 0;
		best = s->cfg.self;
		for (unsigned n = 0; n < nn; n++) {
			uint64_t c = (uint64_t)cnt[3 * n] + cnt[3 * n + 1] + cnt[3 * n + 2];
			total += c;
			if (c > bestc) {
				bestc = c;
				best = n;
			}
			writes += (uint64_t)cnt[3 * n + 1] + cnt[3 * n + 2];
			if ((uint64_t)cnt[3 * n + 1] + cnt[3 * n + 2] >= s->cfg.write_share)
				writers++;
			if (cnt[3 * n] && n != s->cfg.self && n < 64 && is_member(s, n))
				readers |= 1ull << n;
		}
		if (total < s->cfg.trigger)
			continue;
		if (writers >= 2) {
			s->st.write_shared++;
			continue;
		}
		struct span_msg m = { .vm = s->cfg.vm_id, .hart = best, .a = idx, .b = e & PM_ADDR, .c = readers };
		bool read_shared = writes < s->cfg.write_share && readers &&
				   ((readers & (readers - 1)) || cnt[3 * s->cfg.self]);
		unsigned type;
		if (s->cached[idx]) {
			/* a disk cache page never moves (other VMs map it): the readers get replicas */
			if (!(s->cfg.policy & 2) || !readers)
				continue;
			type = SPAN_REPLICATE;
		} else if ((s->cfg.policy & 2) && read_shared && writes == 0) {
			/*
			 * Nobody wrote it, several nodes read it: a copy for each
			 * reader serves them all, where moving it would serve one
			 * (even one with most of the misses) and leave the others remote.
			 */
			type = SPAN_REPLICATE;
		} else if ((s->cfg.policy & 1) && best != s->cfg.self && is_member(s, best) &&
			   bestc * 100 >= (uint64_t)s->cfg.dominance * total) {
			type = SPAN_MOVE_REQ;		/* one node dominates: the page goes there */
		} else if ((s->cfg.policy & 2) && read_shared) {
			type = SPAN_REPLICATE;		/* read by several nodes, rarely written: a copy for each reader */
		} else {
			continue;
		}
		if (!s->st.moves_asked && s->cfg.policy_acts)
			s->cfg.policy_acts(s->cfg.policy_opaque);
		s->st.moves_asked++;
		s->asked[idx] = 1;
		asked++;
		span_deliver(s, s->nodes[0], type, &m);
	}
}

/*
 * Home: start an operation on page idx: a move from machine address from
 * to node to (every node forgets the page first: UNMAP), a replication to
 * the reader nodes (every node makes it read-only first: PROTECT), or a
 * collapse of its replicas (every node forgets it and drops its replica).
 */
/* Home: the operation in progress on page idx, NULL if none. */
static struct page_op *op_find(struct vm_span *s, uint64_t idx)
{
	for (unsigned i = 0; i < OPS_MAX; i++)
		if (s->mv[i].on && s->mv[i].idx == idx)
			return &s->mv[i];
	return NULL;
}

static struct page_op *op_free(struct vm_span *s)
{
	for (unsigned i = 0; i < OPS_MAX; i++)
		if (!s->mv[i].on)
			return &s->mv[i];
	return NULL;
}

static bool move_start(struct vm_span *s, struct page_op *op, uint8_t kind, uint64_t idx, uint64_t from, unsigned to,
		       uint64_t readers)
{
	unsigned type = SPAN_UNMAP;

	if (kind == OP_COLLAPSE) {
		if (!s->master[idx])
			return false;	/* collapsed already: the asker hears MAPPED or has it */
		from = s->master[idx];
	} else if (kind == OP_SHARE) {
		return false;	/* (share_start) */
	} else if (kind == OP_REPLICATE && s->cached[idx]) {
		/* a disk cache page: read-only everywhere and clean already; each reader copies it */
		if (s->cache_repl[idx] || s->master[idx] != from || s->moves[idx] >= s->cfg.max_moves)
			return false;
		s->moves[idx]++;
		s->cache_repl[idx] = 1;
		*op = (struct page_op){ .on = true, .kind = kind, .idx = idx, .from = from, .readers = readers };
		for (unsigned n = 0; n < 64; n++) {
			if (!(readers >> n & 1))
				continue;
			struct span_msg c = { .vm = s->cfg.vm_id, .a = idx, .b = from };
			op->waiting++;
			span_deliver(s, n, SPAN_REPLICA, &c);
		}
		if (!op->waiting)
			op->on = false;
		return true;
	} else if (s->master[idx] || (s->pm[idx] & ~PM_RO) != (PM_VALID | from) ||
		   s->moves[idx] >= s->cfg.max_moves) {
		return false;	/* replicated, moved since it was asked, or moved often enough */
	} else {
		s->moves[idx]++;
		if (kind == OP_REPLICATE)
			type = SPAN_PROTECT;
	}
	*op = (struct page_op){ .on = true, .kind = kind, .idx = idx, .from = from, .to = to, .readers = readers };
	s->known[idx] = ~0ull;	/* every node hears of it, and then maps the page */
	for (unsigned i = 0; i < s->n_nodes; i++) {
		/* b: the master, for a collapse (replicas go) and a replication (its node recalls it) */
		struct span_msg u = { .vm = s->cfg.vm_id, .a = idx, .b = kind != OP_MOVE ? from : 0 };
		span_deliver(s, s->nodes[i], type, &u);
	}
	return true;
}

static bool share_start(struct vm_span *s, struct page_op *op, const struct move_req *r);

static void move_queue(struct vm_span *s, uint8_t kind, uint64_t idx, uint64_t from, unsigned to, uint64_t readers)
{
	for (unsigned i = 0; i < s->mq_n; i++)
		if (s->mq[i].idx == idx && s->mq[i].kind == kind)
			return;		/* asked already */
	if (s->mq_n == MOVE_QUEUE) {
		s->st.moves_refused++;
		return;
	}
	if (kind == OP_COLLAPSE) {	/* a writer waits: first in line */
		memmove(s->mq + 1, s->mq, s->mq_n * sizeof(s->mq[0]));
		s->mq[0] = (struct move_req){ .idx = idx, .kind = kind };
	} else {
		s->mq[s->mq_n] = (struct move_req){ .idx = idx, .from = from, .to = to, .readers = readers, .kind = kind };
	}
	s->mq_n++;
}

static void move_next(struct vm_span *s);

/*
 * Home: a request for an operation on page idx: now, or once its page is
 * free and a slot is (operations on different pages run side by side).
 */
static void move_ask(struct vm_span *s, uint8_t kind, uint64_t idx, uint64_t from, unsigned to, uint64_t readers)
{
	struct page_op *op = op_find(s, idx);

	if (op && op->kind == kind)
		return;
	if (op || !(op = op_free(s))) {
		move_queue(s, kind, idx, from, to, readers);
		return;
	}
	if (!move_start(s, op, kind, idx, from, to, readers) && kind != OP_COLLAPSE)
		s->st.moves_refused++;
}

/* Home: an operation is over. */
static void move_done(struct vm_span *s, struct page_op *op)
{
	op->on = false;
	move_next(s);
}

/* Home: start the waiting operations whose page is free, in order, while slots are. */
static void move_next(struct vm_span *s)
{
	struct page_op *op;

	for (unsigned i = 0; i < s->mq_n && (op = op_free(s));) {
		struct move_req r = s->mq[i];
		if (op_find(s, r.idx)) {
			i++;	/* its page is busy: it waits */
			continue;
		}
		memmove(s->mq + i, s->mq + i + 1, (--s->mq_n - i) * sizeof(s->mq[0]));
		if (r.kind == OP_SHARE)
			share_start(s, op, &r);
		else if (!move_start(s, op, r.kind, r.idx, r.from, r.to, r.readers) && r.kind != OP_COLLAPSE)
			s->st.moves_refused++;
	}
}

/* ---- the global disk cache ---- */

/* Home: span_share's answer, given from the loop (it may copy guest memory). */
static void share_answer(struct vm_span *s, const struct share_cb *cb, uint64_t idx, int rc)
{
	struct share_fin *f = grow(s->fin, s->n_fin, &s->cap_fin, sizeof(*f));

	if (!f) {
		LOG_RATELIMITED(SUB_VMM, LOG_ERROR, "vm %u: out of memory: a disk request is never answered",
				s->cfg.vm_id);
		return;
	}
	s->fin = f;
	s->fin[s->n_fin++] = (struct share_fin){ *cb, s->vm->ram_base + (idx << VM_PAGE_SHIFT), rc };
}

/* Home: a cache page the VM no longer maps goes back to the cache. */
static void share_put(struct vm_span *s, uint64_t maddr)
{
	s->share_ops->put(s->share_ops->opaque, local_host(s, maddr));
}

/*
 * Home: start mapping cache page r->from at page r->idx: every node forgets
 * the page first (UNMAP); share_mapped() maps it once they all did. Refused
 * (answered -EBUSY) when the page is replicated, being placed, or written
 * by the policy's copies; the caller then copies the data.
 */
static bool share_start(struct vm_span *s, struct page_op *op, const struct move_req *r)
{
	uint64_t e = s->pm[r->idx];

	if (s->cached[r->idx] && s->master[r->idx] == r->from) {
		share_put(s, r->from);	/* mapped there already (the same block read again) */
		share_answer(s, &r->cb, r->idx, 0);
		return true;
	}
	if ((s->master[r->idx] && !s->cached[r->idx]) || (e & PM_PEND)) {
		share_put(s, r->from);
		share_answer(s, &r->cb, r->idx, -EBUSY);
		return false;
	}
	*op = (struct page_op){ .on = true, .kind = OP_SHARE, .idx = r->idx, .shared = r->from, .cb = r->cb,
				.from = s->cached[r->idx] ? s->master[r->idx] : (e & PM_VALID) ? e & PM_ADDR : 0 };
	/*
	 * Only the nodes that may map the page forget it (the home always);
	 * the others learn the cache page when they touch it (PMAP_REQ). A
	 * buffer only the home's harts use is shared without a message.
	 */
	uint64_t known = s->known[r->idx] | 1;
	for (unsigned i = 0; i < s->n_nodes; i++)
		op->need += (known >> i) & 1;
	for (unsigned i = 0; i < s->n_nodes; i++) {
		struct span_msg u = { .vm = s->cfg.vm_id, .a = r->idx, .b = s->master[r->idx] };
		if ((known >> i) & 1)
			span_deliver(s, s->nodes[i], SPAN_UNMAP, &u);	/* (the home's own ack may end it now) */
	}
	return true;
}

/* Home: every node forgot the page: the cache page is its master now, read-only everywhere. */
static void share_mapped(struct vm_span *s, struct page_op *op)
{
	bool was_cached = s->cached[op->idx];
	/* c: the page that was there, freed by its node (a private page; not a cache page) */
	uint64_t old = was_cached || !op->from ? op->shared : op->from;

	if (was_cached)
		share_put(s, op->from);
	else
		s->st.pages_shared++;
	s->cached[op->idx] = 1;
	s->cache_repl[op->idx] = 0;	/* (UNMAP freed the old page's replicas) */
	s->master[op->idx] = op->shared;
	int owner = old != op->shared ? node_place(s, COH_MADDR_NODE(old)) : -1;

	if (owner >= 0)	/* the node whose page it was frees it, when MAPPED says so */
		s->known[op->idx] |= 1ull << owner;
	for (unsigned i = 0; i < s->n_nodes; i++) {
		/* the nodes that forgot it, and those that asked for it meanwhile */
		struct span_msg u = { .vm = s->cfg.vm_id, .a = op->idx, .b = op->shared, .c = old, .rc = 1 };
		if (i == 0 || ((s->known[op->idx] >> i) & 1))
			span_deliver(s, s->nodes[i], SPAN_MAPPED, &u);
	}
	share_answer(s, &op->cb, op->idx, 0);
}

/*
 * Home: a write to a cache page: every node forgot it; the VM gets a
 * private copy (in the home's memory; the policy may move it later) and the
 * cache page goes back to the cache. Without memory for the copy the page
 * stays shared (the writer asks again).
 */
static void cached_collapse(struct vm_span *s, struct page_op *op)
{
	uint64_t to = alloc_here(s), idx = op->idx;

	if (to) {
		memcpy(local_host(s, to), local_host(s, op->from), VM_PAGE_SIZE);
		s->cached[idx] = 0;
		s->cache_repl[idx] = 0;
		s->master[idx] = 0;
		share_put(s, op->from);
		s->st.pages_shared--;
		s->st.collapses++;
	} else {
		LOG_RATELIMITED(SUB_VMM, LOG_WARN, "%s: node memory exhausted: a disk cache page stays shared",
				s->vm->name);
		to = op->from;
	}
	for (unsigned i = 0; i < s->n_nodes; i++) {
		struct span_msg u = { .vm = s->cfg.vm_id, .a = idx, .b = to, .c = to, .rc = to == op->from };
		span_deliver(s, s->nodes[i], SPAN_MAPPED, &u);
	}
}

int span_share(struct vm *vm, uint64_t gpa, uint8_t *page, const struct pmap_share_ops *ops, span_share_fn done,
	       void *arg)
{
	struct vm_span *s = vm->span;
	struct page_op *op;
	struct move_req r;
	uint64_t idx;

	if (!s || !s->home || gpa < vm->ram_base || gpa - vm->ram_base >= vm->ram_size ||
	    (s->share_ops && s->share_ops != ops) || page < (uint8_t *)coh_mem_base(s->cfg.coh))
		return -EINVAL;
	idx = (gpa - vm->ram_base) >> VM_PAGE_SHIFT;
	r = (struct move_req){ .kind = OP_SHARE, .idx = idx, .cb = { done, arg },
			       .from = COH_MADDR(s->cfg.self, (uint64_t)(page - (uint8_t *)coh_mem_base(s->cfg.coh))) };
	if (s->cached[idx] && s->master[idx] == r.from && !op_find(s, idx))
		return 1;
	if ((s->master[idx] && !s->cached[idx]) || s->mq_n == MOVE_QUEUE)
		return -EBUSY;
	s->share_ops = ops;
	ops->get(ops->opaque, page);	/* the operation's, then the mapping's */
	op = op_find(s, idx);
	if (op || !(op = op_free(s))) {
		s->mq[s->mq_n++] = r;	/* (after the others: a collapse is not kept waiting) */
		return 0;
	}
	share_start(s, op, &r);
	return 0;
}

uint64_t span_pages_shared(const struct vm *vm)
{
	return vm->span && vm->span->home ? vm->span->st.pages_shared : 0;
}

/* From the loop: the copy this node was asked to make, and old pages to free. */
static void moves_serve(struct vm *vm)
{
	struct vm_span *s = vm->span;
	struct page_copy c = { 0 }, *cp = &c;

	for (unsigned i = 0; i < OPS_MAX && !c.on; i++) {
		if (s->cp[i].on) {
			/*
			 * One per call: the harts run between copies. The slot is
			 * free from now on: the copy serves the fabric while it
			 * waits, and a request that arrives then may take it.
			 */
			c = s->cp[i];
			s->cp[i].on = false;
		}
	}
	while (s->n_fin) {
		/* (an answer may copy guest memory, which serves the fabric: more may come) */
		struct share_fin f = s->fin[--s->n_fin];
		f.cb.done(f.cb.arg, f.gpa, f.rc);
	}
	if (c.on) {
		struct span_msg m = { .vm = s->cfg.vm_id, .a = cp->idx, .b = cp->from };
		uint8_t *page = s->mem.alloc_page(s->mem.opaque);

		if (!page) {
			m.rc = -ENOMEM;
		} else {
			uint64_t off = (uint64_t)(page - (uint8_t *)coh_mem_base(s->cfg.coh));
			/* a replica's master was recalled before its node acked PROTECT */
			m.rc = cp->replica && !cp->recall ? coh_mem_page_read_wait(s->cfg.coh, cp->from, off)
							  : coh_mem_page_copy_wait(s->cfg.coh, cp->from, off);
			if (m.rc == 0) {
				m.b = COH_MADDR(s->cfg.self, off);
				if (!cp->replica)
					s->st.pages_in++;
			} else if (s->mem.free_page) {
				s->mem.free_page(s->mem.opaque, page);
			}
		}
		if (cp->replica && m.rc == 0) {
			/* reads here now go to the replica (a private page of this node: direct entries) */
			uint64_t e = s->pm[m.a], gpa = vm->ram_base + (m.a << VM_PAGE_SHIFT);
			if ((e & PM_VALID) && (e & PM_RO) && (e & PM_ADDR) == cp->from) {
				rmap_del(s, e & PM_ADDR);
				s->pm[m.a] = PM_VALID | PM_RO | m.b;
				rmap_add(s, m.b, m.a);
				s->st.replica_pages++;
				for (unsigned i = 0; i < vm->nharts; i++)
					if (!hart_is_shadow(vm->harts[i]))
						hart_page_unmapped(vm->harts[i], gpa);
			} else {
				if (s->mem.free_page)	/* the page changed meanwhile: no replica */
					s->mem.free_page(s->mem.opaque, local_host(s, m.b));
				m.rc = -ESTALE;
			}
		}
		span_deliver(s, s->nodes[0], cp->replica ? SPAN_REPLICATED : SPAN_COPIED, &m);
	}
	for (unsigned i = 0; i < s->n_pwait;) {
		struct pwait w = s->protect_wait[i];
		struct span_msg m = { .vm = s->cfg.vm_id, .a = w.idx };
		int left = coh_mem_page_clean(s->cfg.coh, COH_MADDR_OFF(w.addr));
		if (left > 0) {
			i++;
			continue;
		}
		m.rc = left < 0;	/* could not recall it: the readers' copies must */
		s->protect_wait[i] = s->protect_wait[--s->n_pwait];
		span_deliver(s, s->nodes[0], SPAN_PROTECT_ACK, &m);
	}
	for (unsigned i = 0; i < s->n_free;) {
		uint64_t a = s->to_free[i];
		if (coh_mem_page_recall(s->cfg.coh, COH_MADDR_OFF(a)) == 0) {
			if (s->mem.free_page)
				s->mem.free_page(s->mem.opaque, local_host(s, a));
			s->to_free[i] = s->to_free[--s->n_free];
		} else {
			i++;
		}
	}
}

void span_policy(struct vm *vm)
{
	if (!vm->span)
		return;
	uint64_t now = vm_now_ns();

	policy_tick(vm, now);
	moves_serve(vm);
	balance_tick(vm, now);
}

/* ---- messages ---- */

static void handle(struct vm *vm, unsigned src, unsigned type, const void *payload, size_t len);

void span_handle(struct vm *vm, unsigned src, unsigned type, const void *payload, size_t len)
{
	struct vm_span *s = vm->span;
	uint64_t dropped = s ? s->st.dropped : 0;

	handle(vm, src, type, payload, len);
	if (s && s->st.dropped != dropped) {
		struct span_msg m = { 0 };
		memcpy(&m, payload, len < sizeof(m) ? len : sizeof(m));
		LOG_RATELIMITED(SUB_VMM, LOG_WARN, "%s: message %u from node %u dropped (hart %u, a %#llx, b %#llx, %zu bytes)",
				vm->name, type, src, m.hart, (unsigned long long)m.a, (unsigned long long)m.b, len);
	}
}

static void handle(struct vm *vm, unsigned src, unsigned type, const void *payload, size_t len)
{
	struct vm_span *s = vm->span;
	struct span_msg m;

	if (!s)
		return;
	if (vm->exited) {
		/* the VM ended: a vCPU still on its way counts as arrived (every move adds up); nothing else is done */
		if (type == SPAN_HART_STATE && len == sizeof(struct span_hart_msg) && is_member(s, src)) {
			s->st.msgs_recv++;
			s->st.vcpus_in++;
		}
		return;
	}
	if (type == SPAN_HART_STATE && len == sizeof(struct span_hart_msg) && is_member(s, src)) {
		struct span_hart_msg hm;
		memcpy(&hm, payload, sizeof(hm));
		s->st.msgs_recv++;
		hart_receive(vm, src, &hm);
		return;
	}
	if (len != sizeof(m) || !is_member(s, src)) {
		s->st.dropped++;
		return;
	}
	memcpy(&m, payload, sizeof(m));
	s->st.msgs_recv++;
	if ((type == SPAN_MMIO_REQ || type == SPAN_MMIO_REP || type == SPAN_IRQ || type == SPAN_HART_START ||
	     type == SPAN_BOOT || type == SPAN_FLUSH || type == SPAN_HART_MOVE || type == SPAN_HART_NODE) &&
	    m.hart >= vm->nharts) {
		s->st.dropped++;
		return;
	}
	switch (type) {
	case SPAN_PMAP_REQ: {
		struct page_op *op;
		uint64_t e;
		if (!s->home || m.a >= s->npages || (m.b && COH_MADDR_NODE(m.b) != src)) {
			s->st.dropped++;
			return;
		}
		e = s->pm[m.a];
		op = op_find(s, m.a);
		s->known[m.a] |= 1ull << node_place(s, src);
		if (op && op->kind != OP_REPLICATE)
			break;	/* moving, collapsing or sharing: the requester hears MAPPED with the others */
		if (!(e & PM_VALID)) {
			unsigned t = m.b ? src : place(s, m.a, src);
			if (e & PM_PEND) {
				wait_add(s, m.a, src);	/* another node is allocating it */
				break;
			}
			if (t == s->cfg.self) {
				uint64_t a = alloc_here(s);
				if (!a) {
					LOG_RATELIMITED(SUB_VMM, LOG_WARN, "%s: node memory exhausted", vm->name);
					break;	/* (the requester stays stalled) */
				}
				pm_set(s, m.a, a);
			} else if (t != src || !m.b) {
				alloc_elsewhere(s, m.a, t, src);
				break;
			} else {
				pm_set(s, m.a, m.b & PM_ADDR);	/* the proposal wins */
			}
		}
		/* a replicated page: the master, read-only (the home may hold a replica of its own) */
		m.b = s->master[m.a] ? s->master[m.a] : s->pm[m.a] & PM_ADDR;
		m.c = s->master[m.a] || (op && op->kind == OP_REPLICATE);
		span_send(s, src, SPAN_PMAP_REP, &m);
		break;
	}
	case SPAN_PMAP_REP: {
		uint64_t e;
		if (s->home || m.a >= s->npages || src != s->nodes[0]) {
			s->st.dropped++;
			return;
		}
		e = s->pm[m.a];
		if (e & PM_VALID)
			break;	/* a duplicate */
		if ((e & PM_PEND) && (e & PM_ADDR) && (e & PM_ADDR) != m.b && s->mem.free_page)
			s->mem.free_page(s->mem.opaque, local_host(s, e & PM_ADDR));	/* another node touched it first */
		pm_set(s, m.a, m.b & PM_ADDR);
		if (m.c & 1)
			s->pm[m.a] |= PM_RO;	/* replicated: a write asks for a collapse */
		for (unsigned i = 0; i < vm->nharts; i++)
			hart_wake(vm->harts[i], STALL_PMAP);
		break;
	}
	case SPAN_MMIO_REQ:
		if (!s->home || (m.c & 0xff) == 0 || (m.c & 0xff) > 8 || ((m.c & 0xff) & ((m.c & 0xff) - 1))) {
			s->st.dropped++;
			return;
		}
		if (s->qn == MMIO_QUEUE_MAX) {	/* (one per stalled hart of the other nodes is all there can be) */
			s->st.dropped++;
			return;
		}
		struct mmio_req *q = grow(s->q, s->qn, &s->qcap, sizeof(*q));
		if (!q) {
			m.rc = -1;
			span_send(s, src, SPAN_MMIO_REP, &m);
			return;
		}
		s->q = q;
		s->q[s->qn++] = (struct mmio_req){ .src = src, .hart = m.hart, .gpa = m.a, .val = m.b,
						   .size = (unsigned)(m.c & 0xff), .write = (m.c & 0x100) != 0 };
		break;
	case SPAN_MMIO_REP:
		if (src != s->nodes[0] || hart_is_shadow(vm->harts[m.hart])) {
			s->st.dropped++;
			return;
		}
		hart_mmio_answer(vm->harts[m.hart], m.rc, m.b);
		break;
	case SPAN_IRQ:
		if (m.a > 63) {
			s->st.dropped++;
			return;
		}
		if (hart_is_shadow(vm->harts[m.hart])) {
			/*
			 * The hart left. Software interrupts follow it; the home's
			 * device levels are sent again by the home once it hears
			 * where the hart is (an old level passed on could arrive
			 * after a newer one sent straight there).
			 */
			if ((m.a == IRQ_MSI || m.a == IRQ_SSI) && !hart_pass_on(s, type, &m)) {
				s->st.dropped++;
				return;
			}
			break;
		}
		hart_set_irq(vm->harts[m.hart], (unsigned)m.a, m.b != 0);
		break;
	case SPAN_HART_START:
		if (hart_is_shadow(vm->harts[m.hart])) {
			if (!hart_pass_on(s, type, &m))
				s->st.dropped++;
			return;
		}
		hart_reset(vm->harts[m.hart], m.a, PRIV_S, m.hart, m.b);
		hart_set_state(vm->harts[m.hart], HART_RUNNING);
		break;
	case SPAN_BOOT: {
		unsigned priv = (unsigned)m.rc & 3, state = ((unsigned)m.rc >> 4) & 3;
		if (hart_is_shadow(vm->harts[m.hart]) || src != s->nodes[0] || priv == 2 || state > HART_STOPPED) {
			s->st.dropped++;
			return;
		}
		vm->sbi = ((unsigned)m.rc >> 8) & 1;
		hart_reset(vm->harts[m.hart], m.a, (enum priv)priv, m.hart, m.b);
		hart_set_reg(vm->harts[m.hart], 12, m.c);	/* a2 */
		hart_set_state(vm->harts[m.hart], (enum hart_state)state);
		break;
	}
	case SPAN_FLUSH:
		if (hart_is_shadow(vm->harts[m.hart])) {
			if (!hart_pass_on(s, type, &m))
				s->st.dropped++;
			return;
		}
		if (m.a)
			hart_flush_icache(vm->harts[m.hart]);
		else
			hart_flush_tlb(vm->harts[m.hart]);
		break;
	case SPAN_MOVE_REQ:
		if (!s->home || m.a >= s->npages || !is_member(s, m.hart)) {
			s->st.dropped++;
			return;
		}
		if (COH_MADDR_NODE(m.b) == m.hart) {
			s->st.moves_refused++;
			return;
		}
		move_ask(s, OP_MOVE, m.a, m.b & PM_ADDR, m.hart, 0);
		break;
	case SPAN_REPLICATE: {
		uint64_t readers = m.c;
		for (unsigned n = 0; n < 64; n++)
			if ((readers >> n & 1) && (!is_member(s, n) || n == COH_MADDR_NODE(m.b)))
				readers &= ~(1ull << n);	/* only the VM's nodes, and not the master's */
		if (!s->home || m.a >= s->npages || !readers) {
			s->st.dropped++;
			return;
		}
		move_ask(s, OP_REPLICATE, m.a, m.b & PM_ADDR, 0, readers);
		break;
	}
	case SPAN_COLLAPSE:
		if (!s->home || m.a >= s->npages) {
			s->st.dropped++;
			return;
		}
		move_ask(s, OP_COLLAPSE, m.a, 0, 0, 0);
		break;
	case SPAN_UNMAP:
		if (src != s->nodes[0] || m.a >= s->npages) {
			s->st.dropped++;
			return;
		}
		unmap_apply(vm, m.a, m.b & PM_ADDR);
		span_deliver(s, s->nodes[0], SPAN_UNMAP_ACK, &m);
		break;
	case SPAN_PROTECT: {
		uint64_t gpa = vm->ram_base + (m.a << VM_PAGE_SHIFT);
		if (src != s->nodes[0] || m.a >= s->npages || (m.b & (VM_PAGE_SIZE - 1)) ||
		    !is_member(s, COH_MADDR_NODE(m.b))) {
			s->st.dropped++;
			return;
		}
		if (s->pm[m.a] & PM_VALID)
			s->pm[m.a] |= PM_RO;	/* from now on a write asks for a collapse */
		for (unsigned i = 0; i < vm->nharts; i++)
			if (!hart_is_shadow(vm->harts[i]))
				hart_page_unmapped(vm->harts[i], gpa);
		s->st.shootdowns++;
		if (COH_MADDR_NODE(m.b) == s->cfg.self) {
			/*
			 * The master is ours: once no other node holds a line of it
			 * exclusive (dirty ones come back; shared ones may stay, and
			 * readers may take more), our memory is the page, and stays
			 * so while it is read-only everywhere: the readers copy it
			 * with one RMA read each, without recalling it.
			 */
			struct pwait *w = grow(s->protect_wait, s->n_pwait, &s->cap_pwait, sizeof(*w));
			if (w) {
				s->protect_wait = w;
				s->protect_wait[s->n_pwait++] = (struct pwait){ .idx = m.a, .addr = m.b };
				break;
			}
			m.rc = 1;	/* no memory for the list: the readers' copies must recall it */
		}
		span_deliver(s, s->nodes[0], SPAN_PROTECT_ACK, &m);
		break;
	}
	case SPAN_UNMAP_ACK:
	case SPAN_PROTECT_ACK: {
		struct page_op *op = s->home ? op_find(s, m.a) : NULL;
		if (!op || (type == SPAN_PROTECT_ACK) != (op->kind == OP_REPLICATE)) {
			s->st.dropped++;
			return;
		}
		op->recall |= m.rc != 0;
		if (++op->acks < (op->kind == OP_SHARE ? op->need : s->n_nodes))
			break;
		if (op->kind == OP_MOVE) {
			struct span_msg c = { .vm = s->cfg.vm_id, .a = op->idx, .b = op->from };
			span_deliver(s, op->to, SPAN_COPY, &c);
		} else if (op->kind == OP_REPLICATE) {
			/* every node reads it only now: each reader makes its copy */
			s->master[op->idx] = op->from;
			for (unsigned n = 0; n < 64; n++) {
				if (!(op->readers >> n & 1))
					continue;
				struct span_msg c = { .vm = s->cfg.vm_id, .a = op->idx, .b = op->from, .c = op->recall };
				op->waiting++;
				span_deliver(s, n, SPAN_REPLICA, &c);
			}
			if (!op->waiting)
				move_done(s, op);
		} else if (op->kind == OP_SHARE) {
			share_mapped(s, op);
			move_done(s, op);
		} else if (s->cached[op->idx]) {
			cached_collapse(s, op);
			move_done(s, op);
		} else {
			/* collapsed: every replica is gone, the master is the page again, writable */
			uint64_t master = op->from;
			s->master[op->idx] = 0;
			s->st.collapses++;
			for (unsigned i = 0; i < s->n_nodes; i++) {
				struct span_msg u = { .vm = s->cfg.vm_id, .a = op->idx, .b = master, .c = master };
				span_deliver(s, s->nodes[i], SPAN_MAPPED, &u);
			}
			move_done(s, op);
		}
		break;
	}
	case SPAN_REPLICATED: {
		struct page_op *op = s->home ? op_find(s, m.a) : NULL;
		if (!op || op->kind != OP_REPLICATE || !op->waiting) {
			s->st.dropped++;
			return;
		}
		if (m.rc == 0)
			s->st.replications++;
		if (--op->waiting == 0)
			move_done(s, op);
		break;
	}
	case SPAN_COPY:		/* a move's copy */
	case SPAN_REPLICA: {	/* a replica's */
		struct page_copy *cp = NULL;
		bool dup = false;
		for (unsigned i = 0; i < OPS_MAX; i++) {
			dup |= s->cp[i].on && s->cp[i].idx == m.a;
			if (!s->cp[i].on && !cp)
				cp = &s->cp[i];
		}
		if (src != s->nodes[0] || m.a >= s->npages || dup || !cp || !is_member(s, COH_MADDR_NODE(m.b)) ||
		    (m.b & (VM_PAGE_SIZE - 1))) {
			s->st.dropped++;
			return;
		}
		/* made from the loop: copying blocks */
		*cp = (struct page_copy){ .on = true, .replica = type == SPAN_REPLICA, .recall = m.c != 0,
					  .idx = m.a, .from = m.b };
		break;
	}
	case SPAN_COPIED: {
		uint64_t to;
		struct page_op *op = s->home ? op_find(s, m.a) : NULL;
		if (!op || src != op->to || op->kind != OP_MOVE) {
			s->st.dropped++;
			return;
		}
		to = m.rc == 0 && COH_MADDR_NODE(m.b) == src ? m.b : op->from;	/* failed: back where it was */
		if (to != op->from)
			s->st.migrations++;
		for (unsigned i = 0; i < s->n_nodes; i++) {
			struct span_msg u = { .vm = s->cfg.vm_id, .a = m.a, .b = to, .c = op->from };
			span_deliver(s, s->nodes[i], SPAN_MAPPED, &u);
		}
		move_done(s, op);
		break;
	}
	case SPAN_MAPPED:
		if (src != s->nodes[0] || m.a >= s->npages) {
			s->st.dropped++;
			return;
		}
		mapped_apply(vm, m.a, m.b & PM_ADDR, m.c & PM_ADDR, m.rc == 1);
		break;
	case SPAN_ALLOC: {
		struct span_msg r = { .vm = s->cfg.vm_id, .a = m.a };
		if (src != s->nodes[0] || m.a >= s->npages) {
			s->st.dropped++;
			return;
		}
		r.b = alloc_here(s);
		r.rc = r.b ? 0 : -ENOMEM;
		span_send(s, src, SPAN_ALLOC_REP, &r);
		break;
	}
	case SPAN_ALLOC_REP: {
		uint64_t a = m.b & PM_ADDR;
		if (!s->home || m.a >= s->npages || !(s->pm[m.a] & PM_PEND) || (m.rc == 0 && COH_MADDR_NODE(a) != src)) {
			s->st.dropped++;
			return;
		}
		if (m.rc != 0 && !(a = alloc_here(s))) {	/* that node is full: the home's own memory */
			LOG_RATELIMITED(SUB_VMM, LOG_WARN, "%s: no node has memory for a guest page", vm->name);
			break;
		}
		pm_set(s, m.a, a);
		for (unsigned i = 0; i < s->n_wait;) {
			if (s->waiters[i].idx == m.a) {
				struct span_msg r = { .vm = s->cfg.vm_id, .a = m.a, .b = a };
				span_send(s, s->waiters[i].node, SPAN_PMAP_REP, &r);
				s->waiters[i] = s->waiters[--s->n_wait];
			} else {
				i++;
			}
		}
		for (unsigned i = 0; i < vm->nharts; i++)
			hart_wake(vm->harts[i], STALL_PMAP);
		break;
	}
	case SPAN_HART_MOVE:
		if (src != s->nodes[0] || !is_member(s, (unsigned)m.a) || m.a == s->cfg.self) {
			s->st.dropped++;
			return;
		}
		if (hart_is_shadow(vm->harts[m.hart]))
			break;	/* it moved meanwhile: the home decides again later */
		if (!s->give[m.hart])
			s->give_t0[m.hart] = vm_now_ns();
		s->give[m.hart] = (unsigned)m.a + 1;	/* sent from the loop once it waits for nothing */
		break;
	case SPAN_HART_NODE:
		if (!is_member(s, (unsigned)m.a) || m.a != src || m.b > UINT32_MAX) {
			s->st.dropped++;
			return;
		}
		if (m.b < s->hart_epoch[m.hart])
			break;	/* older news */
		if (m.b > s->hart_epoch[m.hart]) {	/* (equal: this node sent the hart there) */
			s->hart_epoch[m.hart] = (uint32_t)m.b;
			s->hart_node[m.hart] = (unsigned)m.a;
			if (s->home)
				hart_levels_resend(vm, m.hart, (unsigned)m.a);
		}
		if (s->home)
			hart_move_done(s, m.hart, vm_now_ns());
		break;
	case SPAN_LOAD: {
		int j = node_place(s, src);
		if (!s->home || j < 0 || m.a > 1000ull * 4096) {
			s->st.dropped++;
			return;
		}
		s->load[j] = (uint32_t)m.a;
		s->runbits[j] = m.b;
		s->load_at[j] = vm_now_ns();
		break;
	}
	case SPAN_EXIT:
		s->exit_sent = true;	/* everyone heard it from the sender */
		vm_power_off(vm, m.rc, "powered off on another node");
		break;
	default:
		s->st.dropped++;
	}
}
