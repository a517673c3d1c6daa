/*
 * dev_virtio_net.c — the virtio-net device model (see dev_virtio_net.h).
 *
 * Guest memory is reached only through the transport's request helpers
 * (virtio_req_read/write, which go through vm_gpa_read/write) and, for
 * remapping, the pmap's pmap_map_shared.
 *
 * Remapping. A received frame's bytes that fill a whole page-aligned page
 * of a receive buffer, and that the back end holds in a page-aligned host
 * page (its rx_share gives the reference counting), are mapped into the VM
 * copy-on-write instead of copied: a store by the guest later gives it a
 * private copy. Only for a VM that runs on this node alone (a spanning
 * VM's pages go through the coherence engine); everything else is copied.
 * Like virtio-blk's disk-cache mappings, a mapping may be made while the
 * guest's own notify is served: pmap_map_shared drops the harts' TLB
 * entries for the page. bytes_copied and bytes_remapped count the two.
 */
#include "vmm/dev_virtio_net.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "vmm/board.h"

#define ETH_HLEN	14
#define VLAN_HLEN	4

struct virtio_net {
	struct vm *vm;
	struct virtio_mmio *v;
	struct vmm_nic_config nic;
	struct vmm_nic_stats st;
	size_t frame_max;		/* mtu + Ethernet header + an 802.1Q tag */
	uint8_t *bounce;		/* one transmitted frame */
};

static unsigned hdr_len(const struct virtio_net *n)
{
	return (n->v->drv_features & (1ull << VIRTIO_F_VERSION_1)) ? VIRTIO_NET_HDR_LEN : VIRTIO_NET_HDR_LEN_LEGACY;
}

static int net_config_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
	struct virtio_net *n = opaque;
	uint8_t cfg[0x20] = {0};
	uint16_t status = VIRTIO_NET_S_LINK_UP, pairs = 1, mtu = (uint16_t)n->nic.mtu;
	uint32_t speed = 0xffffffff;	/* unknown */
	uint64_t v = 0;

	memcpy(cfg + 0, n->nic.mac, 6);
	memcpy(cfg + 6, &status, 2);
	memcpy(cfg + 8, &pairs, 2);
	memcpy(cfg + 10, &mtu, 2);
	memcpy(cfg + 12, &speed, 4);
	cfg[16] = 0xff;			/* duplex unknown */
	if (off + size <= sizeof(cfg))
		memcpy(&v, cfg + off, size);
	*val = v;
	return 0;
}

static int net_config_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	return 0;	/* CTRL_MAC_ADDR is not offered: the configuration is read-only */
}

static int64_t net_tx(struct virtio_net *n, const struct virtio_req *req)
{
	unsigned h = hdr_len(n);
	uint64_t len;

	if (req->out_len < h + ETH_HLEN) {
		n->st.tx_drop_runt++;
		LOG_RATELIMITED(SUB_VMM, LOG_WARN, "%s: virtio-net: transmit of %llu bytes: no header and frame",
				n->vm->name, (unsigned long long)req->out_len);
		return 0;
	}
	len = req->out_len - h;
	if (len > n->frame_max) {
		n->st.tx_drop_too_big++;
		LOG_RATELIMITED(SUB_VMM, LOG_WARN, "%s: virtio-net: transmitted frame of %llu bytes exceeds the MTU %u",
				n->vm->name, (unsigned long long)len, n->nic.mtu);
		return 0;
	}
	/* the page phase of frame byte 0, from the buffer holding most of the frame */
	unsigned phase = 0;
	uint64_t at = 0, best = 0;
	for (unsigned i = 0; i < req->n_out; i++) {
		uint64_t lo = at > h ? at : h, hi = at + req->out[i].len;
		if (hi > lo && hi - lo > best) {
			best = hi - lo;
			phase = (unsigned)((req->out[i].gpa + (lo - at) - (lo - h)) & (VM_PAGE_SIZE - 1));
		}
		at += req->out[i].len;
	}
	if (virtio_req_read(n->vm, req, h, n->bounce, len) < 0) {
		n->st.tx_drop_fault++;
		LOG_RATELIMITED(SUB_VMM, LOG_WARN, "%s: virtio-net: transmit buffer outside RAM", n->vm->name);
		return 0;
	}
	n->st.tx_frames++;
	n->st.tx_bytes += len;
	n->st.bytes_copied += len;
	if (n->nic.ops.tx)
		n->nic.ops.tx(n->nic.ops.opaque, n->bounce, len, phase);
	return 0;
}

/*
 * Write frame (len bytes) at offset h of the request's writable stream,
 * mapping whole aligned pages with share where it can. Returns the bytes
 * remapped, or -EFAULT (buffers outside RAM or too short).
 */
