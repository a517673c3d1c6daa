/*
 * rcache.c — the requesting side: the remote-line cache (a node's
 * "secondary cache" of other nodes' lines) and its misses in flight.
 *
 * The cache is set-associative (nsets x ways, sets a power of two, index a
 * hash of the line number), replaced by a clock per set over the ways that
 * have no miss in flight. A way's state is what the inline hit path may do
 * (0, 1 read, 2 write); rstate is the copy actually held (they differ while
 * a granted line is held for its requester's retry, see coh_mem.h).
 *
 * Requester states of a line (MSI with transients):
 *
 *   held      event                    action                              next
 *   I         read miss                GETS to home                        IS_D
 *   I         write miss               GETX to home                        IM_D
 *   S         write miss               GETX(upgrade) to home; reads hit    SM_A
 *   IS_D      DATA from home           (clean read: no UNBLOCK)            S
 *   IS_D      DATA from owner          UNBLOCK to home                     S
 *   IS_D      INV                      INV_ACK; the data, when it comes,   IS_D_I
 *                                      serves the waiting accesses once
 *   IS_D_I    DATA                     held for one access, then dropped   I
 *   IM_D      DATA(excl)               UNBLOCK to home                     M
 *   SM_A      GRANT / DATA(excl)       UNBLOCK to home                     M
 *   SM_A      INV                      INV_ACK (the upgrade now needs data) IM_D
 *   S         INV                      INV_ACK                             I
 *   I, IS_D   INV                      INV_ACK (a copy dropped silently)   same
 *   M         FWD_GETS(R)              DATA to R (unless R is home), SHWB  S
 *   M         FWD_GETX(R)              DATA(excl) to R                     I
 *   M         evicted                  PUTX(data) to home, data kept in a  MI_A
 *                                      writeback buffer
 *   MI_A      FWD_GETS / FWD_GETX      served from the writeback buffer    MI_A
 *   MI_A      PUT_ACK                  buffer freed; requests for the line I
 *                                      waited meanwhile and retry now
 *   S         evicted                  dropped silently                    I
 *
 * A line granted while requests wait for it is held: INV and FWD for it are
 * deferred until the first retry hits (or COH_HOLD_MAX_NS passed), then
 * served in arrival order by coh_rc_release_holds() from the next poll.
 */
#include "coherence/coh_mem_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define NO_TAG	UINT64_MAX

int coh_rc_init(struct coh_mem *m, size_t cache_bytes, unsigned ways)
{
	size_t lines = cache_bytes / m->line_size;
	if (lines < ways)
		lines = ways;
	size_t sets = 1;
	while (sets * 2 * ways <= lines && sets < (1u << 30))
		sets *= 2;
	m->nsets = (unsigned)sets;
	m->nways = ways;
	m->ways = calloc(sets * ways, sizeof(*m->ways));
	m->hand = calloc(sets, sizeof(*m->hand));
	m->cache_data = aligned_alloc(64, sets * ways * m->line_size);
	if (!m->ways || !m->hand || !m->cache_data)
		return -ENOMEM;
	for (size_t i = 0; i < sets * ways; i++) {
		m->ways[i].tag = NO_TAG;
		m->ways[i].data = m->cache_data + i * m->line_size;
	}
	m->fast.ways = m->ways;
	m->fast.nways = ways;
	m->fast.set_mask = (uint32_t)(sets - 1);
	return 0;
}

void coh_rc_fini(struct coh_mem *m)
{
	for (unsigned b = 0; b < HBUCKETS; b++) {
		while (m->mshr[b]) {
			struct mshr *x = m->mshr[b];
			m->mshr[b] = x->hnext;
			free(x);
		}
		while (m->wb[b]) {
			struct wbuf *x = m->wb[b];
			m->wb[b] = x->hnext;
			free(x);
		}
	}
	while (m->held_msgs) {
		struct deferred *d = m->held_msgs;
		m->held_msgs = d->next;
		free(d);
	}
	free(m->unblock_q);
	free(m->ways);
	free(m->hand);
	free(m->cache_data);
}

static struct coh_rc_way *set_of(struct coh_mem *m, uint64_t line)
{
	return m->ways + (size_t)coh_mem_set_(&m->fast, line) * m->nways;
}

static struct coh_rc_way *find_way(struct coh_mem *m, uint64_t line)
{
	struct coh_rc_way *w = set_of(m, line);
	for (unsigned i = 0; i < m->nways; i++)
		if (w[i].tag == line && (w[i].rstate || w[i].busy))
			return &w[i];
	return NULL;
}

