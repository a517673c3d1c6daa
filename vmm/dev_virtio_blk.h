/*
 * dev_virtio_blk.h — virtio-blk over virtio-mmio, on a disk back end.
 *
 * The back end sits behind struct blk_backend_ops. The one back end is
 * vdisk (vdisk/vdisk.h): raw images and copy-on-write overlays served by
 * io_uring. With the node's disk server (vmm_disk_config.server) the back
 * end is asynchronous: a request is handed to io_uring and the device
 * answers VIRTIO_REQ_PENDING; the vCPU goes on at once, and the used ring
 * entry and the interrupt come from the node's loop when the I/O completes.
 * Without a server (unit tests, tools) each request waits for its I/O. A
 * back end call transfers all `len` bytes or fails; the device turns a
 * failure into VIRTIO_BLK_S_IOERR for that request.
 *
 * Offered features: VIRTIO_F_VERSION_1, SIZE_MAX, SEG_MAX, BLK_SIZE, FLUSH,
 * RO (when the image could only be opened read-only), INDIRECT_DESC, and
 * on a writable disk DISCARD and WRITE_ZEROES (one segment per request).
 * Requests: IN, OUT, FLUSH, GET_ID, DISCARD (accepted and ignored: a hint;
 * with the unmap flag, UNSUPP as the spec says), WRITE_ZEROES (zeros are
 * written); any other type gets UNSUPP.
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
#define VIRTIO_BLK_F_DISCARD	13
#define VIRTIO_BLK_F_WRITE_ZEROES	14

#define VIRTIO_BLK_T_IN		0
#define VIRTIO_BLK_T_OUT	1
#define VIRTIO_BLK_T_FLUSH	4
#define VIRTIO_BLK_T_GET_ID	8
#define VIRTIO_BLK_T_DISCARD	11
#define VIRTIO_BLK_T_WRITE_ZEROES	13
#define VIRTIO_BLK_WZ_MAX_SECTORS	8192	/* 4 MiB per write-zeroes request (config max_write_zeroes_sectors) */
#define VIRTIO_BLK_DISCARD_MAX_SECTORS	(1u << 22)

#define VIRTIO_BLK_S_OK		0
#define VIRTIO_BLK_S_IOERR	1
#define VIRTIO_BLK_S_UNSUPP	2

#define VIRTIO_BLK_SECTOR	512
#define VIRTIO_BLK_ID_BYTES	20
#define VIRTIO_BLK_SIZE_MAX	(1u << 20)	/* largest buffer, config size_max */

typedef void (*blk_done_fn)(void *arg, int res);

/* A disk back end: transfers are all-or-nothing; return 0 or -errno. */
struct blk_backend_ops {
	const char *name;
	int (*pread)(void *opaque, void *buf, size_t len, uint64_t off);
	int (*pwrite)(void *opaque, const void *buf, size_t len, uint64_t off);
	int (*flush)(void *opaque);
	void (*close)(void *opaque);
	/*
	 * Asynchronous verbs, used when read_async is not NULL: 0 and done(arg,
	 * res) later from the node's loop (never inside the call), or -errno at
	 * once without a callback. buf stays the caller's until then.
	 */
	int (*read_async)(void *opaque, void *buf, size_t len, uint64_t off, blk_done_fn done, void *arg);
	int (*write_async)(void *opaque, const void *buf, size_t len, uint64_t off, blk_done_fn done, void *arg);
	int (*flush_async)(void *opaque, blk_done_fn done, void *arg);
	/* Byte counters of the back end (may be NULL). */
	void (*stats)(void *opaque, uint64_t *from_base, uint64_t *from_overlay, uint64_t *clusters);
};

struct blk_backend {
	const struct blk_backend_ops *ops;
	void *opaque;
	uint64_t size;		/* bytes */
	bool ro;
};

/*
 * blk_backend_file_open - an image file (raw, read-write if possible, else
 * read-only; or a disco overlay) served synchronously on a private io_uring.
 * Returns 0, or -errno with a message in err.
 */
int blk_backend_file_open(const char *path, struct blk_backend *be, char *err, size_t errlen);

/*
 * blk_backend_open - the disk of a VM as cfg->disk_cfg says (docs/disk.md:
 * overlay modes, O_DIRECT, the node's server). Returns 0, or -errno with a
 * message naming the file and what is wrong.
 */
struct vmm_vm_config;
int blk_backend_open(const struct vmm_vm_config *cfg, struct blk_backend *be, char *err, size_t errlen);

/*
 * virtio_blk_new - a virtio-blk device on be (which it then owns and
 * closes) behind a virtio-mmio transport raising PLIC source irq.
 * Returns NULL with a message in err (be is closed then too).
 */
struct virtio_mmio *virtio_blk_new(struct vm *vm, unsigned irq, const struct blk_backend *be,
				   const char *id, char *err, size_t errlen);

#endif
