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

struct vdisk_remote_base;

struct vdisk_opts {
	bool readonly;		/* raw images only: open read-only */
	bool direct;		/* O_DIRECT on every file (buffers must be 4 KiB aligned) */
	bool nolock;		/* do not take the flock (disk tool: info, check) */
	/* an overlay whose base another node serves (no local file): checked against its identity */
	const struct vdisk_remote_base *remote;
	/*
	 * The bases this node serves to others: a local base that is one of
	 * them (same path, size and sampled hash) gets the disk cache's name
	 * the other nodes give it (vdisk_base_key), so that caches across
	 * nodes (disk_cache = machine) know it is one base.
	 */
	const struct vdisk_remote_base *served;
	unsigned n_served;
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
	uint64_t bytes_read_base, bytes_read_overlay;	/* bytes read from the files (a remote base's included) */
	uint64_t bytes_read_remote;			/* of bytes_read_base: fetched from the node serving the base */
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
	uint64_t pages;		/* machine pages the cache holds (mapped or kept unmapped) */
	uint64_t refs;		/* mappings of them by VMs */
	uint64_t hits, misses;	/* lookups */
	uint64_t unmapped;	/* of pages: kept though no VM maps them (vdisk_cache_set_max) */
	uint64_t evictions;	/* unmapped pages given back to the node */
};
/*
 * Pages come from and go back to the node through alloc_page/free_page (a
 * page need not be zeroed: the cache writes whole blocks into it). NULL
 * when out of memory.
 */
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
/*
 * vdisk_cache_set_max - keep up to `bytes` of pages that no VM maps any
 * more (oldest unmapped first out), so that a later read of them maps them
 * without I/O. 0 (the default): a page goes back to the node with its last
 * mapping. Lowering it evicts at once.
 */
void vdisk_cache_set_max(struct vdisk_cache *c, uint64_t bytes);
/* Give back up to n unmapped pages to the node, oldest first (the node needs memory). Returns how many. */
uint64_t vdisk_cache_evict(struct vdisk_cache *c, uint64_t n);
void vdisk_cache_get_stats(const struct vdisk_cache *c, struct vdisk_cache_stats *st);
/* The cache's name for d's base file (device, inode, size, mtime, sampled hash): nonzero for an overlay (read-only base), 0 when d cannot be cached (raw). */
uint64_t vdisk_base_key(const struct vdisk *d);
/* Whether the 4 KiB block at byte offset off (aligned) comes whole from the base image. */
bool vdisk_block_from_base(const struct vdisk *d, uint64_t off);

/*
 * ---- a base image served by another node (docs/disk.md, "Disks across nodes") ----
 *
 * When hosts share no file system, the node that has a base image serves
 * its blocks to the nodes that run VMs over it; each VM's overlay stays on
 * its home. One struct vdisk_remote per node does both sides, over a
 * message transport (the node's fabric: types VDISK_MSG_FIRST..END-1):
 *
 *   READ  client -> server  { u32 image, u32 len, u64 id, u64 off }
 *         len 1..64 chunks (chunk = msg_max - 16 rounded down to 512)
 *   DATA  server -> client  { u64 id + k, i32 status, u32 len, data[len] }
 *         chunk k of the READ: status 0 and its bytes; or, for the whole
 *         READ, one DATA with its id, -errno and no data
 *
 * A client read is split into READs of up to 64 chunks, all sent at once;
 * the read completes (callback from vdisk_remote_on_msg or _poll, never
 * from inside the verb) when every chunk's DATA came, or with -EIO when
 * the server answered an error or nothing arrived for timeout_ns (a lost
 * or dead server gives an I/O error, not a hang). The server reads with
 * its io_uring server and answers from its completion. A READ for an
 * unknown image, past the end of the image or of a bad length gets an
 * error status; a message too short to carry an id, or a DATA that names
 * no chunk in flight, is dropped and counted.
 */
#define VDISK_MSG_FIRST		232	/* the node hands types 232..247 to vdisk_remote_on_msg */
#define VDISK_MSG_READ		232
#define VDISK_MSG_DATA		233
#define VDISK_MSG_END		248

/* A raw image's identity, as an overlay header records it (size + sampled content hash; mtime informative). */
struct vdisk_ident {
	uint64_t size, hash;
	int64_t mtime_ns;
};

