/*
 * gcache.c — the global disk cache across nodes (gcache.h, docs/disk.md).
 *
 * Three tables, each a chained hash:
 *  - dir: on a base's directory node, (key, block) -> the node whose cache
 *    holds it, the page's machine address, and the references handed out
 *    (LOOKUP) and not yet ended (PUT); an entry being given back (UNPUBLISH)
 *    hands out no more and answers FREE_OK once its references end;
 *  - grants: on a node whose VMs map other nodes' pages, machine address ->
 *    (key, block, references held), to say which block a PUT ends;
 *  - pub: on a holder, its published pages: machine address -> (key,
 *    block), and whether it is being given back (then the page itself).
 * Lookups wait in a list until FOUND or their deadline; answers are handed
 * to their callers from the loop (gcache_poll), never from a message
 * handler: a caller maps pages into a VM.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coherence/coh_mem.h"
#include "common/log.h"
#include "node/gcache.h"

#define BUCKETS		1024u
#define PAGE		4096u

struct ent {
	uint64_t key, block, maddr;
	uint64_t refs;		/* dir: handed out; grants: held */
	unsigned holder;	/* dir */
	bool going;		/* dir: UNPUBLISH heard; pub: UNPUBLISH sent */
	uint8_t *page;		/* pub: the page, while it is being given back */
	struct ent *next;
};

struct lookup {
	uint64_t req, key, deadline;
	unsigned n;
	void (*done)(void *arg, const uint64_t *maddr);
	void *arg;
	bool answered;
	uint64_t maddr[GC_LOOKUP_MAX];
};

struct gcache {
	struct gcache_config cfg;
	struct vmm_gcache_ops ops;
	struct ent *dir[BUCKETS], *grants[BUCKETS], *pub[BUCKETS];
	struct lookup *lk;
	unsigned n_lk, cap_lk;
	uint64_t next_req;
	bool closed;		/* the run is over: no more messages */
	struct gcache_stats st;
};

