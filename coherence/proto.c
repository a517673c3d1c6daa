/*
 * proto.c — the coherence engine's frame: creation over a transport, the
 * message format and its checks, dispatch to the home (dir.c) or the
 * requesting side (rcache.c), the access verbs, page operations, waiters
 * and counters. The protocol itself is described in dir.c and rcache.c.
 *
 * Wire: every message is a struct pmsg, followed for M_DATA, M_PUTX and
 * M_SHWB by the line. A line over COH_FRAG bytes travels in line/COH_FRAG
 * pieces with the same (sender, seq), reassembled here in any order; the
 * protocol sees one message. The transport may deliver messages between
 * two nodes in any order: the protocol never relies on FIFO channels.
 *
 * Checks: a message of an unknown type, a wrong length, a line outside the
 * machine, a reply nobody waits for, is dropped and counted (dropped),
 * logged rate-limited; never acted on.
 */
#define _GNU_SOURCE
#include "coherence/coh_mem_internal.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

uint64_t coh_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#define STALLED	UINT64_MAX	/* waiter line: any way of its set frees */

static bool has_data(unsigned type)
{
	return type == M_DATA || type == M_PUTX || type == M_SHWB;
}

/* ---- the fabric as a transport ---- */

static int fab_send(void *ctx, unsigned dest, unsigned type, const void *p, size_t len)
{
	return coh_fabric_send(ctx, dest, type, p, len);
}

static int fab_poll(void *ctx)
{
	return coh_fabric_poll(ctx);
}

static void fab_wait(void *ctx, int ms)
{
	struct coh_fabric *f = ctx;
	if (coh_fabric_sleep_prepare(f) != 0)
		return;
	int cap = coh_fabric_max_sleep_ms(f);
	if (cap >= 0 && (ms < 0 || ms > cap))
		ms = cap;
	int fds[2];
	int n = coh_fabric_wait_fds(f, fds);
	struct pollfd pfd[2];
	for (int i = 0; i < n && i < 2; i++) {
		pfd[i].fd = fds[i];
		pfd[i].events = POLLIN;
		pfd[i].revents = 0;
	}
	poll(pfd, (nfds_t)n, ms);
	coh_fabric_sleep_done(f);
}

static int fab_read(void *ctx, unsigned src, uint64_t off, void *local, size_t len)
{
	return coh_fabric_read(ctx, src, off, local, len);
}

static const struct coh_transport_ops fab_ops = {
	.send = fab_send,
	.poll = fab_poll,
	.wait = fab_wait,
	.read = fab_read,
};

/* ---- creation ---- */

struct coh_mem *coh_mem_create_ops(const struct coh_transport_ops *ops, void *ctx,
				   const struct coh_mem_config *cfg, int *err)
{
	int rc = -EINVAL;
	unsigned ls = cfg->line_size ? cfg->line_size : COH_LINE_DEFAULT;
	unsigned ways = cfg->ways ? cfg->ways : 4;
	size_t cache = cfg->cache_bytes ? cfg->cache_bytes : (1u << 20);
	struct coh_mem *m = NULL;

	if (ls < 64 || ls > 4096 || (ls & (ls - 1)) || !cfg->mem || !cfg->mem_len ||
	    cfg->mem_len % COH_PAGE_SIZE || cfg->mem_len > (1ull << COH_MADDR_OFF_BITS) ||
	    cfg->nodes == 0 || cfg->nodes > (1u << 20) || cfg->self >= cfg->nodes || ways > 64 ||
	    !ops || !ops->send || !ops->poll)
		goto fail;
	rc = -ENOMEM;
	m = calloc(1, sizeof(*m));
	if (!m)
		goto fail;
	m->ops = *ops;
	m->ctx = ctx;
	m->self = cfg->self;
	m->n = cfg->nodes;
	m->line_size = ls;
	m->spin_ns = (uint64_t)(cfg->spin_us ? cfg->spin_us : 50) * 1000;
	m->line_shift = (unsigned)__builtin_ctz(ls);
	m->line_mask_node = (1ull << (COH_MADDR_OFF_BITS - m->line_shift)) - 1;
	m->nlines = cfg->mem_len >> m->line_shift;
	m->fast.mem = cfg->mem;
	m->fast.mem_len = cfg->mem_len;
	m->fast.self = cfg->self;
	m->fast.line_shift = m->line_shift;
	m->scratch = malloc(sizeof(struct pmsg) + ls);
	if (!m->scratch)
		goto fail;
	rc = coh_dir_init(m);
	if (!rc)
		rc = coh_rc_init(m, cache, ways);
	if (rc)
		goto fail;
	return m;
fail:
	coh_mem_destroy(m);
	if (err)
		*err = rc;
	return NULL;
}

