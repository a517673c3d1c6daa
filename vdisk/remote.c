/*
 * remote.c — base images served by one node to the others (vdisk.h, "a base
 * image served by another node"; docs/disk.md, "Disks across nodes").
 *
 * Both sides live in one struct vdisk_remote per node, driven from the
 * node's loop like the io_uring server:
 *
 *   client  vdisk_remote_read() splits a read into chunks (what one DATA
 *           message carries) and asks for up to READ_CHUNKS of them per
 *           READ, all READs sent at once; DATA messages fill the caller's
 *           buffer; when the last chunk is in, the callback runs. Few READs
 *           matter: each one that reaches a sleeping server costs a wake-up,
 *           and a server woken once answers the whole READ in one burst. A read that hears
 *           nothing for timeout_ns, or whose READ could not be sent, ends
 *           with -EIO from vdisk_remote_poll(). Message ids are (read
 *           sequence << 20 | chunk): a DATA for a chunk not in flight (a
 *           late answer to a read that timed out, a duplicate, garbage) is
 *           dropped and counted.
 *   server  a READ is checked (image served here, length 1..READ_CHUNKS
 *           chunks, inside the image) and read with the node's io_uring
 *           server in one operation; the completion sends one DATA per
 *           chunk, chunk k with the READ's id + k. Anything wrong is
 *           answered with an error status (one DATA with the READ's id),
 *           never by a crash; so is a READ that would take the answers in
 *           flight past SERVE_MAX bytes.
 *
 * Nothing here blocks or spins: reads in flight are the node's work until
 * their DATA or their deadline (vdisk_remote_next_deadline) arrives.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "vdisk/internal.h"

#define CHUNK_BITS	20		/* chunks per read: at most 2^20 */
#define READ_CHUNKS	64		/* chunks one READ asks for (224 KiB with 4 KiB messages) */
#define SERVE_MAX	(64u << 20)	/* bytes of answers a server holds in flight */
#define READ_HDR	24		/* u32 image, u32 len, u64 id, u64 off */
#define DATA_HDR	16		/* u64 id, i32 status, u32 len */

struct rreq {
	struct rreq *next, *prev;
	uint64_t seq;
	unsigned node;			/* the server: answers from anyone else are dropped */
	const void *tag;
	uint8_t *buf;
	uint64_t len;
	uint32_t chunks, left;
	int res;
	uint64_t deadline;		/* ns: fail when nothing arrived by then */
	vdisk_cb cb;
	void *arg;
	uint8_t got[];			/* bitmap: chunks arrived */
};

struct served {
	struct served *next;
	uint32_t image;
	int fd, fh;
	uint64_t size;
};

/* One READ being served: its data, read in one operation, leaves a chunk per DATA. */
struct sop {
	struct vdisk_remote *r;
	unsigned src;
	uint64_t id;
	uint32_t len;
	uint8_t data[];
};

struct vdisk_remote {
	struct vdisk_server *s;
	struct vdisk_remote_transport t;
	uint32_t chunk;			/* data bytes per message */
	uint64_t timeout_ns;
	uint64_t next_seq;
	struct rreq head;		/* reads in flight: a circular list */
	struct served *served;
	uint64_t serving;		/* bytes of READs being read for other nodes */
	uint8_t *msg;			/* one DATA message being built (msg_max bytes) */
	struct vdisk_remote_stats st;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct vdisk_remote *vdisk_remote_new(struct vdisk_server *s, const struct vdisk_remote_transport *t,
				      uint64_t timeout_ns)
{
	struct vdisk_remote *r;

	if (!t || !t->send || t->msg_max < 1024)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->msg = malloc(t->msg_max);
	if (!r->msg) {
		free(r);
		return NULL;
	}
	r->s = s;
	r->t = *t;
	r->chunk = (uint32_t)((t->msg_max - DATA_HDR) & ~(size_t)(VDISK_SECTOR - 1));
	r->timeout_ns = timeout_ns ? timeout_ns : VDISK_REMOTE_TIMEOUT_NS;
	r->next_seq = 1;
	r->head.next = r->head.prev = &r->head;
	return r;
}

static void req_unlink(struct rreq *q)
{
	q->prev->next = q->next;
	q->next->prev = q->prev;
}

static void req_end(struct vdisk_remote *r, struct rreq *q, int res)
{
	vdisk_cb cb = q->cb;
	void *arg = q->arg;

	req_unlink(q);
	if (res < 0)
		r->st.failed++;
	free(q);
	cb(arg, res);
}

void vdisk_remote_free(struct vdisk_remote *r)
{
	if (!r)
		return;
	vdisk_remote_cancel(r, NULL);
	if (r->s)
		vdisk_server_drain(r->s);	/* answers being read reference r */
	while (r->served) {
		struct served *f = r->served;

		r->served = f->next;
		if (r->s)
			server_remove_file(r->s, f->fh);
		close(f->fd);
		free(f);
	}
	free(r->msg);
	free(r);
}

void vdisk_remote_get_stats(const struct vdisk_remote *r, struct vdisk_remote_stats *st)
{
	*st = r->st;
}

/* ---- identity ---- */

/* Open a disk file to look at it: the fd, or -errno with the message in err. */
static int open_ro(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fd = -errno;
		snprintf(err, errlen, "disk %s: %s", path, strerror(-fd));
	}
	return fd;
}

