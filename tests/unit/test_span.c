/*
 * test_span.c — a VM spanning nodes, seen by its message handler
 * (vmm/span.c): malformed messages are dropped and counted, never acted
 * on; random messages never crash a node; the home keeps the first touch's
 * page. Two VM instances (the home, node 0, and node 1) each over its own
 * coherence engine with a transport that goes nowhere; what the VMs send is
 * recorded. The message layout and type numbers below restate span.c's.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "coherence/coh_mem.h"
#include "vmm/board.h"
#include "vmm/span.h"
#include "vmm/vmm.h"

enum {
	PMAP_REQ = VMM_MSG_FIRST, PMAP_REP, MMIO_REQ, MMIO_REP, IRQ, EXIT, HART_START, BOOT, FLUSH,
	MOVE_REQ, UNMAP, UNMAP_ACK, COPY, COPIED, MAPPED, ALLOC, ALLOC_REP,
	REPLICATE, PROTECT, PROTECT_ACK, REPLICA, REPLICATED, COLLAPSE,
	HART_MOVE, HART_STATE, HART_NODE, LOAD,
};

struct msg {
	uint32_t vm, hart;
	uint64_t a, b, c;
	int32_t rc;
	uint32_t hops;
};

#define MEM	(8u << 20)

struct sent {
	unsigned dest, type;
	struct msg m;
};

struct inst {
	uint8_t *mem;
	size_t next;
	struct coh_mem *coh;
	struct vmm_vm *vm;
	struct sent sent[64];
	unsigned nsent;
};

static int t_send(void *ctx, unsigned dest, unsigned type, const void *p, size_t len)
{
	(void)ctx; (void)dest; (void)type; (void)p; (void)len;
	return 0;
}
static int t_poll(void *ctx) { (void)ctx; return 0; }
static const struct coh_transport_ops nowhere = { .send = t_send, .poll = t_poll };

static void *alloc_page(void *opaque)
{
	struct inst *in = opaque;
	if (in->next + 4096 > MEM)
		return NULL;
	void *p = in->mem + in->next;
	in->next += 4096;
	memset(p, 0, 4096);
	return p;
}
static void free_page(void *opaque, void *page) { (void)opaque; (void)page; }

static int vm_send(void *opaque, unsigned dest, unsigned type, const void *p, size_t len)
{
	struct inst *in = opaque;
	assert_int_equal(len, sizeof(struct msg));
	if (in->nsent < 64) {
		in->sent[in->nsent].dest = dest;
		in->sent[in->nsent].type = type;
		memcpy(&in->sent[in->nsent].m, p, sizeof(struct msg));
	}
	in->nsent++;
	return 0;
}

static const unsigned nodes[2] = { 0, 1 };
static char kernel[64];

static void inst_make(struct inst *in, unsigned self)
{
	memset(in, 0, sizeof(*in));
	in->mem = aligned_alloc(4096, MEM);
	assert_non_null(in->mem);
	in->next = 4096;	/* page 0: the node's header page */
	struct coh_mem_config cc = { .self = self, .nodes = 2, .mem = in->mem, .mem_len = MEM };
	int err = 0;
	in->coh = coh_mem_create_ops(&nowhere, in, &cc, &err);
	assert_non_null(in->coh);
	struct vmm_span_config sc = {
		.coh = in->coh, .self = self, .nodes = nodes, .n_nodes = 2, .vm_id = 7, .start_ns = 1,
		.opaque = in, .send = vm_send, .policy = 0, .machine_nodes = 2, .trigger = 64, .dominance = 60,
		.write_share = 4, .max_moves = 4, .reset_ns = 100000000, .interval_ns = 10000000,
	};
	struct vmm_vm_config cfg = {
		.name = "t", .ncpus = 2, .mem_bytes = 4u << 20, .kernel = kernel, .quantum = 1000, .span = &sc,
		.mem = { .opaque = in, .alloc_page = alloc_page, .free_page = free_page },
	};
	char verr[256] = "";
	in->vm = vmm_vm_create(&cfg, verr, sizeof(verr));
	if (!in->vm)
		fail_msg("vmm_vm_create (node %u): %s", self, verr);
}

