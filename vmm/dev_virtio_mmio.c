/*
 * dev_virtio_mmio.c — the virtio-mmio transport and split virtqueues.
 *
 * See dev_virtio_mmio.h for the driver protocol and what counts as a broken
 * driver. All guest memory (rings, descriptors, buffers) is reached with
 * vm_gpa_read/write, page by page through vm_ram_page(): a ring or buffer
 * address outside RAM is a driver error, never a host access.
 *
 * Registers below 0x100 are 32-bit (other sizes read 0 and are ignored);
 * the configuration space takes 1, 2, 4 and 8-byte accesses.
 */
#include "vmm/dev_virtio_mmio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "vmm/board.h"

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static void irq_update(struct virtio_mmio *v)
{
	vm_irq_set(v->vm, v->irq, v->isr != 0);
}

static void needs_reset(struct virtio_mmio *v, const char *why)
{
	LOG_RATELIMITED(SUB_VMM, LOG_WARN, "%s: virtio-%s at irq %u: %s: device needs reset",
			v->vm->name, v->ops->name, v->irq, why);
	v->errors++;
	if (v->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	v->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (v->status & VIRTIO_STATUS_DRIVER_OK) {
		v->isr |= 2;	/* configuration change */
		irq_update(v);
	}
}

static void device_reset(struct virtio_mmio *v)
{
	v->drv_features = 0;
	v->dev_features_sel = v->drv_features_sel = v->queue_sel = 0;
	v->status = 0;
	v->isr = 0;
	memset(v->vq, 0, sizeof(v->vq));
	if (v->ops->reset)
		v->ops->reset(v->opaque);
	irq_update(v);
}

struct virtio_mmio *virtio_mmio_new(struct vm *vm, unsigned irq, uint64_t features,
				    const struct virtio_dev_ops *ops, void *opaque,
				    char *err, size_t errlen)
{
	struct virtio_mmio *v;

	BUG_ON(ops->nqueues == 0 || ops->nqueues > VIRTIO_QUEUES_MAX);
	v = calloc(1, sizeof(*v));
	if (!v) {
		snprintf(err, errlen, "virtio-%s: out of memory", ops->name);
		return NULL;
	}
	v->vm = vm;
	v->irq = irq;
	v->ops = ops;
	v->opaque = opaque;
	v->dev_features = features | (1ull << VIRTIO_F_VERSION_1);
	return v;
}

void virtio_mmio_free(struct virtio_mmio *v)
{
	if (!v)
		return;
	if (v->ops->free)
		v->ops->free(v->opaque);
	free(v);
}

/* ---- request buffers ---- */

static int sg_copy(struct vm *vm, const struct virtio_sg *sg, unsigned n, uint64_t off,
		   void *buf, size_t len, bool to_guest)
{
	uint8_t *p = buf;

	for (unsigned i = 0; i < n && len; i++) {
		uint64_t chunk;
		int r;

		if (off >= sg[i].len) {
			off -= sg[i].len;
			continue;
		}
		chunk = sg[i].len - off;
		if (chunk > len)
			chunk = len;
		r = to_guest ? vm_gpa_write(vm, sg[i].gpa + off, p, chunk)
			     : vm_gpa_read(vm, sg[i].gpa + off, p, chunk);
		if (r < 0)
			return r;
		p += chunk;
		len -= chunk;
		off = 0;
	}
	return len ? -EFAULT : 0;
}

int virtio_req_read(struct vm *vm, const struct virtio_req *req, uint64_t off, void *buf, size_t len)
{
	return sg_copy(vm, req->out, req->n_out, off, buf, len, false);
}

int virtio_req_write(struct vm *vm, const struct virtio_req *req, uint64_t off, const void *buf, size_t len)
{
	return sg_copy(vm, req->in, req->n_in, off, (void *)buf, len, true);
}

/* ---- split virtqueue ---- */

static int read_u16(struct vm *vm, uint64_t gpa, uint16_t *v)
{
	return vm_gpa_read(vm, gpa, v, 2);
}

/*
 * Gather the chain at head into v->sg and req. Returns 0, or a static
 * string naming the rule the driver broke.
 */
static const char *chain_gather(struct virtio_mmio *v, struct virtqueue *q, uint16_t head,
				struct virtio_req *req)
{
	uint64_t table = q->desc;
	uint32_t tsize = q->num, idx = head, seen = 0;
	bool indirect = false;
	unsigned n = 0, n_out = 0;

	memset(req, 0, sizeof(*req));
	if (head >= q->num)
		return "available ring names a descriptor out of range";
	for (;;) {
		struct vring_desc d;

		if (vm_gpa_read(v->vm, table + 16ull * idx, &d, sizeof(d)) < 0)
			return "descriptor table outside RAM";
		if (++seen > tsize)
			return "descriptor chain loops";
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (indirect)
				return "nested indirect descriptor";
			if (!(v->drv_features & (1ull << VIRTIO_F_INDIRECT_DESC)))
				return "indirect descriptor without VIRTIO_F_INDIRECT_DESC";
			if (d.flags & VIRTQ_DESC_F_NEXT)
				return "indirect descriptor with NEXT";
			if (d.len == 0 || d.len % 16 || d.len / 16 > VIRTQ_SG_MAX)
				return "bad indirect table length";
			table = d.addr;
			tsize = d.len / 16;
			idx = 0;
			seen = 0;
			indirect = true;
			continue;
		}
		if (n == VIRTQ_SG_MAX)
			return "too many buffers in one request";
		if (d.flags & VIRTQ_DESC_F_WRITE) {
			req->in_len += d.len;
		} else {
			if (n != n_out)
				return "readable buffer after a writable one";
			n_out++;
			req->out_len += d.len;
		}
		v->sg[n].gpa = d.addr;
		v->sg[n].len = d.len;
		n++;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		idx = d.next;
		if (idx >= tsize)
			return "descriptor next out of range";
	}
	req->out = v->sg;
	req->n_out = n_out;
	req->in = v->sg + n_out;
	req->n_in = n - n_out;
	req->head = head;
	return NULL;
}

