/*
 * vdisk.h — copy-on-write disks served with io_uring.
 *
 * Two objects:
 *
 *   struct vdisk_server  one io_uring per node (or per tool/test): requests
 *                        are queued as SQEs, handed to the kernel in one
 *                        io_uring_submit() per batch (vdisk_server_submit),
 *                        and completed by vdisk_server_poll(), which the
 *                        node calls when the server's eventfd
 *                        (vdisk_server_fd) turns readable in its epoll set.
 *                        Files are registered (fixed files) when the kernel
 *                        allows it.
 *
 *   struct vdisk         one open disk: a raw image (written in place), or
 *                        a copy-on-write overlay (docs/disk.md, "The overlay
 *                        format") over a raw base that is opened read-only.
 *
 * Asynchronous verbs (vdisk_read/write/flush) call cb(arg, res) later, from
 * vdisk_server_poll(), with res 0 or -errno; never from inside the verb.
 * Synchronous verbs (vdisk_pread/pwrite/sync) run the same code and wait on
 * the server: they are for the disk tool, tests and callers without a loop.
 *
 * Crash consistency of an overlay: a write's data goes to its cluster
 * (allocated at the end of the file) and the in-memory map; a flush then
 *   1. snapshots the map entries of the writes completed so far,
 *   2. fdatasync()s the overlay (their data is durable),
 *   3. writes the changed map pages,
 *   4. fdatasync()s again, and only then completes.
 * So a map entry on disk never names data that is not on disk, and every
 * acknowledged flush survives a kill -9 or power loss. A crash can leave
 * clusters no map entry names (leaked space, `disco disk check` exit 3).
 *
 * All calls are for one thread (the node's loop). Functions return 0 or
 * -errno; constructors return NULL with a message in err.
 */
#ifndef DISCO_VDISK_H
#define DISCO_VDISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct vdisk_server;
struct vdisk;

#define VDISK_SECTOR		512
#define VDISK_CLUSTER		4096	/* overlay allocation unit = one guest page */

typedef void (*vdisk_cb)(void *arg, int res);

/* ---- the io_uring server ---- */

/*
 * vdisk_server_new - an io_uring with `entries` SQEs (0: 256) and an
 * eventfd signalled on every completion. Returns NULL with a message in err
 * (io_uring not available, e.g. disabled by the kernel or a seccomp filter).
 */
struct vdisk_server *vdisk_server_new(unsigned entries, char *err, size_t errlen);
void vdisk_server_free(struct vdisk_server *s);
/* The eventfd to watch for completions, edge-triggered (EPOLLIN | EPOLLET): it is never read, so level-triggered watching would spin. */
int vdisk_server_fd(const struct vdisk_server *s);
/* Hand every queued SQE to the kernel (one system call). Returns 0 or -errno. */
int vdisk_server_submit(struct vdisk_server *s);
/* Submit, then run the callbacks of every completion that is there; never blocks, no system call when there is nothing to do. Returns how many ran. */
int vdisk_server_poll(struct vdisk_server *s);
/* Submit and wait until nothing is in flight (tests, tools, callers without a loop). */
int vdisk_server_drain(struct vdisk_server *s);
/* Operations in flight. */
unsigned vdisk_server_inflight(const struct vdisk_server *s);

/*
 * Plain file operations on the server, for the benchmark and the tests:
 * register fd (fixed file when possible) and get back a handle >= 0.
 * Buffers may be registered once (fixed buffers); buf_index then names the
 * registered buffer holding buf, or -1.
 */
int vdisk_server_add_file(struct vdisk_server *s, int fd);
int vdisk_server_register_buffers(struct vdisk_server *s, void *base, size_t len);
int vdisk_server_prep_rw(struct vdisk_server *s, int fh, bool write, void *buf, uint32_t len,
			 uint64_t off, vdisk_cb cb, void *arg);

/* ---- disks ---- */

enum vdisk_kind {
	VDISK_RAW,	/* a raw image, written in place */
	VDISK_OVERLAY,	/* a copy-on-write overlay over a raw base */
};

struct vdisk_opts {
	bool readonly;		/* raw images only: open read-only */
	bool direct;		/* O_DIRECT on every file (buffers must be 4 KiB aligned) */
	bool nolock;		/* do not take the flock (disk tool: info, check) */
};

/*
 * vdisk_open - open path on server s: a file starting with the overlay
 * magic is an overlay (its base opened read-only and checked against the
 * identity the overlay recorded), anything else a raw image. A writable
 * disk is locked (flock LOCK_EX) for one user at a time; a base is locked
 * shared, so that `disco disk commit` cannot write it under running VMs.
 * Returns NULL with a message naming the file and what is wrong.
 */
struct vdisk *vdisk_open(struct vdisk_server *s, const char *path, const struct vdisk_opts *o,
			 char *err, size_t errlen);
void vdisk_close(struct vdisk *d);

/*
 * vdisk_create - a new empty overlay at path over the raw image base (a
 * relative base path is taken relative to the overlay's directory, as
 * qemu-img does). Fails with -EEXIST if path exists.
 */
int vdisk_create(const char *path, const char *base, char *err, size_t errlen);

