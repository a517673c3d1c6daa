/*
 * vmm.h — the monitor's public interface: virtual machines on a node.
 *
 * The node (node/) owns the event loop and machine memory; it creates VMs
 * from their [vm] sections and calls vmm_vm_run() a budget at a time. A VM
 * never blocks the loop: when every hart waits for an interrupt (WFI) the
 * call returns VMM_IDLE with the time of the next timer event, and the node
 * sleeps until then or until input arrives.
 *
 * Guest mistakes become guest exceptions; nothing a guest does makes these
 * calls crash or abort the node.
 */
#ifndef DISCO_VMM_H
#define DISCO_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vmm_vm;

/* Machine memory of the node, handed out a page (4 KiB) at a time. */
struct vmm_mem_ops {
	void *opaque;
	/* Returns a zeroed, 4 KiB-aligned page of machine memory, or NULL when the node is full. */
	void *(*alloc_page)(void *opaque);
	void (*free_page)(void *opaque, void *page);
};

/* The guest's console, as the node connects it (terminal, log file, nothing). */
struct vmm_console_ops {
	void *opaque;
	void (*write)(void *opaque, const char *buf, size_t len);
};

/*
 * A NIC's back end (the node connects it to a vnet switch port). Frames are
 * Ethernet frames from the destination address on, without virtio's header.
 */
/*
 * Page sharing between a NIC's back end and the VM: layout-identical to the
 * pmap's share ops. get/put are called once per page mapped into the VM
 * copy-on-write, when the mapping begins and ends.
 */
struct vmm_share_ops {
	void *opaque;
	void (*get)(void *opaque, uint8_t *page);
	void (*put)(void *opaque, uint8_t *page);
};

struct vmm_nic_ops {
	void *opaque;
	/*
	 * The guest sent a frame; byte 0 sat at offset phase (0..4095) of a page
	 * in the guest's memory, as far as the frame's largest buffer says.
	 */
	void (*tx)(void *opaque, const void *frame, size_t len, unsigned phase);
	/* The next frame for the guest: its length (0: none), *frame valid until rx_pop. */
	size_t (*rx_peek)(void *opaque, const void **frame);
	/*
	 * Optional: the sharing ops of that frame, when its page-aligned bytes
	 * may be mapped into the guest instead of copied (NULL: copy).
	 */
	const struct vmm_share_ops *(*rx_share)(void *opaque);
	/* Done with that frame: delivered (remapped of its bytes mapped, not copied), or dropped. */
	void (*rx_pop)(void *opaque, bool delivered, size_t remapped);
};

struct vmm_nic_config {
	bool on;			/* the VM has a virtio-net NIC */
	uint8_t mac[6];
	unsigned mtu;			/* bytes after the Ethernet header, 68..65535 */
	struct vmm_nic_ops ops;
};

/* The NIC's own counters (the switch port counts the rest). */
struct vmm_nic_stats {
	uint64_t tx_frames, tx_bytes;	/* sent by the guest, handed to the back end */
	uint64_t rx_frames, rx_bytes;	/* delivered into the guest's buffers */
	uint64_t tx_drop_too_big, tx_drop_runt, tx_drop_fault;
	uint64_t rx_drop_small_buffer, rx_drop_fault;
	uint64_t bytes_copied;		/* frame bytes copied into or out of guest memory */
	uint64_t bytes_remapped;	/* payload pages mapped into the guest copy-on-write instead of copied */
	uint64_t device_errors;		/* rule breaks that made the device need a reset */
};

/*
 * A VM whose harts run on several nodes (docs/coherence.md, "The monitor's
 * memory path"). Every node of the list creates the VM with the same
 * description and this config; hart i runs on nodes[i % n] (the first
 * min(harts, n) nodes take part); nodes[0] is the VM's home: its devices,
 * console and images live there. Guest memory is the machine's coherent
 * memory. The node passes messages of types VMM_MSG_FIRST..VMM_MSG_END-1
 * for the VM to vmm_vm_handle_msg() and the engine's lost lines to
 * vmm_vm_line_lost().
 */
