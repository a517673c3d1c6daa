/*
 * tool.c — the disk tool's verbs on image files: info, check, commit,
 * rebase. These run outside any VM with plain synchronous I/O (they are
 * one-shot tools; the io_uring server is for running VMs).
 *
 * check follows qemu-img check's exit codes: 0 consistent, 2 corrupted,
 * 3 only leaked clusters (what a crash between a cluster's data write and
 * the flush that records it leaves), 1 could not check.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vdisk/internal.h"

/* An overlay read whole for the tool: header, map, file size. */
struct ovl {
	int fd;
	uint64_t file_size;
	struct ovl_hdr *h;
	uint64_t *map;
	uint64_t map_bytes;
	char base[PATH_MAX];
};

static void ovl_close(struct ovl *o)
{
	if (o->fd >= 0)
		close(o->fd);
	free(o->h);
	free(o->map);
	memset(o, 0, sizeof(*o));
	o->fd = -1;
}

/* Returns 1 for an overlay, 0 for a raw image (o->fd open either way), -errno with err. */
static int ovl_load(struct ovl *o, const char *path, int flags, char *err, size_t errlen)
{
	struct stat st;
	const char *bad;
	int r;

	memset(o, 0, sizeof(*o));
	o->fd = open(path, flags | O_CLOEXEC);
	if (o->fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(o->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -EINVAL;
	}
	o->file_size = st.st_size;
	o->h = calloc(1, VDISK_HDR_SIZE);
	if (!o->h)
		return -ENOMEM;
	if (o->file_size >= sizeof(*o->h) && full_pread(o->fd, o->h, sizeof(*o->h), 0) == 0 &&
	    ovl_hdr_magic_damaged(o->h)) {
		snprintf(err, errlen, "overlay %s: wrong magic (the rest of its header is a disco overlay's): "
			 "the file is damaged", path);
		return -EINVAL;
	}
	if (o->file_size < 8 || full_pread(o->fd, o->h, 8, 0) < 0 || memcmp(o->h->magic, VDISK_MAGIC, 8))
		return 0;
	if (o->file_size < sizeof(*o->h) || full_pread(o->fd, o->h, sizeof(*o->h), 0) < 0) {
		snprintf(err, errlen, "overlay %s: truncated: the file ends inside its header", path);
		return -EINVAL;
	}
	bad = ovl_hdr_check(o->h, o->file_size);
	if (bad) {
		snprintf(err, errlen, "overlay %s: %s", path, bad);
		return -EINVAL;
	}
	o->map_bytes = o->h->data_off - o->h->map_off;
	o->map = malloc(o->map_bytes);
	if (!o->map)
		return -ENOMEM;
	r = full_pread(o->fd, o->map, o->map_bytes, o->h->map_off);
	if (r < 0) {
		snprintf(err, errlen, "overlay %s: reading the map: %s", path, strerror(-r));
		return r;
	}
	base_resolve(path, o->h->base_path, o->base, sizeof(o->base));
	return 1;
}

/* Does the base at fd still have the identity the header recorded? */
static bool base_matches(const struct ovl_hdr *h, int fd)
{
	uint64_t size, hash;
	int64_t mtime;

	return base_identity(fd, &size, &mtime, &hash) == 0 && size == h->base_size && hash == h->base_hash;
}

static uint64_t popcount_sectors(const struct ovl *o, uint64_t *clusters)
{
	uint64_t n = 0;

	*clusters = 0;
	for (uint64_t c = 0; c < o->h->map_entries; c++)
		if (o->map[c]) {
			(*clusters)++;
			n += __builtin_popcountll(o->map[c] & MAP_MASK_BITS);
		}
	return n;
}

static void print_json(FILE *out, json_t *o)
{
	if (o)
		json_dumpf(o, out, JSON_INDENT(2));
	fputc('\n', out);
	json_decref(o);
}

int vdisk_info(const char *path, bool json, FILE *out, char *err, size_t errlen)
{
	struct ovl o;
	uint64_t clusters, sectors;
	int r = ovl_load(&o, path, O_RDONLY, err, errlen);

	if (r < 0)
		goto out;
	if (r == 0) {
		uint64_t vsize = o.file_size & ~(uint64_t)(VDISK_SECTOR - 1);

		if (json)
			print_json(out, json_pack("{s:s, s:s, s:I, s:I}", "file", path, "format", "raw",
						  "virtual_size", (json_int_t)vsize, "file_size", (json_int_t)o.file_size));
		else
			fprintf(out, "file: %s\nformat: raw\nvirtual size: %llu bytes\n", path, (unsigned long long)vsize);
		r = 0;
		goto out;
	}
	sectors = popcount_sectors(&o, &clusters);
	if (json) {
		char hash[17];

		snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)o.h->base_hash);
		print_json(out, json_pack("{s:s, s:s, s:i, s:I, s:I, s:i, s:s, s:s, s:I, s:s, s:I, s:I, s:b}",
					  "file", path, "format", "disco-overlay", "version", (int)o.h->version,
					  "virtual_size", (json_int_t)o.h->size, "file_size", (json_int_t)o.file_size,
					  "cluster_size", (int)o.h->cluster_size, "base", o.h->base_path,
					  "base_resolved", o.base, "base_size", (json_int_t)o.h->base_size,
					  "base_hash", hash, "clusters_allocated", (json_int_t)clusters,
					  "bytes_stored", (json_int_t)(sectors * VDISK_SECTOR),
					  "commit_interrupted", (o.h->flags & OVL_F_COMMITTING) != 0));
	} else {
		if (o.h->flags & OVL_F_COMMITTING)
			fprintf(out, "commit interrupted: run `disco disk commit %s` again to finish it\n", path);
		fprintf(out, "file: %s\nformat: disco-overlay version %u\nvirtual size: %llu bytes\n"
			"file size: %llu bytes\ncluster size: %u\nbase: %s (%s)\nbase identity: %llu bytes, "
			"hash %016llx\nclusters allocated: %llu\nbytes stored: %llu\n",
			path, o.h->version, (unsigned long long)o.h->size, (unsigned long long)o.file_size,
			o.h->cluster_size, o.h->base_path, o.base, (unsigned long long)o.h->base_size,
			(unsigned long long)o.h->base_hash, (unsigned long long)clusters,
			(unsigned long long)sectors * VDISK_SECTOR);
	}
	r = 0;