static void queue_notify(struct virtio_mmio *v, unsigned qi)
{
	struct virtqueue *q;
	uint16_t avail_idx, flags;
	const char *bad = NULL;
	bool used = false;

	if (qi >= v->ops->nqueues)
		return;
	q = &v->vq[qi];
	if (!q->ready || !(v->status & VIRTIO_STATUS_DRIVER_OK) || (v->status & VIRTIO_STATUS_NEEDS_RESET))
		return;
	if (read_u16(v->vm, q->avail + 2, &avail_idx) < 0) {
		bad = "available ring outside RAM";
		goto broken;
	}
	if ((uint16_t)(avail_idx - q->last_avail) > q->num) {
		bad = "available index ahead by more than the queue size";
		goto broken;
	}
	while (q->last_avail != avail_idx) {
		struct virtio_req req;
		uint16_t head;
		int64_t len;
		uint32_t elem[2];

		if (read_u16(v->vm, q->avail + 4 + 2ull * (q->last_avail % q->num), &head) < 0) {
			bad = "available ring outside RAM";
			goto broken;
		}
		bad = chain_gather(v, q, head, &req);
		if (bad)
			goto broken;
		len = v->ops->handle(v->opaque, qi, &req);
		if (len == -EAGAIN)
			break;	/* the device has nothing for this buffer yet: it stays available */
		v->requests++;
		if (len < 0) {
			bad = "request without a usable status buffer";
			goto broken;
		}
		if (len == VIRTIO_REQ_PENDING) {	/* completed later by virtio_mmio_complete() */
			q->last_avail++;
			continue;
		}
		elem[0] = head;
		elem[1] = (uint32_t)len;
		if (vm_gpa_write(v->vm, q->used + 4 + 8ull * (q->used_idx % q->num), elem, sizeof(elem)) < 0 ||
		    vm_gpa_write(v->vm, q->used + 2, &(uint16_t){ q->used_idx + 1 }, 2) < 0) {
			bad = "used ring outside RAM";
			goto broken;
		}
		q->used_idx++;
		q->last_avail++;
		used = true;
	}
	if (used && read_u16(v->vm, q->avail, &flags) == 0 && !(flags & VIRTQ_AVAIL_F_NO_INTERRUPT)) {
		v->isr |= 1;
		irq_update(v);
	}
	return;
broken:
	needs_reset(v, bad);
}

void virtio_mmio_queue_kick(struct virtio_mmio *v, unsigned q)
{
	queue_notify(v, q);
}