static int64_t rx_write_remap(struct virtio_net *n, const struct virtio_req *req, unsigned h,
			      const uint8_t *frame, size_t len, const struct vmm_share_ops *share)
{
	uint64_t so = 0;	/* stream offset of segment i */
	int64_t remapped = 0;
	size_t k = 0;		/* frame bytes placed */

	pmap_tlb_batch(n->vm->pmap, true);	/* (the remapped pages' TLB entries go in one pass) */
	for (unsigned i = 0; i < req->n_in && k < len; i++) {
		uint64_t seg = req->in[i].len, lo = so, gpa = req->in[i].gpa;

		so += seg;
		if (so <= h + k)
			continue;
		/* frame byte k sits at stream offset h + k, inside this segment */
		uint64_t skip = h + k - lo;
		gpa += skip;
		seg -= skip;
		while (seg && k < len) {
			uint64_t chunk = VM_PAGE_SIZE - (gpa & (VM_PAGE_SIZE - 1));
			if (chunk > seg)
				chunk = seg;
			if (chunk > len - k)
				chunk = len - k;
			if (chunk == VM_PAGE_SIZE && !((uintptr_t)(frame + k) & (VM_PAGE_SIZE - 1)) &&
			    pmap_map_shared(n->vm->pmap, gpa, (uint8_t *)(frame + k),
					    (const struct pmap_share_ops *)share) == 0) {
				remapped += VM_PAGE_SIZE;
			} else if (vm_gpa_write(n->vm, gpa, frame + k, chunk) < 0) {
				remapped = -EFAULT;
				goto out;
			}
			gpa += chunk;
			seg -= chunk;
			k += chunk;
		}
	}
	if (k != len)
		remapped = -EFAULT;
out:
	pmap_tlb_batch(n->vm->pmap, false);
	return remapped;
}

_Static_assert(sizeof(struct vmm_share_ops) == sizeof(struct pmap_share_ops) &&
	       offsetof(struct vmm_share_ops, put) == offsetof(struct pmap_share_ops, put),
	       "vmm_share_ops and pmap_share_ops must stay layout-identical");

static int64_t net_rx(struct virtio_net *n, const struct virtio_req *req)
{
	uint8_t hdr[VIRTIO_NET_HDR_LEN] = {0};
	unsigned h = hdr_len(n);
	const void *frame;
	size_t len;

	if (req->in_len == 0)
		return -EINVAL;		/* a receive chain with nothing the device may write */
	if (h == VIRTIO_NET_HDR_LEN)
		hdr[10] = 1;		/* num_buffers */
	for (;;) {
		len = n->nic.ops.rx_peek ? n->nic.ops.rx_peek(n->nic.ops.opaque, &frame) : 0;
		if (!len)
			return -EAGAIN;
		if (req->in_len < h + len) {
			n->st.rx_drop_small_buffer++;
			LOG_RATELIMITED(SUB_VMM, LOG_WARN, "%s: virtio-net: frame of %zu bytes dropped: receive buffer of %llu bytes",
					n->vm->name, len, (unsigned long long)req->in_len);
			n->nic.ops.rx_pop(n->nic.ops.opaque, false, 0);
			continue;
		}
		const struct vmm_share_ops *share = NULL;
		int64_t remapped = 0;
		if (!n->vm->span && len >= VM_PAGE_SIZE && n->nic.ops.rx_share)
			share = n->nic.ops.rx_share(n->nic.ops.opaque);
		if (virtio_req_write(n->vm, req, 0, hdr, h) < 0 ||
		    (share ? (remapped = rx_write_remap(n, req, h, frame, len, share)) < 0
			   : virtio_req_write(n->vm, req, h, frame, len) < 0)) {
			n->st.rx_drop_fault++;
			LOG_RATELIMITED(SUB_VMM, LOG_WARN, "%s: virtio-net: receive buffer outside RAM", n->vm->name);
			n->nic.ops.rx_pop(n->nic.ops.opaque, false, 0);
			return 0;
		}
		n->st.rx_frames++;
		n->st.rx_bytes += len;
		n->st.bytes_copied += len - (uint64_t)remapped;
		n->st.bytes_remapped += (uint64_t)remapped;
		n->nic.ops.rx_pop(n->nic.ops.opaque, true, (size_t)remapped);
		return (int64_t)(h + len);
	}
}

static int64_t net_handle(void *opaque, unsigned q, const struct virtio_req *req)
{
	struct virtio_net *n = opaque;

	return q == VIRTIO_NET_Q_TX ? net_tx(n, req) : net_rx(n, req);
}

static void net_free(void *opaque)
{
	struct virtio_net *n = opaque;

	free(n->bounce);
	free(n);
}

static const struct virtio_dev_ops net_ops = {
	.name = "net",
	.device_id = VIRTIO_ID_NET,
	.nqueues = 2,
	.config_read = net_config_read,
	.config_write = net_config_write,
	.handle = net_handle,
	.free = net_free,
};

struct virtio_mmio *virtio_net_new(struct vm *vm, unsigned irq, const struct vmm_nic_config *nic,
				   char *err, size_t errlen)
{
	struct virtio_net *n;
	uint64_t features = (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS) |
			    (1ull << VIRTIO_NET_F_MTU) | (1ull << VIRTIO_F_INDIRECT_DESC);

	if (nic->mtu < 68 || nic->mtu > 65535) {
		snprintf(err, errlen, "virtio-net: mtu %u: use 68 to 65535", nic->mtu);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		goto oom;
	n->vm = vm;
	n->nic = *nic;
	n->frame_max = nic->mtu + ETH_HLEN + VLAN_HLEN;
	n->bounce = malloc(n->frame_max);
	if (!n->bounce)
		goto oom;
	n->v = virtio_mmio_new(vm, irq, features, &net_ops, n, err, errlen);
	if (!n->v) {
		net_free(n);
		return NULL;
	}
	return n->v;
oom:
	if (n)
		net_free(n);
	snprintf(err, errlen, "virtio-net: out of memory");
	return NULL;
}

void virtio_net_kick(struct virtio_mmio *v)
{
	virtio_mmio_queue_kick(v, VIRTIO_NET_Q_RX);
}

void virtio_net_get_stats(const struct virtio_mmio *v, struct vmm_nic_stats *st)
{
	const struct virtio_net *n = v->opaque;

	*st = n->st;
	st->device_errors = v->errors;
}