out:
	ovl_close(&o);
	return r;
}

int vdisk_check(const char *path, FILE *out)
{
	char err[PATH_MAX + 256];
	struct ovl o;
	uint8_t *used = NULL;
	uint64_t nclusters, corrupt = 0, leaks = 0;
	int bfd, r = ovl_load(&o, path, O_RDONLY, err, sizeof(err));

	if (r < 0) {
		fprintf(out, "%s\n", err);
		r = r == -EINVAL ? VDISK_CHECK_CORRUPT : VDISK_CHECK_FAILED;
		goto out;
	}
	if (r == 0) {
		fprintf(out, "%s: raw image: nothing to check\n", path);
		r = VDISK_CHECK_OK;
		goto out;
	}
	bfd = open(o.base, O_RDONLY | O_CLOEXEC);
	if (bfd < 0) {
		fprintf(out, "overlay %s: base %s: %s\n", path, o.base, strerror(errno));
		corrupt++;
	} else {
		if (o.h->flags & OVL_F_COMMITTING) {
			fprintf(out, "overlay %s: a commit into base %s was interrupted: run `disco disk commit %s` "
				"again to finish it\n", path, o.base, path);
			corrupt++;
		} else if (!base_matches(o.h, bfd)) {
			fprintf(out, "overlay %s: base %s changed since the overlay was made (size or content)\n",
				path, o.base);
			corrupt++;
		}
		close(bfd);
	}
	nclusters = (o.file_size + VDISK_CLUSTER - 1) / VDISK_CLUSTER;
	used = calloc(nclusters ? nclusters : 1, 1);
	if (!used) {
		r = VDISK_CHECK_FAILED;
		goto out;
	}
	for (uint64_t c = 0; c < o.h->map_entries; c++) {
		uint64_t e = o.map[c], off = e & MAP_OFF_MASK;

		if (!e)
			continue;
		if (e & MAP_RESERVED_BITS) {
			fprintf(out, "overlay %s: map entry %llu: reserved bits set (%#llx)\n", path,
				(unsigned long long)c, (unsigned long long)e);
			corrupt++;
			continue;
		}
		if (off < o.h->data_off) {
			fprintf(out, "overlay %s: map entry %llu points into the header or map (offset %llu)\n",
				path, (unsigned long long)c, (unsigned long long)off);
			corrupt++;
			continue;
		}
		if (!(e & MAP_MASK_BITS))
			fprintf(out, "overlay %s: map entry %llu names a cluster but no sector of it (harmless)\n",
				path, (unsigned long long)c);
		for (unsigned i = 0; i < VDISK_SECTORS_PER_CLUSTER; i++)
			if ((e >> i & 1) && off + (i + 1) * VDISK_SECTOR > o.file_size) {
				fprintf(out, "overlay %s: map entry %llu points past the end of the file "
					"(sector %u at offset %llu, file %llu bytes)\n", path, (unsigned long long)c, i,
					(unsigned long long)(off + i * VDISK_SECTOR), (unsigned long long)o.file_size);
				corrupt++;
				break;
			}
		if (off / VDISK_CLUSTER < nclusters) {
			if (used[off / VDISK_CLUSTER]++) {
				fprintf(out, "overlay %s: map entry %llu shares its cluster (offset %llu) with another entry\n",
					path, (unsigned long long)c, (unsigned long long)off);
				corrupt++;
			}
		}
	}
	for (uint64_t k = o.h->data_off / VDISK_CLUSTER; k < nclusters; k++)
		if (!used[k])
			leaks++;
	if (corrupt) {
		fprintf(out, "%s: %llu errors found: the overlay is corrupt\n", path, (unsigned long long)corrupt);
		r = VDISK_CHECK_CORRUPT;
	} else if (leaks) {
		fprintf(out, "%s: no errors; %llu leaked clusters (space no map entry names, e.g. after a crash "
			"before a flush)\n", path, (unsigned long long)leaks);
		r = VDISK_CHECK_LEAKS;
	} else {
		fprintf(out, "%s: no errors found\n", path);
		r = VDISK_CHECK_OK;
	}
out:
	free(used);
	ovl_close(&o);
	return r;
}