struct coh_mem *coh_mem_create(struct coh_fabric *f, const struct coh_mem_config *cfg, int *err)
{
	if (!f) {
		if (err)
			*err = -EINVAL;
		return NULL;
	}
	struct coh_mem *m = coh_mem_create_ops(&fab_ops, f, cfg, err);
	if (m)
		m->fab = f;
	return m;
}

void coh_mem_destroy(struct coh_mem *m)
{
	if (!m)
		return;
	coh_rc_fini(m);
	coh_dir_fini(m);
	while (m->frags) {
		struct deferred *d = m->frags;
		m->frags = d->next;
		free(d);
	}
	free(m->scratch);
	free(m);
}

void coh_mem_set_lost_cb(struct coh_mem *m, coh_lost_fn fn, void *opaque)
{
	m->lost = fn;
	m->lost_opaque = opaque;
}

unsigned coh_mem_line_size(const struct coh_mem *m)
{
	return m->line_size;
}

void *coh_mem_base(const struct coh_mem *m)
{
	return m->fast.mem;
}

void coh_lost_notify(struct coh_mem *m, uint64_t line, enum coh_lost_how how)
{
	if (m->lost)
		m->lost(m->lost_opaque, line << m->line_shift, how);
}

void coh_drop(struct coh_mem *m, unsigned src, unsigned type, const char *why)
{
	m->st.dropped++;
	LOG_RATELIMITED(SUB_COH, LOG_WARN, "node %u: dropped protocol message type %u from node %u: %s",
			m->self, type, src, why);
}

/* ---- messages ---- */

void coh_msg_send(struct coh_mem *m, unsigned dest, unsigned type, uint64_t line, unsigned node,
		  unsigned flags, const void *data)
{
	BUG_ON(dest == m->self || dest >= m->n);
	struct pmsg *h = (struct pmsg *)m->scratch;
	memset(h, 0, sizeof(*h));
	h->line = line;
	h->node = node;
	h->flags = (uint16_t)flags;
	h->seq = ++m->seq;
	unsigned nfrag = 1, chunk = m->line_size;
	if (data && m->line_size > COH_FRAG) {
		nfrag = m->line_size / COH_FRAG;
		chunk = COH_FRAG;
	}
	h->nfrag = (uint8_t)nfrag;
	for (unsigned i = 0; i < nfrag; i++) {
		size_t len = sizeof(*h);
		h->frag = (uint8_t)i;
		if (data) {
			memcpy(m->scratch + sizeof(*h), (const uint8_t *)data + (size_t)i * chunk, chunk);
			len += chunk;
		}
		int rc = m->ops.send(m->ctx, dest, type, h, len);
		if (rc)
			LOG_RATELIMITED(SUB_COH, LOG_ERROR, "node %u: sending type %u to node %u failed: %s",
					m->self, type, dest, strerror(-rc));
		m->st.msgs_sent++;
		m->st.bytes_sent += len;
	}
}

static void dispatch(struct coh_mem *m, unsigned src, unsigned type, const struct pmsg *h, const uint8_t *data)
{
	m->n_events++;
	if (type == M_RECALL_DONE) {
		m->recall_done_tag = h->node;
		return;
	}
	if (type == M_PAGE_RECALL) {
		coh_dir_recv(m, src, type, h, data);
		return;
	}
	unsigned home = coh_home_of(m, h->line);
	if (home >= m->n) {
		coh_drop(m, src, type, "line of no node");
		return;
	}
	if (home == m->self)
		coh_dir_recv(m, src, type, h, data);
	else
		coh_rc_recv(m, src, type, h, data);
}