/*
 * vdisk_identify - open path read-only: a raw image gets its identity in
 * *id and its absolute path in real. Returns 0, -ENOENT/-EACCES... (cannot
 * open), or -EINVAL for a file that is not a raw image (an overlay, not a
 * regular file, empty), with a message in err.
 */
int vdisk_identify(const char *path, struct vdisk_ident *id, char *real, size_t reallen, char *err, size_t errlen);

struct vdisk_remote;

struct vdisk_remote_transport {
	void *opaque;
	/* send a message of `type` to node; 0 or -errno (the message is lost) */
	int (*send)(void *opaque, unsigned node, unsigned type, const void *payload, size_t len);
	size_t msg_max;		/* payload bytes of one message (>= 1024) */
};

/* Where a VM's base comes from: node `node` serves it as `image`, with this identity and absolute path there. */
struct vdisk_remote_base {
	struct vdisk_remote *r;
	unsigned node;
	uint32_t image;
	struct vdisk_ident ident;
	char path[4096];
};

struct vdisk_remote_stats {
	uint64_t bytes_fetched, reads_sent;	/* client: base bytes that came from other nodes, READ messages */
	uint64_t bytes_served, reads_served;	/* server: bytes sent to other nodes, READs answered with data */
	uint64_t errors;			/* READs answered with an error status (served) */
	uint64_t failed;			/* client reads that ended in an error (error status, timeout, send failure) */
	uint64_t timeouts;			/* of which: nothing arrived for timeout_ns */
	uint64_t dropped;			/* malformed or stale messages */
};

/* s: the node's io_uring server (serving reads); timeout_ns 0: VDISK_REMOTE_TIMEOUT_NS. NULL when out of memory. */
#define VDISK_REMOTE_TIMEOUT_NS	(10 * 1000000000ull)
struct vdisk_remote *vdisk_remote_new(struct vdisk_server *s, const struct vdisk_remote_transport *t,
				      uint64_t timeout_ns);
/* Free; requests still in flight end with -ECANCELED first. */
void vdisk_remote_free(struct vdisk_remote *r);
/*
 * vdisk_remote_serve - serve the raw image at path as `image` to other
 * nodes: opened read-only, locked shared, registered with the server, and
 * refused (-ESTALE, message in err) unless its identity is *want (NULL:
 * any).
 */
int vdisk_remote_serve(struct vdisk_remote *r, uint32_t image, const char *path, const struct vdisk_ident *want,
		       char *err, size_t errlen);
/* A message of type VDISK_MSG_FIRST..END-1 from node src. */
void vdisk_remote_on_msg(struct vdisk_remote *r, unsigned src, unsigned type, const void *payload, size_t len);
/* Fail the reads that saw nothing for the timeout (call every loop turn; cheap). Returns how many ended. */
int vdisk_remote_poll(struct vdisk_remote *r, uint64_t now_ns);
/* When the next read times out (CLOCK_MONOTONIC ns), UINT64_MAX when none is in flight. */
uint64_t vdisk_remote_next_deadline(const struct vdisk_remote *r);
void vdisk_remote_get_stats(const struct vdisk_remote *r, struct vdisk_remote_stats *st);
/*
 * vdisk_remote_read - read len bytes at off of base b into buf; cb(arg, res)
 * later, res 0 or -errno. tag names the reader for vdisk_remote_cancel.
 */
int vdisk_remote_read(const struct vdisk_remote_base *b, void *buf, uint64_t len, uint64_t off, const void *tag,
		      vdisk_cb cb, void *arg);
/* End tag's reads in flight now, with -ECANCELED (a disk being closed). */
void vdisk_remote_cancel(struct vdisk_remote *r, const void *tag);
/*
 * vdisk_overlay_base - if path is a disco overlay with a sound header: 1,
 * with the base path it records (as written: relative to the overlay's
 * directory) in base and the identity it records in *want. 0: not an
 * overlay. -errno with the reason in err: unreadable, or a damaged header.
 */
int vdisk_overlay_base(const char *path, char *base, size_t baselen, struct vdisk_ident *want, char *err,
		       size_t errlen);
/* vdisk_create for a base that another node serves: the header records b's path and identity. */
int vdisk_create_remote(const char *path, const struct vdisk_remote_base *b, char *err, size_t errlen);

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
