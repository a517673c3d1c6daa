/*
 * test_gcache.c — the disk cache across nodes (node/gcache.c): two nodes in
 * one process, each with its own coherence engine (a transport that goes
 * nowhere: only the machine addresses matter here) and a message queue
 * between them. A published block is found by the other node with a
 * reference; a page its holder gives back is released only once that
 * reference ends; a block given back is found no more; a lookup nobody
 * answers is answered "none" at its deadline and a late answer's
 * references go back; malformed and stray messages are dropped and
 * counted, never acted on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "coherence/coh_mem.h"
#include "node/gcache.h"

#define MEM	(1u << 20)
#define QMAX	64

struct qmsg {
	unsigned src, dest, type;
	size_t len;
	uint8_t p[1100];
};

struct node {
	uint8_t *mem;
	struct coh_mem *coh;
	struct gcache *g;
	uint8_t *released[8];
	unsigned n_released;
};

static struct node nd[2];
static struct qmsg q[QMAX];
static unsigned qn;
static bool hold;	/* messages stay queued (a node that does not answer) */

static int t_send(void *ctx, unsigned dest, unsigned type, const void *p, size_t len)
{
	(void)ctx; (void)dest; (void)type; (void)p; (void)len;
	return 0;
}
static int t_poll(void *ctx) { (void)ctx; return 0; }
static const struct coh_transport_ops nowhere = { .send = t_send, .poll = t_poll };

static int g_send(void *opaque, unsigned dest, unsigned type, const void *p, size_t len)
{
	struct node *from = opaque;

	assert_true(qn < QMAX);
	assert_true(len <= sizeof(q[0].p));
	q[qn] = (struct qmsg){ .src = (unsigned)(from - nd), .dest = dest, .type = type, .len = len };
	memcpy(q[qn].p, p, len);
	qn++;
	return 0;
}

static void g_release(void *opaque, uint8_t *page)
{
	struct node *n = opaque;

	assert_true(n->n_released < 8);
	n->released[n->n_released++] = page;
}

/* Deliver what is queued, and what that sends, until nothing is. */
static void pump(void)
{
	while (qn && !hold) {
		struct qmsg m = q[0];

		memmove(q, q + 1, --qn * sizeof(q[0]));
		gcache_on_msg(nd[m.dest].g, m.src, m.type, m.p, m.len);
	}
}

static uint64_t now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int setup(void **state)
{
	(void)state;
	qn = 0;
	hold = false;
	for (unsigned i = 0; i < 2; i++) {
		struct coh_mem_config cc = { .self = i, .nodes = 2, .mem_len = MEM };
		int err = 0;

		memset(&nd[i], 0, sizeof(nd[i]));
		nd[i].mem = aligned_alloc(4096, MEM);
		assert_non_null(nd[i].mem);
		cc.mem = nd[i].mem;
		nd[i].coh = coh_mem_create_ops(&nowhere, NULL, &cc, &err);
		assert_non_null(nd[i].coh);
		struct gcache_config gc = { .self = i, .nodes = 2, .coh = nd[i].coh, .opaque = &nd[i], .send = g_send,
					    .release = g_release, .timeout_ns = 50000000 };
		nd[i].g = gcache_new(&gc);
		assert_non_null(nd[i].g);
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 2; i++) {
		gcache_free(nd[i].g);
		coh_mem_destroy(nd[i].coh);
		free(nd[i].mem);
	}
	return 0;
}

struct answer {
	unsigned calls;
	uint64_t maddr[4];
};

static void answered(void *arg, const uint64_t *maddr)
{
	struct answer *a = arg;

	a->calls++;
	memcpy(a->maddr, maddr, sizeof(a->maddr));
}

static struct gcache_stats stats(unsigned i)
{
	struct gcache_stats st;

	gcache_get_stats(nd[i].g, &st);
	return st;
}

/* The key whose directory is node d (key mod nodes, as gcache.c places it). */
static uint64_t key_on(unsigned d)
{
	return ((uint64_t)(0x5a5a0 + d) << 1) | 1;
}