enum vdisk_kind vdisk_kind(const struct vdisk *d);
uint64_t vdisk_size(const struct vdisk *d);	/* bytes the guest sees */
bool vdisk_readonly(const struct vdisk *d);
const char *vdisk_path(const struct vdisk *d);

/*
 * Asynchronous I/O. off and len are multiples of VDISK_SECTOR and inside
 * the disk (else -EINVAL at once, without callback). buf stays the
 * caller's until cb runs.
 */
int vdisk_read(struct vdisk *d, void *buf, uint64_t len, uint64_t off, vdisk_cb cb, void *arg);
int vdisk_write(struct vdisk *d, const void *buf, uint64_t len, uint64_t off, vdisk_cb cb, void *arg);
int vdisk_flush(struct vdisk *d, vdisk_cb cb, void *arg);

/* The same, waiting for the result. */
int vdisk_pread(struct vdisk *d, void *buf, uint64_t len, uint64_t off);
int vdisk_pwrite(struct vdisk *d, const void *buf, uint64_t len, uint64_t off);
int vdisk_sync(struct vdisk *d);

struct vdisk_stats {
	uint64_t reads, writes, flushes, errors;	/* requests */
	uint64_t bytes_read_base, bytes_read_overlay;	/* bytes read from the files */
	uint64_t bytes_zero;				/* bytes read as zeros (nothing stored) */
	uint64_t bytes_written;
	uint64_t clusters_allocated;			/* by this open */
};
void vdisk_get_stats(const struct vdisk *d, struct vdisk_stats *st);

/*
 * The global disk cache (one per node): a 4 KiB block of a base image that
 * one VM read is kept once, in a machine page, and mapped copy-on-write into
 * every VM that reads it (vmm's pmap_map_shared). Blocks are named by the
 * base's identity (vdisk_base_key) and block number; a page lives while a
 * VM maps it and goes back to the node when the last mapping ends.
 */
struct vdisk_cache;
/* Layout-identical to vmm's struct pmap_share_ops: the cache's own references. */
struct vdisk_cache_ops {
	void *opaque;
	void (*get)(void *opaque, uint8_t *page);
	void (*put)(void *opaque, uint8_t *page);
};
struct vdisk_cache_stats {
	uint64_t pages;		/* machine pages the cache holds */
	uint64_t refs;		/* mappings of them by VMs */
	uint64_t hits, misses;	/* lookups */
};
/* Pages come from and go back to the node through alloc_page/free_page. NULL when out of memory. */
struct vdisk_cache *vdisk_cache_new(void *(*alloc_page)(void *opaque), void (*free_page)(void *opaque, void *page),
				    void *opaque);
/* Free the cache; every mapping must have ended (VMs destroyed first). */
void vdisk_cache_free(struct vdisk_cache *c);
/* The page holding block of base key, or NULL. */
uint8_t *vdisk_cache_find(struct vdisk_cache *c, uint64_t key, uint64_t block);
/*
 * A page holding data as block of base key (the existing one if there is
 * one), with no reference yet: the caller maps it (get) at once. NULL when
 * the node's memory is full.
 */
uint8_t *vdisk_cache_add(struct vdisk_cache *c, uint64_t key, uint64_t block, const void *data);
const struct vdisk_cache_ops *vdisk_cache_ops(struct vdisk_cache *c);
void vdisk_cache_get_stats(const struct vdisk_cache *c, struct vdisk_cache_stats *st);
/* The cache's name for d's base file (device, inode, size, mtime, sampled hash): nonzero for an overlay (read-only base), 0 when d cannot be cached (raw). */
uint64_t vdisk_base_key(const struct vdisk *d);
/* Whether the 4 KiB block at byte offset off (aligned) comes whole from the base image. */
bool vdisk_block_from_base(const struct vdisk *d, uint64_t off);

/* ---- the disk tool's verbs (docs/disk.md) ---- */

/* Exit codes of vdisk_check, as qemu-img check has them. */
enum {
	VDISK_CHECK_OK = 0,
	VDISK_CHECK_FAILED = 1,		/* could not check (cannot open, I/O error) */
	VDISK_CHECK_CORRUPT = 2,
	VDISK_CHECK_LEAKS = 3,		/* only unreferenced clusters */
};

/* Print what the image is; json: one JSON object. Returns 0 or -errno (message in err). */
int vdisk_info(const char *path, bool json, FILE *out, char *err, size_t errlen);
/* Check an image; findings go to out, one line each. Returns VDISK_CHECK_*. */
int vdisk_check(const char *path, FILE *out);
/*
 * vdisk_commit - write the overlay's data into its base, then empty the
 * overlay and record the base's new identity.
 */
int vdisk_commit(const char *path, char *err, size_t errlen);
/*
 * vdisk_rebase - make newbase the overlay's base. Safe mode (unsafe false):
 * every sector the overlay does not hold and in which the old and new base
 * differ is first copied from the old base into the overlay, so the guest
 * sees the same disk. Unsafe: only the base reference changes.
 */
int vdisk_rebase(const char *path, const char *newbase, bool unsafe, char *err, size_t errlen);

#endif