static bool held(const struct coh_rc_way *w)
{
	return w->rstate && w->state != w->rstate;
}

static struct mshr *mshr_find(struct coh_mem *m, uint64_t line)
{
	for (struct mshr *x = m->mshr[coh_hash(line)]; x; x = x->hnext)
		if (x->line == line)
			return x;
	return NULL;
}

static void mshr_free(struct coh_mem *m, struct mshr *x)
{
	struct mshr **pp = &m->mshr[coh_hash(x->line)];
	while (*pp != x)
		pp = &(*pp)->hnext;
	*pp = x->hnext;
	m->nmshr--;
	free(x);
}

static struct wbuf *wb_find(struct coh_mem *m, uint64_t line)
{
	for (struct wbuf *x = m->wb[coh_hash(line)]; x; x = x->hnext)
		if (x->line == line)
			return x;
	return NULL;
}

static void clear_way(struct coh_rc_way *w)
{
	w->tag = NO_TAG;
	w->state = w->rstate = 0;
	w->busy = 0;
	w->ref = 0;
	w->once = 0;
}

/* Make room: a dirty victim goes to a writeback buffer and home; a clean one silently. */
static int evict(struct coh_mem *m, struct coh_rc_way *w)
{
	uint64_t line = w->tag;
	if (w->rstate == 2) {
		struct wbuf *b = malloc(sizeof(*b) + m->line_size);
		if (!b)
			return -ENOMEM;
		b->line = line;
		memcpy(b->data, w->data, m->line_size);
		unsigned h = coh_hash(line);
		b->hnext = m->wb[h];
		m->wb[h] = b;
		m->nwb++;
		coh_msg_send(m, coh_home_of(m, line), M_PUTX, line, m->self, 0, b->data);
		m->st.writebacks++;
	}
	m->st.evictions++;
	clear_way(w);
	coh_lost_notify(m, line, COH_LOST_EVICT);
	return 0;
}

static struct coh_rc_way *pick_victim(struct coh_mem *m, uint64_t line)
{
	struct coh_rc_way *w = set_of(m, line);
	unsigned set = (unsigned)(w - m->ways) / m->nways;
	for (unsigned i = 0; i < m->nways; i++)
		if (!w[i].rstate && !w[i].busy)
			return &w[i];
	/* a held line waits for its retry: taking it could starve its vCPU */
	for (unsigned k = 0; k < 2 * m->nways; k++) {
		unsigned i = m->hand[set];
		m->hand[set] = (i + 1) % m->nways;
		if (w[i].busy || held(&w[i]))
			continue;
		if (w[i].ref) {
			w[i].ref = 0;
			continue;
		}
		return &w[i];
	}
	/* unless nobody came back for it in time */
	uint32_t now = (uint32_t)(coh_now_ns() / 1000000);
	for (unsigned i = 0; i < m->nways; i++)
		if (!w[i].busy && held(&w[i]) && now - w[i].held_ms > COH_HOLD_MAX_NS / 1000000)
			return &w[i];
	return NULL;
}

/*
 * coh_rc_miss - the slow path for a remote line. Returns 0 with *ptr (a
 * held line's retry), -EAGAIN (a miss in flight for the line: wait for it),
 * -ENOSPC (every way of the set has a miss in flight: wait for any), -ENOMEM.
 */
int coh_rc_miss(struct coh_mem *m, uint64_t line, int write, void **ptr, unsigned off)
{
	struct coh_rc_way *w = find_way(m, line);
	if (w && held(w)) {
		w->state = w->rstate;	/* the retry: deferred messages go at the next poll */
		w->ref = 1;
		coh_waiters_wake_stalled(m);	/* a miss may wait for this way */
		if (w->once) {
			/* the data is older than an invalidation already acked: one access, then gone */
			clear_way(w);
			coh_lost_notify(m, line, COH_LOST_INVAL);
			if (!write) {
				*ptr = w->data + off;
				return 0;
			}
			w = NULL;
		} else if (w->rstate > (unsigned)write) {
			*ptr = w->data + off;
			return 0;
		}
	}
	if (mshr_find(m, line) || wb_find(m, line))
		return -EAGAIN;
	struct mshr *x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	unsigned home = coh_home_of(m, line);
	if (w && w->rstate == 1 && write) {
		x->has_data = true;
		m->st.upgrades++;
	} else {
		BUG_ON(w && w->rstate > (unsigned)write);
		if (!w) {
			w = pick_victim(m, line);
			if (!w) {
				free(x);
				return -ENOSPC;
			}
			if (w->rstate && evict(m, w)) {
				free(x);
				return -ENOMEM;
			}
			w->tag = line;
			w->state = w->rstate = 0;
		}
		if (write)
			m->st.write_misses++;
		else
			m->st.read_misses++;
	}
	w->busy = 1;
	x->line = line;
	x->way = w;
	x->write = write;
	x->t0 = coh_now_ns();
	unsigned h = coh_hash(line);
	x->hnext = m->mshr[h];
	m->mshr[h] = x;
	m->nmshr++;
	m->st.remote_misses++;
	coh_msg_send(m, home, write ? M_GETX : M_GETS, line, m->self, x->has_data ? F_UPGRADE : 0, NULL);
	if (m->n_unblock)
		coh_rc_flush_unblocks(m);
	return -EAGAIN;
}

