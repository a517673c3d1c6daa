/*
 * span.h — internal to vmm/: a VM whose harts run on several nodes (span.c).
 * The board (board.c) calls these; everything is a no-op for a VM on one
 * node (vm->span == NULL).
 */
#ifndef DISCO_VMM_SPAN_H
#define DISCO_VMM_SPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/vmm.h"

struct vm;
struct hart;

/* Set up vm->span (harts already created: they get their node and the coherent memory). */
int span_create(struct vm *vm, const struct vmm_span_config *cfg, const struct vmm_mem_ops *mem,
		char *err, size_t errlen);
/* The images are in place: from now on copies are coherent on every node. */
void span_boot_done(struct vm *vm);
void span_free(struct vm *vm);
bool span_is_home(const struct vm *vm);
unsigned span_hart_node(const struct vm *vm, unsigned i);
/* vm_gpa_read/write of a spanning VM: through the coherence engine, blocking. */
int span_gpa_copy(struct vm *vm, uint64_t gpa, void *buf, size_t len, bool to_guest);
/* Whether an MMIO access at gpa goes to the home node (everything but the CLINT, off the home node). */
bool span_forwards_mmio(const struct vm *vm, uint64_t gpa);
/* Forward an MMIO access: -EAGAIN (the hart stalls) until the answer came, then its result. */
int span_mmio(struct vm *vm, struct hart *h, uint64_t gpa, unsigned size, bool write, uint64_t *val);
/* Home node: perform the forwarded MMIO accesses that arrived. */
void span_serve(struct vm *vm);
/* Work to do: forwarded MMIO queued, or a hart of this node that can run. */
bool span_ready(const struct vm *vm);
/* Home: hart i (on another node) boots at pc in priv with a1, a2, in state. */
void span_boot_hart(struct vm *vm, unsigned i, uint64_t pc, unsigned priv, uint64_t a1, uint64_t a2,
		    unsigned state);
/* SBI HSM start of a hart that runs on another node: true if sent there. */
bool span_hart_start(struct vm *vm, unsigned i, uint64_t pc, uint64_t opaque);
/* The VM powered off here: tell its other nodes. */
void span_power_off(struct vm *vm);
/* From the loop: the NUMA policy's periodic look at this node's pages, copies and frees it was asked for. */
void span_policy(struct vm *vm);
void span_handle(struct vm *vm, unsigned src, unsigned type, const void *payload, size_t len);
/* When the loop must run the VM next for its vCPU balancing (UINT64_MAX: never; 0: now). */
uint64_t span_next_event_ns(const struct vm *vm);
/* The engine lost a line of this node (its machine address). */
void span_line_lost(struct vm *vm, uint64_t line);
uint64_t span_pages_here(const struct vm *vm);
/*
 * span_share - home: map the disk cache's machine page `page` (of this
 * node) at RAM page gpa, read-only on every node of the VM, in place of
 * what is there; a store by any hart or device then gives the VM a private
 * copy (the sharing breaks for this VM alone, docs/disk.md). ops->get is
 * called now, ops->put when the mapping ends. Every node drops its
 * translations of the page first, so this takes messages: returns 1 when
 * the page is mapped there already, 0 when started (done(arg, gpa, rc) is
 * then called from the loop: rc 0 mapped, < 0 not, the caller copies the
 * data), or < 0 when refused now (-EBUSY: the page is replicated, or too
 * many operations wait; -EINVAL: not the home, not RAM).
 */
struct pmap_share_ops;
typedef void (*span_share_fn)(void *arg, uint64_t gpa, int rc);
int span_share(struct vm *vm, uint64_t gpa, uint8_t *page, const struct pmap_share_ops *ops, span_share_fn done,
	       void *arg);
/* Home: guest pages mapped from the disk cache now. */
uint64_t span_pages_shared(const struct vm *vm);
void span_get_stats(const struct vm *vm, struct vmm_span_stats *st);
size_t span_local_pages(const struct vm *vm, uint64_t *gpa, uint64_t *maddr, size_t max);

#endif
