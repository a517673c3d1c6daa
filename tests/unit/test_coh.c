/*
 * test_coh.c — the coherence engine's state machine (coherence/dir.c,
 * rcache.c, proto.c) with an in-process transport: several nodes live in
 * this one process, and every message sent waits in one pool from which the
 * test delivers a randomly chosen one at each step, so messages between two
 * nodes overtake each other and every race of the protocol (invalidations
 * crossing requests, forwards crossing evictions, requests queued at a busy
 * home) comes up. Each node runs a few "vCPUs", each a list of operations;
 * a vCPU whose access misses waits for its request to complete and retries.
 *
 * Checked: atomic counters exact; per-location coherence (a reader never
 * sees a writer's values go backwards); MP, SB and IRIW litmus shapes never
 * show the outcome sequential consistency forbids; tiny caches (capacity
 * evictions, writebacks crossing forwards); 4096-byte lines (fragments);
 * 70 nodes (coarse sharer vector); page recall and copy; bad messages
 * dropped and counted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coherence/coh.h"
#include "coherence/coh_mem.h"

#define T_MAXN		1024
#define T_MEM		(64u * 1024)

struct t_msg {
	unsigned src, dest, type;
	size_t len;
	uint8_t buf[COH_MSG_MAX];
};

struct t_net;
struct t_node {
	struct t_net *net;
	unsigned id;
	uint8_t *mem;
	struct coh_mem *m;
};

struct t_net {
	unsigned n;
	struct t_node nodes[T_MAXN];	/* heap-allocated: the struct is large */
	struct t_msg **pool;
	size_t npool, cap;
	uint64_t rng;
	unsigned fifo;		/* deliver in order instead (sanity) */
	uint64_t delivered;
};

static uint64_t t_rand(struct t_net *net)
{
	uint64_t x = net->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	net->rng = x;
	return x;
}

static int t_send(void *ctx, unsigned dest, unsigned type, const void *p, size_t len)
{
	struct t_node *nd = ctx;
	struct t_net *net = nd->net;
	assert_true(dest < net->n && dest != nd->id && len <= COH_MSG_MAX);
	if (net->npool == net->cap) {
		net->cap = net->cap ? 2 * net->cap : 256;
		net->pool = realloc(net->pool, net->cap * sizeof(*net->pool));
		assert_non_null(net->pool);
	}
	struct t_msg *msg = malloc(sizeof(*msg));
	assert_non_null(msg);
	msg->src = nd->id;
	msg->dest = dest;
	msg->type = type;
	msg->len = len;
	memcpy(msg->buf, p, len);
	net->pool[net->npool++] = msg;
	return 0;
}

static int t_poll(void *ctx)
{
	(void)ctx;
	return 0;
}

static int t_read(void *ctx, unsigned src, uint64_t off, void *local, size_t len)
{
	struct t_node *nd = ctx;
	memcpy(local, nd->net->nodes[src].mem + off, len);
	return 0;
}

static const struct coh_transport_ops t_ops = { .send = t_send, .poll = t_poll, .read = t_read };

static struct t_net *t_net_new(unsigned n, unsigned line, size_t cache, unsigned ways, uint64_t seed)
{
	struct t_net *net = calloc(1, sizeof(*net));
	assert_non_null(net);
	net->n = n;
	net->rng = seed * 0x9e3779b97f4a7c15ull + 1;
	for (unsigned i = 0; i < n; i++) {
		struct t_node *nd = &net->nodes[i];
		nd->net = net;
		nd->id = i;
		nd->mem = aligned_alloc(4096, T_MEM);
		assert_non_null(nd->mem);
		memset(nd->mem, 0, T_MEM);
		struct coh_mem_config cfg = {
			.self = i, .nodes = n, .mem = nd->mem, .mem_len = T_MEM,
			.line_size = line, .cache_bytes = cache, .ways = ways,
		};
		int err = 0;
		nd->m = coh_mem_create_ops(&t_ops, nd, &cfg, &err);
		assert_non_null(nd->m);
	}
	return net;
}

