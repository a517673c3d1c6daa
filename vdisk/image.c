/*
 * image.c — open disks (raw, or overlay over a raw base) and serve their
 * reads, writes and flushes through the io_uring server.
 *
 * A request is split into runs, each one contiguous range of one file (the
 * base, the overlay, or zeros), and each run becomes one server operation.
 * The request completes when its last run does. Overlay writes allocate
 * clusters at the end of the file when they are submitted (map[]), and
 * record what reached the file when they complete (cmap[]); a flush makes
 * cmap[] durable in the order given in vdisk.h. map[] is what reads follow:
 * virtio gives no order between requests in flight, so a read may see a
 * write that has not completed yet, as a real disk's would.
 */
#define _GNU_SOURCE	/* O_DIRECT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "vdisk/internal.h"

struct vdisk {
	struct vdisk_server *s;
	enum vdisk_kind kind;
	char path[PATH_MAX];
	int fd, fh;			/* the raw image or the overlay */
	int base_fd, base_fh;		/* overlay: its base, read-only */
	int io_fd, base_io_fd;		/* O_DIRECT descriptors when asked, else -1 */
	bool ro;
	uint64_t size;
	/* overlay */
	struct ovl_hdr hdr;
	uint64_t *map;			/* reads follow this (submitted writes) */
	uint64_t *cmap;			/* completed writes; what a flush makes durable */
	uint8_t *dirty;			/* per map page: cmap changed since the last flush snapshot */
	uint64_t npages;		/* map pages */
	uint64_t next_free;		/* where the next cluster goes */
	uint64_t base_key;		/* the disk cache's name for the base file (vdisk_base_key) */
	bool is_remote;			/* overlay: another node serves the base (no base file here) */
	struct vdisk_remote_base remote;
	struct vdisk_stats st;
};

/* ---- format helpers (shared with tool.c) ---- */

uint64_t vdisk_fnv1a(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

int full_pread(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA;	/* past the end of the file */
		p += n;
		len -= n;
		off += n;
	}
	return 0;
}

int full_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

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

int base_identity(int fd, uint64_t *size, int64_t *mtime_ns, uint64_t *hash)
{
	struct stat st;
	uint8_t *blk;
	uint64_t h = FNV_INIT;
	int r = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	*size = st.st_size;
	*mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	blk = malloc(VDISK_CLUSTER);
	if (!blk)
		return -ENOMEM;
	h = vdisk_fnv1a(h, size, sizeof(*size));
	for (unsigned i = 0; i < 16 && *size; i++) {
		uint64_t off = (*size / 16 * i) & MAP_OFF_MASK;
		uint64_t n = *size - off < VDISK_CLUSTER ? *size - off : VDISK_CLUSTER;
		ssize_t got = pread(fd, blk, n, off);	/* plain read: fd is never O_DIRECT here */

		if (got != (ssize_t)n) {
			r = got < 0 ? -errno : -EIO;
			break;
		}
		h = vdisk_fnv1a(h, blk, n);
	}
	free(blk);
	*hash = h;
	return r;
}

void ovl_hdr_seal(struct ovl_hdr *h)
{
	h->checksum = vdisk_fnv1a(FNV_INIT, h, offsetof(struct ovl_hdr, checksum));
}

bool ovl_hdr_magic_damaged(const struct ovl_hdr *h)
{
	struct ovl_hdr c = *h;

	if (!memcmp(h->magic, VDISK_MAGIC, 8))
		return false;
	memcpy(c.magic, VDISK_MAGIC, 8);
	return c.version == VDISK_VERSION && c.header_size == VDISK_HDR_SIZE &&
	       c.checksum == vdisk_fnv1a(FNV_INIT, &c, offsetof(struct ovl_hdr, checksum));
}

const char *ovl_hdr_check(const struct ovl_hdr *h, uint64_t file_size)
{
	uint64_t map_bytes;

	if (memcmp(h->magic, VDISK_MAGIC, 8))
		return "wrong magic: not a disco overlay";
	if (h->version != VDISK_VERSION)
		return "unsupported format version";
	if (h->checksum != vdisk_fnv1a(FNV_INIT, h, offsetof(struct ovl_hdr, checksum)))
		return "header checksum mismatch: the header is damaged";
	if (h->header_size != VDISK_HDR_SIZE || h->cluster_size != VDISK_CLUSTER || (h->flags & ~OVL_F_COMMITTING))
		return "header size, cluster size or flags not those of version 1";
	if (h->size % VDISK_SECTOR || h->map_entries != (h->size + VDISK_CLUSTER - 1) / VDISK_CLUSTER)
		return "disk size and map size disagree";
	if (h->base_path[VDISK_BASE_PATH_MAX - 1] || !h->base_path[0])
		return "base path missing or not terminated";
	map_bytes = (h->map_entries * 8 + VDISK_CLUSTER - 1) & MAP_OFF_MASK;
	if (h->map_off != VDISK_HDR_SIZE || h->data_off != h->map_off + map_bytes)
		return "map or data offset not where version 1 puts them";
	if (file_size < h->data_off)
		return "truncated: the file ends before its map does";
	return NULL;
}