static void inst_free(struct inst *in)
{
	vmm_vm_destroy(in->vm);
	coh_mem_destroy(in->coh);
	free(in->mem);
}

static int setup(void **state)
{
	/* a raw kernel: a loop (j .) */
	static const uint8_t loop[] = { 0x6f, 0x00, 0x00, 0x00 };
	snprintf(kernel, sizeof(kernel), "/tmp/disco-test-span-%d.bin", (int)getpid());
	FILE *f = fopen(kernel, "wb");
	assert_non_null(f);
	fwrite(loop, 1, sizeof(loop), f);
	fclose(f);
	struct inst *in = calloc(2, sizeof(*in));
	inst_make(&in[0], 0);
	inst_make(&in[1], 1);
	*state = in;
	return 0;
}

static int teardown(void **state)
{
	struct inst *in = *state;
	inst_free(&in[0]);
	inst_free(&in[1]);
	free(in);
	unlink(kernel);
	return 0;
}

static uint64_t dropped(struct inst *in)
{
	struct vmm_span_stats st;
	vmm_vm_get_span_stats(in->vm, &st);
	return st.dropped;
}

/* Hand one message to instance in (from src); assert it was dropped and counted. */
static void expect_drop(struct inst *in, unsigned src, unsigned type, const struct msg *m, size_t len, const char *what)
{
	uint64_t d = dropped(in);
	unsigned sent = in->nsent;
	vmm_vm_handle_msg(in->vm, src, type, m, len);
	if (dropped(in) != d + 1)
		fail_msg("%s: not dropped", what);
	if (in->nsent != sent)
		fail_msg("%s: answered", what);
}

static void t_malformed(void **state)
{
	struct inst *in = *state, *home = &in[0], *other = &in[1];
	struct msg m = { .vm = 7 };

	expect_drop(other, 0, PMAP_REP, &m, sizeof(m) - 1, "short message");
	expect_drop(other, 5, PMAP_REP, &m, sizeof(m), "from a node off the VM's list");
	m.a = 1u << 30;
	expect_drop(other, 0, PMAP_REP, &m, sizeof(m), "page index past the VM's memory");
	m.a = 3;
	expect_drop(other, 1, PMAP_REP, &m, sizeof(m), "map answer not from the home");
	m.hart = 99;
	expect_drop(other, 0, IRQ, &m, sizeof(m), "interrupt for a hart the VM does not have");
	expect_drop(other, 0, BOOT, &m, sizeof(m), "boot of a hart the VM does not have");
	m.hart = 0;
	m.a = 3;	/* MSI */
	m.hops = 8;
	expect_drop(other, 0, IRQ, &m, sizeof(m), "interrupt for a hart that runs elsewhere, passed on too often");
	m.hops = 0;
	/* one that is not: passed on to where the hart runs (it may have moved since the sender heard) */
	other->nsent = 0;
	vmm_vm_handle_msg(other->vm, 0, IRQ, &m, sizeof(m));
	assert_int_equal(other->nsent, 1);
	assert_int_equal(other->sent[0].type, IRQ);
	assert_int_equal(other->sent[0].dest, 0);
	assert_int_equal(other->sent[0].m.hops, 1);
	m.a = 5;
	expect_drop(other, 0, HART_MOVE, &m, sizeof(m), "vCPU move to a node off the VM's list");
	m.a = 1;
	expect_drop(other, 0, HART_MOVE, &m, sizeof(m), "vCPU move to the node it is asked of");
	m.a = 0;
	expect_drop(other, 1, HART_MOVE, &m, sizeof(m), "vCPU move not from the home");
	m.a = 1;
	expect_drop(other, 0, HART_NODE, &m, sizeof(m), "vCPU news from a node other than the one it names");
	expect_drop(other, 0, LOAD, &m, sizeof(m), "load report to a node that is not home");
	expect_drop(other, 0, HART_STATE, &m, sizeof(m), "vCPU state of the wrong size");
	m.hart = 1;
	m.rc = 2;	/* priv 2 does not exist */
	expect_drop(other, 0, BOOT, &m, sizeof(m), "boot in a privilege that does not exist");
	m.rc = 0;
	m.c = 4;
	expect_drop(other, 0, MMIO_REQ, &m, sizeof(m), "MMIO request to a node that is not home");
	expect_drop(other, 0, VMM_MSG_END - 1, &m, sizeof(m), "unknown type");
	m.hart = 0;
	m.c = 3;	/* size 3 */
	expect_drop(home, 1, MMIO_REQ, &m, sizeof(m), "MMIO of size 3");
	m.a = 5;
	m.b = COH_MADDR(0, 8192);	/* node 1 proposing a page of node 0's memory */
	expect_drop(home, 1, PMAP_REQ, &m, sizeof(m), "proposal of another node's page");
	m.b = COH_MADDR(0, 4096 + 1);
	expect_drop(other, 0, COPY, &m, sizeof(m), "copy from an address that is not a page");
	expect_drop(home, 1, UNMAP, &m, sizeof(m), "unmap not from the home");
	expect_drop(home, 1, UNMAP_ACK, &m, sizeof(m), "ack of a move that is not going on");
}