static void t_net_free_(struct t_net *net, bool check)
{
	for (unsigned i = 0; i < net->npool; i++)
		free(net->pool[i]);
	free(net->pool);
	for (unsigned i = 0; i < net->n; i++) {
		struct coh_mem_stats st;
		coh_mem_get_stats(net->nodes[i].m, &st);
		if (check)
			assert_int_equal(st.dropped, 0);
		coh_mem_destroy(net->nodes[i].m);
		free(net->nodes[i].mem);
	}
	free(net);
}

static void t_net_free(struct t_net *net)
{
	t_net_free_(net, true);
}

/* Deliver one message (random or oldest); false when none waits. */
static bool t_deliver(struct t_net *net)
{
	if (!net->npool)
		return false;
	size_t i = net->fifo ? 0 : t_rand(net) % net->npool;
	struct t_msg *msg = net->pool[i];
	if (net->fifo)
		memmove(net->pool, net->pool + 1, (net->npool - 1) * sizeof(*net->pool));
	else
		net->pool[i] = net->pool[net->npool - 1];
	net->npool--;
	coh_mem_handle(net->nodes[msg->dest].m, msg->src, msg->type, msg->buf, msg->len);
	net->delivered++;
	free(msg);
	return true;
}

/* Deliver everything and let every node send what it postponed. */
static void t_drain(struct t_net *net)
{
	for (;;) {
		while (t_deliver(net))
			;
		bool more = false;
		for (unsigned i = 0; i < net->n; i++)
			more |= coh_mem_poll(net->nodes[i].m) > 0;
		if (!more && !net->npool)
			return;
	}
}

/* ---- vCPUs running operation lists ---- */

enum { OP_R, OP_W, OP_INC };
struct t_op {
	unsigned kind;
	coh_maddr_t a;
	uint64_t val;		/* OP_W: value; OP_R: result */
};

struct t_cpu {
	unsigned node;
	struct t_op *ops;
	unsigned nops, pc;
	struct coh_req req;
	bool waiting;
};

static void t_done(struct coh_req *req, int status)
{
	assert_int_equal(status, 0);
	(void)req;
}

/* Run one step of cpu: true if it did something. */
static bool t_cpu_step(struct t_net *net, struct t_cpu *c, void (*after)(struct t_cpu *, struct t_op *, uint64_t))
{
	if (c->pc >= c->nops)
		return false;
	if (c->waiting && c->req.pending)
		return false;
	c->waiting = false;
	struct t_op *op = &c->ops[c->pc];
	void *p;
	c->req.done = t_done;
	int rc = coh_mem_get(net->nodes[c->node].m, op->a, op->kind == OP_R ? COH_READ : COH_WRITE, &p, &c->req);
	if (rc == -EAGAIN) {
		c->waiting = true;
		return true;
	}
	assert_int_equal(rc, 0);
	uint64_t *w = p;
	uint64_t old = *w;
	switch (op->kind) {
	case OP_R:
		op->val = old;
		break;
	case OP_W:
		*w = op->val;
		break;
	case OP_INC:
		*w = old + 1;
		break;
	}
	if (after)
		after(c, op, old);
	c->pc++;
	return true;
}

/* Run until every cpu finished and the network is quiet. */
static void t_run(struct t_net *net, struct t_cpu *cpus, unsigned ncpu,
		  void (*after)(struct t_cpu *, struct t_op *, uint64_t))
{
	unsigned idle = 0;
	for (uint64_t step = 0;; step++) {
		bool all_done = true;
		for (unsigned i = 0; i < ncpu; i++)
			all_done &= cpus[i].pc >= cpus[i].nops;
		if (all_done && !net->npool) {
			/* let held lines go and deferred messages flow */
			bool more = false;
			for (unsigned i = 0; i < net->n; i++)
				more |= coh_mem_busy(net->nodes[i].m) != 0;
			if (!more)
				return;
		}
		bool did = false;
		unsigned r = (unsigned)(t_rand(net) % 8);
		if (r < 4)
			did = t_deliver(net);
		else if (r < 7)
			did = t_cpu_step(net, &cpus[t_rand(net) % ncpu], after);
		else
			did = coh_mem_poll(net->nodes[t_rand(net) % net->n].m) > 0;
		if (did) {
			idle = 0;
			continue;
		}
		if (++idle > 100000) {
			/* maybe a hold waits for its time limit */
			usleep(100);
			if (idle > 200000 + 50000)
				fail_msg("no progress: %zu messages waiting", net->npool);
		}
	}
}