int vdisk_identify(const char *path, struct vdisk_ident *id, char *real, size_t reallen, char *err, size_t errlen)
{
	char magic[8] = {0}, buf[PATH_MAX];
	struct stat st;
	int fd, r;

	fd = open_ro(path, err, errlen);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "disk %s: not a regular file", path);
		r = -EINVAL;
		goto out;
	}
	if (pread(fd, magic, 8, 0) == 8 && !memcmp(magic, VDISK_MAGIC, 8)) {
		snprintf(err, errlen, "disk %s: is a disco overlay, not a raw image", path);
		r = -EINVAL;
		goto out;
	}
	r = base_identity(fd, &id->size, &id->mtime_ns, &id->hash);
	if (r < 0) {
		snprintf(err, errlen, "disk %s: %s", path, strerror(-r));
		goto out;
	}
	if (id->size < VDISK_SECTOR) {
		snprintf(err, errlen, "disk %s: empty (a disk needs at least one 512-byte sector)", path);
		r = -EINVAL;
		goto out;
	}
	if (real) {
		if (!realpath(path, buf)) {
			r = -errno;
			snprintf(err, errlen, "disk %s: %s", path, strerror(errno));
			goto out;
		}
		snprintf(real, reallen, "%s", buf);
	}
	r = 0;
out:
	close(fd);
	return r;
}

int vdisk_overlay_base(const char *path, char *base, size_t baselen, struct vdisk_ident *want, char *err,
		       size_t errlen)
{
	struct ovl_hdr *h;
	const char *bad;
	struct stat st;
	int fd, r;

	fd = open_ro(path, err, errlen);
	if (fd < 0)
		return fd;
	h = aligned_alloc(VDISK_CLUSTER, VDISK_HDR_SIZE);
	if (!h) {
		close(fd);
		snprintf(err, errlen, "disk %s: out of memory", path);
		return -ENOMEM;
	}
	r = 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(*h) ||
	    pread(fd, h, sizeof(*h), 0) != (ssize_t)sizeof(*h) || memcmp(h->magic, VDISK_MAGIC, 8))
		goto out;	/* not an overlay: vdisk_identify says what it is */
	bad = ovl_hdr_check(h, (uint64_t)st.st_size);
	if (bad) {
		snprintf(err, errlen, "overlay %s: %s", path, bad);
		r = -EINVAL;
		goto out;
	}
	snprintf(base, baselen, "%s", h->base_path);
	want->size = h->base_size;
	want->hash = h->base_hash;
	want->mtime_ns = h->base_mtime_ns;
	r = 1;
out:
	free(h);
	close(fd);
	return r;
}

