/*
 * test_vdisk_crash.c — an acknowledged flush survives kill -9 at any moment.
 *
 * A writer child opens a persistent overlay and, through the io_uring
 * server, keeps writing random sector ranges (several in flight at once),
 * flushing while more writes are in flight. After each flush completes it
 * tells the parent, over a pipe, which writes that flush covered. The
 * parent kills the child with SIGKILL at a random moment, then checks the
 * image (`disco disk check` when the build has it, else the same code,
 * vdisk_check: 0 or 3, never 2) and reads the whole disk: every sector must
 * hold a well-formed pattern of a generation at least as new as the last one
 * acknowledged for it (unacknowledged writes may or may not be there, torn
 * at sector granularity). Then the next child continues on the same image.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vdisk/vdisk.h"

#define T_SECTORS	8192		/* 4 MiB disk */
#define T_ROUNDS	40
#define T_INFLIGHT	8
#define T_MAXSEC	24		/* sectors per write, at most */

struct t_rec { uint32_t sector, n; uint64_t gen; };

static uint64_t t_word(uint64_t s, uint64_t g, unsigned i)
{
	return (s * 0x9e3779b97f4a7c15ull) ^ (g * 0xc2b2ae3d27d4eb4full) ^ i;
}

static void t_fill(uint8_t *p, uint64_t s, uint64_t g)
{
	uint64_t *w = (uint64_t *)p;

	w[0] = s;
	w[1] = g;
	for (unsigned i = 2; i < 64; i++)
		w[i] = t_word(s, g, i);
}

/* The generation a sector holds, or -1 if it is not a well-formed pattern for sector s. */
static int64_t t_gen(const uint8_t *p, uint64_t s)
{
	const uint64_t *w = (const uint64_t *)p;

	if (w[0] != s)
		return -1;
	for (unsigned i = 2; i < 64; i++)
		if (w[i] != t_word(s, w[1], i))
			return -1;
	return (int64_t)w[1];
}

/* ---- the writer (child) ---- */

struct w_write {
	struct t_rec rec;
	uint8_t *buf;
	bool done;
};

struct w_flush {
	struct t_rec *recs;
	size_t n;
	int fd;
	bool done;
};

static void w_write_done(void *arg, int res)
{
	struct w_write *w = arg;

	if (res < 0)
		_exit(3);
	w->done = true;
}

static void w_flush_done(void *arg, int res)
{
	struct w_flush *f = arg;

	if (res < 0)
		_exit(4);
	/* acknowledged: only now may the parent count on these */
	if (f->n && write(f->fd, f->recs, f->n * sizeof(*f->recs)) != (ssize_t)(f->n * sizeof(*f->recs)))
		_exit(5);
	f->done = true;
}

static void t_writer(const char *path, int fd, uint64_t gen, unsigned seed)
{
	static struct w_write ws[T_INFLIGHT];
	static struct t_rec completed[T_INFLIGHT * 4];
	struct w_flush fl = { .fd = fd };
	char err[512];
	struct vdisk_server *s = vdisk_server_new(64, err, sizeof(err));
	struct vdisk *d = s ? vdisk_open(s, path, NULL, err, sizeof(err)) : NULL;
	size_t ncompleted = 0;

	if (!d) {
		fprintf(stderr, "writer: %s\n", err);
		_exit(2);
	}
	srand(seed);
	for (int i = 0; i < T_INFLIGHT; i++)
		ws[i].buf = aligned_alloc(4096, T_MAXSEC * 512);
	for (;;) {
		bool flushing = false;

		/* a batch of writes; when the previous batch completed, a flush of it goes with them */
		if (ncompleted) {
			fl.recs = malloc(ncompleted * sizeof(*fl.recs));
			memcpy(fl.recs, completed, ncompleted * sizeof(*fl.recs));
			fl.n = ncompleted;
			fl.done = false;
			ncompleted = 0;
			if (vdisk_flush(d, w_flush_done, &fl) < 0)
				_exit(6);
			flushing = true;
		}
		for (int i = 0; i < T_INFLIGHT; i++) {
			struct w_write *w = &ws[i];
			uint32_t n = 1 + rand() % T_MAXSEC;
			/* one stripe per write: writes in flight together never overlap (their order is free) */
			uint32_t sec = i * (T_SECTORS / T_INFLIGHT) + rand() % (T_SECTORS / T_INFLIGHT - n);

			w->rec = (struct t_rec){ sec, n, ++gen };
			w->done = false;
			for (uint32_t k = 0; k < n; k++)
				t_fill(w->buf + k * 512, sec + k, gen);
			if (vdisk_write(d, w->buf, n * 512ull, sec * 512ull, w_write_done, w) < 0)
				_exit(7);
		}
		vdisk_server_drain(s);
		if (flushing && !fl.done)
			_exit(8);
		if (flushing)
			free(fl.recs);
		for (int i = 0; i < T_INFLIGHT; i++)
			completed[ncompleted++] = ws[i].rec;
	}
}

