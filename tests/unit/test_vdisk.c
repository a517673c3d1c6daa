/*
 * test_vdisk.c — the vdisk library: the io_uring server, raw disks, the
 * overlay format (copy-on-write, persistence, locking), bad images refused
 * with a message naming what is wrong, and the disk tool's verbs.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vdisk/vdisk.h"

static char t_dir[256];
static struct vdisk_server *t_srv;

static void t_path(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", t_dir, name);
}

/* A raw base of n bytes whose every 512-byte sector holds its own number. */
static void t_make_base(const char *path, uint64_t n)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	uint8_t sec[512];

	assert_true(fd >= 0);
	for (uint64_t s = 0; s < n / 512; s++) {
		memset(sec, (int)(s & 0xff), sizeof(sec));
		memcpy(sec, &s, sizeof(s));
		assert_int_equal(pwrite(fd, sec, 512, s * 512), 512);
	}
	close(fd);
}

static void t_expect_sector(const uint8_t *p, uint64_t s, int fill)
{
	uint64_t got;

	memcpy(&got, p, 8);
	if (fill < 0) {
		assert_int_equal(got, s);
		assert_int_equal(p[100], (uint8_t)(s & 0xff));
	} else {
		assert_int_equal(p[0], fill);
		assert_int_equal(p[511], fill);
	}
}

