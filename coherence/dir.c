/*
 * dir.c — the home directory: one 64-bit entry per line of this node's
 * machine memory, and the home's side of the protocol (MSI, blocking home).
 *
 * Entry: bits 0-1 state (I, S, M); bits 8-63 a 56-bit vector. In S the
 * vector holds the sharers: one bit per node when nodes <= 56, else one bit
 * per group of ceil(nodes/56) nodes (a coarse vector: an invalidation goes
 * to every node of a marked group, and a node that holds no copy simply
 * acks). In M the vector holds the owner's number. The home itself is never
 * in the vector: its own access is hstate[line] (2 read-write: no remote
 * copy; 1 read: remote sharers; 0 none: a remote owner, a transaction that
 * grants exclusivity, or a line held for a local retry), which is what the
 * inline hit path checks.
 *
 * Busy lines: a line with a transaction in progress has a struct htxn (hash
 * by line); requests that find it busy wait in its FIFO queue, in arrival
 * order (no NACKs, so no retry storms and no starvation). A transaction ends
 * when every reply it waits for arrived: the invalidation acks, the owner's
 * sharing writeback, the requester's UNBLOCK. Acks are collected at the
 * home, which sends the grant only after the last one: a write is granted
 * only when no other copy exists, which with per-node single-threaded,
 * in-order access gives sequential consistency.
 *
 *   state  request from R      action                                     replies due           then
 *   I      GETS                DATA(no unblock) to R                      -                     S{R}
 *   S      GETS                DATA(no unblock) to R                      -                     S+{R}
 *   M(O)   GETS                FWD_GETS(R) to O; O: DATA to R, SHWB home  SHWB, UNBLOCK         S{O,R}
 *   I      GETX                DATA(excl) to R                            UNBLOCK               M(R)
 *   S      GETX[upgrade]       INV to sharers but R; after the acks:      acks, UNBLOCK         M(R)
 *                              GRANT (upgrade, R's bit exact) or DATA(excl)
 *   M(O)   GETX                FWD_GETX(R) to O; O: DATA(excl) to R       UNBLOCK               M(R)
 *   M(O)   PUTX from O         write data, PUT_ACK                        -                     I
 *   other  PUTX from O         stale (a forward overtook it): PUT_ACK;    -                     unchanged
 *                              O's sharer bit cleared if exact
 *   M(O)   local read          FWD_GETS(home) to O; O: SHWB               SHWB                  S{O}
 *   S      local write         INV to all sharers                         acks                  I
 *   M(O)   local write         FWD_GETX(home) to O; O: DATA(excl) home    DATA                  I
 *   busy   anything            queued in arrival order
 *
 * Races this shape settles: an invalidation crossing a request (the home is
 * busy until the acks, so a new request from the invalidated node waits in
 * the queue; a node acks any INV, holding a copy or not); requests for a
 * line in flight (queued); an eviction crossing a forward (the owner keeps
 * the evicted data in a writeback buffer until PUT_ACK and serves forwards
 * from it; the home finds the PUTX stale when it reaches the head of the
 * queue). Forwards never overtake grants: the home waits for the UNBLOCK of
 * every grant but the clean read's, and nobody forwards to a sharer; an INV
 * that overtakes a clean read's data is acked at once and the data serves
 * the waiting accesses once (they are ordered before the invalidating write:
 * the home served the read first), then is dropped.
 *
 * Local holds: when a local transaction completes and a local request waits
 * for it, the line is held (hstate 0, queue not served) until that request
 * retried (coh_dir_local) or COH_HOLD_MAX_NS passed, so the home's own vCPUs
 * make progress against a stream of remote requests.
 */
#include "coherence/coh_mem_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static uint64_t vec_of(uint64_t e) { return e >> DIR_VEC_SHIFT; }
static uint64_t mk(unsigned st, uint64_t vec) { return (uint64_t)st | (vec << DIR_VEC_SHIFT); }
static uint64_t bit_of(const struct coh_mem *m, unsigned node) { return 1ull << (node / m->group); }
static uint8_t hs_of(uint64_t e)
{
	static const uint8_t h[4] = { 2, 1, 0, 0 };
	return h[DIR_STATE(e)];
}

static uint8_t *line_mem(struct coh_mem *m, uint64_t idx)
{
	return m->fast.mem + (idx << m->line_shift);
}

static void set_hs(struct coh_mem *m, uint64_t idx, uint8_t v)
{
	uint8_t old = m->fast.hstate[idx];
	m->fast.hstate[idx] = v;
	if (v < old && m->lost)
		coh_lost_notify(m, coh_line_of_idx(m, idx), COH_LOST_HOME);
}