static void reassemble(struct coh_mem *m, unsigned src, unsigned type, const struct pmsg *h, const uint8_t *piece)
{
	struct deferred *d, **pp;
	for (pp = &m->frags; (d = *pp); pp = &d->next)
		if (d->src == src && d->seq == h->seq && d->type == type)
			break;
	if (!d) {
		d = calloc(1, sizeof(*d) + sizeof(*h) + m->line_size);
		if (!d) {
			coh_drop(m, src, type, "out of memory reassembling a line");
			return;
		}
		d->src = src;
		d->type = type;
		d->seq = h->seq;
		d->t = coh_now_ns();
		memcpy(d->buf, h, sizeof(*h));
		d->next = m->frags;
		m->frags = d;
		pp = &m->frags;
	}
	memcpy(d->buf + sizeof(*h) + (size_t)h->frag * COH_FRAG, piece, COH_FRAG);
	d->got += COH_FRAG;
	if (d->got < m->line_size)
		return;
	while (*pp != d)
		pp = &(*pp)->next;
	*pp = d->next;
	dispatch(m, src, type, (const struct pmsg *)d->buf, d->buf + sizeof(*h));
	free(d);
}

void coh_mem_handle(struct coh_mem *m, unsigned src, unsigned type, const void *payload, size_t len)
{
	m->st.msgs_recv++;
	m->st.bytes_recv += len;
	if (type < M_GETS || type >= M_TYPE_END || src >= m->n || src == m->self || len < sizeof(struct pmsg)) {
		coh_drop(m, src, type, "unknown type, sender or length");
		return;
	}
	struct pmsg h;
	memcpy(&h, payload, sizeof(h));
	const uint8_t *data = (const uint8_t *)payload + sizeof(h);
	if (!has_data(type)) {
		if (len != sizeof(h) || h.nfrag != 1) {
			coh_drop(m, src, type, "bad length");
			return;
		}
		dispatch(m, src, type, &h, NULL);
		return;
	}
	if (m->line_size <= COH_FRAG) {
		if (len != sizeof(h) + m->line_size || h.nfrag != 1 || h.frag) {
			coh_drop(m, src, type, "bad data length");
			return;
		}
		/* an aligned copy: the payload buffer may not be */
		dispatch(m, src, type, &h, data);
		return;
	}
	if (len != sizeof(h) + COH_FRAG || h.nfrag != m->line_size / COH_FRAG || h.frag >= h.nfrag) {
		coh_drop(m, src, type, "bad data piece");
		return;
	}
	reassemble(m, src, type, &h, data);
}

/* ---- waiters ---- */

void coh_waiter_add(struct coh_mem *m, struct coh_req *req, uint64_t line)
{
	if (!req)
		return;
	req->pending = 1;
	req->status = 0;
	req->line_ = line;
	req->next_ = m->waiters;
	m->waiters = req;
}

static unsigned wake_matching(struct coh_mem *m, uint64_t line, int status)
{
	struct coh_req *done = NULL, **pp = &m->waiters, *r;
	unsigned n = 0;
	while ((r = *pp)) {
		if (r->line_ == line) {
			*pp = r->next_;
			r->next_ = done;
			done = r;
			n++;
		} else {
			pp = &r->next_;
		}
	}
	/* callbacks last: they may only mark their requester runnable */
	while ((r = done)) {
		done = r->next_;
		r->next_ = NULL;
		r->status = status;
		r->pending = 0;
		if (r->done)
			r->done(r, status);
	}
	return n;
}

unsigned coh_waiters_wake(struct coh_mem *m, uint64_t line, int status)
{
	return m->waiters ? wake_matching(m, line, status) : 0;
}

void coh_waiters_wake_stalled(struct coh_mem *m)
{
	m->stalled_since = 0;
	if (m->waiters)
		wake_matching(m, STALLED, 0);
}

/* ---- access ---- */

int coh_mem_get(struct coh_mem *m, coh_maddr_t a, int mode, void **ptr, struct coh_req *req)
{
	void *p = coh_mem_lookup(m, a, mode);
	if (p) {
		*ptr = p;
		return 0;
	}
	unsigned node = COH_MADDR_NODE(a);
	uint64_t off = COH_MADDR_OFF(a), line = a >> m->line_shift;
	int rc;
	if (node >= m->n || (mode != COH_READ && mode != COH_WRITE))
		return -EINVAL;
	if (node == m->self) {
		if (off >= m->fast.mem_len)
			return -EINVAL;
		rc = coh_dir_local(m, off >> m->line_shift, mode, true);
		if (rc == 0) {
			*ptr = m->fast.mem + off;
			return 0;
		}
		if (rc == -EAGAIN)
			coh_waiter_add(m, req, line);
		return rc;
	}
	rc = coh_rc_miss(m, line, mode, ptr, (unsigned)(off & (m->line_size - 1)));
	if (rc == -EAGAIN)
		coh_waiter_add(m, req, line);
	else if (rc == -ENOSPC) {
		if (!m->stalled_since)
			m->stalled_since = coh_now_ns();
		coh_waiter_add(m, req, STALLED);
		rc = -EAGAIN;
	}
	return rc;
}

