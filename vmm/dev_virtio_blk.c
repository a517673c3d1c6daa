/*
 * dev_virtio_blk.c — the virtio-blk device model and its vdisk back end.
 *
 * A request is a 16-byte header {u32 type, u32 reserved, u64 sector} in the
 * readable buffers, data (readable for OUT, writable for IN), and a status
 * byte at the very end of the writable buffers. A request whose buffers are
 * too short, not a whole number of sectors, past the end of the disk or
 * outside guest RAM gets VIRTIO_BLK_S_IOERR; only a request with no
 * writable status byte at all makes the device need a reset (nothing else
 * can report it).
 *
 * Asynchronous path (a back end with read_async): the request's buffers are
 * copied (struct blk_pending), OUT data is gathered from the guest into a
 * page-aligned bounce buffer at once, the I/O goes to io_uring, and the
 * device returns VIRTIO_REQ_PENDING. On completion (node loop) IN data is
 * scattered to the guest, the status written and the used ring updated.
 * A device reset bumps the generation: completions of older requests are
 * dropped, never written into a guest that forgot them.
 * Synchronous path: data moves through a bounce buffer of BOUNCE bytes at a
 * time and the request completes inside the QueueNotify write.
 */
#define _GNU_SOURCE
#include "vmm/dev_virtio_blk.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "vdisk/vdisk.h"
#include "vmm/board.h"
#include "vmm/span.h"

#define BOUNCE		(64u * 1024)
#define ASYNC_MAX	(32u << 20)	/* largest request served (Linux sends up to max_sectors_kb, 1280 KiB) */

struct virtio_blk {
	struct vm *vm;
	struct virtio_mmio *v;
	struct blk_backend be;
	uint64_t capacity;		/* sectors */
	unsigned gen;			/* bumped by a device reset */
	bool closing;
	struct vmm_disk_stats st;
	char id[VIRTIO_BLK_ID_BYTES];
	uint8_t bounce[BOUNCE] __attribute__((aligned(4096)));
};

/* ---- vdisk back end ---- */

struct vdisk_backend {
	struct vdisk_cache *cache;	/* the node's disk cache, or NULL */
	const struct vmm_gcache_ops *gc;	/* other nodes' caches too (disk_cache = machine), or NULL */
	struct vdisk_server *s;		/* the node's or our own */
	bool own_server;
	struct vdisk *d;
	char temp[PATH_MAX];		/* a temporary overlay to delete at close, or "" */
};

static int vd_pread(void *opaque, void *buf, size_t len, uint64_t off)
{
	struct vdisk_backend *v = opaque;

	return vdisk_pread(v->d, buf, len, off);
}

static int vd_pwrite(void *opaque, const void *buf, size_t len, uint64_t off)
{
	struct vdisk_backend *v = opaque;

	return vdisk_pwrite(v->d, buf, len, off);
}

static int vd_flush(void *opaque)
{
	struct vdisk_backend *v = opaque;

	return vdisk_sync(v->d);
}

static int vd_read_async(void *opaque, void *buf, size_t len, uint64_t off, blk_done_fn done, void *arg)
{
	struct vdisk_backend *v = opaque;

	return vdisk_read(v->d, buf, len, off, done, arg);
}

static int vd_write_async(void *opaque, const void *buf, size_t len, uint64_t off, blk_done_fn done, void *arg)
{
	struct vdisk_backend *v = opaque;

	return vdisk_write(v->d, buf, len, off, done, arg);
}

static int vd_flush_async(void *opaque, blk_done_fn done, void *arg)
{
	struct vdisk_backend *v = opaque;

	return vdisk_flush(v->d, done, arg);
}

static void vd_stats(void *opaque, uint64_t *from_base, uint64_t *from_overlay, uint64_t *clusters)
{
	struct vdisk_backend *v = opaque;
	struct vdisk_stats st;

	vdisk_get_stats(v->d, &st);
	*from_base = st.bytes_read_base;
	*from_overlay = st.bytes_read_overlay;
	*clusters = st.clusters_allocated;
}

static void vd_close(void *opaque)
{
	struct vdisk_backend *v = opaque;

	vdisk_close(v->d);	/* waits for its requests still in flight */
	if (v->temp[0])
		unlink(v->temp);
	if (v->own_server)
		vdisk_server_free(v->s);
	free(v);
}

static const struct blk_backend_ops vdisk_sync_ops = {
	.name = "vdisk",
	.pread = vd_pread,
	.pwrite = vd_pwrite,
	.flush = vd_flush,
	.close = vd_close,
	.stats = vd_stats,
};

static const struct blk_backend_ops vdisk_async_ops = {
	.name = "vdisk-async",
	.pread = vd_pread,
	.pwrite = vd_pwrite,
	.flush = vd_flush,
	.close = vd_close,
	.read_async = vd_read_async,
	.write_async = vd_write_async,
	.flush_async = vd_flush_async,
	.stats = vd_stats,
};

/* The overlay of a KEEP or PERSISTENT disk: the configured path, else DISK.VMNAME.ovl. */
static void overlay_path(const struct vmm_vm_config *cfg, char *out, size_t len)
{
	if (cfg->disk_cfg.overlay && cfg->disk_cfg.overlay[0])
		snprintf(out, len, "%s", cfg->disk_cfg.overlay);
	else
		snprintf(out, len, "%s.%s.ovl", cfg->disk, cfg->name ? cfg->name : "vm");
}