static void fill_done(struct coh_mem *m, struct mshr *x, unsigned src, unsigned h_flags)
{
	struct coh_rc_way *w = x->way;
	uint64_t line = x->line;
	unsigned home = coh_home_of(m, line);
	w->busy = 0;
	w->ref = 1;
	coh_lat_record(m, coh_now_ns() - x->t0);
	if (src == home)
		m->st.two_hop++;
	else
		m->st.three_hop++;
	if ((h_flags & F_NOUNBLOCK) && src == home && w->rstate == 1)
		goto unblocked;
	/*
	 * The home's transaction ends with our UNBLOCK; send it from the next
	 * engine call, after the waiting access ran (the home only needs it
	 * before it serves the line's next request).
	 */
	if (m->n_unblock == m->cap_unblock) {
		unsigned cap = m->cap_unblock ? 2 * m->cap_unblock : 64;
		uint64_t *q = realloc(m->unblock_q, cap * sizeof(*q));
		if (q) {
			m->unblock_q = q;
			m->cap_unblock = cap;
		}
	}
	if (m->n_unblock < m->cap_unblock)
		m->unblock_q[m->n_unblock++] = line;
	else
		coh_msg_send(m, home, M_UNBLOCK, line, m->self, 0, NULL);
unblocked:;
	bool once = x->inv_after && w->rstate == 1;
	mshr_free(m, x);
	/* hold it for the waiters' retry, unless nobody waits */
	w->state = 0;
	w->once = once;
	w->held_ms = (uint32_t)(coh_now_ns() / 1000000);
	if (coh_waiters_wake(m, line, 0) == 0) {
		if (once) {
			clear_way(w);
			coh_lost_notify(m, line, COH_LOST_INVAL);
		} else {
			w->state = w->rstate;
		}
	}
	coh_waiters_wake_stalled(m);
}

static bool defer(struct coh_mem *m, unsigned src, unsigned type, const struct pmsg *h)
{
	struct deferred *d = calloc(1, sizeof(*d) + sizeof(*h));
	if (!d)
		return false;	/* then serve it now: correctness over the hold */
	d->src = src;
	d->type = type;
	d->t = coh_now_ns();
	d->len = sizeof(*h);
	memcpy(d->buf, h, sizeof(*h));
	struct deferred **pp = &m->held_msgs;
	while (*pp)
		pp = &(*pp)->next;
	*pp = d;
	m->st.deferred++;
	return true;
}