int coh_dir_init(struct coh_mem *m)
{
	m->group = (m->n + DIR_VEC_BITS - 1) / DIR_VEC_BITS;
	if (m->group == 0)
		m->group = 1;
	m->dir = calloc(m->nlines, sizeof(*m->dir));
	m->fast.hstate = malloc(m->nlines);
	m->page_cnt = calloc(m->fast.mem_len / COH_PAGE_SIZE, sizeof(*m->page_cnt));
	if (!m->dir || !m->fast.hstate || !m->page_cnt)
		return -ENOMEM;
	memset(m->fast.hstate, 2, m->nlines);
	return 0;
}

static void free_queue(struct htxn *t)
{
	while (t->q_head) {
		struct hreq *r = t->q_head;
		t->q_head = r->next;
		free(r->data);
		free(r);
	}
}

void coh_dir_fini(struct coh_mem *m)
{
	for (unsigned b = 0; b < HBUCKETS; b++)
		while (m->txn[b]) {
			struct htxn *t = m->txn[b];
			m->txn[b] = t->hnext;
			free_queue(t);
			free(t);
		}
	if (m->page_cnt)
		for (size_t p = 0; p < m->fast.mem_len / COH_PAGE_SIZE; p++)
			free(m->page_cnt[p]);
	while (m->recalls) {
		struct page_recall *r = m->recalls;
		m->recalls = r->next;
		free(r);
	}
	free(m->page_cnt);
	free(m->dir);
	free(m->fast.hstate);
}

void coh_dir_count(struct coh_mem *m, uint64_t idx, unsigned node, unsigned kind)
{
	size_t page = (idx << m->line_shift) / COH_PAGE_SIZE;
	uint32_t *c = m->page_cnt[page];
	if (!c) {
		c = calloc((size_t)m->n * COH_MISS_KINDS, sizeof(*c));
		if (!c)
			return;	/* counters are best effort */
		m->page_cnt[page] = c;
	}
	c[node * COH_MISS_KINDS + kind]++;
}

static struct htxn *txn_find(struct coh_mem *m, uint64_t idx)
{
	for (struct htxn *t = m->txn[coh_hash(idx)]; t; t = t->hnext)
		if (t->idx == idx)
			return t;
	return NULL;
}

static struct htxn *txn_new(struct coh_mem *m, uint64_t idx)
{
	struct htxn *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->idx = idx;
	unsigned b = coh_hash(idx);
	t->hnext = m->txn[b];
	m->txn[b] = t;
	m->ntxn++;
	return t;
}

static void txn_free(struct coh_mem *m, struct htxn *t)
{
	struct htxn **pp = &m->txn[coh_hash(t->idx)];
	while (*pp != t)
		pp = &(*pp)->hnext;
	*pp = t->hnext;
	m->ntxn--;
	BUG_ON(t->q_head);
	free(t);
}

/* Invalidate every sharer in entry e but `except` and the home; returns how many INVs left. */
static unsigned send_invals(struct coh_mem *m, uint64_t idx, uint64_t e, unsigned except)
{
	uint64_t v = vec_of(e), line = coh_line_of_idx(m, idx);
	unsigned sent = 0;
	while (v) {
		unsigned b = (unsigned)__builtin_ctzll(v);
		v &= v - 1;
		unsigned lo = b * m->group, hi = lo + m->group;
		if (hi > m->n)
			hi = m->n;
		for (unsigned node = lo; node < hi; node++) {
			if (node == except || node == m->self)
				continue;
			coh_msg_send(m, node, M_INV, line, m->self, 0, NULL);
			sent++;
		}
	}
	m->st.inval_sent += sent;
	return sent;
}

static void drain(struct coh_mem *m, struct htxn *t);

/* The transaction's last reply arrived. */
static void txn_finish(struct coh_mem *m, struct htxn *t)
{
	uint64_t idx = t->idx;
	m->dir[idx] = t->final;
	t->active = false;
	unsigned kind = t->kind;
	if (kind == K_LGETS || kind == K_LGETX) {
		set_hs(m, idx, hs_of(t->final));
		/* hold for the local retry: invisible to the hit path until then */
		if (m->waiters) {
			struct coh_req *w;
			uint64_t line = coh_line_of_idx(m, idx);
			for (w = m->waiters; w; w = w->next_)
				if (w->line_ == line)
					break;
			if (w) {
				t->held = true;
				t->t_held = coh_now_ns();
				m->nheld++;
				m->fast.hstate[idx] = 0;
				coh_waiters_wake(m, line, 0);
				return;
			}
		}
	} else if (kind == K_GETS) {
		set_hs(m, idx, hs_of(t->final));
	}
	drain(m, t);
}