struct coh_mem;
struct vmm_span_config {
	struct coh_mem *coh;		/* the node's coherence engine */
	unsigned self;			/* this node */
	const unsigned *nodes;		/* the VM's nodes, home first */
	unsigned n_nodes;
	uint32_t vm_id;			/* the same on every node (the VM's place in the description) */
	uint64_t start_ns;		/* the machine's time origin (CLOCK_MONOTONIC), the same on every node */
	void *opaque;
	/* send a message to another node; never blocks (the transport queues) */
	int (*send)(void *opaque, unsigned node, unsigned type, const void *payload, size_t len);
	/*
	 * The NUMA policy ([policy], docs/coherence.md "Page migration"):
	 * policy 0 off, 1 migrate, 2 replicate, 3 both.
	 */
	unsigned policy;
	/*
	 * Where a guest page gets its machine page when a hart first touches
	 * it ([vm] placement): 0 first-touch (the touching hart's node), 1
	 * round-robin over the VM's nodes in allocation order, 2 fixed (the
	 * home), 3 interleave (by page number), 4 block (one contiguous block
	 * of guest memory per node). The images the home loads are in its memory.
	 */
	unsigned placement;
	unsigned machine_nodes;		/* nodes of the whole machine (counters are per node) */
	uint64_t trigger;		/* misses to a page before the policy looks at it */
	unsigned dominance;		/* percent of them one node needs to get the page */
	uint64_t write_share;		/* write misses from each of two nodes that leave a page alone */
	unsigned max_moves;		/* moves per page per reset interval */
	uint64_t reset_ns, interval_ns;
	/* called once, right before this node first asks to move a page (a heat map "before") */
	void (*policy_acts)(void *opaque);
	/* called right before the miss counters are reset (a heat map of the window that ends) */
	void (*policy_reset)(void *opaque);
	void *policy_opaque;
	/*
	 * vCPUs moving between the VM's nodes ([machine] balance, docs/coherence.md
	 * "vCPUs moving between nodes"): 0 off, 1 on (the home moves a running
	 * vCPU from the VM's busiest node to its least busy one when their loads
	 * differ by balance_threshold runnable vCPUs or more), 2 rotate (every
	 * interval one vCPU moves to the next node of the list: for tests and
	 * for measuring what a move costs). node_load gives this node's
	 * runnable vCPUs, of every VM.
	 */
	unsigned balance;
	uint64_t balance_ns;
	unsigned balance_threshold;
	unsigned (*node_load)(void *opaque);
	void *load_opaque;
};

#define VMM_MSG_FIRST	200
#define VMM_MSG_END	232

struct vmm_span_stats {
	uint64_t pages_mapped;		/* guest pages this node knows the machine page of */
	uint64_t pages_here;		/* ... whose machine page is in this node's memory */
	uint64_t pmap_requests;		/* pages asked of the home node */
	uint64_t stalls_pmap;		/* hart stalls waiting for them */
	uint64_t mmio_forwarded;	/* MMIO accesses sent to the home node */
	uint64_t irqs_forwarded;	/* interrupt levels sent to a hart's node */
	uint64_t code_lost;		/* decoded-code pages read again after losing a line */
	uint64_t msgs_sent, msgs_recv, dropped;
	/* the NUMA policy */
	uint64_t migrations;		/* home: pages moved to another node */
	uint64_t pages_in;		/* pages copied into this node's memory by a migration */
	uint64_t pages_out;		/* pages of this node's memory given up by a migration */
	uint64_t shootdowns;		/* page translations dropped on this node before a move */
	uint64_t moves_asked;		/* pages this node proposed to move */
	uint64_t moves_refused;		/* home: proposals refused (a move in progress, max_moves) */
	uint64_t write_shared;		/* pages left alone because several nodes write them */
	uint64_t replications;		/* home: read-only replicas made */
	uint64_t collapses;		/* home: replicated pages collapsed by a write */
	uint64_t replica_pages;		/* replicas held in this node's memory now */
	uint64_t pages_shared;		/* home: guest pages mapped from the disk cache now */
	/* vCPUs moving between nodes */
	uint64_t vcpu_moves;		/* home: moves completed */
	uint64_t vcpu_move_ns;		/* home: their total time, from the decision to the vCPU running again */
	uint64_t vcpus_in, vcpus_out;	/* vCPUs that arrived on / left this node */
	uint64_t vcpu_move_wait_ns;	/* time a leaving vCPU waited to be free of misses and MMIO */
	uint64_t load_milli;		/* this node's runnable vCPUs (x1000), averaged over the last interval */
};

/*
 * Addition by the disk side (docs/disk.md): how the VM's disk is opened and
 * served. The image named by `disk` is a raw image or a disco overlay.
 */