/* A message for a line whose home is another node. */
void coh_rc_recv(struct coh_mem *m, unsigned src, unsigned type, const struct pmsg *h, const uint8_t *data)
{
	uint64_t line = h->line;
	unsigned home = coh_home_of(m, line);
	struct coh_rc_way *w;
	struct mshr *x;
	struct wbuf *b;

	if (home == m->self || home >= m->n) {
		coh_drop(m, src, type, "line not remote");
		return;
	}
	switch (type) {
	case M_DATA:
		x = mshr_find(m, line);
		if (!x || !data || (x->write && !(h->flags & F_EXCL))) {
			coh_drop(m, src, type, "data nobody asked for");
			return;
		}
		memcpy(x->way->data, data, m->line_size);
		x->way->rstate = (h->flags & F_EXCL) ? 2 : 1;
		fill_done(m, x, src, h->flags);
		return;
	case M_GRANT:
		x = mshr_find(m, line);
		if (!x || src != home || !x->write || !x->has_data) {
			coh_drop(m, src, type, "upgrade grant without a copy");
			return;
		}
		x->way->rstate = 2;
		fill_done(m, x, src, 0);
		return;
	case M_ERR:
		x = mshr_find(m, line);
		if (!x || src != home) {
			coh_drop(m, src, type, "error for no request");
			return;
		}
		clear_way(x->way);
		mshr_free(m, x);
		coh_waiters_wake(m, line, -EFAULT);
		coh_waiters_wake_stalled(m);
		return;
	case M_INV:
		if (src != home)
			break;
		w = find_way(m, line);
		if (w && held(w) && defer(m, src, type, h))
			return;
		if (w && w->rstate == 2) {
			coh_drop(m, src, type, "invalidation of a dirty line");
			return;
		}
		if (w && w->rstate) {
			w->rstate = w->state = 0;
			if (!w->busy)
				w->tag = NO_TAG;
			coh_lost_notify(m, line, COH_LOST_INVAL);
		}
		x = mshr_find(m, line);
		if (x && x->has_data)
			x->has_data = false;
		else if (x && !x->write) {
			x->inv_after = true;
			m->st.inv_overtook++;
		}
		m->st.inval_recv++;
		coh_msg_send(m, home, M_INV_ACK, line, m->self, 0, NULL);
		return;
	case M_FWD_GETS:
	case M_FWD_GETX:
		if (src != home || h->node >= m->n || h->node == m->self)
			break;
		w = find_way(m, line);
		if (w && w->rstate == 2) {
			if (held(w) && defer(m, src, type, h))
				return;
			m->st.fwd_recv++;
			if (type == M_FWD_GETS) {
				if (h->node != home)
					coh_msg_send(m, h->node, M_DATA, line, m->self, 0, w->data);
				coh_msg_send(m, home, M_SHWB, line, m->self, 0, w->data);
				w->rstate = w->state = 1;
				coh_lost_notify(m, line, COH_LOST_DOWNGRADE);
			} else {
				coh_msg_send(m, h->node, M_DATA, line, m->self, F_EXCL, w->data);
				clear_way(w);
				coh_lost_notify(m, line, COH_LOST_INVAL);
			}
			return;
		}
		b = wb_find(m, line);
		if (b) {
			m->st.fwd_recv++;
			if (type == M_FWD_GETS) {
				if (h->node != home)
					coh_msg_send(m, h->node, M_DATA, line, m->self, 0, b->data);
				coh_msg_send(m, home, M_SHWB, line, m->self, 0, b->data);
			} else {
				coh_msg_send(m, h->node, M_DATA, line, m->self, F_EXCL, b->data);
			}
			return;
		}
		coh_drop(m, src, type, "forward for a line this node does not own");
		return;
	case M_PUT_ACK:
		b = wb_find(m, line);
		if (!b || src != home)
			break;
		{
			struct wbuf **pp = &m->wb[coh_hash(line)];
			while (*pp != b)
				pp = &(*pp)->hnext;
			*pp = b->hnext;
			m->nwb--;
			free(b);
		}
		coh_waiters_wake(m, line, 0);
		return;
	}
	coh_drop(m, src, type, "unexpected message at the requester");
}

void coh_rc_flush_unblocks(struct coh_mem *m)
{
	for (unsigned i = 0; i < m->n_unblock; i++)
		coh_msg_send(m, coh_home_of(m, m->unblock_q[i]), M_UNBLOCK, m->unblock_q[i], m->self, 0, NULL);
	m->n_unblock = 0;
}

/* Serve deferred messages whose line was retried, or all held past the limit (or force). */
unsigned coh_rc_release_holds(struct coh_mem *m, bool force)
{
	if (!m->held_msgs)
		return 0;
	uint64_t now = coh_now_ns();
	unsigned done = 0;
	struct deferred *d, **pp = &m->held_msgs;
	while ((d = *pp)) {
		const struct pmsg *h = (const struct pmsg *)d->buf;
		struct coh_rc_way *w = find_way(m, h->line);
		if (w && held(w) && !force && now - d->t < COH_HOLD_MAX_NS) {
			pp = &d->next;
			continue;
		}
		if (w && held(w)) {
			w->state = w->rstate;
			coh_waiters_wake_stalled(m);
		}
		*pp = d->next;
		coh_rc_recv(m, d->src, d->type, h, NULL);
		free(d);
		done++;
		pp = &m->held_msgs;	/* the list may have changed */
	}
	return done;
}
