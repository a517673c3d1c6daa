/*
 * virtio.h: the virtio-mmio transport (version 2) as the guest's drivers
 * and test programs see it: the slots of QEMU's virt board, the register
 * offsets, the device status bits, a split ring's descriptor and used
 * element, and the search for a device.
 */
#ifndef RT_VIRTIO_H
#define RT_VIRTIO_H

#include "rt.h"

#define VIRTIO_BASE		0x10001000UL
#define VIRTIO_STRIDE		0x1000UL
#define VIRTIO_SLOTS		8
#define VIRTIO_MAGIC		0x74726976	/* "virt" */

#define R_MAGIC			0x000
#define R_VERSION		0x004
#define R_DEVICE_ID		0x008
#define R_DEV_FEATURES		0x010
#define R_DEV_FEATURES_SEL	0x014
#define R_DRV_FEATURES		0x020
#define R_DRV_FEATURES_SEL	0x024
#define R_QUEUE_SEL		0x030
#define R_QUEUE_NUM_MAX		0x034
#define R_QUEUE_NUM		0x038
#define R_QUEUE_READY		0x044
#define R_QUEUE_NOTIFY		0x050
#define R_INT_STATUS		0x060
#define R_INT_ACK		0x064
#define R_STATUS		0x070
#define R_QUEUE_DESC		0x080
#define R_QUEUE_DRIVER		0x090
#define R_QUEUE_DEVICE		0x0a0
#define R_CONFIG		0x100

#define S_ACK			1
#define S_DRIVER		2
#define S_DRIVER_OK		4
#define S_FEATURES_OK		8
#define S_NEEDS_RESET		0x40

struct virtq_desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct virtq_used_elem { uint32_t id, len; };
/* The test guests' queues (VIRTQ_N entries) and a virtio-blk request header. */
#define VIRTQ_N			8
struct virtq_avail { uint16_t flags, idx, ring[VIRTQ_N], used_event; };
struct virtq_used { uint16_t flags, idx; struct virtq_used_elem ring[VIRTQ_N]; uint16_t avail_event; };
struct virtio_blk_hdr { uint32_t type, reserved; uint64_t sector; };

/*
 * virtio_find - the base of the first slot with a device of type id (and
 * of the given transport version; 0: any), or 0 when there is none.
 */
static inline uintptr_t virtio_find(uint32_t id, uint32_t version)
{
	for (unsigned i = 0; i < VIRTIO_SLOTS; i++) {
		uintptr_t b = VIRTIO_BASE + VIRTIO_STRIDE * i;
		if (rt_mmio_r32(b + R_MAGIC) == VIRTIO_MAGIC && rt_mmio_r32(b + R_DEVICE_ID) == id &&
		    (!version || rt_mmio_r32(b + R_VERSION) == version))
			return b;
	}
	return 0;
}

/*
 * virtio_start_v1 - reset the device at base b, accept VIRTIO_F_VERSION_1
 * alone, give queue 0 qsize entries at desc, avail and used, and set
 * DRIVER_OK. Returns 0; 2 when the device refused the features; 3 when
 * its queue 0 is smaller than qsize (then it is left unstarted).
 */
static inline int virtio_start_v1(uintptr_t b, unsigned qsize, const void *desc, const void *avail,
				  const void *used)
{
	const uintptr_t q[3] = { (uintptr_t)desc, (uintptr_t)avail, (uintptr_t)used };
	static const unsigned reg[3] = { R_QUEUE_DESC, R_QUEUE_DRIVER, R_QUEUE_DEVICE };

	rt_mmio_w32(b + R_STATUS, 0);
	rt_mmio_w32(b + R_STATUS, S_ACK | S_DRIVER);
	rt_mmio_w32(b + R_DRV_FEATURES_SEL, 1);
	rt_mmio_w32(b + R_DRV_FEATURES, 1);
	rt_mmio_w32(b + R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(rt_mmio_r32(b + R_STATUS) & S_FEATURES_OK))
		return 2;
	rt_mmio_w32(b + R_QUEUE_SEL, 0);
	if (rt_mmio_r32(b + R_QUEUE_NUM_MAX) < qsize)
		return 3;
	rt_mmio_w32(b + R_QUEUE_NUM, qsize);
	for (unsigned i = 0; i < 3; i++) {
		rt_mmio_w32(b + reg[i], (uint32_t)q[i]);
		rt_mmio_w32(b + reg[i] + 4, (uint32_t)((uint64_t)q[i] >> 32));
	}
	rt_mmio_w32(b + R_QUEUE_READY, 1);
	rt_mmio_w32(b + R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	return 0;
}

#endif