static void t_first_touch_wins(void **state)
{
	struct inst *in = *state, *home = &in[0];
	struct msg m = { .vm = 7, .a = 9, .b = COH_MADDR(1, 3 * 4096) };

	home->nsent = 0;
	vmm_vm_handle_msg(home->vm, 1, PMAP_REQ, &m, sizeof(m));
	assert_int_equal(home->nsent, 1);
	assert_int_equal(home->sent[0].type, PMAP_REP);
	assert_int_equal(home->sent[0].dest, 1);
	assert_int_equal(home->sent[0].m.a, 9);
	assert_int_equal(home->sent[0].m.b, COH_MADDR(1, 3 * 4096));
	/* a later proposal for the same page gets the first one's page */
	m.b = COH_MADDR(1, 7 * 4096);
	vmm_vm_handle_msg(home->vm, 1, PMAP_REQ, &m, sizeof(m));
	assert_int_equal(home->nsent, 2);
	assert_int_equal(home->sent[1].m.b, COH_MADDR(1, 3 * 4096));
}

static void t_mmio_at_home(void **state)
{
	struct inst *in = *state, *home = &in[0];
	/* hart 1 (on node 1) reads the UART's line status register: the home answers from its loop */
	struct msg m = { .vm = 7, .hart = 1, .a = 0x10000005, .c = 1 };

	home->nsent = 0;
	vmm_vm_handle_msg(home->vm, 1, MMIO_REQ, &m, sizeof(m));
	assert_int_equal(home->nsent, 0);	/* queued, not done in the handler */
	vmm_vm_run(home->vm, 100);
	assert_int_equal(home->nsent, 1);
	assert_int_equal(home->sent[0].type, MMIO_REP);
	assert_int_equal(home->sent[0].dest, 1);
	assert_int_equal(home->sent[0].m.rc, 0);
	assert_true(home->sent[0].m.b & 0x20);	/* THR empty */
	/* nothing answers there: the requester hears -1 (an access fault) */
	m.a = 0x30000000;
	vmm_vm_handle_msg(home->vm, 1, MMIO_REQ, &m, sizeof(m));
	vmm_vm_run(home->vm, 100);
	assert_int_equal(home->nsent, 2);
	assert_int_equal(home->sent[1].m.rc, -1);
}

/* Random messages of every type: no crash, no message acted on without its checks (ASan, UBSan). */
static void t_fuzz(void **state)
{
	struct inst *in = *state;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		struct msg m = { .vm = 7, .hart = (uint32_t)(x % 5), .a = (x >> 8) % 2048, .b = x * 31, .c = (x >> 3) % 300,
				 .rc = (int32_t)((x >> 40) % 1024) };
		if (x & 1)
			m.b = COH_MADDR((x >> 5) & 1, ((x >> 12) % (MEM / 4096)) * 4096);
		unsigned type = VMM_MSG_FIRST + (unsigned)((x >> 20) % (VMM_MSG_END - VMM_MSG_FIRST));
		if (type == COPY || type == REPLICA || type == EXIT)
			continue;	/* a copy blocks on the other node, an exit ends the VM: both tested elsewhere */
		struct inst *to = &in[(x >> 30) & 1];
		unsigned src = (unsigned)((x >> 33) % 3);
		to->nsent = 0;
		vmm_vm_handle_msg(to->vm, src, type, &m, (x >> 50) % 16 ? sizeof(m) : (x >> 51) % sizeof(m));
	}
	/* the home still answers MMIO afterwards */
	vmm_vm_run(in[0].vm, 100);
	struct msg m = { .vm = 7, .hart = 1, .a = 0x10000005, .c = 1 };
	in[0].nsent = 0;
	vmm_vm_handle_msg(in[0].vm, 1, MMIO_REQ, &m, sizeof(m));
	vmm_vm_run(in[0].vm, 100);
	assert_true(in[0].nsent >= 1);
}