int coh_mem_poll(struct coh_mem *m)
{
	uint64_t before = m->n_events;
	unsigned k = m->n_unblock;
	if (m->n_unblock)
		coh_rc_flush_unblocks(m);
	int r = m->ops.poll(m->ctx);
	if (r < 0)
		return -EIO;
	k += coh_rc_release_holds(m, false);
	/* pieces of a line whose other pieces never came (a broken peer): dropped after 1 s */
	if (m->frags) {
		uint64_t now = coh_now_ns();
		struct deferred *d, **pp = &m->frags;
		while ((d = *pp)) {
			if (now - d->t > 1000000000ull) {
				*pp = d->next;
				coh_drop(m, d->src, d->type, "line pieces never completed");
				free(d);
			} else {
				pp = &d->next;
			}
		}
	}
	/* a miss waiting for a way of a set whose lines are all held: retry it once holds expire */
	if (m->stalled_since && coh_now_ns() - m->stalled_since > COH_HOLD_MAX_NS)
		coh_waiters_wake_stalled(m);
	k += coh_dir_release_holds(m, false);
	if (m->recalls)
		k += coh_dir_serve_recalls(m);
	return (int)(m->n_events - before) + (int)k + (r > 0 && m->n_events == before ? r : 0);
}

int coh_mem_busy(const struct coh_mem *m)
{
	return m->held_msgs || m->nheld || m->recalls || m->n_unblock || m->stalled_since;
}

/* Serve the transport until *flag clears (or cond), spinning briefly, then sleeping. */
static int serve_until(struct coh_mem *m, const int *pending, const unsigned *tag, unsigned want, int timeout_ms)
{
	uint64_t t0 = coh_now_ns(), last = t0;
	for (;;) {
		if (pending && !*pending)
			return 0;
		if (tag && *tag == want)
			return 0;
		int n = coh_mem_poll(m);
		if (n < 0)
			return -EIO;
		uint64_t t = coh_now_ns();
		if (n > 0) {
			last = t;
			continue;
		}
		if (timeout_ms >= 0 && t - t0 > (uint64_t)timeout_ms * 1000000ull)
			return -ETIMEDOUT;
		if (t - last < m->spin_ns || !m->ops.wait) {
			sched_yield();	/* more ranks than cores: let the peer we wait for run */
			continue;
		}
		if ((pending && !*pending) || (tag && *tag == want))
			return 0;
		m->ops.wait(m->ctx, coh_mem_busy(m) ? 1 : 100);
		last = coh_now_ns();
	}
}

int coh_mem_get_wait(struct coh_mem *m, coh_maddr_t a, int mode, void **ptr, int timeout_ms)
{
	for (;;) {
		struct coh_req req = { 0 };
		int rc = coh_mem_get(m, a, mode, ptr, &req);
		if (rc != -EAGAIN)
			return rc;
		rc = serve_until(m, &req.pending, NULL, 0, timeout_ms);
		if (rc) {
			/* unhook the request before it goes out of scope */
			for (struct coh_req **pp = &m->waiters; *pp; pp = &(*pp)->next_)
				if (*pp == &req) {
					*pp = req.next_;
					break;
				}
			return rc;
		}
		if (req.status)
			return req.status;
	}
}

/* ---- pages ---- */

/* Start getting every line of our page at page_off up to hstate need; lines still short of it. */
static int page_want(struct coh_mem *m, uint64_t page_off, uint8_t need)
{
	if (page_off % COH_PAGE_SIZE || page_off >= m->fast.mem_len)
		return -EINVAL;
	uint64_t first = page_off >> m->line_shift, n = COH_PAGE_SIZE >> m->line_shift;
	int left = 0;
	for (uint64_t i = first; i < first + n; i++)
		if (m->fast.hstate[i] < need && coh_dir_local(m, i, need == 2, false) != 0)
			left++;
	return left;
}

int coh_mem_page_recall(struct coh_mem *m, uint64_t page_off)
{
	return page_want(m, page_off, 2);	/* read-write here: nobody else holds a line */
}

int coh_mem_page_clean(struct coh_mem *m, uint64_t page_off)
{
	return page_want(m, page_off, 1);	/* readable here: nobody else holds a line exclusive */
}