/*
 * Start serving one request on a line whose transaction struct t is idle.
 * Leaves t->active set when replies are due.
 */
static void dir_process(struct coh_mem *m, struct htxn *t, unsigned src, unsigned kind, unsigned flags,
			const uint8_t *data)
{
	uint64_t idx = t->idx, e = m->dir[idx], line = coh_line_of_idx(m, idx);
	unsigned st = DIR_STATE(e);
	t->kind = kind;
	t->req = src;
	t->acks = t->pending = 0;
	t->grant_upgrade = false;
	t->final = e;
	switch (kind) {
	case K_GETS:
		coh_dir_count(m, idx, src, COH_MISS_READ);
		if (st == DIR_M) {
			unsigned o = (unsigned)vec_of(e);
			if (o == src) {
				coh_drop(m, src, M_GETS, "read request from the line's owner");
				return;
			}
			t->owner = o;
			t->pending = 2;
			t->final = mk(DIR_S, bit_of(m, o) | bit_of(m, src));
			coh_msg_send(m, o, M_FWD_GETS, line, src, 0, NULL);
			t->active = true;
		} else {
			/* two hops and done: no UNBLOCK (an INV may overtake the data: rcache.c) */
			m->dir[idx] = mk(DIR_S, vec_of(e) | bit_of(m, src));
			set_hs(m, idx, 1);
			coh_msg_send(m, src, M_DATA, line, m->self, F_NOUNBLOCK, line_mem(m, idx));
		}
		return;
	case K_GETX:
		coh_dir_count(m, idx, src, (flags & F_UPGRADE) ? COH_MISS_UPGRADE : COH_MISS_WRITE);
		t->final = mk(DIR_M, src);
		t->pending = 1;
		t->active = true;
		set_hs(m, idx, 0);
		if (st == DIR_M) {
			unsigned o = (unsigned)vec_of(e);
			if (o == src) {
				t->active = false;
				t->final = e;
				coh_drop(m, src, M_GETX, "write request from the line's owner");
				return;
			}
			t->owner = o;
			coh_msg_send(m, o, M_FWD_GETX, line, src, 0, NULL);
			return;
		}
		if (st == DIR_S) {
			t->grant_upgrade = (flags & F_UPGRADE) && m->group == 1 && (vec_of(e) & bit_of(m, src));
			t->acks = send_invals(m, idx, e, src);
		}
		if (t->acks == 0)
			coh_msg_send(m, src, t->grant_upgrade ? M_GRANT : M_DATA, line, m->self,
				     t->grant_upgrade ? 0 : F_EXCL, t->grant_upgrade ? NULL : line_mem(m, idx));
		return;
	case K_PUTX:
		if (st == DIR_M && vec_of(e) == src) {
			memcpy(line_mem(m, idx), data, m->line_size);
			m->dir[idx] = mk(DIR_I, 0);
			set_hs(m, idx, 2);
		} else if (st == DIR_S && m->group == 1 && (vec_of(e) & bit_of(m, src))) {
			uint64_t v = vec_of(e) & ~bit_of(m, src);
			m->dir[idx] = v ? mk(DIR_S, v) : mk(DIR_I, 0);
			set_hs(m, idx, hs_of(m->dir[idx]));
		}
		coh_msg_send(m, src, M_PUT_ACK, line, m->self, 0, NULL);
		return;
	case K_LGETS:
		if (st != DIR_M) {
			coh_waiters_wake(m, line, 0);
			return;
		}
		coh_dir_count(m, idx, m->self, COH_MISS_READ);
		m->st.local_misses++;
		m->st.read_misses++;
		t->owner = (unsigned)vec_of(e);
		t->final = mk(DIR_S, bit_of(m, t->owner));
		t->pending = 1;
		t->active = true;
		coh_msg_send(m, t->owner, M_FWD_GETS, line, m->self, 0, NULL);
		return;
	case K_LGETX:
		if (st == DIR_I) {
			coh_waiters_wake(m, line, 0);
			return;
		}
		coh_dir_count(m, idx, m->self, COH_MISS_WRITE);
		m->st.local_misses++;
		m->st.write_misses++;
		t->final = mk(DIR_I, 0);
		if (st == DIR_M) {
			t->owner = (unsigned)vec_of(e);
			t->pending = 1;
			t->active = true;
			coh_msg_send(m, t->owner, M_FWD_GETX, line, m->self, 0, NULL);
			return;
		}
		set_hs(m, idx, 1);
		t->acks = send_invals(m, idx, e, m->self);
		if (t->acks == 0) {
			m->dir[idx] = t->final;
			set_hs(m, idx, 2);
			coh_waiters_wake(m, line, 0);
			return;
		}
		t->active = true;
		return;
	}
	BUG_ON(1);
}