void virtio_mmio_complete(struct virtio_mmio *v, unsigned qi, uint16_t head, uint32_t len)
{
	struct virtqueue *q;
	uint32_t elem[2] = { head, len };
	uint16_t flags;

	if (qi >= v->ops->nqueues)
		return;
	q = &v->vq[qi];
	if (!q->ready || !(v->status & VIRTIO_STATUS_DRIVER_OK) || (v->status & VIRTIO_STATUS_NEEDS_RESET))
		return;
	if (vm_gpa_write(v->vm, q->used + 4 + 8ull * (q->used_idx % q->num), elem, sizeof(elem)) < 0 ||
	    vm_gpa_write(v->vm, q->used + 2, &(uint16_t){ q->used_idx + 1 }, 2) < 0) {
		needs_reset(v, "used ring outside RAM");
		return;
	}
	q->used_idx++;
	if (read_u16(v->vm, q->avail, &flags) == 0 && !(flags & VIRTQ_AVAIL_F_NO_INTERRUPT)) {
		v->isr |= 1;
		irq_update(v);
	}
}

/* QueueReady = 1: check the queue the driver set up. */
static void queue_enable(struct virtio_mmio *v, struct virtqueue *q)
{
	const char *bad = NULL;

	if (q->num == 0 || q->num > VIRTQ_SIZE_MAX || (q->num & (q->num - 1)))
		bad = "queue size not a power of two up to QueueNumMax";
	else if ((q->desc & 15) || !vm_gpa_is_ram(v->vm, q->desc, 16ull * q->num))
		bad = "descriptor table misaligned or outside RAM";
	else if ((q->avail & 1) || !vm_gpa_is_ram(v->vm, q->avail, 6 + 2ull * q->num))
		bad = "available ring misaligned or outside RAM";
	else if ((q->used & 3) || !vm_gpa_is_ram(v->vm, q->used, 6 + 8ull * q->num))
		bad = "used ring misaligned or outside RAM";
	if (bad) {
		LOG_RATELIMITED(SUB_VMM, LOG_WARN, "%s: virtio-%s: queue not enabled: %s",
				v->vm->name, v->ops->name, bad);
		return;
	}
	q->last_avail = 0;
	q->used_idx = 0;
	q->ready = true;
}

/* ---- registers ---- */

int virtio_mmio_read(void *opaque, struct hart *h, uint64_t off, unsigned size, uint64_t *val)
{
	struct virtio_mmio *v = opaque;
	struct virtqueue *q;
	uint32_t r = 0;

	*val = 0;
	if (off >= VIRTIO_MMIO_CONFIG)
		return v && v->ops->config_read ? v->ops->config_read(v->opaque, off - VIRTIO_MMIO_CONFIG, size, val) : 0;
	if (size != 4)
		return 0;
	if (!v) {	/* empty slot: a device with ID 0, as QEMU shows it */
		if (off == VIRTIO_MMIO_MAGIC_VALUE)
			*val = VIRTIO_MMIO_MAGIC;
		else if (off == VIRTIO_MMIO_VERSION)
			*val = 2;
		else if (off == VIRTIO_MMIO_VENDOR_ID)
			*val = VIRTIO_MMIO_VENDOR;
		return 0;
	}
	q = v->queue_sel < VIRTIO_QUEUES_MAX ? &v->vq[v->queue_sel] : NULL;
	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE: r = VIRTIO_MMIO_MAGIC; break;
	case VIRTIO_MMIO_VERSION: r = 2; break;
	case VIRTIO_MMIO_DEVICE_ID: r = v->ops->device_id; break;
	case VIRTIO_MMIO_VENDOR_ID: r = VIRTIO_MMIO_VENDOR; break;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		r = v->dev_features_sel < 2 ? v->dev_features >> (32 * v->dev_features_sel) : 0;
		break;
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		r = v->queue_sel < v->ops->nqueues ? VIRTQ_SIZE_MAX : 0;
		break;
	case VIRTIO_MMIO_QUEUE_READY: r = q ? q->ready : 0; break;
	case VIRTIO_MMIO_INTERRUPT_STATUS: r = v->isr; break;
	case VIRTIO_MMIO_STATUS: r = v->status; break;
	case VIRTIO_MMIO_QUEUE_NUM: r = q ? q->num : 0; break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW: r = q ? q->desc : 0; break;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH: r = q ? q->desc >> 32 : 0; break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW: r = q ? q->avail : 0; break;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH: r = q ? q->avail >> 32 : 0; break;
	case VIRTIO_MMIO_QUEUE_USED_LOW: r = q ? q->used : 0; break;
	case VIRTIO_MMIO_QUEUE_USED_HIGH: r = q ? q->used >> 32 : 0; break;
	case VIRTIO_MMIO_SHM_LEN_LOW: case VIRTIO_MMIO_SHM_LEN_HIGH:
	case VIRTIO_MMIO_SHM_BASE_LOW: case VIRTIO_MMIO_SHM_BASE_HIGH:
		r = 0xffffffff;	/* no shared memory regions */
		break;
	case VIRTIO_MMIO_CONFIG_GENERATION: r = 0; break;
	default: r = 0; break;
	}
	*val = r;
	return 0;
}