int blk_backend_open(const struct vmm_vm_config *cfg, struct blk_backend *be, char *err, size_t errlen)
{
	const struct vmm_disk_config *dc = &cfg->disk_cfg;
	struct vdisk_opts o = { .direct = dc->o_direct, .remote = dc->remote, .served = dc->served,
				.n_served = dc->n_served };
	struct vdisk_backend *v;
	char base[PATH_MAX], ovl[PATH_MAX];
	const char *open_path = cfg->disk;
	int r;

	v = calloc(1, sizeof(*v));
	if (!v) {
		snprintf(err, errlen, "disk %s: out of memory", cfg->disk);
		return -ENOMEM;
	}
	v->s = dc->server;
	v->cache = dc->server ? dc->cache : NULL;	/* pages are mapped from the loop only */
	v->gc = v->cache ? dc->gcache : NULL;
	if (!v->s) {
		v->s = vdisk_server_new(64, err, errlen);
		if (!v->s) {
			free(v);
			return -ENODEV;
		}
		v->own_server = true;
	}
	if (dc->remote && (dc->mode == VMM_DISK_DIRECT || !dc->server)) {
		snprintf(err, errlen, "disk %s: served by node %u, so it needs an overlay here (disk_overlay = temp, keep "
			 "or persistent) and the node's disk server", cfg->disk, dc->remote->node);
		r = -EINVAL;
		goto fail;
	}
	if (dc->mode != VMM_DISK_DIRECT) {
		/* the overlay names its base by absolute path: it may live elsewhere */
		if (dc->remote) {
			/* the serving node's absolute path */
			snprintf(base, sizeof(base), "%s", dc->remote->path);
		} else if (!realpath(cfg->disk, base)) {
			r = -errno;
			snprintf(err, errlen, "disk %s: %s", cfg->disk, strerror(errno));
			goto fail;
		}
		if (dc->mode == VMM_DISK_TEMP) {
			const char *tmp = getenv("TMPDIR");
			int fd;

			snprintf(ovl, sizeof(ovl), "%s/disco-%s-XXXXXX.ovl", tmp && tmp[0] ? tmp : "/var/tmp",
				 cfg->name ? cfg->name : "vm");
			fd = mkstemps(ovl, 4);
			if (fd < 0) {
				r = -errno;
				snprintf(err, errlen, "disk %s: temporary overlay %s: %s", cfg->disk, ovl, strerror(errno));
				goto fail;
			}
			close(fd);
			unlink(ovl);	/* vdisk_create makes it (O_EXCL) */
			snprintf(v->temp, sizeof(v->temp), "%s", ovl);
		} else {
			overlay_path(cfg, ovl, sizeof(ovl));
			if (dc->mode == VMM_DISK_KEEP)
				unlink(ovl);	/* a fresh one each run */
		}
		if (dc->mode != VMM_DISK_PERSISTENT || access(ovl, F_OK) != 0) {
			r = dc->remote ? vdisk_create_remote(ovl, dc->remote, err, errlen) :
					 vdisk_create(ovl, base, err, errlen);
			if (r < 0)
				goto fail;
		}
		open_path = ovl;
	}
	v->d = vdisk_open(v->s, open_path, &o, err, errlen);
	if (!v->d) {
		r = -EINVAL;
		goto fail;
	}
	if (dc->mode != VMM_DISK_DIRECT && vdisk_kind(v->d) != VDISK_OVERLAY) {
		snprintf(err, errlen, "disk %s: not an overlay", open_path);
		r = -EINVAL;
		goto fail;
	}
	if (v->temp[0]) {	/* the open file stays usable; nothing is left behind even on kill -9 */
		unlink(v->temp);
		v->temp[0] = 0;
	}
	be->ops = dc->server ? &vdisk_async_ops : &vdisk_sync_ops;
	be->opaque = v;
	be->size = vdisk_size(v->d);
	be->ro = vdisk_readonly(v->d);
	return 0;

fail:
	if (v->d)
		vdisk_close(v->d);
	if (v->temp[0])
		unlink(v->temp);
	if (v->own_server)
		vdisk_server_free(v->s);
	free(v);
	return r;
}

int blk_backend_file_open(const char *path, struct blk_backend *be, char *err, size_t errlen)
{
	struct vmm_vm_config cfg = { .disk = path };

	return blk_backend_open(&cfg, be, err, errlen);
}

/* ---- device ---- */

static int blk_config_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
	struct virtio_blk *b = opaque;
	uint8_t cfg[0x40] = {0};
	uint32_t size_max = VIRTIO_BLK_SIZE_MAX, seg_max = VIRTQ_SIZE_MAX - 2, blk_size = VIRTIO_BLK_SECTOR;
	uint64_t v = 0;

	memcpy(cfg + 0, &b->capacity, 8);
	memcpy(cfg + 8, &size_max, 4);
	memcpy(cfg + 12, &seg_max, 4);
	memcpy(cfg + 20, &blk_size, 4);
	if (!b->be.ro) {	/* discard and write-zeroes limits: one segment each */
		uint32_t dmax = VIRTIO_BLK_DISCARD_MAX_SECTORS, wzmax = VIRTIO_BLK_WZ_MAX_SECTORS, one = 1;

		memcpy(cfg + 0x24, &dmax, 4);
		memcpy(cfg + 0x28, &one, 4);
		memcpy(cfg + 0x2c, &one, 4);
		memcpy(cfg + 0x30, &wzmax, 4);
		memcpy(cfg + 0x34, &one, 4);
	}
	if (off + size <= sizeof(cfg))
		memcpy(&v, cfg + off, size);
	*val = v;
	return 0;
}