/* ---- tests ---- */

struct t_lost {
	unsigned n[4];
	coh_maddr_t last;
};

static void t_lost_cb(void *opaque, coh_maddr_t line, enum coh_lost_how how)
{
	struct t_lost *l = opaque;
	l->n[how]++;
	l->last = line;
}

/* One node reads then writes a line of another: the basic paths. */
static void test_basic(void **state)
{
	(void)state;
	struct t_net *net = t_net_new(3, 128, 4096, 2, 1);
	net->fifo = 1;
	struct coh_mem *m0 = net->nodes[0].m, *m1 = net->nodes[1].m, *m2 = net->nodes[2].m;
	((uint64_t *)net->nodes[1].mem)[3] = 42;
	void *p;
	coh_maddr_t a = COH_MADDR(1, 24);
	struct t_lost lost0 = { { 0 }, 0 }, lost1 = { { 0 }, 0 }, lost2 = { { 0 }, 0 };
	coh_mem_set_lost_cb(m0, t_lost_cb, &lost0);
	coh_mem_set_lost_cb(m1, t_lost_cb, &lost1);
	coh_mem_set_lost_cb(m2, t_lost_cb, &lost2);
	/* home line accessible directly */
	assert_ptr_equal(coh_mem_lookup(m1, a, 1), net->nodes[1].mem + 24);
	struct coh_req rq = { 0 };
	assert_int_equal(coh_mem_get(m0, a, COH_READ, &p, &rq), -EAGAIN);
	assert_int_equal(rq.pending, 1);
	t_drain(net);
	assert_int_equal(rq.pending, 0);
	assert_int_equal(coh_mem_get(m0, a, COH_READ, &p, &rq), 0);
	assert_int_equal(*(uint64_t *)p, 42);
	/* the home can still read, no longer write */
	assert_non_null(coh_mem_lookup(m1, a, 0));
	assert_null(coh_mem_lookup(m1, a, 1));
	/* node 2 writes: node 0 invalidated */
	assert_int_equal(coh_mem_get(m2, a, COH_WRITE, &p, &rq), -EAGAIN);
	t_drain(net);
	assert_int_equal(coh_mem_get(m2, a, COH_WRITE, &p, &rq), 0);
	*(uint64_t *)p = 43;
	assert_null(coh_mem_lookup(m0, a, 0));
	assert_null(coh_mem_lookup(m1, a, 0));
	/* node 0 reads: three hops */
	assert_int_equal(coh_mem_get(m0, a, COH_READ, &p, &rq), -EAGAIN);
	t_drain(net);
	assert_int_equal(coh_mem_get(m0, a, COH_READ, &p, &rq), 0);
	assert_int_equal(*(uint64_t *)p, 43);
	struct coh_mem_stats st;
	coh_mem_get_stats(m0, &st);
	assert_int_equal(st.two_hop, 1);
	assert_int_equal(st.three_hop, 1);
	assert_int_equal(st.inval_recv, 1);
	/* home memory updated by the sharing writeback */
	assert_int_equal(((uint64_t *)net->nodes[1].mem)[3], 43);
	/* home writes: recalls everything */
	assert_int_equal(coh_mem_get(m1, a, COH_WRITE, &p, &rq), -EAGAIN);
	t_drain(net);
	assert_int_equal(coh_mem_get(m1, a, COH_WRITE, &p, &rq), 0);
	assert_ptr_equal(p, net->nodes[1].mem + 24);
	assert_null(coh_mem_lookup(m0, a, 0));
	assert_null(coh_mem_lookup(m2, a, 0));
	/* lost-line notices: node 0 invalidated twice, node 2 downgraded then invalidated, the home lost its own access */
	assert_int_equal(lost0.n[COH_LOST_INVAL], 2);
	assert_int_equal(lost0.last, COH_MADDR(1, 0));
	assert_int_equal(lost2.n[COH_LOST_DOWNGRADE], 1);
	assert_int_equal(lost2.n[COH_LOST_INVAL], 1);
	assert_true(lost1.n[COH_LOST_HOME] >= 2);
	/* page counters at the home */
	uint32_t cnt[3 * COH_MISS_KINDS];
	assert_int_equal(coh_mem_page_misses(m1, 0, cnt, 3 * COH_MISS_KINDS), 0);
	assert_int_equal(cnt[0 * COH_MISS_KINDS + COH_MISS_READ], 2);
	assert_int_equal(cnt[2 * COH_MISS_KINDS + COH_MISS_WRITE], 1);
	assert_int_equal(cnt[1 * COH_MISS_KINDS + COH_MISS_WRITE], 1);
	assert_true(coh_mem_page_remote_seen(m1, 0));
	assert_false(coh_mem_page_remote_seen(m1, 4096));
	coh_mem_page_note_local(m1, 0, COH_MISS_READ);
	assert_int_equal(coh_mem_page_misses(m1, 0, cnt, 3 * COH_MISS_KINDS), 0);
	assert_int_equal(cnt[1 * COH_MISS_KINDS + COH_MISS_READ], 1);
	coh_mem_page_misses_reset(m1);
	assert_false(coh_mem_page_remote_seen(m1, 0));
	json_t *j = coh_mem_stats_json(m0);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "three_hop")), 1);
	assert_non_null(json_object_get(json_object_get(j, "remote_miss_latency"), "p99_us"));
	json_decref(j);
	t_net_free(net);
}

