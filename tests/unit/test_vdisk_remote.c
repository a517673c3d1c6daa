/*
 * test_vdisk_remote.c — a base image served by another node (vdisk.h,
 * docs/disk.md "Disks across nodes"), with the two nodes in one process:
 * node 0 serves the base, node 1 opens an overlay over it, and a message
 * queue stands for the fabric. Reads split into chunks come back whole and
 * only from the loop; a server that stops answering gives -EIO; malformed,
 * unknown and out-of-range messages get an error status or are dropped,
 * never a crash; an overlay over a different image is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vdisk/vdisk.h"

#define T_MSG_MAX	4096
#define T_BASE_SIZE	(64 * 1024)

struct t_msg {
	unsigned src, dest, type;
	size_t len;
	uint8_t p[T_MSG_MAX];
};

static char t_dir[256], t_base[300];
static struct vdisk_server *t_srv[2];
static struct vdisk_remote *t_rem[2];
static struct t_msg *t_q;
static size_t t_qn, t_qcap;
static bool t_server_dead;		/* messages to node 0 are lost */
static int t_send_fail;			/* sends fail with this (0: none) */
static struct t_msg t_last_data;	/* the last DATA node 0 sent to node 2 (a prober) */
static uint8_t t_last_read[24];		/* the last READ sent to node 0 */
static unsigned t_datas_to_2;

static int t_send(void *opaque, unsigned node, unsigned type, const void *p, size_t len)
{
	unsigned self = (unsigned)(uintptr_t)opaque;

	assert_true(len <= T_MSG_MAX);
	if (t_send_fail)
		return t_send_fail;
	if (node == 2) {	/* the prober: keep the answer */
		t_last_data.type = type;
		t_last_data.len = len;
		memcpy(t_last_data.p, p, len);
		t_datas_to_2++;
		return 0;
	}
	if (node == 0 && type == VDISK_MSG_READ && len == sizeof(t_last_read))
		memcpy(t_last_read, p, len);
	if (node == 0 && t_server_dead)
		return 0;
	if (t_qn == t_qcap) {
		t_qcap = t_qcap ? 2 * t_qcap : 64;
		t_q = realloc(t_q, t_qcap * sizeof(*t_q));
		assert_non_null(t_q);
	}
	t_q[t_qn] = (struct t_msg){ .src = self, .dest = node, .type = type, .len = len };
	memcpy(t_q[t_qn].p, p, len);
	t_qn++;
	return 0;
}

/* Run both nodes' loops until nothing moves. */
static void t_loop(void)
{
	for (int quiet = 0; quiet < 3;) {
		int n = vdisk_server_poll(t_srv[0]) + vdisk_server_poll(t_srv[1]);

		if (t_qn) {
			struct t_msg *q = t_q;
			size_t k = t_qn;

			t_q = NULL;
			t_qn = t_qcap = 0;
			for (size_t i = 0; i < k; i++)
				vdisk_remote_on_msg(t_rem[q[i].dest], q[i].src, q[i].type, q[i].p, q[i].len);
			free(q);
			n++;
		}
		if (!n && (vdisk_server_inflight(t_srv[0]) || vdisk_server_inflight(t_srv[1]))) {
			usleep(100);
			continue;
		}
		quiet = n ? 0 : quiet + 1;
	}
}

static void t_make_base(const char *path, uint64_t n)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	uint8_t sec[512];

	assert_true(fd >= 0);
	for (uint64_t s = 0; s < n / 512; s++) {
		memset(sec, (int)(s & 0xff) ^ 0x5a, sizeof(sec));
		memcpy(sec, &s, sizeof(s));
		assert_int_equal(pwrite(fd, sec, 512, s * 512), 512);
	}
	close(fd);
}

static void t_expect_sector(const uint8_t *p, uint64_t s)
{
	uint64_t got;

	memcpy(&got, p, 8);
	assert_int_equal(got, s);
	for (unsigned i = 8; i < 512; i++)
		if (p[i] != (uint8_t)((s & 0xff) ^ 0x5a))
			fail_msg("sector %llu byte %u: %#x", (unsigned long long)s, i, p[i]);
}