struct vdisk_server;
struct vdisk_remote_base;
enum vmm_disk_mode {
	VMM_DISK_DIRECT,	/* the image as it is: a raw image written in place, an overlay used as is */
	VMM_DISK_TEMP,		/* raw base read-only + an overlay that is deleted at the end of the run */
	VMM_DISK_KEEP,		/* raw base read-only + a fresh overlay (overlay path) kept after the run */
	VMM_DISK_PERSISTENT,	/* raw base read-only + the overlay at overlay path, reused, one VM at a time */
};
struct vmm_disk_config {
	struct vdisk_server *server;	/* the node's io_uring server; NULL: each request waits for its I/O */
	enum vmm_disk_mode mode;
	const char *overlay;		/* KEEP, PERSISTENT: the overlay file; NULL or "": DISK.VMNAME.ovl */
	bool o_direct;			/* O_DIRECT on the image files */
	struct vdisk_cache *cache;	/* the node's global disk cache: base blocks shared copy-on-write; NULL: none */
	const struct vdisk_remote_base *remote;	/* the base is served by another node (vdisk.h); NULL: a local file */
	const struct vmm_gcache_ops *gcache;	/* other nodes' caches too ([machine] disk_cache = machine); NULL: no */
	const struct vdisk_remote_base *served;	/* the bases this node serves to others (vdisk_opts) */
	unsigned n_served;
};
/*
 * The disk cache across nodes (node/gcache.h): a VM on one node maps blocks
 * that another node's cache holds. The first three fields are vm.h's
 * struct pmap_remote_ops (the references the mappings hold). lookup - which
 * of n blocks of base key other nodes hold: done(arg, maddr) later, from the
 * loop, maddr[k] 0 for none, else a reference the caller ends with put;
 * returns 0, or < 0 (not asked). publish - this node's cache page holds the
 * block now.
 */
struct vmm_gcache_ops {
	void *opaque;
	struct coh_mem *coh;
	void (*put)(void *opaque, uint64_t maddr);
	int (*lookup)(void *opaque, uint64_t key, const uint64_t *block, unsigned n,
		      void (*done)(void *arg, const uint64_t *maddr), void *arg);
	void (*publish)(void *opaque, uint64_t key, uint64_t block, const uint8_t *page);
};
struct vmm_disk_stats {
	uint64_t requests, errors;	/* virtio-blk requests; those answered with an error status */
	uint64_t reads, writes, flushes;
	uint64_t bytes_read, bytes_written;	/* guest bytes */
	uint64_t bytes_from_base, bytes_from_overlay;	/* read from the files: base image, overlay */
	uint64_t clusters_allocated;	/* overlay clusters this run added */
	uint64_t bytes_from_cache;	/* read requests served from the disk cache without I/O */
	uint64_t shared_bytes;		/* guest memory mapped from the disk cache right now */
	uint64_t bytes_from_remote_cache;	/* of bytes_from_cache: mapped from other nodes' caches */
	uint64_t remote_shared_bytes;	/* of shared_bytes: pages of other nodes' caches */
};
/* Disk figures of a VM; false when it has no disk. */
bool vmm_vm_disk_stats(const struct vmm_vm *vm, struct vmm_disk_stats *st);

struct vmm_vm_config {
	const char *name;
	unsigned ncpus;			/* harts */
	uint64_t mem_bytes;		/* guest RAM at 0x80000000 */
	const char *kernel;		/* ELF or raw binary; required */
	const char *bios;		/* NULL: ELF starts at its entry (M mode) or built-in SBI */
	const char *initrd;		/* may be NULL */
	const char *append;		/* kernel command line, may be NULL */
	const char *disk;		/* raw disk image for virtio-blk, may be NULL */
	struct vmm_disk_config disk_cfg;	/* how it is opened and served (zero: as it is, waiting) */
	uint64_t quantum;		/* instructions per hart turn */
	const struct vmm_span_config *span;	/* NULL: the VM runs on this node alone */
	struct vmm_nic_config nic;	/* virtio-net in slot 1, when nic.on */
	struct vmm_mem_ops mem;
	struct vmm_console_ops console;
};

enum vmm_status {
	VMM_RUNNING,	/* budget used up, more to do */
	VMM_IDLE,	/* every hart waits for an interrupt; see vmm_vm_next_event_ns() */
	VMM_EXITED,	/* the guest powered off (test device, HTIF, SBI SRST); see exit code */
};

