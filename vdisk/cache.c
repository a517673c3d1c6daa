/*
 * cache.c — the global disk cache: base-image blocks kept once in machine
 * memory and shared copy-on-write by the VMs of a node (vdisk.h).
 *
 * Two chained hash tables over the same entries: by (base key, block) for
 * lookups, by page address for the references the pmaps take and drop. An
 * entry lives from vdisk_cache_add() until its last reference is put; then,
 * when the cache may retain pages (vdisk_cache_set_max), it stays, unmapped,
 * at the young end of an LRU list, and a later read maps it again without
 * I/O. The oldest unmapped pages go back to the node when there are more
 * than the limit, when the cache needs a page and the node has none, and
 * when the node's VMs need memory (vdisk_cache_evict). A mapped page is
 * never evicted.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "vdisk/internal.h"

#define BUCKETS	4096u

struct centry {
	uint64_t key, block;
	uint8_t *page;
	uint64_t refs;
	struct centry *next_kb, *next_pg;
	struct centry *lru_prev, *lru_next;	/* refs == 0: in the LRU list of unmapped pages */
};

struct vdisk_cache {
	struct vdisk_cache_ops ops;	/* opaque = this cache */
	void *(*alloc_page)(void *opaque);
	void (*free_page)(void *opaque, void *page);
	void *mem;
	struct centry *by_kb[BUCKETS], *by_pg[BUCKETS];
	struct centry lru;		/* unmapped pages: lru.lru_next the oldest */
	uint64_t max_unmapped;		/* pages kept unmapped at most (0: none) */
	struct vdisk_cache_stats st;
};

static unsigned h_kb(uint64_t key, uint64_t block)
{
	return (unsigned)((key ^ (block * 0x9e3779b97f4a7c15ull)) >> 40) % BUCKETS;
}

static unsigned h_pg(const uint8_t *page)
{
	return (unsigned)(((uintptr_t)page >> 12) * 0x9e3779b97f4a7c15ull >> 40) % BUCKETS;
}

static struct centry *by_page(struct vdisk_cache *c, const uint8_t *page)
{
	for (struct centry *e = c->by_pg[h_pg(page)]; e; e = e->next_pg)
		if (e->page == page)
			return e;
	return NULL;
}

static void lru_unlink(struct vdisk_cache *c, struct centry *e)
{
	e->lru_prev->lru_next = e->lru_next;
	e->lru_next->lru_prev = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
	c->st.unmapped--;
}

/* Drop an entry nobody maps: out of both tables, its page back to the node. */
static void entry_free(struct vdisk_cache *c, struct centry *e)
{
	struct centry **pp;

	for (pp = &c->by_kb[h_kb(e->key, e->block)]; *pp != e; pp = &(*pp)->next_kb)
		;
	*pp = e->next_kb;
	for (pp = &c->by_pg[h_pg(e->page)]; *pp != e; pp = &(*pp)->next_pg)
		;
	*pp = e->next_pg;
	c->free_page(c->mem, e->page);
	c->st.pages--;
	free(e);
}

static void cache_get(void *opaque, uint8_t *page)
{
	struct vdisk_cache *c = opaque;
	struct centry *e = by_page(c, page);

	BUG_ON(!e);
	if (!e->refs && e->lru_next)
		lru_unlink(c, e);	/* kept unmapped until now: mapped again */
	e->refs++;
	c->st.refs++;
}

static void cache_put(void *opaque, uint8_t *page)
{
	struct vdisk_cache *c = opaque;
	struct centry *e = by_page(c, page);

	BUG_ON(!e || !e->refs);
	c->st.refs--;
	if (--e->refs)
		return;
	if (!c->max_unmapped) {
		entry_free(c, e);
		return;
	}
	/* the young end of the LRU list; the oldest go beyond the limit */
	e->lru_next = &c->lru;
	e->lru_prev = c->lru.lru_prev;
	c->lru.lru_prev->lru_next = e;
	c->lru.lru_prev = e;
	c->st.unmapped++;
	if (c->st.unmapped > c->max_unmapped)
		vdisk_cache_evict(c, c->st.unmapped - c->max_unmapped);
}

uint64_t vdisk_cache_evict(struct vdisk_cache *c, uint64_t n)
{
	uint64_t k = 0;

	while (k < n && c->lru.lru_next != &c->lru) {
		struct centry *e = c->lru.lru_next;

		lru_unlink(c, e);
		entry_free(c, e);
		c->st.evictions++;
		k++;
	}
	return k;
}

void vdisk_cache_set_max(struct vdisk_cache *c, uint64_t bytes)
{
	c->max_unmapped = bytes / VDISK_CLUSTER;
	if (c->st.unmapped > c->max_unmapped)
		vdisk_cache_evict(c, c->st.unmapped - c->max_unmapped);
}

struct vdisk_cache *vdisk_cache_new(void *(*alloc_page)(void *opaque), void (*free_page)(void *opaque, void *page),
				    void *opaque)
{
	struct vdisk_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->ops = (struct vdisk_cache_ops){ .opaque = c, .get = cache_get, .put = cache_put };
	c->alloc_page = alloc_page;
	c->free_page = free_page;
	c->mem = opaque;
	c->lru.lru_next = c->lru.lru_prev = &c->lru;
	return c;
}

void vdisk_cache_free(struct vdisk_cache *c)
{
	if (!c)
		return;
	BUG_ON(c->st.refs);	/* a VM still maps a page of it */
	for (unsigned i = 0; i < BUCKETS; i++)
		for (struct centry *e = c->by_kb[i], *n; e; e = n) {
			n = e->next_kb;
			c->free_page(c->mem, e->page);
			free(e);
		}
	free(c);
}

uint8_t *vdisk_cache_find(struct vdisk_cache *c, uint64_t key, uint64_t block)
{
	for (struct centry *e = c->by_kb[h_kb(key, block)]; e; e = e->next_kb)
		if (e->key == key && e->block == block) {
			c->st.hits++;
			return e->page;
		}
	c->st.misses++;
	return NULL;
}

uint8_t *vdisk_cache_add(struct vdisk_cache *c, uint64_t key, uint64_t block, const void *data)
{
	struct centry *e;
	unsigned i = h_kb(key, block);

	for (e = c->by_kb[i]; e; e = e->next_kb)
		if (e->key == key && e->block == block)
			return e->page;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->page = c->alloc_page(c->mem);
	while (!e->page && vdisk_cache_evict(c, 1))	/* the node is full: an old unmapped block gives way */
		e->page = c->alloc_page(c->mem);
	if (!e->page) {
		free(e);
		return NULL;
	}
	memcpy(e->page, data, VDISK_CLUSTER);
	e->key = key;
	e->block = block;
	e->next_kb = c->by_kb[i];
	c->by_kb[i] = e;
	e->next_pg = c->by_pg[h_pg(e->page)];
	c->by_pg[h_pg(e->page)] = e;
	c->st.pages++;
	return e->page;
}

const struct vdisk_cache_ops *vdisk_cache_ops(struct vdisk_cache *c)
{
	return &c->ops;
}

void vdisk_cache_get_stats(const struct vdisk_cache *c, struct vdisk_cache_stats *st)
{
	*st = c->st;
}