/* Write every byte of the overlay's map, then the header, syncing before each. */
static int ovl_store(struct ovl *o, const char *path, char *err, size_t errlen)
{
	int r;

	if (fdatasync(o->fd) < 0 || (r = full_pwrite(o->fd, o->map, o->map_bytes, o->h->map_off)) < 0 ||
	    fdatasync(o->fd) < 0 || (r = full_pwrite(o->fd, o->h, sizeof(*o->h), 0)) < 0 || fsync(o->fd) < 0) {
		r = -errno;
		snprintf(err, errlen, "overlay %s: writing map and header: %s", path, strerror(errno));
		return r;
	}
	return 0;
}

static int lock_ex(int fd, const char *what, const char *path, char *err, size_t errlen)
{
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	snprintf(err, errlen, "%s %s: in use (locked by a running VM?)", what, path);
	return -EBUSY;
}

int vdisk_commit(const char *path, char *err, size_t errlen)
{
	uint8_t sec[VDISK_SECTOR];
	struct ovl o;
	struct ovl_hdr nh;
	int bfd = -1, r = ovl_load(&o, path, O_RDWR, err, errlen);

	if (r == 0) {
		snprintf(err, errlen, "%s: a raw image has no base to commit to", path);
		r = -EINVAL;
	}
	if (r < 0)
		goto out;
	if ((r = lock_ex(o.fd, "overlay", path, err, errlen)) < 0)
		goto out;
	bfd = open(o.base, O_RDWR | O_CLOEXEC);
	if (bfd < 0) {
		r = -errno;
		snprintf(err, errlen, "base %s: %s", o.base, strerror(errno));
		goto out;
	}
	if ((r = lock_ex(bfd, "base", o.base, err, errlen)) < 0)
		goto out;
	if (!(o.h->flags & OVL_F_COMMITTING)) {
		if (!base_matches(o.h, bfd)) {
			snprintf(err, errlen, "overlay %s: base %s changed since the overlay was made: not committing",
				 path, o.base);
			r = -ESTALE;
			goto out;
		}
		/*
		 * Say so in the overlay before the base changes: a crash from
		 * here on leaves an overlay that still holds every sector and
		 * says that the base's new identity is expected; a second
		 * commit (copying the same sectors again) finishes the job.
		 */
		o.h->flags |= OVL_F_COMMITTING;
		ovl_hdr_seal(o.h);
		if ((r = full_pwrite(o.fd, o.h, sizeof(*o.h), 0)) < 0 || fdatasync(o.fd) < 0) {
			r = r < 0 ? r : -errno;
			snprintf(err, errlen, "overlay %s: marking the commit: %s", path, strerror(-r));
			goto out;
		}
	}
	for (uint64_t c = 0; c < o.h->map_entries; c++) {
		uint64_t e = o.map[c];

		for (unsigned i = 0; i < VDISK_SECTORS_PER_CLUSTER; i++) {
			if (!(e >> i & 1))
				continue;
			r = full_pread(o.fd, sec, VDISK_SECTOR, (e & MAP_OFF_MASK) + i * VDISK_SECTOR);
			if (r == 0)
				r = full_pwrite(bfd, sec, VDISK_SECTOR, c * VDISK_CLUSTER + i * VDISK_SECTOR);
			if (r < 0) {
				snprintf(err, errlen, "overlay %s: copying cluster %llu: %s", path,
					 (unsigned long long)c, strerror(-r));
				goto out;
			}
		}
	}
	if (fsync(bfd) < 0) {
		r = -errno;
		snprintf(err, errlen, "base %s: fsync: %s", o.base, strerror(errno));
		goto out;
	}
	/* The overlay is now empty over a base with a new identity. */
	r = ovl_hdr_init(&nh, bfd, o.h->base_path);
	if (r < 0) {
		snprintf(err, errlen, "base %s: %s", o.base, strerror(-r));
		goto out;
	}
	nh.size = o.h->size;	/* the virtual size stays */
	nh.map_entries = o.h->map_entries;
	nh.data_off = o.h->data_off;
	ovl_hdr_seal(&nh);
	memcpy(o.h, &nh, sizeof(nh));
	memset(o.map, 0, o.map_bytes);
	r = ovl_store(&o, path, err, errlen);
	if (r == 0 && ftruncate(o.fd, o.h->data_off) < 0) {
		r = -errno;
		snprintf(err, errlen, "overlay %s: truncate: %s", path, strerror(errno));
	}
out:
	if (bfd >= 0)
		close(bfd);
	ovl_close(&o);
	return r;
}