struct msg_page {
	uint64_t key, block, maddr;
};
struct msg_list {
	uint64_t req, key;
	uint32_t n, pad;
	uint64_t v[2 * GC_LOOKUP_MAX];	/* LOOKUP: block[n]; FOUND: (block, maddr)[n] */
};
#define LIST_HDR	offsetof(struct msg_list, v)

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static unsigned h2(uint64_t a, uint64_t b)
{
	return (unsigned)(((a ^ (b * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull) >> 40) % BUCKETS;
}

static struct ent **find(struct ent **tab, uint64_t a, uint64_t b, bool by_maddr)
{
	struct ent **pp = &tab[by_maddr ? h2(a, 0) : h2(a, b)];

	for (; *pp; pp = &(*pp)->next)
		if (by_maddr ? (*pp)->maddr == a : ((*pp)->key == a && (*pp)->block == b))
			return pp;
	return pp;	/* where it would go */
}

static struct ent *add(struct ent **pp, uint64_t key, uint64_t block, uint64_t maddr)
{
	struct ent *e = calloc(1, sizeof(*e));

	if (e) {
		*e = (struct ent){ .key = key, .block = block, .maddr = maddr };
		*pp = e;
	}
	return e;
}

static void unlink_free(struct ent **pp)
{
	struct ent *e = *pp;

	*pp = e->next;
	free(e);
}

static unsigned dir_node(const struct gcache *g, uint64_t key)
{
	return (unsigned)((key >> 1) % g->cfg.nodes);
}

static uint64_t maddr_of(const struct gcache *g, const uint8_t *page)
{
	const struct coh_mem_fast *f = (const struct coh_mem_fast *)g->cfg.coh;

	return COH_MADDR(f->self, (uint64_t)(page - (const uint8_t *)coh_mem_base(g->cfg.coh)));
}

static void deliver(struct gcache *g, unsigned node, unsigned type, const void *p, size_t len)
{
	if (g->closed)
		return;
	if (node == g->cfg.self) {
		gcache_on_msg(g, node, type, p, len);
		return;
	}
	if (g->cfg.send(g->cfg.opaque, node, type, p, len))
		LOG_RATELIMITED(SUB_NODE, LOG_WARN, "disk cache: cannot send message %u to node %u", type, node);
}

static void send_page(struct gcache *g, unsigned node, unsigned type, uint64_t key, uint64_t block, uint64_t maddr)
{
	struct msg_page m = { key, block, maddr };

	deliver(g, node, type, &m, sizeof(m));
}

/* ---- the VMs' side (vmm_gcache_ops) ---- */

static int op_lookup(void *opaque, uint64_t key, const uint64_t *block, unsigned n,
		     void (*done)(void *arg, const uint64_t *maddr), void *arg)
{
	struct gcache *g = opaque;
	struct msg_list m = { .key = key, .n = n };
	struct lookup *l;

	if (!n || n > GC_LOOKUP_MAX || !key)
		return -EINVAL;
	if (g->n_lk == g->cap_lk) {
		unsigned cap = g->cap_lk ? 2 * g->cap_lk : 16;
		struct lookup *a = realloc(g->lk, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		g->lk = a;
		g->cap_lk = cap;
	}
	l = &g->lk[g->n_lk++];
	*l = (struct lookup){ .req = ++g->next_req, .key = key, .n = n, .done = done, .arg = arg,
			      .deadline = mono_ns() + g->cfg.timeout_ns };
	m.req = l->req;
	memcpy(m.v, block, n * sizeof(*block));
	g->st.lookups++;
	g->st.lookup_blocks += n;
	deliver(g, dir_node(g, key), GC_MSG_LOOKUP, &m, LIST_HDR + n * sizeof(m.v[0]));
	return 0;
}

static void op_put(void *opaque, uint64_t maddr)
{
	struct gcache *g = opaque;
	struct ent **pp = find(g->grants, maddr, 0, true);

	if (!*pp) {
		LOG_RATELIMITED(SUB_NODE, LOG_ERROR, "disk cache: a mapping of %#llx ended that holds no reference",
				(unsigned long long)maddr);
		return;
	}
	send_page(g, dir_node(g, (*pp)->key), GC_MSG_PUT, (*pp)->key, (*pp)->block, maddr);
	g->st.remote_mapped--;
	if (--(*pp)->refs == 0)
		unlink_free(pp);
}

static void op_publish(void *opaque, uint64_t key, uint64_t block, const uint8_t *page)
{
	struct gcache *g = opaque;
	uint64_t m = maddr_of(g, page);
	struct ent **pp = find(g->pub, m, 0, true);

	if (*pp || !key || !add(pp, key, block, m))
		return;	/* (published already, or no memory: the page stays this node's alone) */
	g->st.published++;
	send_page(g, dir_node(g, key), GC_MSG_PUBLISH, key, block, m);
}

/* ---- set-up ---- */

struct gcache *gcache_new(const struct gcache_config *cfg)
{
	struct gcache *g;

	if (!cfg->coh || !cfg->send || !cfg->release || !cfg->nodes || cfg->self >= cfg->nodes)
		return NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->cfg = *cfg;
	if (!g->cfg.timeout_ns)
		g->cfg.timeout_ns = 2000000000ull;
	g->ops = (struct vmm_gcache_ops){ .opaque = g, .coh = cfg->coh, .put = op_put, .lookup = op_lookup,
					  .publish = op_publish };
	return g;
}

static void free_table(struct ent **tab)
{
	for (unsigned i = 0; i < BUCKETS; i++)
		while (tab[i])
			unlink_free(&tab[i]);
}

void gcache_free(struct gcache *g)
{
	if (!g)
		return;
	free_table(g->dir);
	free_table(g->grants);
	free_table(g->pub);	/* (pages being given back: the node's memory goes with the run) */
	free(g->lk);
	free(g);
}

void gcache_close(struct gcache *g)
{
	if (g)
		g->closed = true;
}

const struct vmm_gcache_ops *gcache_ops(struct gcache *g)
{
	return g ? &g->ops : NULL;
}

bool gcache_page_freed(struct gcache *g, uint8_t *page)
{
	struct ent **pp;

	if (!g || g->closed)
		return false;
	pp = find(g->pub, maddr_of(g, page), 0, true);
	if (!*pp)
		return false;
	if ((*pp)->going)
		return true;	/* (cannot happen: the cache gives a page back once) */
	(*pp)->going = true;
	(*pp)->page = page;
	g->st.held++;
	send_page(g, dir_node(g, (*pp)->key), GC_MSG_UNPUBLISH, (*pp)->key, (*pp)->block, (*pp)->maddr);
	return true;
}

/* ---- the loop ---- */

unsigned gcache_poll(struct gcache *g, uint64_t now)
{
	unsigned done = 0;

	for (unsigned i = 0; g && i < g->n_lk;) {
		struct lookup l = g->lk[i];

		if (!l.answered && now < l.deadline) {
			i++;
			continue;
		}
		if (!l.answered) {
			g->st.timeouts++;
			LOG_RATELIMITED(SUB_NODE, LOG_WARN, "disk cache: node %u did not answer a lookup within %.1f s: "
					"the blocks are read from the disk", dir_node(g, l.key), (double)g->cfg.timeout_ns / 1e9);
			memset(l.maddr, 0, sizeof(l.maddr));
		}
		g->lk[i] = g->lk[--g->n_lk];	/* (before the call: it may look up more) */
		l.done(l.arg, l.maddr);
		done++;
	}
	return done;
}

uint64_t gcache_next_ns(const struct gcache *g)
{
	uint64_t next = UINT64_MAX;

	for (unsigned i = 0; g && i < g->n_lk; i++) {
		if (g->lk[i].answered)
			return 0;
		if (g->lk[i].deadline < next)
			next = g->lk[i].deadline;
	}
	return next;
}

void gcache_get_stats(const struct gcache *g, struct gcache_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (g)
		*st = g->st;
}

/* ---- messages ---- */

static void on_lookup(struct gcache *g, unsigned src, const struct msg_list *m)
{
	struct msg_list r = { .req = m->req, .key = m->key, .n = m->n };

	for (unsigned k = 0; k < m->n; k++) {
		struct ent *e = *find(g->dir, m->key, m->v[k], false);

		r.v[2 * k] = m->v[k];
		if (e && !e->going && e->holder != src) {
			e->refs++;
			r.v[2 * k + 1] = e->maddr;
		}
	}
	deliver(g, src, GC_MSG_FOUND, &r, LIST_HDR + 2 * m->n * sizeof(r.v[0]));
}

static void on_found(struct gcache *g, unsigned src, const struct msg_list *m)
{
	struct lookup *l = NULL;

	for (unsigned i = 0; i < g->n_lk && !l; i++)
		if (g->lk[i].req == m->req && !g->lk[i].answered)
			l = &g->lk[i];
	if (l && (l->key != m->key || l->n != m->n || src != dir_node(g, m->key)))
		l = NULL;
	for (unsigned k = 0; k < m->n; k++) {
		uint64_t block = m->v[2 * k], maddr = m->v[2 * k + 1];
		struct ent **pp;

		if (!maddr)
			continue;
		if (!l || (maddr & (PAGE - 1)) || COH_MADDR_NODE(maddr) >= g->cfg.nodes ||
		    COH_MADDR_NODE(maddr) == g->cfg.self) {
			send_page(g, src, GC_MSG_PUT, m->key, block, maddr);	/* late, or nonsense: given back */
			continue;
		}
		pp = find(g->grants, maddr, 0, true);
		if (!*pp && !add(pp, m->key, block, maddr)) {
			send_page(g, src, GC_MSG_PUT, m->key, block, maddr);
			continue;
		}
		(*pp)->refs++;
		g->st.remote_mapped++;
		g->st.remote_hits++;
		l->maddr[k] = maddr;
	}
	if (l)
		l->answered = true;
	else
		g->st.dropped++;
}

static void on_page(struct gcache *g, unsigned src, unsigned type, const struct msg_page *m)
{
	bool dir = dir_node(g, m->key) == g->cfg.self;
	struct ent **pp;

	if ((m->maddr & (PAGE - 1)) || !m->maddr || (type != GC_MSG_FREE_OK && !dir)) {
		g->st.dropped++;
		return;
	}
	switch (type) {
	case GC_MSG_PUBLISH:
		if (COH_MADDR_NODE(m->maddr) != src) {
			g->st.dropped++;
			return;
		}
		pp = find(g->dir, m->key, m->block, false);
		if (!*pp && add(pp, m->key, m->block, m->maddr)) {
			(*pp)->holder = src;
			g->st.dir_entries++;
		}	/* (another node holds it already: this copy stays its node's alone) */
		break;
	case GC_MSG_PUT:
		pp = find(g->dir, m->key, m->block, false);
		if (!*pp || (*pp)->maddr != m->maddr || !(*pp)->refs) {
			g->st.dropped++;
			return;
		}
		if (--(*pp)->refs == 0 && (*pp)->going) {
			send_page(g, (*pp)->holder, GC_MSG_FREE_OK, m->key, m->block, m->maddr);
			unlink_free(pp);
			g->st.dir_entries--;
		}
		break;
	case GC_MSG_UNPUBLISH:
		if (COH_MADDR_NODE(m->maddr) != src) {
			g->st.dropped++;
			return;
		}
		pp = find(g->dir, m->key, m->block, false);
		if (*pp && (*pp)->maddr == m->maddr && (*pp)->holder == src && (*pp)->refs) {
			(*pp)->going = true;	/* FREE_OK when the last reference ends */
			break;
		}
		if (*pp && (*pp)->maddr == m->maddr && (*pp)->holder == src) {
			unlink_free(pp);
			g->st.dir_entries--;
		}
		send_page(g, src, GC_MSG_FREE_OK, m->key, m->block, m->maddr);
		break;
	case GC_MSG_FREE_OK: {
		uint8_t *page;

		pp = find(g->pub, m->maddr, 0, true);
		if (!*pp || !(*pp)->going || src != dir_node(g, (*pp)->key)) {
			g->st.dropped++;
			return;
		}
		page = (*pp)->page;
		unlink_free(pp);
		g->st.unpublished++;
		g->st.held--;
		g->cfg.release(g->cfg.opaque, page);
		break;
	}
	}
}

void gcache_on_msg(struct gcache *g, unsigned src, unsigned type, const void *payload, size_t len)
{
	if (!g || src >= g->cfg.nodes) {
		if (g)
			g->st.dropped++;
		return;
	}
	if (type == GC_MSG_LOOKUP || type == GC_MSG_FOUND) {
		struct msg_list m;
		size_t per = type == GC_MSG_LOOKUP ? sizeof(m.v[0]) : 2 * sizeof(m.v[0]);

		if (len < LIST_HDR || len > sizeof(m)) {
			g->st.dropped++;
			return;
		}
		memcpy(&m, payload, len);
		if (!m.n || m.n > GC_LOOKUP_MAX || len != LIST_HDR + m.n * per || !m.key ||
		    (type == GC_MSG_LOOKUP && dir_node(g, m.key) != g->cfg.self)) {
			g->st.dropped++;
			return;
		}
		if (type == GC_MSG_LOOKUP)
			on_lookup(g, src, &m);
		else
			on_found(g, src, &m);
		return;
	}
	if (type >= GC_MSG_PUBLISH && type < GC_MSG_END && len == sizeof(struct msg_page)) {
		struct msg_page m;

		memcpy(&m, payload, sizeof(m));
		on_page(g, src, type, &m);
		return;
	}
	g->st.dropped++;
}
