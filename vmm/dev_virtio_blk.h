/*
 * dev_virtio_blk.h — virtio-blk over virtio-mmio, on a disk back end.
 *
 * The back end sits behind struct blk_backend_ops so that the plain
 * synchronous file back end here (pread/pwrite/fdatasync) can be replaced by
 * vdisk/'s io_uring server without touching the device model. A back end
 * call transfers all `len` bytes or fails; the device turns a failure into
 * VIRTIO_BLK_S_IOERR for that request.
 *
 * Offered features: VIRTIO_F_VERSION_1, SIZE_MAX, SEG_MAX, BLK_SIZE, FLUSH,
 * RO (when the image could only be opened read-only), INDIRECT_DESC.
 * Requests: IN, OUT, FLUSH, GET_ID; any other type gets UNSUPP.
 */
#ifndef DISCO_VMM_DEV_VIRTIO_BLK_H
#define DISCO_VMM_DEV_VIRTIO_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct virtio_mmio;

#define VIRTIO_ID_BLOCK		2

#define VIRTIO_BLK_F_SIZE_MAX	1
#define VIRTIO_BLK_F_SEG_MAX	2
#define VIRTIO_BLK_F_RO		5
#define VIRTIO_BLK_F_BLK_SIZE	6
#define VIRTIO_BLK_F_FLUSH	9

#define VIRTIO_BLK_T_IN		0
#define VIRTIO_BLK_T_OUT	1
#define VIRTIO_BLK_T_FLUSH	4
#define VIRTIO_BLK_T_GET_ID	8

#define VIRTIO_BLK_S_OK		0
#define VIRTIO_BLK_S_IOERR	1
#define VIRTIO_BLK_S_UNSUPP	2

#define VIRTIO_BLK_SECTOR	512
#define VIRTIO_BLK_ID_BYTES	20
#define VIRTIO_BLK_SIZE_MAX	(1u << 20)	/* largest buffer, config size_max */

/* A disk back end: transfers are all-or-nothing; return 0 or -errno. */
struct blk_backend_ops {
	const char *name;
	int (*pread)(void *opaque, void *buf, size_t len, uint64_t off);
	int (*pwrite)(void *opaque, const void *buf, size_t len, uint64_t off);
	int (*flush)(void *opaque);
	void (*close)(void *opaque);
};

struct blk_backend {
	const struct blk_backend_ops *ops;
	void *opaque;
	uint64_t size;		/* bytes */
	bool ro;
};

/*
 * blk_backend_file_open - a raw image file, read-write if possible, else
 * read-only. Returns 0, or -errno with a message in err.
 */
int blk_backend_file_open(const char *path, struct blk_backend *be, char *err, size_t errlen);

/*
 * virtio_blk_new - a virtio-blk device on be (which it then owns and
 * closes) behind a virtio-mmio transport raising PLIC source irq.
 * Returns NULL with a message in err (be is closed then too).
 */
struct virtio_mmio *virtio_blk_new(struct vm *vm, unsigned irq, const struct blk_backend *be,
				   const char *id, char *err, size_t errlen);

#endif
