/*
 * internal.h — inside vdisk/ only: the server's operation record and the
 * overlay's on-disk format (docs/disk.md, "The overlay format").
 *
 * Overlay file, all integers little-endian:
 *
 *   0        header, VDISK_HDR_SIZE bytes (struct ovl_hdr, checksummed)
 *   map_off  map: one u64 per 4 KiB cluster of the virtual disk, padded to
 *            a whole 4 KiB page. 0 = nothing stored (read the base);
 *            else bits 63..12 = file offset of the cluster's data (a
 *            multiple of 4096, at or after data_off) and bits 7..0 = which
 *            of its eight 512-byte sectors the overlay holds (the others
 *            still come from the base). Bits 11..8 are zero.
 *   data_off clusters, appended as they are allocated.
 */
#ifndef DISCO_VDISK_INTERNAL_H
#define DISCO_VDISK_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "vdisk/vdisk.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the overlay format is little-endian and so is every host disco supports"
#endif

struct vdisk_server;

enum vop_kind { VOP_READ, VOP_WRITE, VOP_FSYNC };

/* One operation on one file; embedded first in its owner's record. */
struct vop {
	enum vop_kind kind;
	int fh;				/* server file handle */
	uint8_t *buf;
	uint32_t len, done;		/* bytes asked and transferred so far */
	uint64_t off;
	void (*done_cb)(struct vop *op, int res);	/* res 0 or -errno */
};

void server_start(struct vdisk_server *s, struct vop *op);
void server_remove_file(struct vdisk_server *s, int fh);

#define VDISK_MAGIC		"DISCOCOW"
#define VDISK_VERSION		1
#define VDISK_HDR_SIZE		4096
#define VDISK_BASE_PATH_MAX	1024
#define VDISK_SECTORS_PER_CLUSTER	(VDISK_CLUSTER / VDISK_SECTOR)
#define VDISK_ENTRIES_PER_PAGE		(VDISK_CLUSTER / 8)
#define MAP_OFF_MASK		(~(uint64_t)(VDISK_CLUSTER - 1))
#define MAP_MASK_BITS		0xffull
#define MAP_RESERVED_BITS	0xf00ull
/*
 * Header flag: `disco disk commit` has started writing the overlay's
 * sectors into the base and not finished. The base then holds some of them
 * (so its identity no longer matches), the overlay still holds all of
 * them: running the commit again finishes it. A VM does not open it.
 */
#define OVL_F_COMMITTING	1u

struct ovl_hdr {
	char magic[8];			/* "DISCOCOW" */
	uint32_t version;		/* 1 */
	uint32_t header_size;		/* 4096 */
	uint32_t cluster_size;		/* 4096 */
	uint32_t flags;			/* 0, or OVL_F_COMMITTING */
	uint64_t size;			/* virtual disk bytes (the base's, rounded down to 512) */
	uint64_t map_off;		/* 4096 */
	uint64_t map_entries;		/* clusters of the virtual disk */
	uint64_t data_off;		/* first data cluster */
	uint64_t base_size;		/* base identity: size in bytes, */
	int64_t base_mtime_ns;		/* modification time (informative), */
	uint64_t base_hash;		/* FNV-1a of 16 sampled 4 KiB blocks and the size */
	char base_path[VDISK_BASE_PATH_MAX];	/* NUL-terminated; relative: to the overlay's directory */
	uint64_t checksum;		/* FNV-1a of every byte above */
};

uint64_t vdisk_fnv1a(uint64_t h, const void *p, size_t n);
#define FNV_INIT	0xcbf29ce484222325ull

/* Header checks: NULL if good, else what is wrong. file_size for the bounds. */
const char *ovl_hdr_check(const struct ovl_hdr *h, uint64_t file_size);
void ovl_hdr_seal(struct ovl_hdr *h);
/* A header whose magic is damaged but which is otherwise a sealed version-1 overlay header. */
bool ovl_hdr_magic_damaged(const struct ovl_hdr *h);
/* Base identity of an open raw file: size, mtime, sampled hash. Returns 0 or -errno. */
int base_identity(int fd, uint64_t *size, int64_t *mtime_ns, uint64_t *hash);
/* Resolve the header's base path against the overlay's path into out. */
void base_resolve(const char *ovl_path, const char *base_path, char *out, size_t outlen);
/* pread/pwrite of every byte, for the tool's and create's synchronous paths. */
int full_pread(int fd, void *buf, size_t len, uint64_t off);
int full_pwrite(int fd, const void *buf, size_t len, uint64_t off);
/* Fill h for a new or re-based overlay over the raw base file fd. */
int ovl_hdr_init(struct ovl_hdr *h, int base_fd, const char *base_path_rec);
/* Fill h for a new overlay over a base of this identity (path recorded as given, shorter than VDISK_BASE_PATH_MAX). */
void ovl_hdr_from_ident(struct ovl_hdr *h, uint64_t size, int64_t mtime_ns, uint64_t hash, const char *base_path_rec);

#endif