/* Upgrade: a sharer writes; a dirty owner evicts under a forward. */
static void test_upgrade_evict(void **state)
{
	(void)state;
	struct t_net *net = t_net_new(2, 128, 256, 2, 2);	/* 2 lines of cache: one set */
	net->fifo = 1;
	struct coh_mem *m0 = net->nodes[0].m, *m1 = net->nodes[1].m;
	void *p;
	struct coh_req rq = { 0 };
	coh_maddr_t a = COH_MADDR(1, 0);
	assert_int_equal(coh_mem_get_wait(m0, a, COH_READ, &p, 0), -ETIMEDOUT);
	t_drain(net);
	coh_mem_poll(m0);
	assert_int_equal(coh_mem_get(m0, a, COH_READ, &p, &rq), 0);
	assert_int_equal(coh_mem_get(m0, a, COH_WRITE, &p, &rq), -EAGAIN);
	t_drain(net);
	assert_int_equal(coh_mem_get(m0, a, COH_WRITE, &p, &rq), 0);
	*(uint64_t *)p = 7;
	struct coh_mem_stats st;
	coh_mem_get_stats(m0, &st);
	assert_int_equal(st.upgrades, 1);
	/* fill the set with two more lines: the dirty one is written back */
	for (unsigned k = 1; k <= 2; k++) {
		assert_int_equal(coh_mem_get(m0, COH_MADDR(1, k * 128), COH_WRITE, &p, &rq), -EAGAIN);
		t_drain(net);
		assert_int_equal(coh_mem_get(m0, COH_MADDR(1, k * 128), COH_WRITE, &p, &rq), 0);
	}
	coh_mem_get_stats(m0, &st);
	assert_true(st.writebacks >= 1);
	assert_int_equal(((uint64_t *)net->nodes[1].mem)[0], 7);
	/* home reads a line node 0 holds dirty while node 0 evicts it: PUTX crosses FWD */
	assert_int_equal(coh_mem_get(m1, COH_MADDR(1, 256), COH_READ, &p, &rq), -EAGAIN);
	/* forward to node 0 is in the pool; now node 0 evicts by touching a new line */
	assert_int_equal(coh_mem_get(m0, COH_MADDR(1, 384), COH_READ, &p, &rq), -EAGAIN);
	assert_int_equal(coh_mem_get(m0, COH_MADDR(1, 512), COH_READ, &p, &rq), -EAGAIN);
	net->fifo = 0;
	t_drain(net);
	for (unsigned i = 0; i < 4; i++)
		coh_mem_poll(m0), coh_mem_poll(m1);
	t_drain(net);
	assert_int_equal(coh_mem_get(m1, COH_MADDR(1, 256), COH_READ, &p, &rq), 0);
	t_net_free(net);
}