int vdisk_rebase(const char *path, const char *newbase, bool unsafe, char *err, size_t errlen)
{
	uint8_t a[VDISK_SECTOR], b[VDISK_SECTOR];
	char nbase[PATH_MAX];
	struct ovl o;
	struct ovl_hdr nh;
	uint64_t next;
	int obfd = -1, nbfd = -1, r = ovl_load(&o, path, O_RDWR, err, errlen);

	if (r == 0) {
		snprintf(err, errlen, "%s: a raw image has no base to change", path);
		r = -EINVAL;
	}
	if (r > 0 && (o.h->flags & OVL_F_COMMITTING)) {
		snprintf(err, errlen, "overlay %s: a commit of it was interrupted: run `disco disk commit %s` again "
			 "first", path, path);
		r = -EBUSY;
	}
	if (r < 0)
		goto out;
	if ((r = lock_ex(o.fd, "overlay", path, err, errlen)) < 0)
		goto out;
	base_resolve(path, newbase, nbase, sizeof(nbase));
	nbfd = open(nbase, O_RDONLY | O_CLOEXEC);
	if (nbfd < 0) {
		r = -errno;
		snprintf(err, errlen, "new base %s: %s", nbase, strerror(errno));
		goto out;
	}
	if (!unsafe) {
		obfd = open(o.base, O_RDONLY | O_CLOEXEC);
		if (obfd < 0 || !base_matches(o.h, obfd)) {
			snprintf(err, errlen, "overlay %s: old base %s missing or changed: a safe rebase needs it "
				 "(-u changes the reference only)", path, o.base);
			r = -ESTALE;
			goto out;
		}
		next = (o.file_size + VDISK_CLUSTER - 1) & MAP_OFF_MASK;
		for (uint64_t c = 0; c < o.h->map_entries; c++) {
			for (unsigned i = 0; i < VDISK_SECTORS_PER_CLUSTER; i++) {
				uint64_t pos = c * VDISK_CLUSTER + i * VDISK_SECTOR;

				if (pos >= o.h->size || (o.map[c] >> i & 1))
					continue;
				memset(a, 0, sizeof(a));
				memset(b, 0, sizeof(b));
				if (pread(obfd, a, VDISK_SECTOR, pos) < 0 || pread(nbfd, b, VDISK_SECTOR, pos) < 0) {
					r = -errno;
					snprintf(err, errlen, "reading the bases at %llu: %s", (unsigned long long)pos,
						 strerror(errno));
					goto out;
				}
				if (!memcmp(a, b, VDISK_SECTOR))
					continue;
				if (!o.map[c]) {
					o.map[c] = next;
					next += VDISK_CLUSTER;
				}
				r = full_pwrite(o.fd, a, VDISK_SECTOR, (o.map[c] & MAP_OFF_MASK) + i * VDISK_SECTOR);
				if (r < 0) {
					snprintf(err, errlen, "overlay %s: %s", path, strerror(-r));
					goto out;
				}
				o.map[c] |= 1ull << i;
			}
		}
	}
	r = ovl_hdr_init(&nh, nbfd, newbase);
	if (r < 0) {
		snprintf(err, errlen, "new base %s: %s", nbase, strerror(-r));
		goto out;
	}
	nh.size = o.h->size;	/* the guest's disk keeps its size; past the new base's end reads zeros */
	nh.map_entries = o.h->map_entries;
	nh.data_off = o.h->data_off;
	ovl_hdr_seal(&nh);
	memcpy(o.h, &nh, sizeof(nh));
	r = ovl_store(&o, path, err, errlen);
out:
	if (obfd >= 0)
		close(obfd);
	if (nbfd >= 0)
		close(nbfd);
	ovl_close(&o);
	return r;
}