/* Recall every line of our page at off and wait until no other node holds one. */
static int page_recall_wait(struct coh_mem *m, uint64_t off)
{
	for (;;) {
		int left = coh_mem_page_recall(m, off);
		if (left <= 0)
			return left;
		if (coh_mem_poll(m) < 0)
			return -EIO;
		if (m->ops.wait && coh_mem_poll(m) == 0)
			m->ops.wait(m->ctx, 1);
	}
}

int coh_mem_page_copy_wait(struct coh_mem *m, coh_maddr_t src, uint64_t dst_off)
{
	unsigned home = COH_MADDR_NODE(src);
	uint64_t soff = COH_MADDR_OFF(src);
	if (dst_off % COH_PAGE_SIZE || dst_off >= m->fast.mem_len || soff % COH_PAGE_SIZE || home >= m->n)
		return -EINVAL;
	/* our own page first: nobody else may keep a copy of what we overwrite */
	m->st.page_copies++;
	int rc = page_recall_wait(m, dst_off);
	if (rc < 0)
		return rc;
	uint8_t *dst = m->fast.mem + dst_off;
	if (home == m->self) {
		if (soff >= m->fast.mem_len)
			return -EINVAL;
		rc = page_recall_wait(m, soff);
		if (rc < 0)
			return rc;
		memmove(dst, m->fast.mem + soff, COH_PAGE_SIZE);
		return 0;
	}
	if (m->ops.read) {
		unsigned tag = ++m->recall_tag;
		coh_msg_send(m, home, M_PAGE_RECALL, soff, tag, 0, NULL);
		rc = serve_until(m, NULL, &m->recall_done_tag, tag, 30000);
		if (rc)
			return rc;
		return m->ops.read(m->ctx, home, soff, dst, COH_PAGE_SIZE);
	}
	for (unsigned o = 0; o < COH_PAGE_SIZE; o += m->line_size) {
		void *p;
		rc = coh_mem_get_wait(m, src + o, COH_READ, &p, 30000);
		if (rc)
			return rc;
		memcpy(dst + o, p, m->line_size);
	}
	return 0;
}

int coh_mem_page_read_wait(struct coh_mem *m, coh_maddr_t src, uint64_t dst_off)
{
	unsigned home = COH_MADDR_NODE(src);
	uint64_t soff = COH_MADDR_OFF(src);
	if (dst_off % COH_PAGE_SIZE || dst_off >= m->fast.mem_len || soff % COH_PAGE_SIZE || home >= m->n)
		return -EINVAL;
	if (home == m->self || !m->ops.read)
		return coh_mem_page_copy_wait(m, src, dst_off);	/* no RMA: the copy recalls anyway */
	m->st.page_copies++;
	int rc = page_recall_wait(m, dst_off);	/* our own page first, as in a copy */
	if (rc < 0)
		return rc;
	return m->ops.read(m->ctx, home, soff, m->fast.mem + dst_off, COH_PAGE_SIZE);
}

/* ---- counters ---- */

int coh_mem_page_misses(const struct coh_mem *m, uint64_t page_off, uint32_t *out, size_t nout)
{
	size_t need = (size_t)m->n * COH_MISS_KINDS;
	if (page_off >= m->fast.mem_len || nout < need)
		return -EINVAL;
	const uint32_t *c = m->page_cnt[page_off / COH_PAGE_SIZE];
	if (c)
		memcpy(out, c, need * sizeof(*c));
	else
		memset(out, 0, need * sizeof(*out));
	return 0;
}

void coh_mem_page_misses_reset(struct coh_mem *m)
{
	for (size_t p = 0; p < m->fast.mem_len / COH_PAGE_SIZE; p++)
		if (m->page_cnt[p])
			memset(m->page_cnt[p], 0, (size_t)m->n * COH_MISS_KINDS * sizeof(uint32_t));
}

int coh_mem_page_remote_seen(const struct coh_mem *m, uint64_t page_off)
{
	if (page_off >= m->fast.mem_len)
		return 0;
	const uint32_t *c = m->page_cnt[page_off / COH_PAGE_SIZE];
	if (!c)
		return 0;
	for (unsigned node = 0; node < m->n; node++)
		if (node != m->self)
			for (unsigned k = 0; k < COH_MISS_KINDS; k++)
				if (c[node * COH_MISS_KINDS + k])
					return 1;
	return 0;
}

void coh_mem_page_note_local(struct coh_mem *m, uint64_t page_off, unsigned kind)
{
	if (page_off < m->fast.mem_len && kind < COH_MISS_KINDS)
		coh_dir_count(m, page_off >> m->line_shift, m->self, kind);
}

