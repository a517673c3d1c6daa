/*
 * server.c — the io_uring disk server: one ring, one eventfd, fixed files.
 *
 * Every operation is a struct vop (internal.h) whose address is the SQE's
 * user_data. Preparing an operation only fills an SQE; the kernel sees the
 * whole batch at the next vdisk_server_submit() (or when the SQ ring is
 * full). vdisk_server_poll() reaps completions without blocking: a short
 * transfer is resubmitted for the rest, anything else ends the operation
 * and runs its callback. The ring's eventfd is what the node's epoll waits
 * on, so a node never blocks on disk I/O and never spins for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "vdisk/internal.h"

#define FILES_MAX	256

struct vdisk_server {
	struct io_uring ring;
	int efd;
	unsigned inflight;		/* operations given an SQE and not yet completed */
	unsigned queued;		/* SQEs filled since the last submit */
	bool fixed_files;		/* the sparse file table was registered */
	int files[FILES_MAX];		/* handle -> fd, -1 free */
	uint8_t *fixed_buf;		/* the registered buffer, if any */
	size_t fixed_len;
};

struct vdisk_server *vdisk_server_new(unsigned entries, char *err, size_t errlen)
{
	struct vdisk_server *s;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "disk server: out of memory");
		return NULL;
	}
	for (unsigned i = 0; i < FILES_MAX; i++)
		s->files[i] = -1;
	r = io_uring_queue_init(entries ? entries : 256, &s->ring, 0);
	if (r < 0) {
		snprintf(err, errlen, "disk server: io_uring_queue_init: %s%s", strerror(-r),
			 r == -EPERM || r == -ENOSYS ? " (io_uring disabled here: kernel.io_uring_disabled or a seccomp filter)" : "");
		goto fail_free;
	}
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->efd < 0) {
		r = -errno;
		snprintf(err, errlen, "disk server: eventfd: %s", strerror(errno));
		goto fail_ring;
	}
	r = io_uring_register_eventfd(&s->ring, s->efd);
	if (r < 0) {
		snprintf(err, errlen, "disk server: io_uring_register_eventfd: %s", strerror(-r));
		goto fail_efd;
	}
	/* Fixed files save the fd lookup and reference per request; optional. */
	s->fixed_files = io_uring_register_files_sparse(&s->ring, FILES_MAX) == 0;
	return s;

fail_efd:
	close(s->efd);
fail_ring:
	io_uring_queue_exit(&s->ring);
fail_free:
	free(s);
	return NULL;
}

void vdisk_server_free(struct vdisk_server *s)
{
	if (!s)
		return;
	vdisk_server_drain(s);
	io_uring_queue_exit(&s->ring);
	close(s->efd);
	free(s);
}

int vdisk_server_fd(const struct vdisk_server *s)
{
	return s->efd;
}

unsigned vdisk_server_inflight(const struct vdisk_server *s)
{
	return s->inflight;
}

int vdisk_server_add_file(struct vdisk_server *s, int fd)
{
	for (int i = 0; i < FILES_MAX; i++) {
		if (s->files[i] >= 0)
			continue;
		if (s->fixed_files && io_uring_register_files_update(&s->ring, i, &fd, 1) != 1)
			return -EIO;
		s->files[i] = fd;
		return i;
	}
	return -EMFILE;
}

void server_remove_file(struct vdisk_server *s, int fh)
{
	int none = -1;

	if (fh < 0 || fh >= FILES_MAX || s->files[fh] < 0)
		return;
	if (s->fixed_files)
		io_uring_register_files_update(&s->ring, fh, &none, 1);
	s->files[fh] = -1;
}

int vdisk_server_register_buffers(struct vdisk_server *s, void *base, size_t len)
{
	struct iovec iov = { base, len };
	int r;

	if (s->fixed_buf)
		return -EBUSY;
	r = io_uring_register_buffers(&s->ring, &iov, 1);
	if (r < 0)
		return r;
	s->fixed_buf = base;
	s->fixed_len = len;
	return 0;
}

int vdisk_server_submit(struct vdisk_server *s)
{
	int r;

	if (!s->queued)
		return 0;
	r = io_uring_submit(&s->ring);
	if (r < 0)
		return r;
	s->queued = 0;
	return 0;
}