static void lookup(unsigned i, uint64_t key, const uint64_t *blocks, unsigned n, struct answer *a)
{
	const struct vmm_gcache_ops *ops = gcache_ops(nd[i].g);

	memset(a, 0, sizeof(*a));
	assert_int_equal(ops->lookup(ops->opaque, key, blocks, n, answered, a), 0);
	pump();
	assert_int_equal(a->calls, 0);	/* answered from the loop only */
	gcache_poll(nd[i].g, now());
}

static void found_then_released(unsigned holder, unsigned dirn)
{
	const struct vmm_gcache_ops *h = gcache_ops(nd[holder].g), *o = gcache_ops(nd[1 - holder].g);
	uint64_t key = key_on(dirn), blocks[2] = { 5, 6 };
	uint8_t *page = nd[holder].mem + 7 * 4096;
	uint64_t m = COH_MADDR(holder, 7 * 4096);
	struct answer a;

	/* nobody has it */
	lookup(1 - holder, key, blocks, 2, &a);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.maddr[0], 0);
	assert_int_equal(a.maddr[1], 0);
	/* the holder's cache takes block 5: the other node finds it there, with a reference */
	h->publish(h->opaque, key, 5, page);
	pump();
	lookup(1 - holder, key, blocks, 2, &a);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.maddr[0], m);
	assert_int_equal(a.maddr[1], 0);
	assert_int_equal(stats(1 - holder).remote_mapped, 1);
	/* the holder's cache gives the page back: kept while the other node maps it */
	assert_true(gcache_page_freed(nd[holder].g, page));
	pump();
	assert_int_equal(nd[holder].n_released, 0);
	assert_int_equal(stats(holder).held, 1);
	lookup(1 - holder, key, blocks, 1, &a);	/* (given back: found no more) */
	assert_int_equal(a.maddr[0], 0);
	o->put(o->opaque, m);
	pump();
	assert_int_equal(nd[holder].n_released, 1);
	assert_ptr_equal(nd[holder].released[0], page);
	assert_int_equal(stats(holder).held, 0);
	assert_int_equal(stats(1 - holder).remote_mapped, 0);
	/* a page never published is the caller's to free */
	assert_false(gcache_page_freed(nd[holder].g, nd[holder].mem + 9 * 4096));
	assert_int_equal(stats(0).dropped + stats(1).dropped, 0);
}

static void t_holder_not_directory(void **state)
{
	(void)state;
	found_then_released(0, 1);
}

static void t_holder_is_directory(void **state)
{
	(void)state;
	found_then_released(0, 0);
}

/* Given back with nobody mapping it: released at once. */
static void t_unmapped_released(void **state)
{
	const struct vmm_gcache_ops *h = gcache_ops(nd[1].g);
	uint8_t *page = nd[1].mem + 3 * 4096;

	(void)state;
	h->publish(h->opaque, key_on(0), 9, page);
	pump();
	assert_true(gcache_page_freed(nd[1].g, page));
	pump();
	assert_int_equal(nd[1].n_released, 1);
	assert_int_equal(stats(0).dir_entries, 0);
}

/* Silence: "none" at the deadline; the late answer's reference goes back to the directory. */
static void t_timeout(void **state)
{
	const struct vmm_gcache_ops *h = gcache_ops(nd[0].g), *o = gcache_ops(nd[1].g);
	uint64_t key = key_on(0), block = 4;
	uint8_t *page = nd[0].mem + 5 * 4096;
	struct answer a = { 0 };

	(void)state;
	h->publish(h->opaque, key, block, page);
	pump();
	hold = true;
	assert_int_equal(o->lookup(o->opaque, key, &block, 1, answered, &a), 0);
	gcache_poll(nd[1].g, now());
	assert_int_equal(a.calls, 0);
	assert_true(gcache_next_ns(nd[1].g) != UINT64_MAX);
	gcache_poll(nd[1].g, now() + 100000000);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.maddr[0], 0);
	assert_int_equal(stats(1).timeouts, 1);
	hold = false;
	pump();	/* the answer comes late: its reference goes back */
	assert_int_equal(stats(1).remote_mapped, 0);
	assert_true(gcache_page_freed(nd[0].g, page));
	pump();
	assert_int_equal(nd[0].n_released, 1);	/* so the holder may reuse the page */
}