int vdisk_create_remote(const char *path, const struct vdisk_remote_base *b, char *err, size_t errlen)
{
	struct ovl_hdr *h;
	int fd, r;

	if (strlen(b->path) >= VDISK_BASE_PATH_MAX || b->ident.size < VDISK_SECTOR) {
		snprintf(err, errlen, "overlay %s: base %s: %s", path, b->path,
			 b->ident.size < VDISK_SECTOR ? "empty" : "path too long for the overlay header");
		return -EINVAL;
	}
	h = aligned_alloc(VDISK_CLUSTER, VDISK_HDR_SIZE);
	if (!h) {
		snprintf(err, errlen, "overlay %s: out of memory", path);
		return -ENOMEM;
	}
	memset(h, 0, VDISK_HDR_SIZE);
	ovl_hdr_from_ident(h, b->ident.size, b->ident.mtime_ns, b->ident.hash, b->path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "overlay %s: %s", path, strerror(errno));
		goto out;
	}
	r = 0;
	if (ftruncate(fd, h->data_off) < 0 || (r = full_pwrite(fd, h, VDISK_HDR_SIZE, 0)) < 0 || fsync(fd) < 0) {
		r = r < 0 ? r : -errno;
		snprintf(err, errlen, "overlay %s: %s", path, strerror(-r));
		unlink(path);
	}
	close(fd);
out:
	free(h);
	return r;
}

/* ---- client ---- */

/* The READ for chunks c.. of q (up to READ_CHUNKS of them). */
static int send_read(struct vdisk_remote *r, const struct vdisk_remote_base *b, struct rreq *q, uint32_t c,
		     uint64_t off)
{
	uint8_t m[READ_HDR];
	uint64_t at = (uint64_t)c * r->chunk, most = (uint64_t)READ_CHUNKS * r->chunk;
	uint32_t len = (uint32_t)(q->len - at < most ? q->len - at : most);
	uint64_t id = q->seq << CHUNK_BITS | c;
	uint64_t o = off + (uint64_t)c * r->chunk;

	memcpy(m, &b->image, 4);
	memcpy(m + 4, &len, 4);
	memcpy(m + 8, &id, 8);
	memcpy(m + 16, &o, 8);
	r->st.reads_sent++;
	return r->t.send(r->t.opaque, b->node, VDISK_MSG_READ, m, sizeof(m));
}

int vdisk_remote_read(const struct vdisk_remote_base *b, void *buf, uint64_t len, uint64_t off, const void *tag,
		      vdisk_cb cb, void *arg)
{
	struct vdisk_remote *r = b->r;
	uint64_t chunks;
	struct rreq *q;

	if (!len || off > b->ident.size || len > b->ident.size - off)
		return -EINVAL;
	chunks = (len + r->chunk - 1) / r->chunk;
	if (chunks > 1u << CHUNK_BITS)
		return -EINVAL;
	q = calloc(1, sizeof(*q) + (chunks + 7) / 8);
	if (!q)
		return -ENOMEM;
	q->seq = r->next_seq++;
	q->node = b->node;
	q->tag = tag;
	q->buf = buf;
	q->len = len;
	q->chunks = q->left = (uint32_t)chunks;
	q->cb = cb;
	q->arg = arg;
	q->deadline = now_ns() + r->timeout_ns;
	q->next = &r->head;
	q->prev = r->head.prev;
	r->head.prev->next = q;
	r->head.prev = q;
	for (uint32_t c = 0; c < q->chunks; c += READ_CHUNKS) {
		int e = send_read(r, b, q, c, off);

		if (e < 0) {
			/* the callback must not run inside the verb: the next poll ends it */
			LOG_RATELIMITED(SUB_DISK, LOG_WARN, "disk: cannot ask node %u for base %s: %s", b->node, b->path,
					strerror(-e));
			q->res = -EIO;
			q->deadline = 0;
			break;
		}
	}
	return 0;
}

void vdisk_remote_cancel(struct vdisk_remote *r, const void *tag)
{
	struct rreq *q = r->head.next;

	while (q != &r->head) {
		struct rreq *n = q->next;

		if (!tag || q->tag == tag)
			req_end(r, q, -ECANCELED);
		q = n;
	}
}

int vdisk_remote_poll(struct vdisk_remote *r, uint64_t now)
{
	struct rreq *q = r->head.next;
	int n = 0;

	while (q != &r->head) {
		struct rreq *nx = q->next;

		if (q->deadline <= now) {
			if (!q->res) {
				r->st.timeouts++;
				LOG_RATELIMITED(SUB_DISK, LOG_WARN, "disk: node %u, which serves a base image, did not answer a "
						"read of %llu bytes for %.1f s: the guest gets an I/O error", q->node,
						(unsigned long long)q->len, (double)r->timeout_ns / 1e9);
			}
			req_end(r, q, -EIO);
			n++;
		}
		q = nx;
	}
	return n;
}

