/*
 * cache.c — the global disk cache: base-image blocks kept once in machine
 * memory and shared copy-on-write by the VMs of a node (vdisk.h).
 *
 * Two chained hash tables over the same entries: by (base key, block) for
 * lookups, by page address for the references the pmaps take and drop. An
 * entry lives from vdisk_cache_add() until its last reference is put; a
 * block nobody maps is not kept (the host's page cache still has it).
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
};

struct vdisk_cache {
	struct vdisk_cache_ops ops;	/* opaque = this cache */
	void *(*alloc_page)(void *opaque);
	void (*free_page)(void *opaque, void *page);
	void *mem;
	struct centry *by_kb[BUCKETS], *by_pg[BUCKETS];
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

static void cache_get(void *opaque, uint8_t *page)
{
	struct vdisk_cache *c = opaque;
	struct centry *e = by_page(c, page);

	BUG_ON(!e);
	e->refs++;
	c->st.refs++;
}

static void cache_put(void *opaque, uint8_t *page)
{
	struct vdisk_cache *c = opaque;
	struct centry *e = by_page(c, page), **pp;

	BUG_ON(!e || !e->refs);
	c->st.refs--;
	if (--e->refs)
		return;
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