/* Random reads, writes and increments from every node; counters exact, coherence order. */
#define T_LOCS	24

static void t_random_run(unsigned n, unsigned line, size_t cache, unsigned ways, unsigned ops_per_cpu, uint64_t seed)
{
	struct t_net *net = t_net_new(n, line, cache, ways, seed);
	unsigned cpn = 2, ncpu = n * cpn;
	struct t_cpu *cpus = calloc(ncpu, sizeof(*cpus));
	assert_non_null(cpus);
	/* locations: T_LOCS lines spread over the homes; word 0 counter, word 1..: per-writer slots */
	coh_maddr_t locs[T_LOCS];
	for (unsigned l = 0; l < T_LOCS; l++)
		locs[l] = COH_MADDR(l % n, (uint64_t)(l / n) * line * (line <= 1024 ? 3 : 1));
	uint64_t incs = 0;
	for (unsigned c = 0; c < ncpu; c++) {
		cpus[c].node = c / cpn;
		cpus[c].ops = calloc(ops_per_cpu, sizeof(struct t_op));
		cpus[c].nops = ops_per_cpu;
		uint64_t seq = 0;
		for (unsigned i = 0; i < ops_per_cpu; i++) {
			unsigned l = (unsigned)(t_rand(net) % T_LOCS), k = (unsigned)(t_rand(net) % 3);
			struct t_op *op = &cpus[c].ops[i];
			if (k == 2) {
				op->kind = OP_INC;
				op->a = locs[l];
				incs++;
			} else if (k == 1 && c < 15) {
				/* each cpu writes its own word: value = seq, increasing */
				op->kind = OP_W;
				op->a = locs[l] + 8 + 8 * (c % 15);
				op->val = ++seq;
			} else {
				op->kind = OP_R;
				op->a = locs[l] + 8 + 8 * (t_rand(net) % 15);
			}
		}
	}
	/* coherence: a cpu never reads an older value of a word than one it read or wrote before */
	t_run(net, cpus, ncpu, NULL);
	for (unsigned c = 0; c < ncpu; c++) {
		/* replay: per word, reads by this cpu must be non-decreasing (writers only increase) */
		for (unsigned i = 0; i < cpus[c].nops; i++) {
			struct t_op *op = &cpus[c].ops[i];
			if (op->kind != OP_R)
				continue;
			for (unsigned j = i + 1; j < cpus[c].nops; j++) {
				struct t_op *o2 = &cpus[c].ops[j];
				if (o2->kind == OP_R && o2->a == op->a)
					assert_true(o2->val >= op->val);
			}
		}
	}
	/* the counters, read from node 0 through the protocol */
	uint64_t sum = 0;
	for (unsigned l = 0; l < T_LOCS; l++) {
		struct t_cpu rd = { .node = 0, .nops = 1 };
		struct t_op op = { .kind = OP_R, .a = locs[l] };
		rd.ops = &op;
		t_run(net, &rd, 1, NULL);
		sum += op.val;
	}
	assert_int_equal(sum, incs);
	struct coh_mem_stats tot = { 0 };
	for (unsigned i = 0; i < n; i++) {
		struct coh_mem_stats st;
		coh_mem_get_stats(net->nodes[i].m, &st);
		tot.three_hop += st.three_hop;
		tot.queued_at_home += st.queued_at_home;
		tot.deferred += st.deferred;
		tot.inval_recv += st.inval_recv;
		tot.writebacks += st.writebacks;
		tot.upgrades += st.upgrades;
		tot.inv_overtook += st.inv_overtook;
	}
	if (getenv("T_VERBOSE"))
		printf("n %u line %u cache %zu: 3-hop %llu queued %llu deferred %llu inval %llu wb %llu upg %llu overtook %llu\n", n, line, cache,
		       (unsigned long long)tot.three_hop, (unsigned long long)tot.queued_at_home,
		       (unsigned long long)tot.deferred, (unsigned long long)tot.inval_recv,
		       (unsigned long long)tot.writebacks, (unsigned long long)tot.upgrades,
		       (unsigned long long)tot.inv_overtook);
	assert_true(tot.three_hop > 0 && tot.inval_recv > 0);
	for (unsigned c = 0; c < ncpu; c++) {
		free(cpus[c].ops);
	}
	free(cpus);
	t_net_free(net);
}