static int setup(void **state)
{
	char err[256];

	snprintf(t_dir, sizeof(t_dir), "%s/disco-vdisk-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(t_dir))
		return -1;
	t_srv = vdisk_server_new(64, err, sizeof(err));
	if (!t_srv) {
		fprintf(stderr, "io_uring unavailable: %s\n", err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	vdisk_server_free(t_srv);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t_dir);
	return system(cmd) == 0 ? 0 : -1;
}

struct t_done { int n, res; };
static void t_cb(void *arg, int res)
{
	struct t_done *d = arg;

	d->n++;
	if (res < 0)
		d->res = res;
}

/* Completions arrive later, through the eventfd, and never inside the call. */
static void test_server_async(void **state)
{
	char p[300], err[256];
	uint8_t *buf = aligned_alloc(4096, 8 * 4096);
	struct t_done done = {0};
	struct pollfd pfd;
	int fd, fh;

	t_path(p, sizeof(p), "plain");
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	fh = vdisk_server_add_file(t_srv, fd);
	assert_true(fh >= 0);
	assert_int_equal(vdisk_server_register_buffers(t_srv, buf, 8 * 4096), 0);
	for (int i = 0; i < 8; i++) {
		memset(buf + i * 4096, 'a' + i, 4096);
		assert_int_equal(vdisk_server_prep_rw(t_srv, fh, true, buf + i * 4096, 4096, i * 4096ull, t_cb, &done), 0);
	}
	assert_int_equal(done.n, 0);
	assert_int_equal(vdisk_server_inflight(t_srv), 8);
	assert_int_equal(vdisk_server_submit(t_srv), 0);	/* one batch */
	pfd = (struct pollfd){ .fd = vdisk_server_fd(t_srv), .events = POLLIN };
	while (done.n < 8) {
		assert_true(poll(&pfd, 1, 5000) == 1);
		vdisk_server_poll(t_srv);
	}
	assert_int_equal(done.res, 0);
	memset(buf, 0, 8 * 4096);
	assert_int_equal(vdisk_server_prep_rw(t_srv, fh, false, buf + 4096, 4096, 3 * 4096, t_cb, &done), 0);
	assert_int_equal(vdisk_server_drain(t_srv), 0);
	assert_int_equal(done.n, 9);
	assert_int_equal(buf[4096], 'd');
	/* reading past the end of the file is an error, not a hang */
	assert_int_equal(vdisk_server_prep_rw(t_srv, fh, false, buf, 4096, 100 * 4096, t_cb, &done), 0);
	assert_int_equal(vdisk_server_drain(t_srv), 0);
	assert_int_equal(done.res, -EIO);
	(void)err;
	close(fd);
	free(buf);
}

static void test_raw(void **state)
{
	char p[300], err[256];
	uint8_t buf[4096];
	struct vdisk *d, *d2;

	t_path(p, sizeof(p), "raw.img");
	t_make_base(p, 64 * 1024);
	d = vdisk_open(t_srv, p, NULL, err, sizeof(err));
	assert_non_null(d);
	assert_int_equal(vdisk_kind(d), VDISK_RAW);
	assert_int_equal(vdisk_size(d), 64 * 1024);
	assert_int_equal(vdisk_pread(d, buf, 1024, 2048), 0);
	t_expect_sector(buf, 4, -1);
	t_expect_sector(buf + 512, 5, -1);
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(vdisk_pwrite(d, buf, 512, 512), 0);
	assert_int_equal(vdisk_sync(d), 0);
	assert_int_equal(vdisk_pread(d, buf, 512, 512), 0);
	t_expect_sector(buf, 1, 0x5a);
	/* out of range or not whole sectors: refused at once */
	assert_int_equal(vdisk_read(d, buf, 512, 64 * 1024, t_cb, NULL), -EINVAL);
	assert_int_equal(vdisk_read(d, buf, 100, 0, t_cb, NULL), -EINVAL);
	assert_int_equal(vdisk_write(d, buf, 1024, 63 * 1024 + 512, t_cb, NULL), -EINVAL);
	/* a writable raw disk is one VM's at a time */
	d2 = vdisk_open(t_srv, p, NULL, err, sizeof(err));
	assert_null(d2);
	assert_non_null(strstr(err, "in use"));
	assert_non_null(strstr(err, p));
	vdisk_close(d);
}

static void test_overlay_cow(void **state)
{
	char base[300], ovl[300], err[256];
	uint8_t *buf = aligned_alloc(4096, 3 * 4096);
	struct vdisk_opts direct = { .direct = true };
	struct vdisk *d;
	struct stat st0, st1;
	struct vdisk_stats vs;

	t_path(base, sizeof(base), "base.img");
	t_path(ovl, sizeof(ovl), "cow.ovl");
	t_make_base(base, 1024 * 1024 + 1536);	/* not a whole number of clusters */
	assert_int_equal(stat(base, &st0), 0);
	assert_int_equal(vdisk_create(ovl, "base.img", err, sizeof(err)), 0);	/* relative to the overlay */
	assert_int_equal(vdisk_create(ovl, "base.img", err, sizeof(err)), -EEXIST);
	d = vdisk_open(t_srv, ovl, NULL, err, sizeof(err));
	assert_non_null(d);
	assert_int_equal(vdisk_kind(d), VDISK_OVERLAY);
	assert_int_equal(vdisk_size(d), 1024 * 1024 + 1536);
	/* sector 9 and 10 written (cluster 1, sectors 1..2), sector 8 and 11 still the base's */
	memset(buf, 0xab, 1024);
	assert_int_equal(vdisk_pwrite(d, buf, 1024, 9 * 512), 0);
	/* the last, partial cluster */
	memset(buf, 0xcd, 512);
	assert_int_equal(vdisk_pwrite(d, buf, 512, 1024 * 1024 + 1024), 0);
	assert_int_equal(vdisk_pread(d, buf, 3 * 4096, 0), 0);
	t_expect_sector(buf + 8 * 512, 8, -1);
	t_expect_sector(buf + 9 * 512, 9, 0xab);
	t_expect_sector(buf + 10 * 512, 10, 0xab);
	t_expect_sector(buf + 11 * 512, 11, -1);
	t_expect_sector(buf + 20 * 512, 20, -1);
	assert_int_equal(vdisk_pread(d, buf, 1536, 1024 * 1024), 0);
	t_expect_sector(buf, 2048, -1);
	t_expect_sector(buf + 1024, 2050, 0xcd);
	vdisk_get_stats(d, &vs);
	assert_int_equal(vs.clusters_allocated, 2);
	assert_true(vs.bytes_read_overlay == 1024 + 512);
	assert_int_equal(vdisk_sync(d), 0);
	/* the base is never written */
	assert_int_equal(stat(base, &st1), 0);
	assert_int_equal(st0.st_mtim.tv_nsec, st1.st_mtim.tv_nsec);
	/* one writer: a second open is refused while the first holds it */
	assert_null(vdisk_open(t_srv, ovl, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "in use"));
	vdisk_close(d);
	/* persistent: reopened (O_DIRECT this time), the data is there */
	d = vdisk_open(t_srv, ovl, &direct, err, sizeof(err));
	assert_non_null(d);
	assert_int_equal(vdisk_pread(d, buf, 4096, 4096), 0);
	t_expect_sector(buf, 8, -1);
	t_expect_sector(buf + 512, 9, 0xab);
	t_expect_sector(buf + 3 * 512, 11, -1);
	vdisk_close(d);
	assert_int_equal(vdisk_check(ovl, stderr), VDISK_CHECK_OK);
	free(buf);
}

/* Copy src to a new file dst. */
static void t_copy(const char *src, const char *dst)
{
	char cmd[700];

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", src, dst);
	assert_int_equal(system(cmd), 0);
}

static void t_poke(const char *path, uint64_t off, const void *p, size_t n)
{
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, p, n, off), (ssize_t)n);
	close(fd);
}

static void t_refused(const char *path, const char *what)
{
	char err[512];
	struct vdisk *d = vdisk_open(t_srv, path, NULL, err, sizeof(err));

	if (d)
		vdisk_close(d);
	assert_null(d);
	if (!strstr(err, what) || !strstr(err, path))
		fail_msg("message \"%s\" should name %s and say \"%s\"", err, path, what);
	assert_int_equal(vdisk_check(path, stderr), VDISK_CHECK_CORRUPT);
}

