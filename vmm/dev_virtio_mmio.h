/*
 * dev_virtio_mmio.h — virtio-mmio transport, version 2 (virtio 1.x, modern
 * only), with split virtqueues; device models plug in through
 * struct virtio_dev_ops.
 *
 * Protocol (virtio 1.2, 4.2.3): the driver resets (Status = 0), sets
 * ACKNOWLEDGE and DRIVER, reads DeviceFeatures, writes DriverFeatures, sets
 * FEATURES_OK (refused if the driver accepts a feature not offered), sets
 * up each queue (QueueSel, QueueNum, Desc/Driver/
 * Device addresses, QueueReady = 1) and sets DRIVER_OK. A QueueNotify write
 * then runs every available request of that queue synchronously: the chain
 * is gathered (readable buffers first, then writable), the device's handle()
 * fills it, the used ring is updated and, unless the driver suppressed it,
 * InterruptStatus bit 0 raises the PLIC line until InterruptACK.
 *
 * A driver that breaks the ring rules (descriptor index out of range, a
 * loop, a readable buffer after a writable one, a bad indirect table, an
 * avail index running ahead by more than the queue size) puts the device in
 * DEVICE_NEEDS_RESET with a configuration-change interrupt; the device then
 * does nothing until reset. The legacy (version 1) registers are refused.
 * A driver that does not accept VIRTIO_F_VERSION_1 on this version-2
 * transport is served all the same, as QEMU does (xv6-riscv is one): on a
 * little-endian machine with split rings the two agree.
 */
#ifndef DISCO_VMM_DEV_VIRTIO_MMIO_H
#define DISCO_VMM_DEV_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct hart;

#define VIRTIO_MMIO_MAGIC		0x74726976	/* "virt" */
#define VIRTIO_MMIO_VENDOR		0x554d4551	/* "QEMU": xv6 and others check it */

#define VIRTIO_MMIO_MAGIC_VALUE		0x000
#define VIRTIO_MMIO_VERSION		0x004
#define VIRTIO_MMIO_DEVICE_ID		0x008
#define VIRTIO_MMIO_VENDOR_ID		0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES	0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL	0x014
#define VIRTIO_MMIO_DRIVER_FEATURES	0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL	0x024
#define VIRTIO_MMIO_GUEST_PAGE_SIZE	0x028	/* legacy */
#define VIRTIO_MMIO_QUEUE_SEL		0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX	0x034
#define VIRTIO_MMIO_QUEUE_NUM		0x038
#define VIRTIO_MMIO_QUEUE_ALIGN		0x03c	/* legacy */
#define VIRTIO_MMIO_QUEUE_PFN		0x040	/* legacy */
#define VIRTIO_MMIO_QUEUE_READY		0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY	0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS	0x060
#define VIRTIO_MMIO_INTERRUPT_ACK	0x064
#define VIRTIO_MMIO_STATUS		0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW	0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH	0x084
#define VIRTIO_MMIO_QUEUE_AVAIL_LOW	0x090
#define VIRTIO_MMIO_QUEUE_AVAIL_HIGH	0x094
#define VIRTIO_MMIO_QUEUE_USED_LOW	0x0a0
#define VIRTIO_MMIO_QUEUE_USED_HIGH	0x0a4
#define VIRTIO_MMIO_SHM_SEL		0x0ac
#define VIRTIO_MMIO_SHM_LEN_LOW		0x0b0
#define VIRTIO_MMIO_SHM_LEN_HIGH	0x0b4
#define VIRTIO_MMIO_SHM_BASE_LOW	0x0b8
#define VIRTIO_MMIO_SHM_BASE_HIGH	0x0bc
#define VIRTIO_MMIO_CONFIG_GENERATION	0x0fc
#define VIRTIO_MMIO_CONFIG		0x100

#define VIRTIO_STATUS_ACKNOWLEDGE	0x01
#define VIRTIO_STATUS_DRIVER		0x02
#define VIRTIO_STATUS_DRIVER_OK		0x04
#define VIRTIO_STATUS_FEATURES_OK	0x08
#define VIRTIO_STATUS_NEEDS_RESET	0x40
#define VIRTIO_STATUS_FAILED		0x80

#define VIRTIO_F_INDIRECT_DESC		28
#define VIRTIO_F_VERSION_1		32

#define VIRTQ_DESC_F_NEXT		1
#define VIRTQ_DESC_F_WRITE		2
#define VIRTQ_DESC_F_INDIRECT		4
#define VIRTQ_AVAIL_F_NO_INTERRUPT	1

