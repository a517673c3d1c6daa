/*
 * dev_virtio_blk.c — the virtio-blk device model and the raw-file back end.
 *
 * A request is a 16-byte header {u32 type, u32 reserved, u64 sector} in the
 * readable buffers, data (readable for OUT, writable for IN), and a status
 * byte at the very end of the writable buffers. Data moves through a
 * bounce buffer of BOUNCE bytes at a time. A request whose buffers are too
 * short, not a whole number of sectors, past the end of the disk or outside
 * guest RAM gets VIRTIO_BLK_S_IOERR; only a request with no writable status
 * byte at all makes the device need a reset (nothing else can report it).
 */
#include "vmm/dev_virtio_blk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "vmm/board.h"

#define BOUNCE		(64u * 1024)

struct virtio_blk {
	struct vm *vm;
	struct blk_backend be;
	uint64_t capacity;		/* sectors */
	char id[VIRTIO_BLK_ID_BYTES];
	uint8_t bounce[BOUNCE];
};

/* ---- raw file back end ---- */

struct file_backend {
	int fd;
};

static int file_pread(void *opaque, void *buf, size_t len, uint64_t off)
{
	struct file_backend *f = opaque;
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(f->fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;	/* image shrank under us */
		p += n;
		len -= n;
		off += n;
	}
	return 0;
}

static int file_pwrite(void *opaque, const void *buf, size_t len, uint64_t off)
{
	struct file_backend *f = opaque;
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(f->fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= n;
		off += n;
	}
	return 0;
}

static int file_flush(void *opaque)
{
	struct file_backend *f = opaque;

	return fdatasync(f->fd) < 0 ? -errno : 0;
}

static void file_close(void *opaque)
{
	struct file_backend *f = opaque;

	close(f->fd);
	free(f);
}

static const struct blk_backend_ops file_ops = {
	.name = "file",
	.pread = file_pread,
	.pwrite = file_pwrite,
	.flush = file_flush,
	.close = file_close,
};

int blk_backend_file_open(const char *path, struct blk_backend *be, char *err, size_t errlen)
{
	struct file_backend *f;
	struct stat st;
	bool ro = false;
	int fd, r;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 && (errno == EACCES || errno == EROFS || errno == EPERM)) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		ro = true;
	}
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "disk %s: %s", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "disk %s: not a regular file", path);
		r = -EINVAL;
		goto fail_fd;
	}
	f = malloc(sizeof(*f));
	if (!f) {
		snprintf(err, errlen, "disk %s: out of memory", path);
		r = -ENOMEM;
		goto fail_fd;
	}
	f->fd = fd;
	be->ops = &file_ops;
	be->opaque = f;
	be->size = st.st_size;
	be->ro = ro;
	return 0;

fail_fd:
	close(fd);
	return r;
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

static int64_t blk_handle(void *opaque, unsigned q, const struct virtio_req *req)
{
	struct virtio_blk *b = opaque;
	struct { uint32_t type, reserved; uint64_t sector; } hdr;
	uint8_t status = VIRTIO_BLK_S_IOERR;
	uint64_t data;
	const char *bad = NULL;
	int r;

	if (req->in_len == 0)
		return -EINVAL;
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
		r = transfer(b, req, true, hdr.sector * VIRTIO_BLK_SECTOR, data);
		if (r < 0)
			bad = r == -EFAULT ? "write buffer outside RAM" : "disk write failed";
		else
			status = VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_FLUSH:
		if (b->be.ops->flush(b->be.opaque) < 0)
			bad = "flush failed";
		else
			status = VIRTIO_BLK_S_OK;
		break;
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
		LOG_RATELIMITED(SUB_VMM, LOG_WARN, "%s: virtio-blk: request type %u sector %llu: %s",
				b->vm->name, hdr.type, (unsigned long long)hdr.sector, bad);
	if (virtio_req_write(b->vm, req, req->in_len - 1, &status, 1) < 0)
		return -EINVAL;
	return req->in_len;
}

static void blk_free(void *opaque)
{
	struct virtio_blk *b = opaque;

	b->be.ops->close(b->be.opaque);
	free(b);
}

static const struct virtio_dev_ops blk_ops = {
	.name = "blk",
	.device_id = VIRTIO_ID_BLOCK,
	.nqueues = 1,
	.config_read = blk_config_read,
	.config_write = blk_config_write,
	.handle = blk_handle,
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

	b = calloc(1, sizeof(*b));
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
	v = virtio_mmio_new(vm, irq, features, &blk_ops, b, err, errlen);
	if (!v) {
		blk_free(b);
		return NULL;
	}
	return v;
}