static int blk_config_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	return 0;	/* writeback/wce not offered: the configuration is read-only */
}

/* Move nbytes between the disk at byte offset pos and the request's data. */
static int transfer(struct virtio_blk *b, const struct virtio_req *req, bool write,
		    uint64_t pos, uint64_t nbytes)
{
	uint64_t done = 0;

	while (done < nbytes) {
		size_t chunk = nbytes - done > BOUNCE ? BOUNCE : nbytes - done;
		int r;

		if (write) {
			r = virtio_req_read(b->vm, req, 16 + done, b->bounce, chunk);
			if (r == 0)
				r = b->be.ops->pwrite(b->be.opaque, b->bounce, chunk, pos + done);
		} else {
			r = b->be.ops->pread(b->be.opaque, b->bounce, chunk, pos + done);
			if (r == 0)
				r = virtio_req_write(b->vm, req, done, b->bounce, chunk);
		}
		if (r < 0)
			return r;
		done += chunk;
	}
	return 0;
}

static bool range_ok(const struct virtio_blk *b, uint64_t sector, uint64_t nbytes)
{
	uint64_t nsec = nbytes / VIRTIO_BLK_SECTOR;

	return nbytes % VIRTIO_BLK_SECTOR == 0 && sector <= b->capacity && nsec <= b->capacity - sector;
}

/* ---- the global disk cache (docs/disk.md) ---- */

/* A whole guest page of an IN request that a base-image block fills. */
struct share {
	uint64_t gpa, block, pos;	/* guest page, disk block (4 KiB), offset in the request's data */
};

_Static_assert(offsetof(struct vmm_gcache_ops, opaque) == offsetof(struct pmap_remote_ops, opaque) &&
	       offsetof(struct vmm_gcache_ops, coh) == offsetof(struct pmap_remote_ops, coh) &&
	       offsetof(struct vmm_gcache_ops, put) == offsetof(struct pmap_remote_ops, put),
	       "the cross-node cache's references are the pmap's remote ones");
_Static_assert(sizeof(struct vdisk_cache_ops) == sizeof(struct pmap_share_ops) &&
	       offsetof(struct vdisk_cache_ops, get) == offsetof(struct pmap_share_ops, get) &&
	       offsetof(struct vdisk_cache_ops, put) == offsetof(struct pmap_share_ops, put),
	       "the cache's reference ops are the pmap's");

static struct vdisk_backend *cached_backend(const struct virtio_blk *b)
{
	struct vdisk_backend *v = b->be.ops == &vdisk_async_ops ? b->be.opaque : NULL;

	return v && v->cache && vdisk_base_key(v->d) ? v : NULL;
}

/*
 * The pages of an IN request of len bytes at sector that the cache can
 * serve: page-aligned whole guest pages holding 4 KiB-aligned blocks that
 * come whole from the base. Returns how many (in *out, malloc'ed), 0 for none.
 */
static unsigned find_shares(const struct virtio_blk *b, const struct virtio_req *req, uint64_t sector,
			    uint64_t len, struct share **out)
{
	struct vdisk_backend *v = cached_backend(b);
	struct share *s = NULL;
	unsigned n = 0;
	uint64_t so = 0;

	*out = NULL;
	if (!v || len < VM_PAGE_SIZE)
		return 0;
	for (unsigned i = 0; i < req->n_in && so < len; so += req->in[i].len, i++) {
		uint64_t g = req->in[i].gpa, l = req->in[i].len;
		uint64_t k = (VM_PAGE_SIZE - (g & (VM_PAGE_SIZE - 1))) & (VM_PAGE_SIZE - 1);

		for (; k + VM_PAGE_SIZE <= l && so + k + VM_PAGE_SIZE <= len; k += VM_PAGE_SIZE) {
			uint64_t off = sector * VIRTIO_BLK_SECTOR + so + k;

			if (off % VM_PAGE_SIZE)
				break;	/* the whole segment is misaligned with the disk's blocks */
			if (!vdisk_block_from_base(v->d, off))
				continue;
			if (!s && !(s = malloc(sizeof(*s) * (len / VM_PAGE_SIZE))))
				return 0;
			s[n++] = (struct share){ g + k, off / VM_PAGE_SIZE, so + k };
		}
	}
	*out = s;
	return n;
}

/* Map page into the guest at sh->gpa; false if it could not be (the data was copied then). */
static bool share_map(struct virtio_blk *b, const struct share *sh, uint8_t *page)
{
	struct vdisk_backend *v = b->be.opaque;
	const struct pmap_share_ops *ops = (const struct pmap_share_ops *)vdisk_cache_ops(v->cache);

	if (pmap_map_shared(vm_pmap(b->vm), sh->gpa, page, ops) == 0)
		return true;
	ops->get(ops->opaque, page);	/* a page no VM maps does not stay */
	ops->put(ops->opaque, page);
	return false;
}

/* Whether the request's len bytes are all whole blocks that this node's cache holds. */
static bool all_cached(const struct virtio_blk *b, const struct share *s, unsigned n, uint64_t len)
{
	struct vdisk_backend *v = b->be.opaque;
	uint64_t key = vdisk_base_key(v->d);

	if ((uint64_t)n * VM_PAGE_SIZE != len)
		return false;
	for (unsigned i = 0; i < n; i++)
		if (!vdisk_cache_find(v->cache, key, s[i].block))
			return false;
	return true;
}