/* Serve queued requests until one starts a transaction; free t when idle. */
static void drain(struct coh_mem *m, struct htxn *t)
{
	while (!t->active && !t->held && t->q_head) {
		struct hreq *r = t->q_head;
		t->q_head = r->next;
		if (!t->q_head)
			t->q_tail = NULL;
		dir_process(m, t, r->src, r->kind, r->flags, r->data);
		free(r->data);
		free(r);
	}
	if (!t->active && !t->held)
		txn_free(m, t);
}

static int enqueue(struct coh_mem *m, struct htxn *t, unsigned src, unsigned kind, unsigned flags, const uint8_t *data)
{
	struct hreq *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->src = src;
	r->kind = kind;
	r->flags = flags;
	if (data) {
		r->data = malloc(m->line_size);
		if (!r->data) {
			free(r);
			return -ENOMEM;
		}
		memcpy(r->data, data, m->line_size);
	}
	if (t->q_tail)
		t->q_tail->next = r;
	else
		t->q_head = r;
	t->q_tail = r;
	m->st.queued_at_home++;
	return 0;
}

static void dir_request(struct coh_mem *m, uint64_t idx, unsigned src, unsigned kind, unsigned flags,
			const uint8_t *data)
{
	struct htxn *t = txn_find(m, idx);
	if (!t && kind == K_GETS && DIR_STATE(m->dir[idx]) != DIR_M) {
		/* the common clean read: two hops, no transaction to keep */
		coh_dir_count(m, idx, src, COH_MISS_READ);
		m->dir[idx] = mk(DIR_S, vec_of(m->dir[idx]) | bit_of(m, src));
		set_hs(m, idx, 1);
		coh_msg_send(m, src, M_DATA, coh_line_of_idx(m, idx), m->self, F_NOUNBLOCK, line_mem(m, idx));
		return;
	}
	if (t) {
		if (enqueue(m, t, src, kind, flags, data))
			LOG_RATELIMITED(SUB_COH, LOG_ERROR, "out of memory queueing a request from node %u", src);
		return;
	}
	t = txn_new(m, idx);
	if (!t) {
		LOG_RATELIMITED(SUB_COH, LOG_ERROR, "out of memory for a transaction: request from node %u lost", src);
		return;
	}
	dir_process(m, t, src, kind, flags, data);
	if (!t->active)
		txn_free(m, t);
}

/*
 * coh_dir_local - the home's own access to line idx needs more than hstate
 * gives. Returns 0 when it may now access, -EAGAIN when a transaction was
 * started or queued (the caller registers a waiter), -ENOMEM.
 */
int coh_dir_local(struct coh_mem *m, uint64_t idx, int write, bool count)
{
	(void)count;
	struct htxn *t = txn_find(m, idx);
	unsigned kind = write ? K_LGETX : K_LGETS;
	if (t) {
		if (t->held) {
			coh_dir_release_hold(m, idx);
			if (m->fast.hstate[idx] > (unsigned)write)
				return 0;
		}
		for (struct hreq *r = t->q_head; r; r = r->next)
			if (r->src == m->self && r->kind >= kind)
				return -EAGAIN;
		if (t->active && t->req == m->self && t->kind >= kind)
			return -EAGAIN;
		return enqueue(m, t, m->self, kind, 0, NULL) ? -ENOMEM : -EAGAIN;
	}
	if (m->fast.hstate[idx] > (unsigned)write)
		return 0;
	t = txn_new(m, idx);
	if (!t)
		return -ENOMEM;
	dir_process(m, t, m->self, kind, 0, NULL);
	if (t->active)
		return -EAGAIN;
	txn_free(m, t);
	return m->fast.hstate[idx] > (unsigned)write ? 0 : -EAGAIN;
}

/* The local retry came: make the line visible; its queue is served at the next poll. */
bool coh_dir_release_hold(struct coh_mem *m, uint64_t idx)
{
	struct htxn *t = txn_find(m, idx);
	if (!t || !t->held)
		return false;
	m->fast.hstate[idx] = hs_of(m->dir[idx]);
	t->t_held = 0;	/* expired: drained by coh_dir_release_holds */
	return true;
}