static void test_random_small(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 200; seed++)
		t_random_run(4, 128, 64 * 1024, 4, 300, seed);
}

static void test_random_tiny_cache(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 200; seed++)
		t_random_run(3, 128, 256, 2, 300, seed + 1000);
	for (uint64_t seed = 1; seed <= 50; seed++)
		t_random_run(8, 64, 128, 1, 200, seed + 2000);
	/* one line of cache: both vCPUs of a node fight over the only way */
	for (uint64_t seed = 1; seed <= 50; seed++)
		t_random_run(3, 128, 128, 1, 200, seed + 2500);
}

static void test_random_big_lines(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 30; seed++)
		t_random_run(3, 4096, 3 * 4096, 1, 200, seed + 3000);
}

static void test_random_coarse(void **state)
{
	(void)state;
	t_random_run(70, 128, 1024, 2, 20, 400);
	/* the largest machine the interface promises: 1024 nodes, 19 per sharer bit */
	t_random_run(1024, 128, 1024, 2, 4, 401);
}

/* ---- litmus shapes ---- */

/* Run a litmus test of ncpu single-op-list cpus for iters, each on fresh lines. */
typedef bool (*t_forbidden)(struct t_cpu *cpus);

static bool mp_forbidden(struct t_cpu *c)
{
	return c[1].ops[0].val == 1 && c[1].ops[1].val == 0;
}

static bool sb_forbidden(struct t_cpu *c)
{
	return c[0].ops[1].val == 0 && c[1].ops[1].val == 0;
}

static bool iriw_forbidden(struct t_cpu *c)
{
	return c[2].ops[0].val == 1 && c[2].ops[1].val == 0 && c[3].ops[0].val == 1 && c[3].ops[1].val == 0;
}

static void t_litmus(const char *name, unsigned n, unsigned ncpu, const unsigned *nodes,
		     const struct t_op *const *progs, const unsigned *lens, t_forbidden bad, unsigned iters)
{
	unsigned outcomes_bad = 0;
	for (unsigned it = 0; it < iters; it++) {
		struct t_net *net = t_net_new(n, 128, 4096, 2, it + 7);
		struct t_cpu cpus[4];
		struct t_op ops[4][4];
		/* x on node 0's memory, y on node 1's (or both remote to everybody when n > 2) */
		coh_maddr_t x = COH_MADDR(n - 1, 0), y = COH_MADDR(n > 2 ? n - 2 : 0, 128);
		memset(cpus, 0, sizeof(cpus));
		for (unsigned c = 0; c < ncpu; c++) {
			memcpy(ops[c], progs[c], lens[c] * sizeof(struct t_op));
			for (unsigned i = 0; i < lens[c]; i++)
				ops[c][i].a = ops[c][i].a == 0 ? x : y;
			cpus[c].ops = ops[c];
			cpus[c].nops = lens[c];
			cpus[c].node = nodes[c];
		}
		/* warm caches randomly: some nodes read x and y first */
		for (unsigned k = 0; k < n; k++)
			if (t_rand(net) & 1) {
				struct t_op w[2] = { { OP_R, x, 0 }, { OP_R, y, 0 } };
				struct t_cpu wc = { .node = k, .ops = w, .nops = 2 };
				t_run(net, &wc, 1, NULL);
			}
		t_run(net, cpus, ncpu, NULL);
		if (bad(cpus))
			outcomes_bad++;
		t_net_free(net);
	}
	if (outcomes_bad)
		fail_msg("%s: forbidden outcome %u times of %u", name, outcomes_bad, iters);
}