uint64_t vdisk_remote_next_deadline(const struct vdisk_remote *r)
{
	uint64_t t = UINT64_MAX;

	for (const struct rreq *q = r->head.next; q != &r->head; q = q->next)
		if (q->deadline < t)
			t = q->deadline;
	return t;
}

static void on_data(struct vdisk_remote *r, unsigned src, const uint8_t *p, size_t len)
{
	uint64_t id, seq;
	uint32_t c, n;
	int32_t status;
	struct rreq *q;

	if (len < DATA_HDR) {
		r->st.dropped++;
		return;
	}
	memcpy(&id, p, 8);
	memcpy(&status, p + 8, 4);
	memcpy(&n, p + 12, 4);
	seq = id >> CHUNK_BITS;
	c = (uint32_t)(id & ((1u << CHUNK_BITS) - 1));
	for (q = r->head.next; q != &r->head && q->seq != seq; q = q->next)
		;
	if (q == &r->head || src != q->node || c >= q->chunks || (q->got[c / 8] >> (c % 8) & 1)) {
		r->st.dropped++;	/* a late answer (the read timed out), a duplicate, another node's, or garbage */
		LOG_RATELIMITED(SUB_DISK, LOG_INFO, "disk: answer from node %u for no read in flight, dropped", src);
		return;
	}
	{
		uint64_t at = (uint64_t)c * r->chunk;
		uint64_t want = q->len - at < r->chunk ? q->len - at : r->chunk;

		if (status == 0 && (n != want || len != DATA_HDR + (size_t)n)) {
			r->st.dropped++;
			status = -EIO;	/* a malformed answer fails the read: its chunk will not come right */
		}
		if (status != 0) {
			LOG_RATELIMITED(SUB_DISK, LOG_WARN, "disk: node %u could not serve a base image read: %s", src,
					strerror(status < 0 ? -status : EIO));
			req_end(r, q, -EIO);
			return;
		}
		memcpy(q->buf + at, p + DATA_HDR, n);
		r->st.bytes_fetched += n;
	}
	q->got[c / 8] |= (uint8_t)(1u << (c % 8));
	q->deadline = now_ns() + r->timeout_ns;		/* progress: the server is alive */
	if (--q->left == 0)
		req_end(r, q, q->res);
}

/* ---- server ---- */

int vdisk_remote_serve(struct vdisk_remote *r, uint32_t image, const char *path, const struct vdisk_ident *want,
		       char *err, size_t errlen)
{
	struct vdisk_ident id;
	struct served *f;
	int fd, e;

	for (f = r->served; f; f = f->next)
		if (f->image == image)
			return 0;
	if (!r->s) {
		snprintf(err, errlen, "disk %s: no disk server on this node", path);
		return -ENODEV;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		e = -errno;
		snprintf(err, errlen, "disk %s: %s", path, strerror(errno));
		return e;
	}
	e = flock(fd, LOCK_SH | LOCK_NB) < 0 ? -errno : 0;
	if (e == 0)
		e = base_identity(fd, &id.size, &id.mtime_ns, &id.hash);
	if (e < 0) {
		snprintf(err, errlen, "disk %s: %s", path,
			 e == -EWOULDBLOCK ? "in use (locked by another VM or disco disk)" : strerror(-e));
		goto fail;
	}
	if (want && (id.size != want->size || id.hash != want->hash)) {
		snprintf(err, errlen, "disk %s: changed since the nodes compared it (size %llu, was %llu)", path,
			 (unsigned long long)id.size, (unsigned long long)want->size);
		e = -ESTALE;
		goto fail;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		snprintf(err, errlen, "disk %s: out of memory", path);
		e = -ENOMEM;
		goto fail;
	}
	f->fh = vdisk_server_add_file(r->s, fd);
	if (f->fh < 0) {
		snprintf(err, errlen, "disk %s: cannot register with the disk server", path);
		e = f->fh;
		free(f);
		goto fail;
	}
	f->image = image;
	f->fd = fd;
	f->size = id.size;
	f->next = r->served;
	r->served = f;
	return 0;
fail:
	close(fd);
	return e;
}

