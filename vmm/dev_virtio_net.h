/*
 * dev_virtio_net.h — virtio-net over virtio-mmio (virtio 1.2, 5.1), on a
 * NIC back end (struct vmm_nic_ops in vmm.h: the node connects it to a
 * vnet switch port, so vmm/ does not depend on vnet/).
 *
 * Queues: 0 receive, 1 transmit. Offered features: VIRTIO_F_VERSION_1,
 * MAC, STATUS (link always up), MTU, INDIRECT_DESC; no checksum offload,
 * no GSO, no mergeable buffers, so every frame goes in one receive chain
 * behind a 12-byte header whose num_buffers is 1 (10 bytes for a driver
 * that did not accept VERSION_1, as the legacy layout has it).
 *
 * Transmit: each chain is a header plus one frame, in any layout of
 * readable descriptors; the frame goes to the back end and the chain is
 * returned with used length 0. A frame larger than the MTU allows, shorter
 * than an Ethernet header, or whose buffers leave guest RAM is dropped and
 * counted. Receive: the device fills the driver's chains as frames arrive
 * (the back end's rx_peek/rx_pop); a chain with no frame to fill stays
 * available (-EAGAIN to the transport) and virtio_net_kick() fills it
 * later. A frame that does not fit the chain it meets is dropped and
 * counted, and the chain waits for the next frame.
 */
#ifndef DISCO_VMM_DEV_VIRTIO_NET_H
#define DISCO_VMM_DEV_VIRTIO_NET_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/vmm.h"

struct vm;
struct virtio_mmio;

#define VIRTIO_ID_NET			1
#define VIRTIO_NET_F_MTU		3
#define VIRTIO_NET_F_MAC		5
#define VIRTIO_NET_F_STATUS		16
#define VIRTIO_NET_S_LINK_UP		1
#define VIRTIO_NET_HDR_LEN		12
#define VIRTIO_NET_HDR_LEN_LEGACY	10
#define VIRTIO_NET_Q_RX			0
#define VIRTIO_NET_Q_TX			1

/*
 * virtio_net_new - a virtio-net device for nic behind a transport raising
 * PLIC source irq. Returns NULL with a message in err.
 */
struct virtio_mmio *virtio_net_new(struct vm *vm, unsigned irq, const struct vmm_nic_config *nic,
				   char *err, size_t errlen);
/* Frames are waiting at the back end: fill the receive chains the driver posted. */
void virtio_net_kick(struct virtio_mmio *v);
void virtio_net_get_stats(const struct virtio_mmio *v, struct vmm_nic_stats *st);

#endif
