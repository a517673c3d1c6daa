/*
 * test_vdisk_cache.c — the global disk cache's bounded retention
 * (vdisk_cache_set_max, [machine] disk_cache_max): pages no VM maps stay up
 * to the limit, the least recently unmapped leave first, a mapped page never
 * leaves, and when the node has no memory left the cache gives back an
 * unmapped page rather than fail, and fails only when every page is mapped.
 * The "node" is an allocator of T_NODE_PAGES pages; the "VMs" take and drop
 * references through the cache's ops, as the pmap does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vdisk/vdisk.h"

#define T_NODE_PAGES	8
#define T_KEY		0x1234567ull

static unsigned t_used;

static void *t_alloc(void *opaque)
{
	(void)opaque;
	if (t_used == T_NODE_PAGES)
		return NULL;
	t_used++;
	return aligned_alloc(4096, 4096);
}

static void t_free(void *opaque, void *page)
{
	(void)opaque;
	t_used--;
	free(page);
}

/* Block b as a VM reads it: added, then mapped (get). */
static uint8_t *t_map(struct vdisk_cache *c, uint64_t b)
{
	uint8_t data[4096];
	uint8_t *p;

	memset(data, (int)b, sizeof(data));
	p = vdisk_cache_find(c, T_KEY, b);
	if (!p)
		p = vdisk_cache_add(c, T_KEY, b, data);
	if (p) {
		assert_int_equal(p[100], (uint8_t)b);
		vdisk_cache_ops(c)->get(vdisk_cache_ops(c)->opaque, p);
	}
	return p;
}

static void t_unmap(struct vdisk_cache *c, uint8_t *p)
{
	vdisk_cache_ops(c)->put(vdisk_cache_ops(c)->opaque, p);
}

static void t_stats(struct vdisk_cache *c, uint64_t pages, uint64_t unmapped, uint64_t evictions)
{
	struct vdisk_cache_stats st;

	vdisk_cache_get_stats(c, &st);
	assert_int_equal(st.pages, pages);
	assert_int_equal(st.unmapped, unmapped);
	assert_int_equal(st.evictions, evictions);
	assert_int_equal(t_used, pages);
}

/* Without a limit nothing stays; with one, the oldest unmapped go first and a page mapped again is young. */
static void test_lru(void **state)
{
	struct vdisk_cache *c = vdisk_cache_new(t_alloc, t_free, NULL);
	uint8_t *p[6];

	assert_non_null(c);
	t_unmap(c, t_map(c, 9));
	t_stats(c, 0, 0, 0);			/* the default: a block leaves with its last mapping */

	vdisk_cache_set_max(c, 3 * 4096);
	for (unsigned b = 0; b < 4; b++)
		p[b] = t_map(c, b);
	t_stats(c, 4, 0, 0);
	for (unsigned b = 0; b < 4; b++)
		t_unmap(c, p[b]);			/* unmapped in order 0, 1, 2, 3 */
	t_stats(c, 3, 3, 1);			/* block 0, the oldest, left */
	assert_null(vdisk_cache_find(c, T_KEY, 0));
	assert_ptr_equal(vdisk_cache_find(c, T_KEY, 1), p[1]);

	/* block 1 mapped again (the same page, no copy) and unmapped: now the youngest */
	assert_ptr_equal(t_map(c, 1), p[1]);
	t_stats(c, 3, 2, 1);
	t_unmap(c, p[1]);
	p[4] = t_map(c, 4);
	t_unmap(c, p[4]);
	t_stats(c, 3, 3, 2);			/* block 2 left, not 1 */
	assert_null(vdisk_cache_find(c, T_KEY, 2));
	assert_non_null(vdisk_cache_find(c, T_KEY, 1));

	/* a mapped page never leaves, whatever is asked */
	p[5] = t_map(c, 5);
	assert_int_equal(vdisk_cache_evict(c, 100), 3);
	t_stats(c, 1, 0, 5);
	assert_ptr_equal(vdisk_cache_find(c, T_KEY, 5), p[5]);
	t_unmap(c, p[5]);
	vdisk_cache_free(c);			/* with a page kept unmapped: given back too */
	assert_int_equal(t_used, 0);
}

/* A full node: the cache gives back its oldest unmapped page for a new block, and fails only when all are mapped. */
static void test_full_node(void **state)
{
	struct vdisk_cache *c = vdisk_cache_new(t_alloc, t_free, NULL);
	uint8_t *p[T_NODE_PAGES + 2];

	assert_non_null(c);
	vdisk_cache_set_max(c, 64 * 4096);	/* more than the node has */
	for (unsigned b = 0; b < T_NODE_PAGES; b++)
		t_unmap(c, t_map(c, b));
	t_stats(c, T_NODE_PAGES, T_NODE_PAGES, 0);
	/* the node is full of unmapped blocks: mapping new ones evicts the oldest */
	for (unsigned b = 0; b < T_NODE_PAGES; b++) {
		p[b] = t_map(c, 100 + b);
		assert_non_null(p[b]);
	}
	t_stats(c, T_NODE_PAGES, 0, T_NODE_PAGES);
	/* every page mapped: no room, an error (the read is copied instead), never a mapped page taken */
	assert_null(t_map(c, 200));
	for (unsigned b = 0; b < T_NODE_PAGES; b++)
		assert_int_equal(p[b][0], (uint8_t)(100 + b));
	/* a lower limit applies at once */
	for (unsigned b = 0; b < T_NODE_PAGES; b++)
		t_unmap(c, p[b]);
	t_stats(c, T_NODE_PAGES, T_NODE_PAGES, T_NODE_PAGES);
	vdisk_cache_set_max(c, 2 * 4096);
	t_stats(c, 2, 2, 2 * T_NODE_PAGES - 2);
	vdisk_cache_set_max(c, 0);
	t_stats(c, 0, 0, 2 * T_NODE_PAGES);
	vdisk_cache_free(c);
	assert_int_equal(t_used, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lru),
		cmocka_unit_test(test_full_node),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