/* One DATA: status 0 and n bytes of data, or an error status and none. */
static int answer(struct vdisk_remote *r, unsigned dest, uint64_t id, int32_t status, const uint8_t *data, uint32_t n)
{
	uint8_t *m = r->msg;
	int e;

	if (status < 0)
		n = 0;
	memcpy(m, &id, 8);
	memcpy(m + 8, &status, 4);
	memcpy(m + 12, &n, 4);
	if (n)
		memcpy(m + DATA_HDR, data, n);
	if (status < 0)
		r->st.errors++;
	else
		r->st.bytes_served += n;
	e = r->t.send(r->t.opaque, dest, VDISK_MSG_DATA, m, DATA_HDR + n);
	if (e < 0)
		LOG_RATELIMITED(SUB_DISK, LOG_WARN, "disk: cannot answer node %u: %s", dest, strerror(-e));
	return e;
}

static void serve_done(void *arg, int res)
{
	struct sop *o = arg;
	struct vdisk_remote *r = o->r;

	r->serving -= o->len;
	if (res < 0) {
		answer(r, o->src, o->id, res, NULL, 0);
	} else {
		r->st.reads_served++;
		/* the whole READ in one burst: the client may be asleep, one wake-up serves it all */
		for (uint32_t k = 0, at = 0; at < o->len; k++, at += r->chunk)
			if (answer(r, o->src, o->id + k, 0, o->data + at, o->len - at < r->chunk ? o->len - at : r->chunk) < 0)
				break;	/* the client's timeout ends its read */
	}
	free(o);
}

static void on_read(struct vdisk_remote *r, unsigned src, const uint8_t *p, size_t len)
{
	uint32_t image, n;
	uint64_t id, off;
	struct served *f;
	struct sop *o;
	int e;

	if (len < 16) {		/* no id to answer to */
		r->st.dropped++;
		LOG_RATELIMITED(SUB_DISK, LOG_WARN, "disk: malformed read request from node %u (%zu bytes), dropped", src, len);
		return;
	}
	memcpy(&image, p, 4);
	memcpy(&n, p + 4, 4);
	memcpy(&id, p + 8, 8);
	if (len != READ_HDR) {
		answer(r, src, id, -EINVAL, NULL, 0);
		return;
	}
	memcpy(&off, p + 16, 8);
	for (f = r->served; f && f->image != image; f = f->next)
		;
	if (!f) {
		LOG_RATELIMITED(SUB_DISK, LOG_WARN, "disk: node %u asks for image %u, which this node does not serve", src, image);
		answer(r, src, id, -ENOENT, NULL, 0);
		return;
	}
	if (n == 0 || n > (uint64_t)READ_CHUNKS * r->chunk || off > f->size || n > f->size - off) {
		LOG_RATELIMITED(SUB_DISK, LOG_WARN, "disk: node %u asks for %u bytes at %llu of image %u (%llu bytes): refused",
				src, n, (unsigned long long)off, image, (unsigned long long)f->size);
		answer(r, src, id, -EINVAL, NULL, 0);
		return;
	}
	if (r->serving + n > SERVE_MAX) {
		LOG_RATELIMITED(SUB_DISK, LOG_WARN, "disk: node %u asks for more than %u MiB at once: refused", src,
				SERVE_MAX >> 20);
		answer(r, src, id, -EBUSY, NULL, 0);
		return;
	}
	o = malloc(sizeof(*o) + n);
	if (!o) {
		answer(r, src, id, -ENOMEM, NULL, 0);
		return;
	}
	o->r = r;
	o->src = src;
	o->id = id;
	o->len = n;
	e = vdisk_server_prep_rw(r->s, f->fh, false, o->data, n, off, serve_done, o);
	if (e < 0) {
		free(o);
		answer(r, src, id, e, NULL, 0);
		return;
	}
	r->serving += n;
}

void vdisk_remote_on_msg(struct vdisk_remote *r, unsigned src, unsigned type, const void *payload, size_t len)
{
	if (type == VDISK_MSG_READ)
		on_read(r, src, payload, len);
	else if (type == VDISK_MSG_DATA)
		on_data(r, src, payload, len);
	else {
		r->st.dropped++;
		LOG_RATELIMITED(SUB_DISK, LOG_WARN, "disk: unknown message type %u from node %u, dropped", type, src);
	}
}