unsigned coh_dir_release_holds(struct coh_mem *m, bool force)
{
	if (!m->nheld)
		return 0;
	uint64_t now = coh_now_ns();
	unsigned done = 0;
	for (unsigned b = 0; b < HBUCKETS && m->nheld; b++) {
		struct htxn *t = m->txn[b];
		while (t) {
			struct htxn *next = t->hnext;
			if (t->held && (force || t->t_held == 0 || now - t->t_held > COH_HOLD_MAX_NS)) {
				t->held = false;
				m->nheld--;
				m->fast.hstate[t->idx] = hs_of(m->dir[t->idx]);
				drain(m, t);
				done++;
			}
			t = next;
		}
	}
	return done;
}

/* Answer the page recalls that completed. */
unsigned coh_dir_serve_recalls(struct coh_mem *m)
{
	unsigned done = 0;
	struct page_recall **pp = &m->recalls;
	while (*pp) {
		struct page_recall *r = *pp;
		if (coh_mem_page_recall(m, r->page_off) == 0) {
			if (r->src != m->self)
				coh_msg_send(m, r->src, M_RECALL_DONE, r->page_off, r->tag, 0, NULL);
			*pp = r->next;
			free(r);
			done++;
			continue;
		}
		pp = &r->next;
	}
	return done;
}

static void add_recall(struct coh_mem *m, unsigned src, uint64_t page_off, uint32_t tag)
{
	struct page_recall *r = calloc(1, sizeof(*r));
	if (!r) {
		LOG_RATELIMITED(SUB_COH, LOG_ERROR, "out of memory for a page recall from node %u", src);
		return;
	}
	r->src = src;
	r->page_off = page_off;
	r->tag = tag;
	r->next = m->recalls;
	m->recalls = r;
	m->st.page_recalls++;
	coh_mem_page_recall(m, page_off);
}

/* A message for a line whose home is this node. */
void coh_dir_recv(struct coh_mem *m, unsigned src, unsigned type, const struct pmsg *h, const uint8_t *data)
{
	if (type == M_PAGE_RECALL) {
		if (h->line % COH_PAGE_SIZE || h->line >= m->fast.mem_len) {
			coh_drop(m, src, type, "page recall outside memory");
			return;
		}
		add_recall(m, src, h->line, h->node);
		return;
	}
	uint64_t idx = coh_line_idx(m, h->line);
	if (coh_home_of(m, h->line) != m->self || idx >= m->nlines) {
		if (type == M_GETS || type == M_GETX)
			coh_msg_send(m, src, M_ERR, h->line, m->self, 0, NULL);
		coh_drop(m, src, type, "line outside this node's memory");
		return;
	}
	switch (type) {
	case M_GETS:
		dir_request(m, idx, src, K_GETS, 0, NULL);
		return;
	case M_GETX:
		dir_request(m, idx, src, K_GETX, h->flags & F_UPGRADE, NULL);
		return;
	case M_PUTX:
		dir_request(m, idx, src, K_PUTX, 0, data);
		return;
	}
	struct htxn *t = txn_find(m, idx);
	if (!t || !t->active) {
		coh_drop(m, src, type, "reply for a line with no transaction");
		return;
	}
	switch (type) {
	case M_INV_ACK:
		if (t->acks == 0 || (t->kind != K_GETX && t->kind != K_LGETX))
			break;
		if (--t->acks)
			return;
		if (t->kind == K_LGETX) {
			txn_finish(m, t);
			return;
		}
		coh_msg_send(m, t->req, t->grant_upgrade ? M_GRANT : M_DATA, h->line, m->self,
			     t->grant_upgrade ? 0 : F_EXCL, t->grant_upgrade ? NULL : line_mem(m, idx));
		return;
	case M_SHWB:
		if ((t->kind != K_GETS && t->kind != K_LGETS) || src != t->owner || !data)
			break;
		memcpy(line_mem(m, idx), data, m->line_size);
		if (--t->pending == 0)
			txn_finish(m, t);
		return;
	case M_UNBLOCK:
		if ((t->kind != K_GETS && t->kind != K_GETX) || src != t->req || t->acks)
			break;
		if (--t->pending == 0)
			txn_finish(m, t);
		return;
	case M_DATA:
		if (t->kind != K_LGETX || src != t->owner || !data || !(h->flags & F_EXCL))
			break;
		memcpy(line_mem(m, idx), data, m->line_size);
		if (--t->pending == 0)
			txn_finish(m, t);
		return;
	}
	coh_drop(m, src, type, "unexpected reply at the home");
}