static struct io_uring_sqe *get_sqe(struct vdisk_server *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);

	if (!sqe) {		/* SQ ring full: this batch goes now */
		io_uring_submit(&s->ring);
		s->queued = 0;
		sqe = io_uring_get_sqe(&s->ring);
	}
	BUG_ON(!sqe);	/* an emptied SQ ring always has room */
	return sqe;
}

/* Fill an SQE for op's remaining transfer. */
static void prep(struct vdisk_server *s, struct vop *op)
{
	struct io_uring_sqe *sqe = get_sqe(s);
	int fd = s->fixed_files ? op->fh : s->files[op->fh];
	uint8_t *buf = op->buf + op->done;
	uint32_t len = op->len - op->done;
	uint64_t off = op->off + op->done;
	bool fixed = s->fixed_buf && buf >= s->fixed_buf && buf + len <= s->fixed_buf + s->fixed_len;

	switch (op->kind) {
	case VOP_READ:
		if (fixed)
			io_uring_prep_read_fixed(sqe, fd, buf, len, off, 0);
		else
			io_uring_prep_read(sqe, fd, buf, len, off);
		break;
	case VOP_WRITE:
		if (fixed)
			io_uring_prep_write_fixed(sqe, fd, buf, len, off, 0);
		else
			io_uring_prep_write(sqe, fd, buf, len, off);
		break;
	case VOP_FSYNC:
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		break;
	}
	if (s->fixed_files)
		sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data(sqe, op);
	s->queued++;
}

void server_start(struct vdisk_server *s, struct vop *op)
{
	BUG_ON(op->fh < 0 || op->fh >= FILES_MAX || s->files[op->fh] < 0);
	op->done = 0;
	s->inflight++;
	prep(s, op);
}

static void finish(struct vdisk_server *s, struct vop *op, int res)
{
	s->inflight--;
	op->done_cb(op, res);
}

int vdisk_server_poll(struct vdisk_server *s)
{
	struct io_uring_cqe *cqe;
	int n = 0;

	vdisk_server_submit(s);
	/*
	 * Called every loop turn: no system call unless there is something to
	 * submit. The eventfd is never read: the node watches it
	 * edge-triggered, and every completion's signal is a new edge, so its
	 * count only grows (2^64 completions away from full).
	 */
	while (io_uring_peek_cqe(&s->ring, &cqe) == 0) {
		struct vop *op = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&s->ring, cqe);
		n++;
		if (op->kind == VOP_FSYNC || res < 0) {
			finish(s, op, res < 0 ? res : 0);
			continue;
		}
		if (res == 0) {		/* end of file inside a transfer: the file shrank */
			finish(s, op, -EIO);
			continue;
		}
		op->done += res;
		if (op->done < op->len)
			prep(s, op);	/* short transfer: the rest goes in the next batch */
		else
			finish(s, op, 0);
	}
	vdisk_server_submit(s);	/* callbacks may have queued more */
	return n;
}

int vdisk_server_drain(struct vdisk_server *s)
{
	while (s->inflight) {
		struct io_uring_cqe *cqe;
		int r;

		vdisk_server_submit(s);
		r = io_uring_wait_cqe(&s->ring, &cqe);
		if (r < 0 && r != -EINTR)
			return r;
		vdisk_server_poll(s);
	}
	return 0;
}

/* ---- plain operations for the benchmark and tests ---- */

struct plain_op {
	struct vop op;
	vdisk_cb cb;
	void *arg;
};

static void plain_done(struct vop *op, int res)
{
	struct plain_op *p = (struct plain_op *)op;
	vdisk_cb cb = p->cb;
	void *arg = p->arg;

	free(p);
	cb(arg, res);
}

int vdisk_server_prep_rw(struct vdisk_server *s, int fh, bool write, void *buf, uint32_t len,
			 uint64_t off, vdisk_cb cb, void *arg)
{
	struct plain_op *p;

	if (fh < 0 || fh >= FILES_MAX || s->files[fh] < 0 || len == 0)
		return -EINVAL;
	p = malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->op = (struct vop){ .kind = write ? VOP_WRITE : VOP_READ, .fh = fh, .buf = buf,
			      .len = len, .off = off, .done_cb = plain_done };
	p->cb = cb;
	p->arg = arg;
	server_start(s, &p->op);
	return 0;
}