/* Every block of the request in the cache: map them, no I/O. Returns true if it was served. */
static bool serve_from_cache(struct virtio_blk *b, const struct share *s, unsigned n, uint64_t len)
{
	struct vdisk_backend *v = b->be.opaque;
	uint64_t key = vdisk_base_key(v->d);
	bool ok = true;

	if (!all_cached(b, s, n, len))
		return false;
	pmap_tlb_batch(vm_pmap(b->vm), true);
	for (unsigned i = 0; i < n && ok; i++)
		ok = pmap_map_shared(vm_pmap(b->vm), s[i].gpa, vdisk_cache_find(v->cache, key, s[i].block),
				     (const struct pmap_share_ops *)vdisk_cache_ops(v->cache)) == 0;
	pmap_tlb_batch(vm_pmap(b->vm), false);
	if (ok)
		b->st.bytes_from_cache += len;
	return ok;	/* (false: no sharing here) the read goes to the disk */
}

/*
 * After a read of len bytes into buf: the blocks it brought become cache
 * pages mapped into the guest (but those in skip: bits, mapped from other
 * nodes' caches already), and only the rest of the data is written into
 * guest memory. (Writing all of it first would copy, then drop, a buffer
 * page that maps a cache page from the guest's previous read.) The TLB
 * entries of the pages remapped go in one pass. NULL or what went wrong.
 */
static const char *read_done(struct virtio_blk *b, const struct virtio_req *req, const struct share *s, unsigned n,
			     const uint8_t *buf, uint64_t len, uint64_t skip)
{
	struct vdisk_backend *v = b->be.opaque;
	struct pmap *pm = vm_pmap(b->vm);
	uint64_t key = vdisk_base_key(v->d), done = 0;
	const char *bad = NULL;
	bool sharing = true;

	pmap_tlb_batch(pm, true);
	for (unsigned i = 0; i < n && !bad; i++) {
		bool mapped = i < 64 && (skip >> i & 1);

		if (!mapped && sharing) {
			uint8_t *page = vdisk_cache_find(v->cache, key, s[i].block);

			if (!page) {
				page = vdisk_cache_add(v->cache, key, s[i].block, buf + s[i].pos);
				if (page && v->gc)
					v->gc->publish(v->gc->opaque, key, s[i].block, page);	/* other nodes may map it */
			}
			/* out of memory or no sharing: the guest gets copies from here on */
			mapped = sharing = page && share_map(b, &s[i], page);
		}
		if (!mapped)
			continue;
		if (s[i].pos > done && virtio_req_write(b->vm, req, done, buf + done, s[i].pos - done) < 0)
			bad = "read buffer outside RAM";
		done = s[i].pos + VM_PAGE_SIZE;
	}
	if (!bad && done < len && virtio_req_write(b->vm, req, done, buf + done, len - done) < 0)
		bad = "read buffer outside RAM";
	pmap_tlb_batch(pm, false);
	return bad;
}

/* A request in flight on the asynchronous path. */
struct blk_pending {
	unsigned share_wait;	/* a spanning VM: pages its home is still mapping (span_share) */
	uint64_t asked;		/* remote_ask: the shares asked of other nodes (bits) */
	uint64_t skip;		/* ... and those mapped from them: the read leaves those pages alone */
	const char *bad;	/* ... and why the request failed meanwhile */
	unsigned parts;		/* ... the disk reads of the other pages still in flight (read_missing) */
	int part_res;		/* ... and the first error of one */
	struct virtio_blk *b;
	unsigned gen, q;
	uint16_t head;
	uint32_t type;
	uint64_t sector, len;	/* data bytes */
	uint8_t *buf;		/* page-aligned bounce (O_DIRECT) */
	struct virtio_req req;	/* its buffers, pointing into sg[] */
	struct share *share;	/* IN: pages the disk cache takes over (find_shares) */
	unsigned n_share;
	unsigned n_sg;
	struct virtio_sg sg[];
};

static void pending_free(struct blk_pending *p)
{
	free(p->share);
	free(p->buf);
	free(p);
}

/* Answer the request (bad: why it failed, NULL: OK) and forget it. */
static void blk_finish(struct blk_pending *p, const char *bad, int res)
{
	struct virtio_blk *b = p->b;
	uint8_t status = VIRTIO_BLK_S_OK;

	if (bad) {
		status = VIRTIO_BLK_S_IOERR;
		b->st.errors++;
		LOG_RATELIMITED(SUB_VMM, LOG_WARN, "%s: virtio-blk: request type %u sector %llu: %s (%s)",
				b->vm->name, p->type, (unsigned long long)p->sector, bad, strerror(res < 0 ? -res : EFAULT));
	}
	if (virtio_req_write(b->vm, &p->req, p->req.in_len - 1, &status, 1) == 0)
		virtio_mmio_complete(b->v, p->q, p->head, (uint32_t)p->req.in_len);
	pending_free(p);
}

/* A spanning VM: every block of the request in the cache: true with their data in p->buf. */
static bool span_from_cache(struct virtio_blk *b, struct blk_pending *p)
{
	struct vdisk_backend *v = b->be.opaque;
	uint64_t key = vdisk_base_key(v->d);

	if (!all_cached(b, p->share, p->n_share, p->len))
		return false;
	for (unsigned i = 0; i < p->n_share; i++)
		memcpy(p->buf + p->share[i].pos, vdisk_cache_find(v->cache, key, p->share[i].block), VM_PAGE_SIZE);
	return true;
}

/*
 * A spanning VM's read: its memory is the machine's, and its home maps cache
 * pages with messages to every node of the VM (span_share), so the request
 * is answered once every page is mapped, or copied where it could not be.
 * The data is in p->buf.
 */