/* Hand what each instance sent the other to it, until neither sends more. */
static void pump(struct inst *in)
{
	for (int round = 0; round < 16; round++) {
		unsigned moved = 0;
		for (unsigned k = 0; k < 2; k++) {
			struct sent copy[64];
			unsigned n = in[k].nsent < 64 ? in[k].nsent : 64;
			memcpy(copy, in[k].sent, n * sizeof(copy[0]));
			in[k].nsent = 0;
			for (unsigned i = 0; i < n; i++) {
				assert_int_equal(copy[i].dest, 1 - k);
				vmm_vm_handle_msg(in[1 - k].vm, k, copy[i].type, &copy[i].m, sizeof(copy[i].m));
				moved++;
			}
		}
		if (!moved)
			return;
	}
	fail_msg("the nodes never stop sending");
}

struct refs {
	unsigned gets, puts, answers;
	int rc;
};
static void ref_get(void *o, uint8_t *page) { (void)page; ((struct refs *)o)->gets++; }
static void ref_put(void *o, uint8_t *page) { (void)page; ((struct refs *)o)->puts++; }
static void answered(void *o, uint64_t gpa, int rc)
{
	(void)gpa;
	((struct refs *)o)->answers++;
	((struct refs *)o)->rc = rc;
}

static uint64_t pages_shared(struct inst *in)
{
	struct vmm_span_stats st;
	vmm_vm_get_span_stats(in->vm, &st);
	return st.pages_shared;
}

/*
 * The global disk cache (docs/disk.md): the home maps a cache page of its
 * memory into the VM; both nodes then read it, read-only; a write on node 1
 * gets the VM a private copy of the same data, and the cache page goes back
 * to the cache (its reference is put), once.
 */