/* ---- the parent ---- */

static char t_disco[PATH_MAX + 32];

static int t_check(const char *path)
{
	char cmd[PATH_MAX * 2 + 32];
	int st;

	if (!t_disco[0])
		return vdisk_check(path, stderr);
	snprintf(cmd, sizeof(cmd), "'%s' disk check '%s' >/dev/null", t_disco, path);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_kill9(void **state)
{
	char dir[] = "/tmp/disco-crash-XXXXXX", base[64], ovl[64], err[512], self[PATH_MAX - 64];
	static int64_t acked[T_SECTORS];
	uint8_t *disk = aligned_alloc(4096, T_SECTORS * 512);
	struct vdisk_server *s;
	unsigned acks = 0, leaks = 0;
	ssize_t n;
	int fd;

	/* disco beside this test in the build tree, if it was built */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		*strrchr(self, '/') = 0;
		snprintf(t_disco, sizeof(t_disco), "%s/../launcher/disco", self);
		if (access(t_disco, X_OK))
			t_disco[0] = 0;
	}
	assert_non_null(mkdtemp(dir));
	snprintf(base, sizeof(base), "%s/base.img", dir);
	snprintf(ovl, sizeof(ovl), "%s/disk.ovl", dir);
	for (uint64_t i = 0; i < T_SECTORS; i++)
		t_fill(disk + i * 512, i, 0);
	fd = open(base, O_RDWR | O_CREAT, 0644);
	assert_int_equal(write(fd, disk, T_SECTORS * 512), T_SECTORS * 512);
	close(fd);
	assert_int_equal(vdisk_create(ovl, "base.img", err, sizeof(err)), 0);
	s = vdisk_server_new(64, err, sizeof(err));
	assert_non_null(s);
	srand(time(NULL));
	for (int round = 0; round < T_ROUNDS; round++) {
		int p[2], status;
		pid_t pid;
		struct t_rec rec;
		struct vdisk *d;

		assert_int_equal(pipe(p), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			t_writer(ovl, p[1], (uint64_t)(round + 1) << 32, rand());
		}
		close(p[1]);
		usleep(2000 + rand() % 40000);
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
			fail_msg("round %d: the writer ended by itself (status %#x) before it was killed", round, status);
		while ((n = read(p[0], &rec, sizeof(rec))) == sizeof(rec)) {
			for (uint32_t k = 0; k < rec.n; k++)
				if ((int64_t)rec.gen > acked[rec.sector + k])
					acked[rec.sector + k] = rec.gen;
			acks++;
		}
		close(p[0]);

		status = t_check(ovl);
		if (status != VDISK_CHECK_OK && status != VDISK_CHECK_LEAKS)
			fail_msg("round %d: disco disk check %s exited %d", round, ovl, status);
		leaks += status == VDISK_CHECK_LEAKS;
		d = vdisk_open(s, ovl, NULL, err, sizeof(err));
		if (!d)
			fail_msg("round %d: reopening after kill -9: %s", round, err);
		assert_int_equal(vdisk_pread(d, disk, T_SECTORS * 512ull, 0), 0);
		vdisk_close(d);
		for (uint64_t i = 0; i < T_SECTORS; i++) {
			int64_t g = t_gen(disk + i * 512, i);

			if (g < 0)
				fail_msg("round %d: sector %llu holds no well-formed data", round, (unsigned long long)i);
			if (g < acked[i])
				fail_msg("round %d: sector %llu lost an acknowledged write: generation %lld, acknowledged %lld",
					 round, (unsigned long long)i, (long long)g, (long long)acked[i]);
		}
	}
	/* the test must have tested something: flushes were acknowledged before kills */
	assert_true(acks > 0);
	fprintf(stderr, "%d kills, %u acknowledged writes verified, %u checks found leaked clusters only\n",
		T_ROUNDS, acks, leaks);
	vdisk_server_free(s);
	snprintf(err, sizeof(err), "rm -rf '%s'", dir);
	assert_int_equal(system(err), 0);
	free(disk);
}