static void span_share_answer(void *arg, uint64_t gpa, int rc)
{
	struct blk_pending *p = arg;
	struct virtio_blk *b = p->b;
	bool gone = b->closing || p->gen != b->gen;

	for (unsigned i = 0; rc < 0 && !gone && i < p->n_share; i++)
		if (p->share[i].gpa == gpa &&
		    virtio_req_write(b->vm, &p->req, p->share[i].pos, p->buf + p->share[i].pos, VM_PAGE_SIZE) < 0)
			p->bad = "read buffer outside RAM";
	if (--p->share_wait)
		return;
	if (gone)
		pending_free(p);
	else
		blk_finish(p, p->bad, 0);
}

/* Start mapping p's pages, copy the rest of its data. Returns 0 or -EFAULT. */
static int span_share_start(struct blk_pending *p)
{
	struct virtio_blk *b = p->b;
	struct vdisk_backend *v = b->be.opaque;
	const struct pmap_share_ops *ops = (const struct pmap_share_ops *)vdisk_cache_ops(v->cache);
	uint64_t key = vdisk_base_key(v->d), done = 0;

	for (unsigned i = 0; i < p->n_share; i++) {
		const struct share *sh = &p->share[i];
		uint8_t *page = vdisk_cache_find(v->cache, key, sh->block);
		int rc;

		if (!page)
			page = vdisk_cache_add(v->cache, key, sh->block, p->buf + sh->pos);
		rc = page ? span_share(b->vm, sh->gpa, page, ops, span_share_answer, p) : -ENOMEM;
		if (rc < 0 && page) {
			ops->get(ops->opaque, page);	/* a page no VM maps does not stay */
			ops->put(ops->opaque, page);
		}
		if (sh->pos > done && virtio_req_write(b->vm, &p->req, done, p->buf + done, sh->pos - done) < 0)
			return -EFAULT;
		done = rc < 0 ? sh->pos : sh->pos + VM_PAGE_SIZE;	/* (1: the page holds the block already) */
		if (rc == 0)
			p->share_wait++;
	}
	if (p->len > done && virtio_req_write(b->vm, &p->req, done, p->buf + done, p->len - done) < 0)
		return -EFAULT;
	return 0;
}

/* ---- the disk cache across nodes ([machine] disk_cache = machine) ---- */

static void remote_answer(void *arg, const uint64_t *maddr);
static void blk_complete(void *arg, int res);

/*
 * A read of whole base blocks that this node's cache lacks, some or all:
 * ask the other nodes' caches first (the answer comes from the loop). True
 * when asked; false: read from the disk now.
 */
static bool remote_ask(struct virtio_blk *b, struct blk_pending *p)
{
	struct vdisk_backend *v = b->be.opaque;
	uint64_t key = vdisk_base_key(v->d), block[64];
	unsigned miss = 0;

	if (!v->gc || b->vm->span || (uint64_t)p->n_share * VM_PAGE_SIZE != p->len || p->n_share > 64)
		return false;
	p->asked = 0;
	for (unsigned i = 0; i < p->n_share; i++) {
		if (!vdisk_cache_find(v->cache, key, p->share[i].block)) {
			block[miss++] = p->share[i].block;
			p->asked |= 1ull << i;
		}
	}
	return miss && v->gc->lookup(v->gc->opaque, key, block, miss, remote_answer, p) == 0;
}

/* One of read_missing's disk reads finished: the last one completes the request. */
static void blk_part_done(void *arg, int res)
{
	struct blk_pending *p = arg;

	if (res < 0 && p->part_res >= 0)
		p->part_res = res;
	if (--p->parts == 0)
		blk_complete(p, p->part_res);
}

/*
 * Read from the disk only the pages of the request that are not mapped
 * already (p->skip: found in a cache), one read per run of them, into the
 * bounce buffer at their place; blk_complete runs once all are in.
 */
static void read_missing(struct virtio_blk *b, struct blk_pending *p)
{
	p->parts = 1;	/* (held while submitting: no completion finishes the request meanwhile) */
	p->part_res = 0;
	for (unsigned i = 0, j; i < p->n_share; i = j) {
		j = i + 1;
		if (p->skip >> i & 1)
			continue;
		while (j < p->n_share && !(p->skip >> j & 1) && p->share[j].pos == p->share[j - 1].pos + VM_PAGE_SIZE)
			j++;
		uint64_t pos = p->share[i].pos;
		int r;

		p->parts++;
		r = b->be.ops->read_async(b->be.opaque, p->buf + pos, (uint64_t)(j - i) * VM_PAGE_SIZE,
					  p->sector * VIRTIO_BLK_SECTOR + pos, blk_part_done, p);
		if (r < 0) {
			p->parts--;
			p->part_res = r;	/* (the reads in flight finish first) */
			break;
		}
	}
	blk_part_done(p, p->part_res);
}

/*
 * The other nodes answered (remote_ask): when every block of the read is in
 * a cache, this node's or another's, the guest maps them all, without I/O
 * (its harts read another node's page through the coherence engine); else
 * the references go back and the read goes to the disk.
 */