static void t_disk_cache_page(void **state)
{
	struct inst *in = *state, *home = &in[0], *other = &in[1];
	struct vm *hv = &home->vm->vm, *ov = &other->vm->vm;
	struct refs r = { 0 };
	const struct pmap_share_ops ops = { &r, ref_get, ref_put };
	uint8_t *page = alloc_page(home);
	uint64_t gpa = hv->ram_base + 100 * 4096, shared = COH_MADDR(0, (uint64_t)(page - home->mem)), m = 0;

	memset(page, 0xa5, 4096);
	/* node 1 maps the page (its first touch) */
	assert_int_equal(vm_ram_maddr(ov, NULL, gpa, false, &m), -EAGAIN);
	pump(in);
	assert_int_equal(vm_ram_maddr(ov, NULL, gpa, false, &m), 0);
	home->nsent = other->nsent = 0;
	assert_int_equal(span_share(ov, gpa, page, &ops, answered, &r), -EINVAL);	/* not the home */
	assert_int_equal(span_share(hv, hv->ram_base + hv->ram_size, page, &ops, answered, &r), -EINVAL);
	assert_int_equal(span_share(hv, gpa, page, &ops, answered, &r), 0);
	assert_int_equal(r.gets, 1);
	assert_int_equal(home->nsent, 1);
	assert_int_equal(home->sent[0].type, UNMAP);	/* node 1 forgets the page first */
	pump(in);
	assert_int_equal(r.answers, 0);	/* answered from the loop, never from a handler */
	vmm_vm_run(home->vm, 100);
	assert_int_equal(r.answers, 1);
	assert_int_equal(r.rc, 0);
	assert_int_equal(pages_shared(home), 1);
	assert_int_equal(vm_ram_maddr(ov, NULL, gpa, false, &m), 0);
	assert_int_equal(m, shared);
	assert_int_equal(vm_ram_maddr(hv, NULL, gpa, false, &m), 0);
	assert_int_equal(m, shared);
	assert_int_equal(span_share(hv, gpa, page, &ops, answered, &r), 1);	/* there already */
	assert_int_equal(r.gets, 1);

	/* the policy's replicas of it: the reader copies the cache page as it is (no PROTECT: read-only already) */
	struct msg rq = { .vm = 7, .a = 100, .b = shared, .c = 1u << 1 };
	struct vmm_span_stats st;
	home->nsent = 0;
	vmm_vm_handle_msg(home->vm, 0, REPLICATE, &rq, sizeof(rq));
	assert_int_equal(home->nsent, 1);
	assert_int_equal(home->sent[0].type, REPLICA);
	assert_int_equal(home->sent[0].dest, 1);
	assert_int_equal(home->sent[0].m.b, shared);
	assert_int_equal(home->sent[0].m.c, 0);
	struct msg made = { .vm = 7, .a = 100, .b = COH_MADDR(1, 50 * 4096) };
	vmm_vm_handle_msg(home->vm, 1, REPLICATED, &made, sizeof(made));
	vmm_vm_get_span_stats(home->vm, &st);
	assert_int_equal(st.replications, 1);
	home->nsent = 0;
	vmm_vm_handle_msg(home->vm, 0, REPLICATE, &rq, sizeof(rq));	/* once is enough */
	assert_int_equal(home->nsent, 0);

	/* a write on node 1: the page collapses into a private copy */
	assert_int_equal(vm_ram_maddr(ov, NULL, gpa, true, &m), -EAGAIN);
	assert_int_equal(other->nsent, 1);
	assert_int_equal(other->sent[0].type, COLLAPSE);
	pump(in);
	assert_int_equal(vm_ram_maddr(ov, NULL, gpa, true, &m), 0);
	assert_int_not_equal(m, shared);
	assert_int_equal(COH_MADDR_NODE(m), 0);
	assert_memory_equal(home->mem + COH_MADDR_OFF(m), page, 4096);
	assert_int_equal(vm_ram_maddr(hv, NULL, gpa, true, &m), 0);	/* the home writes it too */
	assert_int_equal(r.puts, 1);
	assert_int_equal(pages_shared(home), 0);

	/* a cache page over a page the VM has: the old page goes, the new one is read-only again */
	assert_int_equal(span_share(hv, gpa, page, &ops, answered, &r), 0);
	pump(in);
	vmm_vm_run(home->vm, 100);
	assert_int_equal(r.answers, 2);
	assert_int_equal(r.rc, 0);
	assert_int_equal(vm_ram_maddr(ov, NULL, gpa, false, &m), 0);
	assert_int_equal(m, shared);
	assert_int_equal(vm_ram_maddr(ov, NULL, gpa, true, &m), -EAGAIN);
	pump(in);
	assert_int_equal(r.puts, 2);
	assert_int_equal(r.gets, 2);

	/* a page node 1 never touched: shared without a message; node 1 learns it when it touches it */
	uint64_t g2 = hv->ram_base + 200 * 4096;
	assert_int_equal(vm_ram_maddr(hv, NULL, g2, true, &m), 0);	/* the home's page */
	home->nsent = 0;
	assert_int_equal(span_share(hv, g2, page, &ops, answered, &r), 0);
	assert_int_equal(home->nsent, 0);
	vmm_vm_run(home->vm, 100);
	assert_int_equal(r.answers, 3);
	assert_int_equal(r.rc, 0);
	assert_int_equal(vm_ram_maddr(ov, NULL, g2, false, &m), -EAGAIN);
	pump(in);
	assert_int_equal(vm_ram_maddr(ov, NULL, g2, false, &m), 0);
	assert_int_equal(m, shared);
	assert_int_equal(vm_ram_maddr(ov, NULL, g2, true, &m), -EAGAIN);	/* read-only there too */
	pump(in);
	assert_int_equal(vm_ram_maddr(ov, NULL, g2, true, &m), 0);
	assert_int_not_equal(m, shared);
	assert_int_equal(r.puts, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(t_first_touch_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(t_mmio_at_home, setup, teardown),
		cmocka_unit_test_setup_teardown(t_fuzz, setup, teardown),
		cmocka_unit_test_setup_teardown(t_disk_cache_page, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