static void set_addr(struct virtqueue *q, uint64_t *field, bool high, uint32_t val)
{
	if (q->ready)
		return;	/* the driver must not change a live queue */
	*field = high ? (*field & 0xffffffffull) | ((uint64_t)val << 32)
		      : (*field & ~0xffffffffull) | val;
}

static void status_write(struct virtio_mmio *v, uint32_t val)
{
	if (val == 0) {
		device_reset(v);
		return;
	}
	if ((val & VIRTIO_STATUS_FEATURES_OK) && !(v->status & VIRTIO_STATUS_FEATURES_OK)) {
		const char *bad = NULL;

		if (v->drv_features & ~v->dev_features)
			bad = "driver accepted features the device does not offer";
		else if (!(v->drv_features & (1ull << VIRTIO_F_VERSION_1)))
			LOG_RATELIMITED(SUB_VMM, LOG_DEBUG, "%s: virtio-%s: driver without VIRTIO_F_VERSION_1 "
					"served as a modern one", v->vm->name, v->ops->name);
		if (bad) {
			LOG_RATELIMITED(SUB_VMM, LOG_WARN, "%s: virtio-%s: FEATURES_OK refused: %s",
					v->vm->name, v->ops->name, bad);
			val &= ~VIRTIO_STATUS_FEATURES_OK;
		}
	}
	v->status = (val & 0xff & ~VIRTIO_STATUS_NEEDS_RESET) | (v->status & VIRTIO_STATUS_NEEDS_RESET);
}

int virtio_mmio_write(void *opaque, struct hart *h, uint64_t off, unsigned size, uint64_t val64)
{
	struct virtio_mmio *v = opaque;
	struct virtqueue *q;
	uint32_t val = val64;

	if (!v)
		return 0;
	if (off >= VIRTIO_MMIO_CONFIG)
		return v->ops->config_write ? v->ops->config_write(v->opaque, off - VIRTIO_MMIO_CONFIG, size, val64) : 0;
	if (size != 4) {
		LOG_RATELIMITED(SUB_VMM, LOG_WARN, "%s: virtio: %u-byte register write at +%#llx ignored",
				v->vm->name, size, (unsigned long long)off);
		return 0;
	}
	q = v->queue_sel < v->ops->nqueues ? &v->vq[v->queue_sel] : NULL;
	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL: v->dev_features_sel = val; break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL: v->drv_features_sel = val; break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if (v->drv_features_sel < 2 && !(v->status & VIRTIO_STATUS_FEATURES_OK)) {
			unsigned sh = 32 * v->drv_features_sel;

			v->drv_features = (v->drv_features & ~(0xffffffffull << sh)) | ((uint64_t)val << sh);
		}
		break;
	case VIRTIO_MMIO_QUEUE_SEL: v->queue_sel = val; break;
	case VIRTIO_MMIO_QUEUE_NUM:
		if (q && !q->ready)
			q->num = val;
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		if (!q)
			break;
		if (val & 1) {
			if (!q->ready)
				queue_enable(v, q);
		} else {
			q->ready = false;
		}
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY: queue_notify(v, val & 0xffff); break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		v->isr &= ~val;
		irq_update(v);
		break;
	case VIRTIO_MMIO_STATUS: status_write(v, val); break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW: if (q) set_addr(q, &q->desc, false, val); break;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH: if (q) set_addr(q, &q->desc, true, val); break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW: if (q) set_addr(q, &q->avail, false, val); break;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH: if (q) set_addr(q, &q->avail, true, val); break;
	case VIRTIO_MMIO_QUEUE_USED_LOW: if (q) set_addr(q, &q->used, false, val); break;
	case VIRTIO_MMIO_QUEUE_USED_HIGH: if (q) set_addr(q, &q->used, true, val); break;
	case VIRTIO_MMIO_GUEST_PAGE_SIZE:
	case VIRTIO_MMIO_QUEUE_ALIGN:
	case VIRTIO_MMIO_QUEUE_PFN:
		LOG_RATELIMITED(SUB_VMM, LOG_WARN, "%s: virtio-%s: legacy register +%#llx written: "
				"only virtio-mmio version 2 is supported", v->vm->name, v->ops->name,
				(unsigned long long)off);
		break;
	default:
		break;
	}
	return 0;
}