static void remote_answer(void *arg, const uint64_t *maddr)
{
	struct blk_pending *p = arg;
	struct virtio_blk *b = p->b;
	struct vdisk_backend *v = b->be.opaque;
	const struct pmap_remote_ops *rops = (const struct pmap_remote_ops *)v->gc;
	const struct pmap_share_ops *sops = (const struct pmap_share_ops *)vdisk_cache_ops(v->cache);
	uint64_t key = vdisk_base_key(v->d), m[64], remote = 0, mapped = 0;
	uint8_t *local[64];
	bool all = !b->closing && p->gen == b->gen;
	unsigned k = 0;

	for (unsigned i = 0; i < p->n_share; i++) {
		m[i] = (p->asked >> i & 1) ? maddr[k++] : 0;
		local[i] = (p->asked >> i & 1) ? NULL : vdisk_cache_find(v->cache, key, p->share[i].block);
		all &= m[i] || local[i];	/* (a page of this node's may have left meanwhile) */
	}
	pmap_tlb_batch(vm_pmap(b->vm), true);
	for (unsigned i = 0; i < p->n_share && !b->closing && p->gen == b->gen; i++) {
		if (local[i]) {
			if (pmap_map_shared(vm_pmap(b->vm), p->share[i].gpa, local[i], sops) == 0) {
				p->skip |= 1ull << i;	/* (the read, if any, leaves it alone) */
				mapped++;
			} else {
				all = false;
			}
			continue;
		}
		if (!m[i])
			continue;
		/* (found elsewhere: mapped even when the read must go to the disk for other blocks) */
		vm_coh_enter(b->vm, rops->coh);
		if (pmap_map_remote(vm_pmap(b->vm), p->share[i].gpa, m[i], rops) == 0) {
			m[i] = 0;	/* the mapping's reference now */
			p->skip |= 1ull << i;
			remote++;
			mapped++;
		} else {
			all = false;
		}
	}
	pmap_tlb_batch(vm_pmap(b->vm), false);
	for (unsigned i = 0; i < p->n_share; i++)	/* references not mapped go back */
		if (m[i])
			rops->put(rops->opaque, m[i]);
	if (b->closing || p->gen != b->gen) {
		pending_free(p);
		return;
	}
	b->st.bytes_from_remote_cache += remote * VM_PAGE_SIZE;
	if (all) {
		b->st.bytes_from_cache += p->len;
		blk_finish(p, NULL, 0);
		return;
	}
	b->st.bytes_from_cache += mapped * VM_PAGE_SIZE;	/* the rest: from the disk, into the other pages */
	read_missing(b, p);
}

static void blk_complete(void *arg, int res)
{
	struct blk_pending *p = arg;
	struct virtio_blk *b = p->b;
	const char *bad = NULL;

	if (b->closing || p->gen != b->gen) {	/* the driver reset the device since */
		pending_free(p);
		return;
	}
	if (res < 0) {
		bad = p->type == VIRTIO_BLK_T_IN ? "disk read failed" :
		      p->type == VIRTIO_BLK_T_OUT || p->type == VIRTIO_BLK_T_WRITE_ZEROES ? "disk write failed" :
		      "flush failed";
	} else if (p->type == VIRTIO_BLK_T_IN && p->n_share && b->vm->span) {
		p->share_wait = 1;	/* (so that no answer finishes it while it starts) */
		if (span_share_start(p) < 0)
			p->bad = "read buffer outside RAM";
		span_share_answer(p, 0, 0);	/* answers it if no page waits */
		return;
	} else if (p->type == VIRTIO_BLK_T_IN && p->n_share) {
		/* (some pages may be mapped from other nodes' caches already: remote_answer) */
		bad = read_done(b, &p->req, p->share, p->n_share, p->buf, p->len, p->skip);
	} else if (p->type == VIRTIO_BLK_T_IN && virtio_req_write(b->vm, &p->req, 0, p->buf, p->len) < 0) {
		bad = "read buffer outside RAM";
	}
	blk_finish(p, bad, res);
}

/*
 * Start one IN, OUT or FLUSH on the back end's asynchronous verbs. Returns
 * VIRTIO_REQ_PENDING; the used length of an IN served from the disk cache
 * at once; -EINVAL when that one has no status byte; or 0 with *bad set
 * (the caller answers IOERR now).
 */