/*
 * `disco disk commit` killed at random moments: every interrupted commit
 * leaves an overlay that a VM refuses with a message and that `check`
 * reports, and the next commit finishes the job; at the end the base holds
 * exactly the old base with the overlay's sectors written over it.
 */
#define C_SECTORS	(8 * T_SECTORS)		/* 32 MiB: a commit takes a while */
#define C_ROUNDS	12

static void test_commit_killed(void **state)
{
	char dir[] = "/tmp/disco-commit-XXXXXX", base[64], ovl[64], err[512];
	uint8_t *want = aligned_alloc(4096, C_SECTORS * 512ull), *got = aligned_alloc(4096, C_SECTORS * 512ull);
	struct vdisk_server *s = vdisk_server_new(64, err, sizeof(err));
	struct vdisk *d;
	unsigned interrupted = 0, finished_by_child = 0;
	int fd;

	(void)state;
	assert_non_null(s);
	assert_non_null(mkdtemp(dir));
	snprintf(base, sizeof(base), "%s/base.img", dir);
	snprintf(ovl, sizeof(ovl), "%s/disk.ovl", dir);
	for (uint64_t i = 0; i < C_SECTORS; i++)
		t_fill(want + i * 512, i, 0);
	fd = open(base, O_RDWR | O_CREAT, 0644);
	assert_int_equal(write(fd, want, C_SECTORS * 512ull), (ssize_t)(C_SECTORS * 512ull));
	close(fd);
	assert_int_equal(vdisk_create(ovl, "base.img", err, sizeof(err)), 0);
	/* most of the disk written into the overlay, generation 1 */
	d = vdisk_open(s, ovl, NULL, err, sizeof(err));
	assert_non_null(d);
	srand(time(NULL));
	for (uint64_t i = 0; i < C_SECTORS; i++)
		if (rand() % 4)
			t_fill(want + i * 512, i, 1);
	assert_int_equal(vdisk_pwrite(d, want, C_SECTORS * 512ull, 0), 0);
	vdisk_close(d);
	for (int round = 0; round < C_ROUNDS; round++) {
		pid_t pid = fork();
		int status;

		assert_true(pid >= 0);
		if (pid == 0)
			_exit(vdisk_commit(ovl, err, sizeof(err)) == 0 ? 0 : 3);
		usleep(rand() % 30000);
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (WIFEXITED(status)) {
			if (WEXITSTATUS(status))
				fail_msg("round %d: the commit failed by itself", round);
			finished_by_child++;
			break;
		}
		d = vdisk_open(s, ovl, NULL, err, sizeof(err));
		if (d) {	/* killed before it marked the overlay: nothing happened to the base yet */
			vdisk_close(d);
			continue;
		}
		if (!strstr(err, "interrupted") || !strstr(err, "disco disk commit"))
			fail_msg("round %d: an interrupted commit is refused without saying what to do: %s", round, err);
		if (t_check(ovl) != VDISK_CHECK_CORRUPT)
			fail_msg("round %d: disco disk check does not report the interrupted commit", round);
		interrupted++;
	}
	if (!finished_by_child && vdisk_commit(ovl, err, sizeof(err)) != 0)
		fail_msg("finishing the commit: %s", err);
	if (t_check(ovl) != VDISK_CHECK_OK && t_check(ovl) != VDISK_CHECK_LEAKS)
		fail_msg("after the commit, disco disk check finds the overlay inconsistent");
	fd = open(base, O_RDONLY);
	assert_int_equal(read(fd, got, C_SECTORS * 512ull), (ssize_t)(C_SECTORS * 512ull));
	close(fd);
	for (uint64_t i = 0; i < C_SECTORS; i++)
		if (memcmp(got + i * 512, want + i * 512, 512))
			fail_msg("sector %llu of the base is not the overlay's (or the old base's) after the commit",
				 (unsigned long long)i);
	/* the overlay is empty over the new base and opens again */
	d = vdisk_open(s, ovl, NULL, err, sizeof(err));
	if (!d)
		fail_msg("reopening the committed overlay: %s", err);
	assert_int_equal(vdisk_pread(d, got, C_SECTORS * 512ull, 0), 0);
	assert_memory_equal(got, want, C_SECTORS * 512ull);
	vdisk_close(d);
	fprintf(stderr, "commit: %u kills left it interrupted, %s\n", interrupted,
		finished_by_child ? "one commit ran to its end" : "finished by a last commit");
	vdisk_server_free(s);
	snprintf(err, sizeof(err), "rm -rf '%s'", dir);
	assert_int_equal(system(err), 0);
	free(want);
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill9),
		cmocka_unit_test(test_commit_killed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