#define VIRTIO_QUEUES_MAX	2
#define VIRTQ_SIZE_MAX		256	/* QueueNumMax */
#define VIRTQ_SG_MAX		(VIRTQ_SIZE_MAX + 2)	/* buffers in one request */

/* One guest buffer of a request. */
struct virtio_sg {
	uint64_t gpa;
	uint32_t len;
};

/* A gathered request: out[] the driver's readable buffers, in[] the writable ones. */
struct virtio_req {
	const struct virtio_sg *out, *in;
	unsigned n_out, n_in;
	uint64_t out_len, in_len;
	uint16_t head;		/* its descriptor chain, for virtio_mmio_complete() */
};

/*
 * Returned by handle() for a request the device completes later (disk I/O
 * in flight): the transport moves on without touching the used ring, and
 * the device calls virtio_mmio_complete() from the node's loop once done.
 * The buffers in req are the transport's until handle() returns: a device
 * that defers copies them.
 */
#define VIRTIO_REQ_PENDING	INT64_MAX

struct virtio_dev_ops {
	const char *name;
	uint32_t device_id;
	unsigned nqueues;
	/* Device-specific configuration space (offset from 0x100). */
	int (*config_read)(void *opaque, uint64_t off, unsigned size, uint64_t *val);
	int (*config_write)(void *opaque, uint64_t off, unsigned size, uint64_t val);
	/*
	 * Serve one request of queue q. Returns the bytes written into the
	 * writable buffers (the used length), or -EINVAL when the driver broke
	 * the rules so that not even an error status can be given (the device
	 * then needs a reset), or -EAGAIN when the device has nothing to put
	 * in the buffers yet (a receive queue): the request and those after it
	 * stay available until virtio_mmio_queue_kick().
	 */
	int64_t (*handle)(void *opaque, unsigned q, const struct virtio_req *req);
	void (*reset)(void *opaque);
	void (*free)(void *opaque);
};

struct virtqueue {
	uint32_t num;
	bool ready;
	uint64_t desc, avail, used;
	uint16_t last_avail, used_idx;
};

struct virtio_mmio {
	struct vm *vm;
	unsigned irq;
	const struct virtio_dev_ops *ops;
	void *opaque;
	uint64_t dev_features, drv_features;
	uint32_t dev_features_sel, drv_features_sel, queue_sel;
	uint32_t status, isr;
	struct virtqueue vq[VIRTIO_QUEUES_MAX];
	struct virtio_sg sg[VIRTQ_SG_MAX];
	uint64_t requests, errors;
};

/*
 * virtio_mmio_new - a transport for one device; features are the device's
 * (VIRTIO_F_VERSION_1 is added). Returns NULL with a message in err.
 */
struct virtio_mmio *virtio_mmio_new(struct vm *vm, unsigned irq, uint64_t features,
				    const struct virtio_dev_ops *ops, void *opaque,
				    char *err, size_t errlen);
/*
 * virtio_mmio_complete - put a deferred request (VIRTIO_REQ_PENDING) in
 * queue q's used ring with used length len and raise the interrupt unless
 * the driver suppressed it. Does nothing when the queue was reset or the
 * device needs a reset since: the device must not complete requests of a
 * previous generation (see ops->reset).
 */
void virtio_mmio_complete(struct virtio_mmio *v, unsigned q, uint16_t head, uint32_t len);
/* Frees the transport and its device (ops->free). */
void virtio_mmio_free(struct virtio_mmio *v);
/*
 * virtio_mmio_queue_kick - serve queue q's available requests as a
 * QueueNotify would: for a device that now has data for buffers it
 * deferred with -EAGAIN. Nothing happens while the driver is not ready.
 */
void virtio_mmio_queue_kick(struct virtio_mmio *v, unsigned q);
/* MMIO handlers; opaque NULL is an empty slot (DeviceID 0). */
int virtio_mmio_read(void *opaque, struct hart *h, uint64_t off, unsigned size, uint64_t *val);
int virtio_mmio_write(void *opaque, struct hart *h, uint64_t off, unsigned size, uint64_t val);

/*
 * Copy to or from a request's buffers, at byte offset off of the writable
 * (in) or readable (out) stream. Return 0, or -EFAULT when the buffers are
 * shorter than off+len or lie outside guest RAM.
 */
int virtio_req_read(struct vm *vm, const struct virtio_req *req, uint64_t off, void *buf, size_t len);
int virtio_req_write(struct vm *vm, const struct virtio_req *req, uint64_t off, const void *buf, size_t len);

#endif