void ovl_hdr_from_ident(struct ovl_hdr *h, uint64_t size, int64_t mtime_ns, uint64_t hash, const char *base_path_rec)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, VDISK_MAGIC, 8);
	h->version = VDISK_VERSION;
	h->header_size = VDISK_HDR_SIZE;
	h->cluster_size = VDISK_CLUSTER;
	h->base_size = size;
	h->base_mtime_ns = mtime_ns;
	h->base_hash = hash;
	h->size = h->base_size & ~(uint64_t)(VDISK_SECTOR - 1);
	h->map_entries = (h->size + VDISK_CLUSTER - 1) / VDISK_CLUSTER;
	h->map_off = VDISK_HDR_SIZE;
	h->data_off = h->map_off + ((h->map_entries * 8 + VDISK_CLUSTER - 1) & MAP_OFF_MASK);
	snprintf(h->base_path, sizeof(h->base_path), "%s", base_path_rec);
	ovl_hdr_seal(h);
}

int ovl_hdr_init(struct ovl_hdr *h, int base_fd, const char *base_path_rec)
{
	uint64_t size, hash;
	int64_t mtime;
	int r;

	r = base_identity(base_fd, &size, &mtime, &hash);
	if (r < 0)
		return r;
	if (strlen(base_path_rec) >= VDISK_BASE_PATH_MAX)
		return -ENAMETOOLONG;
	ovl_hdr_from_ident(h, size, mtime, hash, base_path_rec);
	return 0;
}

void base_resolve(const char *ovl_path, const char *base_path, char *out, size_t outlen)
{
	const char *slash = strrchr(ovl_path, '/');

	if (base_path[0] == '/' || !slash)
		snprintf(out, outlen, "%s", base_path);
	else
		snprintf(out, outlen, "%.*s/%s", (int)(slash - ovl_path), ovl_path, base_path);
}

/* ---- create ---- */

int vdisk_create(const char *path, const char *base, char *err, size_t errlen)
{
	char resolved[PATH_MAX];
	struct ovl_hdr *h = NULL;
	int bfd, fd = -1, r;

	base_resolve(path, base, resolved, sizeof(resolved));
	bfd = open(resolved, O_RDONLY | O_CLOEXEC);
	if (bfd < 0) {
		r = -errno;
		snprintf(err, errlen, "base %s: %s", resolved, strerror(errno));
		return r;
	}
	{
		char magic[8];

		if (pread(bfd, magic, 8, 0) == 8 && !memcmp(magic, VDISK_MAGIC, 8)) {
			snprintf(err, errlen, "base %s: is an overlay; a base must be a raw image", resolved);
			r = -EINVAL;
			goto out;
		}
	}
	h = aligned_alloc(VDISK_CLUSTER, VDISK_HDR_SIZE);
	if (!h) {
		r = -ENOMEM;
		snprintf(err, errlen, "overlay %s: out of memory", path);
		goto out;
	}
	memset(h, 0, VDISK_HDR_SIZE);
	r = ovl_hdr_init(h, bfd, base);
	if (r < 0) {
		snprintf(err, errlen, "base %s: %s", resolved, strerror(-r));
		goto out;
	}
	if (h->size == 0) {
		snprintf(err, errlen, "base %s: empty (a disk needs at least one 512-byte sector)", resolved);
		r = -EINVAL;
		goto out;
	}
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "overlay %s: %s", path, strerror(errno));
		goto out;
	}
	/* The map is a hole (all zero) until clusters are allocated; header last, then sync. */
	if (ftruncate(fd, h->data_off) < 0 || (r = full_pwrite(fd, h, VDISK_HDR_SIZE, 0)) < 0 ||
	    fsync(fd) < 0) {
		r = r < 0 ? r : -errno;
		snprintf(err, errlen, "overlay %s: %s", path, strerror(-r));
		unlink(path);
		goto out;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	close(bfd);
	free(h);
	return r;
}

/* ---- open / close ---- */