static void expect_drop(unsigned to, unsigned src, unsigned type, const void *p, size_t len, const char *what)
{
	uint64_t d = stats(to).dropped;

	gcache_on_msg(nd[to].g, src, type, p, len);
	if (stats(to).dropped != d + 1)
		fail_msg("%s: not dropped", what);
	if (qn)
		fail_msg("%s: answered", what);
}

static void t_malformed(void **state)
{
	struct { uint64_t req, key; uint32_t n, pad; uint64_t v[130]; } l = { .req = 1, .key = key_on(0), .n = 1 };
	struct { uint64_t key, block, maddr; } pg = { key_on(0), 1, COH_MADDR(1, 4096) };
	const size_t hdr = 24;

	(void)state;
	expect_drop(0, 1, GC_MSG_LOOKUP, &l, hdr - 1, "short lookup");
	expect_drop(0, 1, GC_MSG_LOOKUP, &l, hdr + 16, "lookup longer than its blocks");
	l.n = 0;
	expect_drop(0, 1, GC_MSG_LOOKUP, &l, hdr, "lookup of no block");
	l.n = 65;
	expect_drop(0, 1, GC_MSG_LOOKUP, &l, hdr + 65 * 8, "lookup of 65 blocks");
	l.n = 1;
	l.key = key_on(1);
	expect_drop(0, 1, GC_MSG_LOOKUP, &l, hdr + 8, "lookup at a node that is not the base's directory");
	l.key = key_on(0);
	expect_drop(0, 5, GC_MSG_LOOKUP, &l, hdr + 8, "from a node the machine does not have");
	expect_drop(1, 0, GC_MSG_FOUND, &l, hdr + 16, "an answer to no lookup");
	pg.maddr = COH_MADDR(0, 4096);
	expect_drop(0, 1, GC_MSG_PUBLISH, &pg, sizeof(pg), "a page published for another node");
	pg.maddr = COH_MADDR(1, 4096 + 8);
	expect_drop(0, 1, GC_MSG_PUBLISH, &pg, sizeof(pg), "a page that is not page aligned");
	pg.maddr = COH_MADDR(1, 4096);
	expect_drop(0, 1, GC_MSG_PUT, &pg, sizeof(pg), "the end of a reference never handed out");
	expect_drop(0, 1, GC_MSG_FREE_OK, &pg, sizeof(pg), "leave to reuse a page never given back");
	expect_drop(0, 1, GC_MSG_PUBLISH, &pg, sizeof(pg) - 1, "short page message");
	expect_drop(0, 1, GC_MSG_END, &pg, sizeof(pg), "an unknown type");
	/* a stray answer's references go back to where they came from */
	struct { uint64_t req, key; uint32_t n, pad; uint64_t v[2]; } f = { 77, key_on(0), 1, 0, { 3, COH_MADDR(0, 4096) } };
	gcache_on_msg(nd[1].g, 0, GC_MSG_FOUND, &f, sizeof(f));
	assert_int_equal(qn, 1);
	assert_int_equal(q[0].type, GC_MSG_PUT);
	assert_int_equal(q[0].dest, 0);
	qn = 0;
	/* random messages never crash a node */
	uint64_t x = 0x9e3779b97f4a7c15ull;
	uint8_t junk[sizeof(l)];
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		for (size_t k = 0; k < sizeof(junk); k++)
			junk[k] = (uint8_t)(x >> (k % 56));
		if (x & 1)
			memcpy(junk + 8, &(uint64_t){ key_on((x >> 3) & 1) }, 8);
		gcache_on_msg(nd[(x >> 9) & 1].g, (unsigned)((x >> 11) % 3), GC_MSG_LOOKUP + (unsigned)((x >> 20) % 7),
			      junk, (x >> 30) % sizeof(junk));
		pump();
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_holder_not_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(t_holder_is_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(t_unmapped_released, setup, teardown),
		cmocka_unit_test_setup_teardown(t_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(t_malformed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