static int64_t start_async(struct virtio_blk *b, unsigned q, const struct virtio_req *req,
			   uint32_t type, uint64_t sector, uint64_t len, const char **bad)
{
	unsigned n = req->n_out + req->n_in;
	struct blk_pending *p = calloc(1, sizeof(*p) + n * sizeof(p->sg[0]));
	int r;

	if (!p) {
		*bad = "out of memory";
		return 0;
	}
	*p = (struct blk_pending){ .b = b, .gen = b->gen, .q = q, .head = req->head, .type = type,
				   .sector = sector, .len = len, .n_sg = n };
	memcpy(p->sg, req->out, req->n_out * sizeof(p->sg[0]));
	memcpy(p->sg + req->n_out, req->in, req->n_in * sizeof(p->sg[0]));
	p->req = *req;
	p->req.out = p->sg;
	p->req.in = p->sg + req->n_out;
	if (len) {
		p->buf = aligned_alloc(4096, (len + 4095) & ~4095ull);
		if (!p->buf) {
			*bad = "out of memory";
			goto fail;
		}
	}
	if (type == VIRTIO_BLK_T_IN)
		p->n_share = find_shares(b, req, sector, len, &p->share);
	if (p->n_share && b->vm->span && span_from_cache(b, p)) {
		/* every block in the cache: no I/O, the home maps them */
		b->st.bytes_from_cache += len;
		p->share_wait = 1;
		if (span_share_start(p) < 0)
			p->bad = "read buffer outside RAM";
		if (--p->share_wait)
			return VIRTIO_REQ_PENDING;	/* answered from span_share_answer */
		if (p->bad) {
			*bad = p->bad;
			goto fail;
		}
		uint8_t ok = VIRTIO_BLK_S_OK;
		int64_t used = virtio_req_write(b->vm, req, req->in_len - 1, &ok, 1) < 0 ? -EINVAL : (int64_t)req->in_len;

		pending_free(p);
		return used;
	}
	if (p->n_share && !b->vm->span && remote_ask(b, p))
		return VIRTIO_REQ_PENDING;	/* other nodes' caches are asked first: remote_answer */
	if (p->n_share && !b->vm->span && serve_from_cache(b, p->share, p->n_share, len)) {
		uint8_t ok = VIRTIO_BLK_S_OK;
		int64_t used = virtio_req_write(b->vm, req, req->in_len - 1, &ok, 1) < 0 ? -EINVAL : (int64_t)req->in_len;

		pending_free(p);
		return used;	/* served now, without I/O: the vCPU never waited either */
	}
	if (type == VIRTIO_BLK_T_WRITE_ZEROES)
		memset(p->buf, 0, len);
	if (type == VIRTIO_BLK_T_OUT && virtio_req_read(b->vm, req, 16, p->buf, len) < 0) {
		*bad = "write buffer outside RAM";
		goto fail;
	}
	if (type == VIRTIO_BLK_T_IN)
		r = b->be.ops->read_async(b->be.opaque, p->buf, len, sector * VIRTIO_BLK_SECTOR, blk_complete, p);
	else if (type == VIRTIO_BLK_T_OUT || type == VIRTIO_BLK_T_WRITE_ZEROES)
		r = b->be.ops->write_async(b->be.opaque, p->buf, len, sector * VIRTIO_BLK_SECTOR, blk_complete, p);
	else
		r = b->be.ops->flush_async(b->be.opaque, blk_complete, p);
	if (r < 0) {
		*bad = "disk request refused";
		goto fail;
	}
	return VIRTIO_REQ_PENDING;
fail:
	pending_free(p);
	return 0;
}

static int64_t blk_handle(void *opaque, unsigned q, const struct virtio_req *req)
{
	struct virtio_blk *b = opaque;
	struct { uint32_t type, reserved; uint64_t sector; } hdr;
	uint8_t status = VIRTIO_BLK_S_IOERR;
	uint64_t data;
	const char *bad = NULL;
	bool async = b->be.ops->read_async != NULL;
	int r;

	if (req->in_len == 0)
		return -EINVAL;
	b->st.requests++;
	if (req->out_len < sizeof(hdr) || virtio_req_read(b->vm, req, 0, &hdr, sizeof(hdr)) < 0) {
		bad = "header missing or outside RAM";
		goto done;
	}
	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
		data = req->in_len - 1;
		if (!range_ok(b, hdr.sector, data)) {
			bad = "read not whole sectors or past the end of the disk";
			break;
		}
		b->st.reads++;
		b->st.bytes_read += data;
		if (async) {
			if (data > ASYNC_MAX) {
				bad = "request larger than the device serves";
				break;
			}
			int64_t used = start_async(b, q, req, hdr.type, hdr.sector, data, &bad);

			if (used)
				return used;	/* in flight, or served from the disk cache */
			break;
		}
		r = transfer(b, req, false, hdr.sector * VIRTIO_BLK_SECTOR, data);
		if (r < 0)
			bad = r == -EFAULT ? "read buffer outside RAM" : "disk read failed";
		else
			status = VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_OUT:
		data = req->out_len - sizeof(hdr);
		if (b->be.ro) {
			bad = "write to a read-only disk";
			break;
		}
		if (!range_ok(b, hdr.sector, data)) {
			bad = "write not whole sectors or past the end of the disk";
			break;
		}
		b->st.writes++;
		b->st.bytes_written += data;
		if (async) {
			if (data > ASYNC_MAX) {
				bad = "request larger than the device serves";
				break;
			}
			if (start_async(b, q, req, hdr.type, hdr.sector, data, &bad) == VIRTIO_REQ_PENDING)
				return VIRTIO_REQ_PENDING;
			break;
		}
		r = transfer(b, req, true, hdr.sector * VIRTIO_BLK_SECTOR, data);
		if (r < 0)
			bad = r == -EFAULT ? "write buffer outside RAM" : "disk write failed";
		else
			status = VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_FLUSH:
		b->st.flushes++;
		if (async) {
			if (start_async(b, q, req, hdr.type, 0, 0, &bad) == VIRTIO_REQ_PENDING)
				return VIRTIO_REQ_PENDING;
			break;
		}
		if (b->be.ops->flush(b->be.opaque) < 0)
			bad = "flush failed";
		else
			status = VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: {
		struct { uint64_t sector; uint32_t num, flags; } seg;
		bool wz = hdr.type == VIRTIO_BLK_T_WRITE_ZEROES;

		if (b->be.ro) {
			bad = "discard or write-zeroes on a read-only disk";
			break;
		}
		if (req->out_len != sizeof(hdr) + sizeof(seg) || virtio_req_read(b->vm, req, sizeof(hdr), &seg, sizeof(seg)) < 0) {
			bad = "discard or write-zeroes: not exactly one segment, or outside RAM";
			break;
		}
		if (seg.flags & ~(wz ? 1u : 0u)) {	/* unmap on a discard, or reserved bits */
			status = VIRTIO_BLK_S_UNSUPP;
			break;
		}
		if (seg.num == 0 || seg.num > (wz ? VIRTIO_BLK_WZ_MAX_SECTORS : VIRTIO_BLK_DISCARD_MAX_SECTORS) ||
		    !range_ok(b, seg.sector, (uint64_t)seg.num * VIRTIO_BLK_SECTOR)) {
			bad = "discard or write-zeroes past the end of the disk or beyond its limit";
			break;
		}
		if (!wz) {	/* a hint: the blocks keep what they hold */
			status = VIRTIO_BLK_S_OK;
			break;
		}
		data = (uint64_t)seg.num * VIRTIO_BLK_SECTOR;
		b->st.writes++;
		b->st.bytes_written += data;
		if (async) {
			int64_t used = start_async(b, q, req, hdr.type, seg.sector, data, &bad);

			if (used)
				return used;
			break;
		}
		memset(b->bounce, 0, BOUNCE);
		for (uint64_t done = 0; done < data && !bad; done += BOUNCE)
			if (b->be.ops->pwrite(b->be.opaque, b->bounce, data - done > BOUNCE ? BOUNCE : data - done,
					      seg.sector * VIRTIO_BLK_SECTOR + done) < 0)
				bad = "disk write failed";
		if (!bad)
			status = VIRTIO_BLK_S_OK;
		break;
	}
	case VIRTIO_BLK_T_GET_ID: {
		uint64_t n = req->in_len - 1 < VIRTIO_BLK_ID_BYTES ? req->in_len - 1 : VIRTIO_BLK_ID_BYTES;

		if (virtio_req_write(b->vm, req, 0, b->id, n) < 0)
			bad = "id buffer outside RAM";
		else
			status = VIRTIO_BLK_S_OK;
		break;
	}
	default:
		status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
done:
	if (bad)
		b->st.errors++;
	if (bad)
		LOG_RATELIMITED(SUB_VMM, LOG_WARN, "%s: virtio-blk: request type %u sector %llu: %s",
				b->vm->name, hdr.type, (unsigned long long)hdr.sector, bad);
	if (virtio_req_write(b->vm, req, req->in_len - 1, &status, 1) < 0)
		return -EINVAL;
	return req->in_len;
}