static void test_litmus(void **state)
{
	(void)state;
	/* address 0 = x, 1 = y */
	static const struct t_op mp0[] = { { OP_W, 0, 1 }, { OP_W, 1, 1 } };
	static const struct t_op mp1[] = { { OP_R, 1, 0 }, { OP_R, 0, 0 } };
	static const struct t_op sb0[] = { { OP_W, 0, 1 }, { OP_R, 1, 0 } };
	static const struct t_op sb1[] = { { OP_W, 1, 1 }, { OP_R, 0, 0 } };
	static const struct t_op iw0[] = { { OP_W, 0, 1 } };
	static const struct t_op iw1[] = { { OP_W, 1, 1 } };
	static const struct t_op ir2[] = { { OP_R, 0, 0 }, { OP_R, 1, 0 } };
	static const struct t_op ir3[] = { { OP_R, 1, 0 }, { OP_R, 0, 0 } };
	const struct t_op *mp[] = { mp0, mp1 }, *sb[] = { sb0, sb1 }, *iriw[] = { iw0, iw1, ir2, ir3 };
	unsigned l22[] = { 2, 2 }, l1122[] = { 1, 1, 2, 2 };
	unsigned nodes2[] = { 0, 1 }, nodes3[] = { 0, 1, 2 }, nodes4[] = { 0, 1, 2, 3 };
	t_litmus("MP", 2, 2, nodes2, mp, l22, mp_forbidden, 3000);
	t_litmus("MP/3", 3, 2, nodes3, mp, l22, mp_forbidden, 3000);
	t_litmus("SB", 2, 2, nodes2, sb, l22, sb_forbidden, 3000);
	t_litmus("SB/3", 3, 2, nodes3 + 1, sb, l22, sb_forbidden, 3000);
	t_litmus("IRIW", 4, 4, nodes4, iriw, l1122, iriw_forbidden, 3000);
}

/* Page recall at the home and page copy (RMA read path) to another node. */
static void test_pages(void **state)
{
	(void)state;
	struct t_net *net = t_net_new(3, 128, 8192, 4, 9);
	struct coh_mem *m0 = net->nodes[0].m, *m1 = net->nodes[1].m, *m2 = net->nodes[2].m;
	struct coh_req rq[4];
	memset(rq, 0, sizeof(rq));
	void *p;
	/* node 0 and node 2 hold lines of node 1's page 1, node 0 dirty */
	for (unsigned i = 0; i < 4; i++) {
		coh_maddr_t a = COH_MADDR(1, 4096 + i * 128);
		struct coh_mem *m = i & 1 ? m2 : m0;
		int mode = i & 1 ? COH_READ : COH_WRITE;
		if (coh_mem_get(m, a, mode, &p, &rq[i]) == -EAGAIN) {
			while (t_deliver(net))
				;
			assert_int_equal(coh_mem_get(m, a, mode, &p, &rq[i]), 0);
		}
		if (mode == COH_WRITE)
			*(uint64_t *)p = 100 + i;
	}
	int left = coh_mem_page_recall(m1, 4096);
	assert_true(left > 0);
	while (t_deliver(net) || coh_mem_poll(m1) > 0 || coh_mem_poll(m0) > 0 || coh_mem_poll(m2) > 0)
		;
	assert_int_equal(coh_mem_page_recall(m1, 4096), 0);
	assert_int_equal(((uint64_t *)(net->nodes[1].mem + 4096))[0], 100);
	assert_int_equal(((uint64_t *)(net->nodes[1].mem + 4096 + 256))[0], 102);
	assert_null(coh_mem_lookup(m0, COH_MADDR(1, 4096), 0));
	assert_non_null(coh_mem_lookup(m1, COH_MADDR(1, 4096), 1));
	assert_int_equal(coh_mem_page_recall(m1, 4095), -EINVAL);
	/* copy node 1's page 1 into node 1's page 3 (local) */
	assert_int_equal(coh_mem_page_copy_wait(m1, COH_MADDR(1, 4096), 3 * 4096), 0);
	assert_int_equal(((uint64_t *)(net->nodes[1].mem + 3 * 4096 + 256))[0], 102);
	t_net_free(net);
}