struct vmm_vm_stats {
	uint64_t instret;		/* instructions retired, all harts */
	uint64_t run_ns;		/* host time spent executing */
	uint64_t tlb_misses;
	uint64_t exceptions, interrupts;
	uint64_t pages_touched;		/* machine pages allocated by first touch */
	/* a VM spanning nodes: hart-time stalled (ns, summed over harts) */
	uint64_t stall_local_ns;	/* on lines of this node's memory (another node held them) */
	uint64_t stall_remote_ns;	/* on lines of other nodes' memory */
	uint64_t stall_monitor_ns;	/* on the monitor: pages being mapped or moved, MMIO forwarded home */
};

/*
 * vmm_vm_create - build a VM: board, device tree, load the images.
 * Returns the VM, or NULL with a one-line message in err (a missing or bad
 * image, memory that does not fit).
 */
struct vmm_vm *vmm_vm_create(const struct vmm_vm_config *cfg, char *err, size_t errlen);
void vmm_vm_destroy(struct vmm_vm *vm);

/* vmm_vm_run - run the harts for about `budget` instructions in all. */
enum vmm_status vmm_vm_run(struct vmm_vm *vm, uint64_t budget);

/* When IDLE: host CLOCK_MONOTONIC time (ns) of the next timer event, UINT64_MAX for none. */
uint64_t vmm_vm_next_event_ns(const struct vmm_vm *vm);

/* Bytes typed on the console, fed to the UART's receiver. */
void vmm_vm_console_input(struct vmm_vm *vm, const char *buf, size_t len);

/*
 * vmm_vm_nic_kick - frames wait at the NIC's back end: fill the receive
 * buffers the guest posted (raising its interrupt). No-op without a NIC.
 */
void vmm_vm_nic_kick(struct vmm_vm *vm);
/* The NIC's counters; returns false (st zeroed) when the VM has no NIC. */
bool vmm_vm_nic_stats(const struct vmm_vm *vm, struct vmm_nic_stats *st);

/* The guest's exit code once VMM_EXITED: 0 success, else the guest's failure code. */
int vmm_vm_exit_code(const struct vmm_vm *vm);

void vmm_vm_get_stats(const struct vmm_vm *vm, struct vmm_vm_stats *st);

/*
 * Addition by the board side: phase marks a guest makes with the disco SBI
 * extension (EID 0x0A00D15C, fid 0; docs/board.md), for per-phase reports.
 */
struct vmm_vm_phase {
	uint64_t phase;		/* the number the guest gave */
	uint64_t ns;		/* host time since the VM was created */
	uint64_t instret;	/* instructions retired by the VM at the mark */
};

/* Copies up to max marks, oldest first; returns how many there are (the first 256 are kept). */
size_t vmm_vm_get_phases(const struct vmm_vm *vm, struct vmm_vm_phase *out, size_t max);

/* A VM spanning nodes: a message for it (see struct vmm_span_config). Never blocks. */
void vmm_vm_handle_msg(struct vmm_vm *vm, unsigned src, unsigned type, const void *payload, size_t len);
/* A VM spanning nodes: this node lost the line at machine address line. */
void vmm_vm_line_lost(struct vmm_vm *vm, uint64_t line);
/*
 * vmm_vm_start - a VM spanning nodes: once every node created its instance,
 * the home tells the others where their harts start (no-op elsewhere and
 * for a VM on one node).
 */
void vmm_vm_start(struct vmm_vm *vm);
/* Whether this instance is the VM's home (devices, console, report); true for a VM on one node. */
bool vmm_vm_is_home(const struct vmm_vm *vm);
/* Harts of this VM that run on this node. */
unsigned vmm_vm_local_harts(const struct vmm_vm *vm);
/* Of those, the ones that want a processor: running, or stalled on memory or MMIO (not in WFI, not stopped). */
unsigned vmm_vm_runnable_harts(const struct vmm_vm *vm);
void vmm_vm_get_span_stats(const struct vmm_vm *vm, struct vmm_span_stats *st);
/*
 * vmm_vm_local_pages - a spanning VM's guest pages whose machine page is in
 * this node's memory: up to max (guest-physical address, machine address)
 * pairs, in guest order; returns how many there are.
 */
size_t vmm_vm_local_pages(const struct vmm_vm *vm, uint64_t *gpa, uint64_t *maddr, size_t max);

#endif