static void blk_reset(void *opaque)
{
	struct virtio_blk *b = opaque;

	b->gen++;	/* requests in flight complete into nothing */
}

static void blk_free(void *opaque)
{
	struct virtio_blk *b = opaque;

	b->closing = true;
	b->be.ops->close(b->be.opaque);	/* runs the callbacks of requests in flight */
	free(b);
}

bool vmm_vm_disk_stats(const struct vmm_vm *v, struct vmm_disk_stats *st)
{
	const struct virtio_mmio *m = v->vm.virtio[VM_DISK_SLOT];
	const struct virtio_blk *b;

	memset(st, 0, sizeof(*st));
	if (!m || m->ops->device_id != VIRTIO_ID_BLOCK)
		return false;
	b = m->opaque;
	*st = b->st;
	st->shared_bytes = (b->vm->span ? span_pages_shared(b->vm)
					: pmap_pages_shared(vm_pmap(b->vm)) + pmap_pages_remote(vm_pmap(b->vm))) * VM_PAGE_SIZE;
	st->remote_shared_bytes = b->vm->span ? 0 : pmap_pages_remote(vm_pmap(b->vm)) * VM_PAGE_SIZE;
	if (b->be.ops->stats)
		b->be.ops->stats(b->be.opaque, &st->bytes_from_base, &st->bytes_from_overlay, &st->clusters_allocated);
	return true;
}

static const struct virtio_dev_ops blk_ops = {
	.name = "blk",
	.device_id = VIRTIO_ID_BLOCK,
	.nqueues = 1,
	.config_read = blk_config_read,
	.config_write = blk_config_write,
	.handle = blk_handle,
	.reset = blk_reset,
	.free = blk_free,
};

struct virtio_mmio *virtio_blk_new(struct vm *vm, unsigned irq, const struct blk_backend *be,
				   const char *id, char *err, size_t errlen)
{
	struct virtio_blk *b;
	struct virtio_mmio *v;
	uint64_t features = (1ull << VIRTIO_BLK_F_SIZE_MAX) | (1ull << VIRTIO_BLK_F_SEG_MAX) |
			    (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH) |
			    (1ull << VIRTIO_F_INDIRECT_DESC);

	b = aligned_alloc(4096, (sizeof(*b) + 4095) & ~(size_t)4095);	/* bounce[] page-aligned for O_DIRECT */
	if (b)
		memset(b, 0, sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "virtio-blk: out of memory");
		be->ops->close(be->opaque);
		return NULL;
	}
	b->vm = vm;
	b->be = *be;
	b->capacity = be->size / VIRTIO_BLK_SECTOR;
	if (be->size % VIRTIO_BLK_SECTOR)
		LOG(SUB_VMM, LOG_WARN, "%s: disk size %llu is not a multiple of 512: the last %llu bytes are not used",
		    vm->name, (unsigned long long)be->size, (unsigned long long)(be->size % VIRTIO_BLK_SECTOR));
	strncpy(b->id, id ? id : "disco", sizeof(b->id));	/* not NUL-terminated at 20 bytes, by the spec */
	if (be->ro)
		features |= 1ull << VIRTIO_BLK_F_RO;
	else
		features |= (1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES);
	v = virtio_mmio_new(vm, irq, features, &blk_ops, b, err, errlen);
	if (!v) {
		blk_free(b);
		return NULL;
	}
	b->v = v;
	return v;
}