static int lock_file(int fd, bool excl, const char *what, const char *path, char *err, size_t errlen)
{
	/*
	 * A process killed with its io_uring holding the file (fixed files,
	 * requests in flight) lets it go only when the kernel tears the ring
	 * down, a little after the exit: wait up to a second before saying
	 * that someone holds it.
	 */
	for (int i = 0; i < 50; i++) {
		if (flock(fd, (excl ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK)
			break;
		usleep(20000);
	}
	if (errno == EWOULDBLOCK) {
		snprintf(err, errlen, "%s %s: in use (locked by another VM or disco disk)", what, path);
		return -EBUSY;
	}
	snprintf(err, errlen, "%s %s: flock: %s", what, path, strerror(errno));
	return -errno;
}


/* The disk cache's name for a base that node b->node serves (the same on every node that reads it). */
static uint64_t served_key(const struct vdisk_remote_base *b)
{
	uint64_t k[4] = { b->node, b->ident.size, b->ident.hash, vdisk_fnv1a(FNV_INIT, b->path, strlen(b->path)) };

	return vdisk_fnv1a(FNV_INIT, k, sizeof(k)) | 1;
}

static int open_overlay(struct vdisk *d, const struct vdisk_opts *o, uint64_t file_size,
			char *err, size_t errlen)
{
	char base[PATH_MAX];
	const char *bad;
	uint64_t bsize, bhash, bytes;
	int64_t bmtime;
	int r;

	r = full_pread(d->fd, &d->hdr, sizeof(d->hdr), 0);
	if (r < 0) {
		snprintf(err, errlen, "overlay %s: truncated header", d->path);
		return -EINVAL;
	}
	bad = ovl_hdr_check(&d->hdr, file_size);
	if (bad) {
		snprintf(err, errlen, "overlay %s: %s", d->path, bad);
		return -EINVAL;
	}
	if (d->hdr.flags & OVL_F_COMMITTING) {
		snprintf(err, errlen, "overlay %s: a `disco disk commit` of it was interrupted (its base holds part "
			 "of its data): run `disco disk commit %s` again to finish it", d->path, d->path);
		return -EBUSY;
	}
	if (o->remote) {
		/* the base is another node's file: its identity is the one that node found */
		const struct vdisk_remote_base *b = o->remote;

		if (b->ident.size != d->hdr.base_size || b->ident.hash != d->hdr.base_hash) {
			snprintf(err, errlen, "overlay %s: base %s served by node %u is not the overlay's base "
				 "(size %llu, was %llu; content hash %s): refusing, the overlay's blocks would not fit it",
				 d->path, b->path, b->node, (unsigned long long)b->ident.size,
				 (unsigned long long)d->hdr.base_size, b->ident.hash == d->hdr.base_hash ? "same" : "differs");
			return -ESTALE;
		}
		d->is_remote = true;
		d->remote = *b;
		d->base_key = served_key(b);
		goto map;
	}
	base_resolve(d->path, d->hdr.base_path, base, sizeof(base));
	d->base_fd = open(base, O_RDONLY | O_CLOEXEC);
	if (d->base_fd < 0) {
		snprintf(err, errlen, "overlay %s: base %s: %s", d->path, base, strerror(errno));
		return -ENOENT;
	}
	if (!o->nolock && (r = lock_file(d->base_fd, false, "base", base, err, errlen)) < 0)
		return r;
	r = base_identity(d->base_fd, &bsize, &bmtime, &bhash);
	if (r < 0) {
		snprintf(err, errlen, "overlay %s: base %s: %s", d->path, base, strerror(-r));
		return r;
	}
	if (bsize != d->hdr.base_size || bhash != d->hdr.base_hash) {
		snprintf(err, errlen, "overlay %s: base %s changed since the overlay was made "
			 "(size %llu, was %llu; content hash %s): refusing, the overlay's blocks would not fit it "
			 "(disco disk rebase -u to accept it)", d->path, base, (unsigned long long)bsize,
			 (unsigned long long)d->hdr.base_size, bhash == d->hdr.base_hash ? "same" : "differs");
		return -ESTALE;
	}
	{
		/*
		 * The cache's name for the base: which file it is (device and
		 * inode) and its state, not only the sampled identity, which two
		 * different images cloned from one template can share.
		 */
		struct stat bst;
		uint64_t k[5];

		if (fstat(d->base_fd, &bst) == 0) {
			k[0] = bst.st_dev;
			k[1] = bst.st_ino;
			k[2] = bsize;
			k[3] = (uint64_t)bmtime;
			k[4] = bhash;
			d->base_key = vdisk_fnv1a(FNV_INIT, k, sizeof(k)) | 1;
		}
		for (unsigned i = 0; i < o->n_served && d->base_key; i++) {
			/* a base this node serves: named as the nodes it serves name it */
			const struct vdisk_remote_base *b = &o->served[i];
			char real[PATH_MAX];

			if (b->ident.size == bsize && b->ident.hash == bhash && realpath(base, real) &&
			    !strcmp(real, b->path)) {
				d->base_key = served_key(b);
				break;
			}
		}
	}
	if (bmtime != d->hdr.base_mtime_ns)
		LOG(SUB_DISK, LOG_INFO, "overlay %s: base %s was touched (mtime) but its size and sampled content match",
		    d->path, base);
	if (o->direct) {	/* identity was read through the page cache; data goes direct */
		d->base_io_fd = open(base, O_RDONLY | O_CLOEXEC | O_DIRECT);
		if (d->base_io_fd < 0) {
			snprintf(err, errlen, "base %s: O_DIRECT: %s", base, strerror(errno));
			return -errno;
		}
	}
map:
	d->size = d->hdr.size;
	d->npages = (d->hdr.map_entries + VDISK_ENTRIES_PER_PAGE - 1) / VDISK_ENTRIES_PER_PAGE;
	bytes = d->npages * VDISK_CLUSTER;
	d->map = aligned_alloc(VDISK_CLUSTER, bytes);
	d->cmap = aligned_alloc(VDISK_CLUSTER, bytes);
	d->dirty = calloc(d->npages, 1);
	if (!d->map || !d->cmap || !d->dirty) {
		snprintf(err, errlen, "overlay %s: out of memory for its map", d->path);
		return -ENOMEM;
	}
	r = full_pread(d->fd, d->map, bytes, d->hdr.map_off);
	if (r < 0) {
		snprintf(err, errlen, "overlay %s: reading the map: %s", d->path, strerror(-r));
		return r;
	}
	d->next_free = (file_size + VDISK_CLUSTER - 1) & MAP_OFF_MASK;
	for (uint64_t c = 0; c < d->hdr.map_entries; c++) {
		uint64_t e = d->map[c], off = e & MAP_OFF_MASK;

		if (!e)
			continue;
		if ((e & MAP_RESERVED_BITS) || off < d->hdr.data_off) {
			snprintf(err, errlen, "overlay %s: map entry %llu is malformed (%#llx): run disco disk check",
				 d->path, (unsigned long long)c, (unsigned long long)e);
			return -EINVAL;
		}
		for (unsigned i = 0; i < VDISK_SECTORS_PER_CLUSTER; i++)
			if ((e >> i & 1) && off + (i + 1) * VDISK_SECTOR > file_size) {
				snprintf(err, errlen, "overlay %s: map entry %llu points past the end of the file "
					 "(offset %llu, file %llu bytes): run disco disk check", d->path,
					 (unsigned long long)c, (unsigned long long)off, (unsigned long long)file_size);
				return -EINVAL;
			}
		if (off + VDISK_CLUSTER > d->next_free)
			d->next_free = off + VDISK_CLUSTER;
	}
	memcpy(d->cmap, d->map, bytes);
	if (o->direct) {	/* the lock stays on fd, which stays open beside it */
		d->io_fd = open(d->path, (d->ro ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_DIRECT);
		if (d->io_fd < 0) {
			snprintf(err, errlen, "overlay %s: O_DIRECT: %s", d->path, strerror(errno));
			return -errno;
		}
	}
	return 0;
}

struct vdisk *vdisk_open(struct vdisk_server *s, const char *path, const struct vdisk_opts *o,
			 char *err, size_t errlen)
{
	static const struct vdisk_opts defaults;
	struct vdisk *d;
	struct stat st;
	char magic[8] = {0};
	int flags, r;

	if (!o)
		o = &defaults;
	d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "disk %s: out of memory", path);
		return NULL;
	}
	d->s = s;
	d->fd = d->base_fd = d->fh = d->base_fh = d->io_fd = d->base_io_fd = -1;
	snprintf(d->path, sizeof(d->path), "%s", path);
	flags = o->readonly ? O_RDONLY : O_RDWR;
	d->fd = open(path, flags | O_CLOEXEC);
	if (d->fd < 0 && !o->readonly && (errno == EACCES || errno == EROFS || errno == EPERM)) {
		d->fd = open(path, O_RDONLY | O_CLOEXEC);
		d->ro = true;
	} else {
		d->ro = o->readonly;
	}
	if (d->fd < 0) {
		snprintf(err, errlen, "disk %s: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(d->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "disk %s: not a regular file", path);
		goto fail;
	}
	{
		/* an overlay with a damaged magic must not pass for a raw disk */
		struct ovl_hdr h;

		if (st.st_size >= (off_t)sizeof(h) && pread(d->fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
		    ovl_hdr_magic_damaged(&h)) {
			snprintf(err, errlen, "overlay %s: wrong magic (the rest of its header is a disco overlay's): "
				 "the file is damaged", path);
			goto fail;
		}
	}
	if (pread(d->fd, magic, 8, 0) == 8 && !memcmp(magic, VDISK_MAGIC, 8)) {
		d->kind = VDISK_OVERLAY;
		if (!o->nolock && (r = lock_file(d->fd, !d->ro, "overlay", path, err, errlen)) < 0)
			goto fail;
		if (open_overlay(d, o, st.st_size, err, errlen) < 0)
			goto fail;
		d->fh = vdisk_server_add_file(s, d->io_fd >= 0 ? d->io_fd : d->fd);
		if (!d->is_remote)
			d->base_fh = vdisk_server_add_file(s, d->base_io_fd >= 0 ? d->base_io_fd : d->base_fd);
		if (d->fh < 0 || (!d->is_remote && d->base_fh < 0)) {
			snprintf(err, errlen, "disk %s: cannot register with the disk server", path);
			goto fail;
		}
		return d;
	}
	d->kind = VDISK_RAW;
	if (!o->nolock && lock_file(d->fd, !d->ro, "disk", path, err, errlen) < 0)
		goto fail;
	d->size = st.st_size & ~(uint64_t)(VDISK_SECTOR - 1);
	if (st.st_size % VDISK_SECTOR)
		LOG(SUB_DISK, LOG_WARN, "disk %s: size %llu is not a multiple of 512: the last %llu bytes are not used",
		    path, (unsigned long long)st.st_size, (unsigned long long)(st.st_size % VDISK_SECTOR));
	if (o->direct) {	/* the lock stays on fd, which stays open beside it */
		d->io_fd = open(path, (d->ro ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_DIRECT);
		if (d->io_fd < 0) {
			snprintf(err, errlen, "disk %s: O_DIRECT: %s", path, strerror(errno));
			goto fail;
		}
	}
	d->fh = vdisk_server_add_file(s, d->io_fd >= 0 ? d->io_fd : d->fd);
	if (d->fh < 0) {
		snprintf(err, errlen, "disk %s: cannot register with the disk server", path);
		goto fail;
	}
	return d;
fail:
	vdisk_close(d);
	return NULL;
}

void vdisk_close(struct vdisk *d)
{
	if (!d)
		return;
	if (d->is_remote)
		vdisk_remote_cancel(d->remote.r, d);	/* its reads in flight end now: d goes away */
	if (d->fh >= 0) {
		vdisk_server_drain(d->s);
		if (d->kind == VDISK_OVERLAY && !d->ro) {
			for (uint64_t p = 0; p < d->npages; p++)
				if (d->dirty[p]) {
					if (vdisk_sync(d) < 0)
						LOG(SUB_DISK, LOG_WARN, "overlay %s: final flush failed", d->path);
					break;
				}
		}
		server_remove_file(d->s, d->fh);
	}
	if (d->base_fh >= 0)
		server_remove_file(d->s, d->base_fh);
	if (d->base_fd >= 0)
		close(d->base_fd);
	if (d->base_io_fd >= 0)
		close(d->base_io_fd);
	if (d->io_fd >= 0)
		close(d->io_fd);
	if (d->fd >= 0)
		close(d->fd);
	free(d->map);
	free(d->cmap);
	free(d->dirty);
	free(d);
}

enum vdisk_kind vdisk_kind(const struct vdisk *d) { return d->kind; }
uint64_t vdisk_size(const struct vdisk *d) { return d->size; }
bool vdisk_readonly(const struct vdisk *d) { return d->ro; }
const char *vdisk_path(const struct vdisk *d) { return d->path; }

void vdisk_get_stats(const struct vdisk *d, struct vdisk_stats *st)
{
	*st = d->st;
}

uint64_t vdisk_base_key(const struct vdisk *d)
{
	return d->kind == VDISK_OVERLAY ? d->base_key : 0;	/* 0 also when the base could not be named */
}

bool vdisk_block_from_base(const struct vdisk *d, uint64_t off)
{
	return d->kind == VDISK_OVERLAY && off % VDISK_CLUSTER == 0 && off + VDISK_CLUSTER <= d->hdr.base_size &&
	       off < d->size && d->map[off / VDISK_CLUSTER] == 0;
}

/* ---- requests ---- */

struct vreq {
	struct vdisk *d;
	vdisk_cb cb;
	void *arg;
	int pending;		/* runs in flight, +1 while the request is being split */
	int res;
	bool write;
	uint64_t off, len;
};

struct run {
	struct vop op;
	struct vreq *r;
};

static void req_put(struct vreq *r)
{
	struct vdisk *d = r->d;

	if (--r->pending)
		return;
	if (r->res < 0)
		d->st.errors++;
	if (r->write && r->res == 0 && d->kind == VDISK_OVERLAY) {
		/* record what reached the file: the next flush makes it durable */
		for (uint64_t pos = r->off; pos < r->off + r->len;) {
			uint64_t c = pos / VDISK_CLUSTER, end = (c + 1) * VDISK_CLUSTER;
			uint64_t stop = end < r->off + r->len ? end : r->off + r->len;
			unsigned s0 = (pos % VDISK_CLUSTER) / VDISK_SECTOR;
			unsigned s1 = (stop - c * VDISK_CLUSTER + VDISK_SECTOR - 1) / VDISK_SECTOR;
			uint64_t bits = ((1ull << s1) - 1) & ~((1ull << s0) - 1);

			d->cmap[c] = (d->map[c] & MAP_OFF_MASK) | (d->cmap[c] & MAP_MASK_BITS) | bits;
			d->dirty[c / VDISK_ENTRIES_PER_PAGE] = 1;
			pos = stop;
		}
	}
	r->cb(r->arg, r->res);
	free(r);
}

static void run_done(struct vop *op, int res)
{
	struct run *u = (struct run *)op;
	struct vreq *r = u->r;

	if (res < 0 && r->res == 0)
		r->res = res;
	free(u);
	req_put(r);
}

static int run_start(struct vreq *r, enum vop_kind kind, int fh, uint8_t *buf, uint64_t len, uint64_t off)
{
	struct run *u = malloc(sizeof(*u));

	if (!u)
		return -ENOMEM;
	u->op = (struct vop){ .kind = kind, .fh = fh, .buf = buf, .len = len, .off = off, .done_cb = run_done };
	u->r = r;
	r->pending++;
	server_start(r->d->s, &u->op);
	return 0;
}

static void remote_done(void *arg, int res)
{
	struct run *u = arg;

	run_done(&u->op, res);
}

/* A run of the base that another node serves: over the fabric, not the ring. */
static int remote_run_start(struct vreq *r, uint8_t *buf, uint64_t len, uint64_t off)
{
	struct run *u = malloc(sizeof(*u));
	int e;

	if (!u)
		return -ENOMEM;
	u->op = (struct vop){ .kind = VOP_READ, .buf = buf, .len = len, .off = off };
	u->r = r;
	r->pending++;
	e = vdisk_remote_read(&r->d->remote, buf, len, off, r->d, remote_done, u);
	if (e < 0) {
		r->pending--;
		free(u);
	}
	return e;
}

static struct vreq *req_new(struct vdisk *d, bool write, uint64_t off, uint64_t len, vdisk_cb cb, void *arg)
{
	struct vreq *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->d = d;
	r->cb = cb;
	r->arg = arg;
	r->pending = 1;
	r->write = write;
	r->off = off;
	r->len = len;
	return r;
}

static bool range_bad(const struct vdisk *d, uint64_t len, uint64_t off)
{
	return len == 0 || len % VDISK_SECTOR || off % VDISK_SECTOR || off > d->size || len > d->size - off ||
	       len > UINT32_MAX;
}

/* A run being gathered: fh < 0 is none, ZERO_FH zero fill, REMOTE_FH the base another node serves. */
#define ZERO_FH	(-2)
#define REMOTE_FH	(-3)
struct gather {
	int fh;
	uint8_t *buf;
	uint64_t len, off;
};

static int gather_flush(struct vreq *r, struct gather *g, enum vop_kind kind)
{
	int res = 0;

	if (g->fh == ZERO_FH)
		memset(g->buf, 0, g->len);
	else if (g->fh == REMOTE_FH)
		res = remote_run_start(r, g->buf, g->len, g->off);
	else if (g->fh >= 0)
		res = run_start(r, kind, g->fh, g->buf, g->len, g->off);
	g->fh = -1;
	return res;
}

static int gather_add(struct vreq *r, struct gather *g, enum vop_kind kind, int fh, uint8_t *buf,
		      uint64_t len, uint64_t off)
{
	int res;

	if (g->fh == fh && g->buf + g->len == buf && (fh == ZERO_FH || g->off + g->len == off)) {
		g->len += len;
		return 0;
	}
	res = gather_flush(r, g, kind);
	*g = (struct gather){ fh, buf, len, off };
	return res;
}

int vdisk_read(struct vdisk *d, void *buf, uint64_t len, uint64_t off, vdisk_cb cb, void *arg)
{
	struct gather g = { .fh = -1 };
	struct vreq *r;
	uint8_t *p = buf;
	int res = 0;

	if (range_bad(d, len, off))
		return -EINVAL;
	r = req_new(d, false, off, len, cb, arg);
	if (!r)
		return -ENOMEM;
	d->st.reads++;
	if (d->kind == VDISK_RAW) {
		res = run_start(r, VOP_READ, d->fh, p, len, off);
		d->st.bytes_read_base += len;
	} else {
		for (uint64_t pos = off; pos < off + len && res == 0;) {
			uint64_t c = pos / VDISK_CLUSTER, e = d->map[c];
			uint64_t in = pos % VDISK_CLUSTER, n;
			unsigned sec = in / VDISK_SECTOR;
			bool mine = e >> sec & 1;

			/* the longest stretch inside this cluster with the same source */
			n = VDISK_SECTOR;
			while (in + n < VDISK_CLUSTER && pos + n < off + len && (bool)(e >> (sec + n / VDISK_SECTOR) & 1) == mine &&
			       (pos + n < d->hdr.base_size) == (pos < d->hdr.base_size))
				n += VDISK_SECTOR;
			if (mine) {
				res = gather_add(r, &g, VOP_READ, d->fh, p + (pos - off), n, (e & MAP_OFF_MASK) + in);
				d->st.bytes_read_overlay += n;
			} else if (pos >= d->hdr.base_size) {
				res = gather_add(r, &g, VOP_READ, ZERO_FH, p + (pos - off), n, 0);
				d->st.bytes_zero += n;
			} else {
				res = gather_add(r, &g, VOP_READ, d->is_remote ? REMOTE_FH : d->base_fh, p + (pos - off), n, pos);
				d->st.bytes_read_base += n;
				if (d->is_remote)
					d->st.bytes_read_remote += n;
			}
			pos += n;
		}
		if (res == 0)
			res = gather_flush(r, &g, VOP_READ);
		if (res == 0 && r->pending == 1) {
			/* nothing to read from a file (cannot happen: size <= base size); keep the async contract */
			res = run_start(r, VOP_FSYNC, d->fh, NULL, 0, 0);
		}
	}
	if (res < 0)
		r->res = res;
	req_put(r);
	return 0;
}

int vdisk_write(struct vdisk *d, const void *buf, uint64_t len, uint64_t off, vdisk_cb cb, void *arg)
{
	struct gather g = { .fh = -1 };
	uint8_t *p = (uint8_t *)buf;
	struct vreq *r;
	int res = 0;

	if (range_bad(d, len, off))
		return -EINVAL;
	if (d->ro)
		return -EROFS;
	r = req_new(d, true, off, len, cb, arg);
	if (!r)
		return -ENOMEM;
	d->st.writes++;
	d->st.bytes_written += len;
	if (d->kind == VDISK_RAW) {
		res = run_start(r, VOP_WRITE, d->fh, p, len, off);
	} else {
		for (uint64_t pos = off; pos < off + len && res == 0;) {
			uint64_t c = pos / VDISK_CLUSTER, in = pos % VDISK_CLUSTER;
			uint64_t n = VDISK_CLUSTER - in < off + len - pos ? VDISK_CLUSTER - in : off + len - pos;
			unsigned s0 = in / VDISK_SECTOR, s1 = (in + n) / VDISK_SECTOR;

			if (!d->map[c]) {
				d->map[c] = d->next_free;
				d->next_free += VDISK_CLUSTER;
				d->st.clusters_allocated++;
			}
			d->map[c] |= ((1ull << s1) - 1) & ~((1ull << s0) - 1);
			res = gather_add(r, &g, VOP_WRITE, d->fh, p + (pos - off), n, (d->map[c] & MAP_OFF_MASK) + in);
			pos += n;
		}
		if (res == 0)
			res = gather_flush(r, &g, VOP_WRITE);
	}
	if (res < 0)
		r->res = res;
	req_put(r);
	return 0;
}

/* A flush: fdatasync, write the snapshot of changed map pages, fdatasync. */
struct vflush {
	struct vop op;		/* the fdatasyncs */
	struct vdisk *d;
	vdisk_cb cb;
	void *arg;
	int stage, res, pending;
	uint64_t npages;
	uint64_t *pages;	/* map page numbers in the snapshot */
	uint8_t *snap;		/* npages * 4 KiB, page-aligned (O_DIRECT) */
};

struct mapw {
	struct vop op;
	struct vflush *f;
};

static void flush_step(struct vflush *f);

static void flush_end(struct vflush *f)
{
	struct vdisk *d = f->d;

	if (f->res < 0) {
		d->st.errors++;
		for (uint64_t i = 0; i < f->npages; i++)	/* not durable: the next flush tries again */
			d->dirty[f->pages[i]] = 1;
	}
	f->cb(f->arg, f->res);
	free(f->pages);
	free(f->snap);
	free(f);
}

static void fsync_done(struct vop *op, int res)
{
	struct vflush *f = (struct vflush *)op;

	if (res < 0)
		f->res = res;
	flush_step(f);
}

static void mapw_done(struct vop *op, int res)
{
	struct mapw *m = (struct mapw *)op;
	struct vflush *f = m->f;

	free(m);
	if (res < 0 && f->res == 0)
		f->res = res;
	if (--f->pending == 0)
		flush_step(f);
}

static void start_fsync(struct vflush *f)
{
	f->op = (struct vop){ .kind = VOP_FSYNC, .fh = f->d->fh, .done_cb = fsync_done };
	server_start(f->d->s, &f->op);
}

static void flush_step(struct vflush *f)
{
	struct vdisk *d = f->d;

	if (f->res < 0) {
		flush_end(f);
		return;
	}
	switch (f->stage++) {
	case 0:		/* data of the completed writes */
		start_fsync(f);
		return;
	case 1:		/* then the map entries naming it */
		if (!f->npages) {
			flush_end(f);
			return;
		}
		f->pending = f->npages;
		for (uint64_t i = 0; i < f->npages; i++) {
			struct mapw *m = malloc(sizeof(*m));

			if (!m) {
				f->res = -ENOMEM;
				if (--f->pending == 0)
					flush_step(f);
				continue;
			}
			m->f = f;
			m->op = (struct vop){ .kind = VOP_WRITE, .fh = d->fh, .buf = f->snap + i * VDISK_CLUSTER,
					      .len = VDISK_CLUSTER,
					      .off = d->hdr.map_off + f->pages[i] * VDISK_CLUSTER, .done_cb = mapw_done };
			server_start(d->s, &m->op);
		}
		return;
	case 2:		/* the map is durable before the flush is acknowledged */
		start_fsync(f);
		return;
	default:
		flush_end(f);
		return;
	}
}

int vdisk_flush(struct vdisk *d, vdisk_cb cb, void *arg)
{
	struct vflush *f = calloc(1, sizeof(*f));
	uint64_t n = 0;

	if (!f)
		return -ENOMEM;
	f->d = d;
	f->cb = cb;
	f->arg = arg;
	d->st.flushes++;
	if (d->kind == VDISK_OVERLAY && !d->ro) {
		for (uint64_t p = 0; p < d->npages; p++)
			n += d->dirty[p];
		if (n) {
			f->pages = malloc(n * sizeof(*f->pages));
			f->snap = aligned_alloc(VDISK_CLUSTER, n * VDISK_CLUSTER);
			if (!f->pages || !f->snap) {
				free(f->pages);
				free(f->snap);
				free(f);
				return -ENOMEM;
			}
			for (uint64_t p = 0; p < d->npages; p++) {
				if (!d->dirty[p])
					continue;
				memcpy(f->snap + f->npages * VDISK_CLUSTER, d->cmap + p * VDISK_ENTRIES_PER_PAGE,
				       VDISK_CLUSTER);
				f->pages[f->npages++] = p;
				d->dirty[p] = 0;
			}
		}
	}
	if (d->kind == VDISK_RAW || !d->ro)
		flush_step(f);		/* stage 0: starts an fsync, the callback comes later */
	else {
		f->stage = 3;		/* read-only overlay: nothing to make durable; still complete later */
		f->op = (struct vop){ .kind = VOP_FSYNC, .fh = d->fh, .done_cb = fsync_done };
		server_start(d->s, &f->op);
	}
	return 0;
}

/* ---- synchronous wrappers ---- */

struct waiter {
	bool done;
	int res;
};

static void wake(void *arg, int res)
{
	struct waiter *w = arg;

	w->done = true;
	w->res = res;
}

static int wait_for(struct vdisk *d, struct waiter *w)
{
	while (!w->done) {
		int r = vdisk_server_drain(d->s);

		if (r < 0)
			return r;
		if (!w->done && d->is_remote)
			return -EWOULDBLOCK;	/* a remote base's reads complete from the node's loop only */
	}
	return w->res;
}

int vdisk_pread(struct vdisk *d, void *buf, uint64_t len, uint64_t off)
{
	struct waiter w = {0};
	int r = vdisk_read(d, buf, len, off, wake, &w);

	return r < 0 ? r : wait_for(d, &w);
}

int vdisk_pwrite(struct vdisk *d, const void *buf, uint64_t len, uint64_t off)
{
	struct waiter w = {0};
	int r = vdisk_write(d, buf, len, off, wake, &w);

	return r < 0 ? r : wait_for(d, &w);
}

int vdisk_sync(struct vdisk *d)
{
	struct waiter w = {0};
	int r = vdisk_flush(d, wake, &w);

	return r < 0 ? r : wait_for(d, &w);
}