/* Histogram: 4 buckets per power of two of nanoseconds. */
static unsigned lat_bucket(uint64_t ns)
{
	if (ns < 4)
		return (unsigned)ns;
	unsigned b = 63u - (unsigned)__builtin_clzll(ns);
	return 4 * b + (unsigned)((ns >> (b - 2)) & 3);
}

static uint64_t lat_bucket_top(unsigned i)
{
	if (i < 4)
		return i;
	unsigned b = i / 4, sub = i % 4;
	return ((uint64_t)(4 + sub + 1) << (b - 2)) - 1;
}

void coh_lat_record(struct coh_mem *m, uint64_t ns)
{
	unsigned i = lat_bucket(ns);
	if (i >= LAT_BUCKETS)
		i = LAT_BUCKETS - 1;
	m->lat_hist[i]++;
	m->st.lat_count++;
	m->st.lat_sum_ns += ns;
	if (ns > m->st.lat_max_ns)
		m->st.lat_max_ns = ns;
}

uint64_t coh_mem_latency_ns(const struct coh_mem *m, double q)
{
	if (!m->st.lat_count)
		return 0;
	uint64_t want = (uint64_t)(q * (double)m->st.lat_count + 0.5), seen = 0;
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < LAT_BUCKETS; i++) {
		seen += m->lat_hist[i];
		if (seen >= want) {
			uint64_t top = lat_bucket_top(i);
			return top < m->st.lat_max_ns ? top : m->st.lat_max_ns;
		}
	}
	return m->st.lat_max_ns;
}

void coh_mem_get_stats(const struct coh_mem *m, struct coh_mem_stats *st)
{
	*st = m->st;
}

size_t coh_mem_dir_overhead(const struct coh_mem *m, size_t *lines)
{
	if (lines)
		*lines = m->nlines;
	return m->nlines * (sizeof(*m->dir) + 1);
}

json_t *coh_mem_stats_json(const struct coh_mem *m)
{
	const struct coh_mem_stats *s = &m->st;
	size_t lines;
	size_t dir = coh_mem_dir_overhead(m, &lines);
	json_t *o = json_object();
	if (!o)
		return NULL;
#define PUT(k, v) json_object_set_new(o, k, json_integer((json_int_t)(v)))
	PUT("line_size", m->line_size);
	PUT("cache_bytes", (uint64_t)m->nsets * m->nways * m->line_size);
	PUT("cache_ways", m->nways);
	PUT("dir_bytes", dir);
	PUT("dir_lines", lines);
	PUT("sharer_group", m->group);
	PUT("local_misses", s->local_misses);
	PUT("remote_misses", s->remote_misses);
	PUT("read_misses", s->read_misses);
	PUT("write_misses", s->write_misses);
	PUT("upgrades", s->upgrades);
	PUT("two_hop", s->two_hop);
	PUT("three_hop", s->three_hop);
	PUT("inval_sent", s->inval_sent);
	PUT("inval_recv", s->inval_recv);
	PUT("forwards", s->fwd_recv);
	PUT("writebacks", s->writebacks);
	PUT("evictions", s->evictions);
	PUT("queued_at_home", s->queued_at_home);
	PUT("deferred", s->deferred);
	PUT("inv_overtook_data", s->inv_overtook);
	PUT("msgs_sent", s->msgs_sent);
	PUT("msgs_recv", s->msgs_recv);
	PUT("bytes_sent", s->bytes_sent);
	PUT("bytes_recv", s->bytes_recv);
	PUT("dropped", s->dropped);
	PUT("page_recalls", s->page_recalls);
	PUT("page_copies", s->page_copies);
#undef PUT
	json_t *lat = json_object();
	if (lat) {
		json_object_set_new(lat, "count", json_integer((json_int_t)s->lat_count));
		json_object_set_new(lat, "p50_us", json_real((double)coh_mem_latency_ns(m, 0.50) / 1e3));
		json_object_set_new(lat, "p99_us", json_real((double)coh_mem_latency_ns(m, 0.99) / 1e3));
		json_object_set_new(lat, "max_us", json_real((double)s->lat_max_ns / 1e3));
		json_object_set_new(lat, "mean_us",
				    json_real(s->lat_count ? (double)s->lat_sum_ns / (double)s->lat_count / 1e3 : 0.0));
		json_object_set_new(o, "remote_miss_latency", lat);
	}
	return o;
}