/* Bad messages: dropped and counted, no crash. */
static void test_bad_messages(void **state)
{
	(void)state;
	struct t_net *net = t_net_new(2, 128, 4096, 2, 11);
	struct coh_mem *m0 = net->nodes[0].m;
	uint8_t buf[256];
	memset(buf, 0xff, sizeof(buf));
	coh_mem_handle(m0, 1, COH_MSG_PROTO, buf, 3);			/* short */
	coh_mem_handle(m0, 1, COH_MSG_PROTO + 100, buf, 32);		/* unknown type */
	coh_mem_handle(m0, 5, COH_MSG_PROTO, buf, 32);			/* unknown node */
	coh_mem_handle(m0, 1, COH_MSG_PROTO + 3, buf, 32 + 128);	/* data for a line of no node */
	memset(buf, 0, sizeof(buf));
	buf[15] = 1;	/* nfrag */
	coh_mem_handle(m0, 1, COH_MSG_PROTO + 6, buf, 24);		/* INV_ACK nobody waits for */
	coh_mem_handle(m0, 1, COH_MSG_PROTO + 3, buf, 24 + 128);	/* DATA for a home line: unexpected */
	struct coh_mem_stats st;
	coh_mem_get_stats(m0, &st);
	assert_int_equal(st.dropped, 6);
	coh_mem_handle(m0, 1, COH_MSG_PROTO, buf, 24);			/* GETS line 0: fine */
	coh_mem_get_stats(m0, &st);
	assert_int_equal(st.dropped, 6);
	/* a request beyond memory gets an error reply, which ends the requester's wait */
	struct coh_mem *m1 = net->nodes[1].m;
	struct coh_req rq = { 0 };
	void *p;
	assert_int_equal(coh_mem_get(m1, COH_MADDR(0, T_MEM + 4096), COH_READ, &p, &rq), -EAGAIN);
	t_drain(net);
	assert_int_equal(rq.pending, 0);
	assert_int_equal(rq.status, -EFAULT);
	/* bad configurations */
	struct coh_mem_config cfg = { .self = 0, .nodes = 2, .mem = buf, .mem_len = 4096, .line_size = 96 };
	int err = 0;
	assert_null(coh_mem_create_ops(&t_ops, NULL, &cfg, &err));
	assert_int_equal(err, -EINVAL);
	cfg.line_size = 128;
	cfg.self = 2;
	assert_null(coh_mem_create_ops(&t_ops, NULL, &cfg, &err));
	size_t lines = 0, bytes = coh_mem_dir_overhead(m0, &lines);
	assert_int_equal(lines, T_MEM / 128);
	assert_int_equal(bytes, lines * 9);
	t_net_free_(net, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_upgrade_evict),
		cmocka_unit_test(test_random_small),
		cmocka_unit_test(test_random_tiny_cache),
		cmocka_unit_test(test_random_big_lines),
		cmocka_unit_test(test_random_coarse),
		cmocka_unit_test(test_litmus),
		cmocka_unit_test(test_pages),
		cmocka_unit_test(test_bad_messages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