static int setup(void **state)
{
	char err[256];

	snprintf(t_dir, sizeof(t_dir), "%s/disco-vremote-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(t_dir))
		return -1;
	snprintf(t_base, sizeof(t_base), "%s/base.img", t_dir);
	t_make_base(t_base, T_BASE_SIZE);
	for (unsigned i = 0; i < 2; i++) {
		struct vdisk_remote_transport t = { .opaque = (void *)(uintptr_t)i, .send = t_send, .msg_max = T_MSG_MAX };

		t_srv[i] = vdisk_server_new(64, err, sizeof(err));
		if (!t_srv[i]) {
			fprintf(stderr, "io_uring unavailable: %s\n", err);
			return -1;
		}
		t_rem[i] = vdisk_remote_new(t_srv[i], &t, 50 * 1000000ull);
		if (!t_rem[i])
			return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	for (unsigned i = 0; i < 2; i++) {
		vdisk_remote_free(t_rem[i]);
		vdisk_server_free(t_srv[i]);
	}
	free(t_q);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t_dir);
	return system(cmd) == 0 ? 0 : -1;
}

struct t_done { int n, res; };
static void t_cb(void *arg, int res)
{
	struct t_done *d = arg;

	d->n++;
	d->res = res;
}

/* Node 1's view of the base node 0 serves as image 7. */
static void t_base_ref(struct vdisk_remote_base *b)
{
	char err[256];

	memset(b, 0, sizeof(*b));
	b->r = t_rem[1];
	b->node = 0;
	b->image = 7;
	assert_int_equal(vdisk_identify(t_base, &b->ident, b->path, sizeof(b->path), err, sizeof(err)), 0);
}

/* Reads over several messages come back whole, from the loop; writes stay in node 1's overlay. */
static void test_remote_overlay(void **state)
{
	char ovl[300], err[512];
	struct vdisk_remote_base b;
	struct vdisk_remote_stats s0, s1;
	struct vdisk_opts o = { .remote = &b };
	struct t_done done = {0};
	uint8_t *buf = aligned_alloc(4096, 32 * 1024), sec[512];
	struct vdisk *d;

	t_base_ref(&b);
	assert_int_equal(vdisk_remote_serve(t_rem[0], 7, t_base, &b.ident, err, sizeof(err)), 0);
	snprintf(ovl, sizeof(ovl), "%s/a.ovl", t_dir);
	assert_int_equal(vdisk_create_remote(ovl, &b, err, sizeof(err)), 0);
	d = vdisk_open(t_srv[1], ovl, &o, err, sizeof(err));
	if (!d)
		fail_msg("%s", err);
	assert_int_equal(vdisk_size(d), T_BASE_SIZE);
	assert_int_not_equal(vdisk_base_key(d), 0);
	{
		/* node 0's own overlay over the file it serves: the caches of both name it alike (disk_cache = machine) */
		struct vdisk_opts lo = { .served = &b, .n_served = 1 }, plain = { 0 };
		char lovl[300];
		struct vdisk *l;

		snprintf(lovl, sizeof(lovl), "%s/local.ovl", t_dir);
		assert_int_equal(vdisk_create(lovl, t_base, err, sizeof(err)), 0);
		l = vdisk_open(t_srv[0], lovl, &lo, err, sizeof(err));
		if (!l)
			fail_msg("%s", err);
		assert_int_equal(vdisk_base_key(l), vdisk_base_key(d));
		vdisk_close(l);
		l = vdisk_open(t_srv[0], lovl, &plain, err, sizeof(err));
		if (!l)
			fail_msg("%s", err);
		assert_int_not_equal(vdisk_base_key(l), vdisk_base_key(d));	/* (named by its file alone) */
		vdisk_close(l);
		unlink(lovl);
	}

	/* 20.5 KiB from an odd sector: one READ, six DATA of at most 3584 bytes (4096 less the header, in sectors) */
	assert_int_equal(vdisk_read(d, buf, 41 * 512, 9 * 512, t_cb, &done), 0);
	assert_int_equal(done.n, 0);	/* never inside the call */
	t_loop();
	assert_int_equal(done.n, 1);
	assert_int_equal(done.res, 0);
	for (unsigned s = 0; s < 41; s++)
		t_expect_sector(buf + s * 512, 9 + s);

	/* a write goes to the overlay: the read around it mixes overlay and remote base */
	memset(sec, 0xee, sizeof(sec));
	assert_int_equal(vdisk_write(d, sec, 512, 3 * 512, t_cb, &done), 0);
	t_loop();
	assert_int_equal(done.n, 2);
	assert_int_equal(done.res, 0);
	assert_int_equal(vdisk_read(d, buf, 8 * 512, 0, t_cb, &done), 0);
	t_loop();
	assert_int_equal(done.n, 3);
	assert_int_equal(done.res, 0);
	for (unsigned s = 0; s < 8; s++)
		if (s == 3)
			assert_memory_equal(buf + s * 512, sec, 512);
		else
			t_expect_sector(buf + s * 512, s);
	/* past the end: refused at once */
	assert_int_equal(vdisk_read(d, buf, 1024, T_BASE_SIZE - 512, t_cb, &done), -EINVAL);
	/* a server that stops answering: the disk's read ends with -EIO (virtio-blk answers VIRTIO_BLK_S_IOERR) */
	t_server_dead = true;
	assert_int_equal(vdisk_read(d, buf, 8 * 512, 16 * 512, t_cb, &done), 0);
	t_loop();
	assert_int_equal(done.n, 3);
	assert_int_equal(vdisk_remote_poll(t_rem[1], UINT64_MAX), 1);
	t_loop();
	assert_int_equal(done.n, 4);
	assert_int_equal(done.res, -EIO);
	t_server_dead = false;

	vdisk_remote_get_stats(t_rem[0], &s0);
	vdisk_remote_get_stats(t_rem[1], &s1);
	assert_int_equal(s1.bytes_fetched, (41 + 7) * 512);
	assert_int_equal(s0.bytes_served, s1.bytes_fetched);
	assert_int_equal(s1.failed, 1);
	assert_int_equal(s1.timeouts, 1);
	vdisk_close(d);
	/* the overlay names the base by its path there: the tool checks it against that file */
	assert_int_equal(vdisk_check(ovl, stderr), VDISK_CHECK_OK);
	free(buf);
}

/* Node 2 probes node 0 with raw READs: each gets an error status (or is dropped), never a crash. */
static void t_probe(const void *m, size_t len, int want_status)
{
	unsigned before = t_datas_to_2;
	int32_t st;

	vdisk_remote_on_msg(t_rem[0], 2, VDISK_MSG_READ, m, len);
	for (int i = 0; i < 1000 && vdisk_server_inflight(t_srv[0]); i++) {
		vdisk_server_poll(t_srv[0]);
		usleep(100);
	}
	vdisk_server_poll(t_srv[0]);
	if (want_status == 1) {		/* dropped: no answer */
		assert_int_equal(t_datas_to_2, before);
		return;
	}
	assert_int_equal(t_datas_to_2, before + 1);
	assert_int_equal(t_last_data.type, VDISK_MSG_DATA);
	memcpy(&st, t_last_data.p + 8, 4);
	assert_int_equal(st, want_status);
}

static void t_read_msg(uint8_t m[24], uint32_t image, uint32_t len, uint64_t id, uint64_t off)
{
	memcpy(m, &image, 4);
	memcpy(m + 4, &len, 4);
	memcpy(m + 8, &id, 8);
	memcpy(m + 16, &off, 8);
}

static void test_remote_bad_messages(void **state)
{
	struct vdisk_remote_stats st0, st1;
	uint8_t m[64];
	char err[512];
	struct vdisk_ident id;

	assert_int_equal(vdisk_identify(t_base, &id, NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(vdisk_remote_serve(t_rem[0], 7, t_base, &id, err, sizeof(err)), 0);
	t_read_msg(m, 7, 512, 42, 0);
	t_probe(m, 24, 0);			/* a good one, for contrast */
	assert_int_equal(t_last_data.len, 16 + 512);
	t_probe(m, 8, 1);			/* too short to carry an id: dropped */
	t_probe(m, 25, -EINVAL);		/* wrong length */
	t_read_msg(m, 99, 512, 1, 0);
	t_probe(m, 24, -ENOENT);		/* an image not served here */
	t_read_msg(m, 7, 0, 1, 0);
	t_probe(m, 24, -EINVAL);		/* nothing asked */
	t_read_msg(m, 7, 64 * 3584 + 512, 1, 0);
	t_probe(m, 24, -EINVAL);		/* more than one READ may ask */
	t_read_msg(m, 7, 512, 1, T_BASE_SIZE);
	t_probe(m, 24, -EINVAL);		/* past the end */
	t_read_msg(m, 7, 1024, 1, T_BASE_SIZE - 512);
	t_probe(m, 24, -EINVAL);		/* across the end */
	t_read_msg(m, 7, 512, 1, UINT64_MAX - 100);
	t_probe(m, 24, -EINVAL);		/* an offset that wraps */
	/* a READ of three chunks: three DATA, ids 1000, 1001, 1002, the last one short */
	{
		unsigned before = t_datas_to_2;
		uint64_t got_id;
		uint32_t n;

		t_read_msg(m, 7, 2 * 3584 + 1024, 1000, 4096);
		vdisk_remote_on_msg(t_rem[0], 2, VDISK_MSG_READ, m, 24);
		assert_int_equal(vdisk_server_drain(t_srv[0]), 0);
		assert_int_equal(t_datas_to_2, before + 3);
		memcpy(&got_id, t_last_data.p, 8);
		memcpy(&n, t_last_data.p + 12, 4);
		assert_int_equal(got_id, 1002);
		assert_int_equal(n, 1024);
		t_expect_sector(t_last_data.p + 16, (4096 + 2 * 3584) / 512);
	}
	/* a node serving something else under the same image number: the identity is checked */
	id.hash ^= 1;
	assert_int_equal(vdisk_remote_serve(t_rem[0], 8, t_base, &id, err, sizeof(err)), -ESTALE);

	/* answers nobody asked for, and garbage of every type and length, to both sides */
	vdisk_remote_get_stats(t_rem[1], &st1);
	memset(m, 0, sizeof(m));
	vdisk_remote_on_msg(t_rem[1], 0, VDISK_MSG_DATA, m, 16);
	vdisk_remote_on_msg(t_rem[1], 0, VDISK_MSG_DATA, m, 3);
	vdisk_remote_on_msg(t_rem[1], 0, VDISK_MSG_END - 1, m, 16);
	srand(7);
	for (int i = 0; i < 2000; i++) {
		size_t len = (size_t)rand() % sizeof(m);
		unsigned type = VDISK_MSG_FIRST + (unsigned)rand() % 3;

		for (size_t k = 0; k < len; k++)
			m[k] = (uint8_t)rand();
		if (i % 2 == 0 && len >= 4)
			memcpy(m, &(uint32_t){ 7 }, 4);	/* aim at the served image */
		vdisk_remote_on_msg(t_rem[i % 2 ? 1 : 0], 2, type, m, len);
	}
	t_loop();
	vdisk_remote_get_stats(t_rem[0], &st0);
	assert_true(st0.errors >= 7);
	vdisk_remote_get_stats(t_rem[1], &st1);
	assert_true(st1.dropped >= 3);
	assert_int_equal(vdisk_remote_next_deadline(t_rem[1]), UINT64_MAX);	/* nothing left in flight */
}

/* A flood of READs is refused past what the server holds in flight (64 MiB), not buffered without bound. */
static void test_remote_flood(void **state)
{
	char big[320], err[512];
	struct vdisk_ident id;
	unsigned before = t_datas_to_2, busy = 0;
	uint8_t m[24];
	int fd;

	snprintf(big, sizeof(big), "%s/big.img", t_dir);
	fd = open(big, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 128 << 20), 0);	/* sparse: zeros */
	close(fd);
	assert_int_equal(vdisk_identify(big, &id, NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(vdisk_remote_serve(t_rem[0], 9, big, &id, err, sizeof(err)), 0);
	for (unsigned i = 0; i < 400; i++) {
		t_read_msg(m, 9, 64 * 3584, (uint64_t)i << 20, (uint64_t)i * 64 * 3584);
		vdisk_remote_on_msg(t_rem[0], 2, VDISK_MSG_READ, m, 24);
		if (t_datas_to_2 > before) {	/* an answer at once: the refusal */
			int32_t st;

			memcpy(&st, t_last_data.p + 8, 4);
			assert_int_equal(st, -EBUSY);
			busy++;
			before = t_datas_to_2;
		}
	}
	assert_true(busy > 0 && busy < 400);
	assert_int_equal(vdisk_server_drain(t_srv[0]), 0);
	assert_int_equal(t_datas_to_2, before + (400 - busy) * 64);	/* the others were served whole */
}

static uint64_t t_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A server that stops answering, or a fabric that refuses the send: -EIO from the loop, never a hang. */
static void test_remote_dead_server(void **state)
{
	struct vdisk_remote_base b;
	struct vdisk_remote_stats st;
	struct t_done done = {0};
	uint8_t *buf = malloc(8192);
	char err[512];

	t_base_ref(&b);
	assert_int_equal(vdisk_remote_serve(t_rem[0], 7, t_base, &b.ident, err, sizeof(err)), 0);
	t_server_dead = true;
	assert_int_equal(vdisk_remote_read(&b, buf, 8192, 0, NULL, t_cb, &done), 0);
	t_loop();
	assert_int_equal(done.n, 0);				/* waiting... */
	assert_true(vdisk_remote_next_deadline(t_rem[1]) != UINT64_MAX);
	assert_int_equal(vdisk_remote_poll(t_rem[1], t_now()), 0);	/* not yet */
	{	/* the warning names the node that did not answer */
		char path[] = "/tmp/test_vdisk_remote_log.XXXXXX", text[512] = "";
		int fd = mkstemp(path), saved = dup(STDERR_FILENO);
		ssize_t n;

		assert_true(fd >= 0 && saved >= 0);
		fflush(stderr);
		dup2(fd, STDERR_FILENO);
		assert_int_equal(vdisk_remote_poll(t_rem[1], t_now() + 60 * 1000000ull), 1);
		fflush(stderr);
		dup2(saved, STDERR_FILENO);
		close(saved);
		n = pread(fd, text, sizeof(text) - 1, 0);
		close(fd);
		unlink(path);
		assert_true(n > 0);
		if (!strstr(text, "node 0, which serves a base image, did not answer a read of 8192 bytes"))
			fail_msg("the timeout does not name the node: %s", text);
	}
	assert_int_equal(done.n, 1);
	assert_int_equal(done.res, -EIO);
	t_server_dead = false;

	t_send_fail = -EIO;
	assert_int_equal(vdisk_remote_read(&b, buf, 512, 0, NULL, t_cb, &done), 0);
	assert_int_equal(done.n, 1);				/* not inside the call */
	assert_int_equal(vdisk_remote_next_deadline(t_rem[1]), 0);	/* the loop must not sleep */
	assert_int_equal(vdisk_remote_poll(t_rem[1], t_now()), 1);
	assert_int_equal(done.res, -EIO);
	t_send_fail = 0;
	vdisk_remote_get_stats(t_rem[1], &st);
	assert_true(st.timeouts >= 1 && st.failed >= 2);

	/* an answer from a node the read did not ask is dropped; the server's own completes it */
	{
		uint8_t m[16 + 512];
		int32_t ok = 0;
		uint32_t n = 512;

		t_server_dead = true;
		assert_int_equal(vdisk_remote_read(&b, buf, 512, 0, NULL, t_cb, &done), 0);
		t_server_dead = false;
		memcpy(m, t_last_read + 8, 8);		/* the READ's id */
		memcpy(m + 8, &ok, 4);
		memcpy(m + 12, &n, 4);
		memset(m + 16, 0x77, 512);
		vdisk_remote_on_msg(t_rem[1], 2, VDISK_MSG_DATA, m, sizeof(m));
		assert_int_equal(done.n, 2);		/* node 2 was not asked */
		vdisk_remote_on_msg(t_rem[1], 0, VDISK_MSG_DATA, m, sizeof(m));
		assert_int_equal(done.n, 3);
		assert_int_equal(done.res, 0);
		assert_int_equal(buf[100], 0x77);
	}
	/* a read cancelled in flight (its disk closes) ends with -ECANCELED; its late answers are dropped */
	assert_int_equal(vdisk_remote_read(&b, buf, 8192, 0, &done, t_cb, &done), 0);
	vdisk_remote_cancel(t_rem[1], &done);
	assert_int_equal(done.n, 4);
	assert_int_equal(done.res, -ECANCELED);
	t_loop();
	assert_int_equal(done.n, 4);
	free(buf);
}

/* An overlay made over one image refuses a server whose image differs. */
static void test_remote_identity(void **state)
{
	char ovl[300], err[512];
	struct vdisk_remote_base b;
	struct vdisk_opts o = { .remote = &b };

	t_base_ref(&b);
	snprintf(ovl, sizeof(ovl), "%s/b.ovl", t_dir);
	assert_int_equal(vdisk_create_remote(ovl, &b, err, sizeof(err)), 0);
	b.ident.hash ^= 0x100;
	assert_null(vdisk_open(t_srv[1], ovl, &o, err, sizeof(err)));
	assert_non_null(strstr(err, "is not the overlay's base"));
	assert_non_null(strstr(err, "b.ovl"));
	/* identify refuses what cannot be a base */
	assert_int_equal(vdisk_identify(ovl, &b.ident, NULL, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "overlay"));
	assert_int_equal(vdisk_identify("/nonexistent/disk.img", &b.ident, NULL, 0, err, sizeof(err)), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remote_overlay),
		cmocka_unit_test(test_remote_bad_messages),
		cmocka_unit_test(test_remote_dead_server),
		cmocka_unit_test(test_remote_flood),
		cmocka_unit_test(test_remote_identity),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