static void test_bad_images(void **state)
{
	char base[300], ovl[300], bad[300], err[256];
	uint8_t buf[512];
	uint64_t e;
	struct vdisk *d;

	t_path(base, sizeof(base), "bbase.img");
	t_path(ovl, sizeof(ovl), "b.ovl");
	t_make_base(base, 256 * 1024);
	assert_int_equal(vdisk_create(ovl, base, err, sizeof(err)), 0);
	d = vdisk_open(t_srv, ovl, NULL, err, sizeof(err));
	assert_non_null(d);
	memset(buf, 1, sizeof(buf));
	assert_int_equal(vdisk_pwrite(d, buf, 512, 0), 0);
	assert_int_equal(vdisk_sync(d), 0);
	vdisk_close(d);

	/* a damaged header (the magic is fine, a byte of it is not) */
	t_path(bad, sizeof(bad), "hdr.ovl");
	t_copy(ovl, bad);
	t_poke(bad, 40, "x", 1);
	t_refused(bad, "checksum");
	/* a damaged magic: not taken for a raw disk */
	t_path(bad, sizeof(bad), "magic.ovl");
	t_copy(ovl, bad);
	t_poke(bad, 0, "X", 1);
	t_refused(bad, "wrong magic");
	/* truncated inside the map */
	t_path(bad, sizeof(bad), "trunc.ovl");
	t_copy(ovl, bad);
	assert_int_equal(truncate(bad, 4096 + 100), 0);
	t_refused(bad, "truncated");
	/* a map entry pointing past the end of the file */
	t_path(bad, sizeof(bad), "past.ovl");
	t_copy(ovl, bad);
	e = (1ull << 30) | 0xff;
	t_poke(bad, 4096 + 8 * 3, &e, 8);
	t_refused(bad, "past the end");
	/* the base changed under its overlay */
	t_poke(base, 0, "changed!", 8);
	t_refused(ovl, "changed");
	/* a raw image is not checked: nothing to be wrong */
	assert_int_equal(vdisk_check(base, stderr), VDISK_CHECK_OK);
	/* an overlay cannot be a base */
	t_path(bad, sizeof(bad), "stack.ovl");
	assert_int_equal(vdisk_create(bad, ovl, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "overlay"));
}

static void test_leaks_and_commit_rebase(void **state)
{
	char base[300], base2[300], ovl[300], err[256];
	uint8_t buf[4096];
	struct vdisk *d;

	t_path(base, sizeof(base), "cbase.img");
	t_path(base2, sizeof(base2), "cbase2.img");
	t_path(ovl, sizeof(ovl), "c.ovl");
	t_make_base(base, 128 * 1024);
	assert_int_equal(vdisk_create(ovl, base, err, sizeof(err)), 0);
	d = vdisk_open(t_srv, ovl, NULL, err, sizeof(err));
	assert_non_null(d);
	memset(buf, 0x77, sizeof(buf));
	assert_int_equal(vdisk_pwrite(d, buf, 1024, 4096 * 5), 0);
	assert_int_equal(vdisk_sync(d), 0);
	vdisk_close(d);

	/* rebase (safe) onto a base that differs in sector 1: the guest's view stays */
	t_copy(base, base2);
	t_poke(base2, 512, "different", 9);
	t_poke(base2, 4096 * 5, "under the overlay", 17);
	assert_int_equal(vdisk_rebase(ovl, "cbase2.img", false, err, sizeof(err)), 0);
	assert_int_equal(vdisk_check(ovl, stderr), VDISK_CHECK_OK);
	d = vdisk_open(t_srv, ovl, NULL, err, sizeof(err));
	assert_non_null(d);
	assert_int_equal(vdisk_pread(d, buf, 4096, 0), 0);
	t_expect_sector(buf + 512, 1, -1);
	assert_int_equal(vdisk_pread(d, buf, 4096, 4096 * 5), 0);
	t_expect_sector(buf, 40, 0x77);
	t_expect_sector(buf + 2048, 44, -1);
	vdisk_close(d);

	/* commit: the base takes the overlay's data, the overlay is empty */
	assert_int_equal(vdisk_commit(ovl, err, sizeof(err)), 0);
	assert_int_equal(vdisk_check(ovl, stderr), VDISK_CHECK_OK);
	{
		int fd = open(base2, O_RDONLY);

		assert_int_equal(pread(fd, buf, 512, 4096 * 5), 512);
		t_expect_sector(buf, 40, 0x77);
		assert_int_equal(pread(fd, buf, 512, 512), 512);
		t_expect_sector(buf, 1, -1);
		close(fd);
	}
	/* a cluster no entry names (a crash before the flush) is a leak, not corruption */
	{
		int fd = open(ovl, O_RDWR);
		struct stat st;

		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal(pwrite(fd, buf, 4096, st.st_size), 4096);
		close(fd);
	}
	assert_int_equal(vdisk_check(ovl, stderr), VDISK_CHECK_LEAKS);
	d = vdisk_open(t_srv, ovl, NULL, err, sizeof(err));
	assert_non_null(d);
	vdisk_close(d);
	assert_int_equal(vdisk_info(ovl, true, stderr, err, sizeof(err)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_async),
		cmocka_unit_test(test_raw),
		cmocka_unit_test(test_overlay_cow),
		cmocka_unit_test(test_bad_images),
		cmocka_unit_test(test_leaks_and_commit_rebase),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
