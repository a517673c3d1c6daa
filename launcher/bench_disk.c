/*
 * bench_disk.c — `disco bench disk`: 4 KiB I/O through vdisk's io_uring
 * server beside fio's io_uring engine on the same file.
 *
 * Patterns: seqread, randread (through an empty copy-on-write overlay, so
 * every read is the base image's, as a VM booting a shared image does),
 * seqwrite, randwrite (in place on a raw image, the same file fio writes).
 * Both sides keep the same queue depth in flight for the same time, twice,
 * alternating, and the better run of each counts. vdisk
 * polls its completion ring every turn and sleeps on its eventfd (epoll,
 * edge-triggered) after 50 us without completions, as the node's loop does
 * (SPIN_NS in node/node.c). With
 * --direct both use O_DIRECT; by default both go through the page cache,
 * which measures the software path rather than the device.
 *
 * The memory figure runs N VMs of guest:disk_share on one node (disco run)
 * and reads the global disk cache's figures from the report.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <sys/epoll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/paths.h"
#include "launcher/launcher.h"
#include "vdisk/vdisk.h"

int bench_disk(int argc, char **argv, int json);

#define BS		4096u
#define QD		32

struct pattern {
	const char *name;
	const char *fio_rw;
	bool write, random;
};

static const struct pattern patterns[] = {
	{ "seqread", "read", false, false },
	{ "randread", "randread", false, true },
	{ "seqwrite", "write", true, false },
	{ "randwrite", "randwrite", true, true },
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct run {
	struct vdisk *d;
	const struct pattern *p;
	uint64_t blocks, next_seq, done, rng;
	uint8_t *bufs;
	double end;
	int err;
	unsigned inflight;
};

struct slot {
	struct run *r;
	uint8_t *buf;
};

static uint64_t next_block(struct run *r)
{
	if (!r->p->random)
		return r->next_seq++ % r->blocks;
	r->rng ^= r->rng << 13;
	r->rng ^= r->rng >> 7;
	r->rng ^= r->rng << 17;
	return r->rng % r->blocks;
}

static void issue(struct slot *s);

static void io_done(void *arg, int res)
{
	struct slot *s = arg;
	struct run *r = s->r;

	r->inflight--;
	if (res < 0) {
		r->err = res;
		return;
	}
	r->done++;
	if (now_s() < r->end)
		issue(s);
}

static void issue(struct slot *s)
{
	struct run *r = s->r;
	uint64_t off = next_block(r) * BS;
	int e = r->p->write ? vdisk_write(r->d, s->buf, BS, off, io_done, s)
			    : vdisk_read(r->d, s->buf, BS, off, io_done, s);

	if (e < 0)
		r->err = e;
	else
		r->inflight++;
}

/* IOPS of one pattern through vdisk on d, for `seconds`. */
static double vdisk_case(struct vdisk_server *srv, struct vdisk *d, const struct pattern *p, double seconds,
			 uint8_t *bufs)
{
	struct slot slots[QD];
	struct run r = { .d = d, .p = p, .blocks = vdisk_size(d) / BS, .rng = 0x9e3779b97f4a7c15ull };
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
	int ep = epoll_create1(EPOLL_CLOEXEC);
	double t0;

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, vdisk_server_fd(srv), &ev) < 0) {
		if (ep >= 0)
			close(ep);
		return -1;
	}

	r.bufs = bufs;
	memset(r.bufs, 0xa5, QD * BS);
	t0 = now_s();
	r.end = t0 + seconds;
	for (int i = 0; i < QD; i++) {
		slots[i] = (struct slot){ &r, r.bufs + i * BS };
		issue(&slots[i]);
	}
	vdisk_server_submit(srv);
	/* as the node's loop: poll every turn, sleep only after SPIN_NS (50 us) without completions */
	double last = now_s();
	while (r.inflight && !r.err) {
		if (vdisk_server_poll(srv)) {
			last = now_s();
			continue;
		}
		if (now_s() - last < 50e-6)
			continue;
		if (epoll_wait(ep, &ev, 1, 1000) < 0 && errno != EINTR)
			break;
		last = now_s();
	}
	close(ep);
	vdisk_server_drain(srv);
	t0 = now_s() - t0;
	return r.err ? -1 : r.done / t0;
}

/* IOPS of fio's io_uring engine on the same file, or -1 (message printed). */
static double fio_case(const char *file, uint64_t size, const struct pattern *p, double seconds, bool direct)
{
	char sz[32], rt[32], qd[16], dir[16], cmd_out[] = "/tmp/disco-bench-fio-XXXXXX";
	int fd = mkstemp(cmd_out), st;
	json_t *o, *job;
	double iops;
	pid_t pid;

	if (fd < 0)
		return -1;
	snprintf(sz, sizeof(sz), "--size=%llu", (unsigned long long)size);
	snprintf(rt, sizeof(rt), "--runtime=%lldms", (long long)(seconds * 1000 + 0.5));	/* (fio reads a bare 0.3 as 0 s) */
	snprintf(qd, sizeof(qd), "--iodepth=%d", QD);
	snprintf(dir, sizeof(dir), "--direct=%d", direct);
	pid = fork();
	if (pid == 0) {
		char rw[32], fn[PATH_MAX + 16];

		dup2(fd, 1);
		snprintf(rw, sizeof(rw), "--rw=%s", p->fio_rw);
		snprintf(fn, sizeof(fn), "--filename=%s", file);
		execlp("fio", "fio", "--name=disco", fn, "--ioengine=io_uring", rw, "--bs=4k", qd, sz, rt,
		       "--time_based", dir, "--randrepeat=0",
		       direct ? "--invalidate=1" : "--invalidate=0",	/* fio drops the cache otherwise; vdisk does not */ "--output-format=json", (char *)NULL);
		_exit(127);
	}
	close(fd);
	waitpid(pid, &st, 0);
	o = json_load_file(cmd_out, 0, NULL);
	unlink(cmd_out);
	if (!WIFEXITED(st) || WEXITSTATUS(st) || !o) {
		fprintf(stderr, "disco bench disk: fio failed on %s (%s)\n", p->name,
			WIFEXITED(st) && WEXITSTATUS(st) == 127 ? "not runnable" : "see its messages above");
		json_decref(o);
		return -1;
	}
	job = json_array_get(json_object_get(o, "jobs"), 0);
	iops = json_number_value(json_object_get(json_object_get(job, p->write ? "write" : "read"), "iops"));
	json_decref(o);
	return iops;
}

static int make_file(const char *path, uint64_t size)
{
	uint8_t *buf = malloc(1 << 20);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), r = 0;

	if (fd < 0 || !buf) {
		free(buf);
		return -1;
	}
	for (uint64_t off = 0; off < size && r == 0; off += 1 << 20) {
		for (unsigned i = 0; i < (1 << 20); i++)
			buf[i] = (uint8_t)(off / 4096 * 31 + i);
		r = pwrite(fd, buf, 1 << 20, off) == (1 << 20) ? 0 : -1;
	}
	fsync(fd);
	close(fd);
	free(buf);
	return r;
}

/* disco run INI (report at REP), the guests' console into OUT (NULL: dropped). Its exit status, -1 if killed. */
static int run_machine(const char *ini, const char *rep, const char *out)
{
	int st;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0)
			dup2(fd, 1);
		execl("/proc/self/exe", "disco", "run", "--quiet", "--report", rep, ini, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/*
 * The streaming figure: one VM on one node reads the base img (bytes long)
 * front to back, kib KiB per request, into one buffer (guest:disk_sum,
 * temporary overlay), with the disk cache off or on. Every block is read
 * once, so the cache can only cost here: what it costs a guest streaming
 * through its disk. Returns the guest's MB/s inside its reads, or -1
 * (message printed).
 */
static double stream_case(const char *dir, const char *img, uint64_t bytes, unsigned kib, bool cache)
{
	char gdir[PATH_MAX], elf[PATH_MAX + 32], ini[PATH_MAX], rep[PATH_MAX], out[PATH_MAX], line[256];
	unsigned long long got = 0, us = 0;
	double mbps = -1;
	int rc;
	FILE *f;

	disco_guest_dir(gdir, sizeof(gdir));
	snprintf(elf, sizeof(elf), "%s/disk_sum.elf", gdir);
	if (access(elf, R_OK)) {
		fprintf(stderr, "disco bench disk: %s is not built: no streaming figure\n", elf);
		return -1;
	}
	snprintf(ini, sizeof(ini), "%s/disco-bench-stream-%d.ini", dir, (int)getpid());
	snprintf(rep, sizeof(rep), "%s/disco-bench-stream-%d.json", dir, (int)getpid());
	snprintf(out, sizeof(out), "%s/disco-bench-stream-%d.out", dir, (int)getpid());
	f = fopen(ini, "w");
	if (!f)
		return -1;
	fprintf(f, "[machine]\nnodes = 1\nmem = 96M\ntimeout = 300s\ndisk_cache = %s\n"
		"[vm s]\nmem = 16M\nkernel = %s\nappend = chunk=%u\ndisk = %s\ndisk_overlay = temp\n",
		cache ? "on" : "off", elf, kib, img);
	fclose(f);
	rc = run_machine(ini, rep, out);
	f = fopen(out, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "disk_sum: cksum %*u %llu, %llu us", &got, &us) == 2)
			break;
	if (f)
		fclose(f);
	if (rc || got != bytes || !us)
		fprintf(stderr, "disco bench disk: the streaming run (disk cache %s) failed (exit %d, %llu of %llu bytes read)\n",
			cache ? "on" : "off", rc, got, (unsigned long long)bytes);
	else
		mbps = (double)got / (double)us;
	unlink(ini);
	unlink(rep);
	unlink(out);
	return mbps;
}

/*
 * The memory figure: nvms VMs read the same 8 blocks of one base
 * (guest:disk_share, temporary overlays) and the run's report says how many
 * machine pages hold them: (0) on one node; (1) each VM on nodes 0 and 1
 * of a 2-node machine, one vCPU on each, its devices on node 0; (2) each VM
 * on one node, alternately 0 and 1, with disk_cache = machine (the first
 * reads first, the others 300 ms later); (3) the same with disk_cache = on
 * (one copy per node). Returns {cache_pages,
 * memory_saved_bytes} summed over the nodes, or NULL (message printed).
 */
static json_t *memory_case(const char *dir, unsigned nvms, int how)
{
	char gdir[PATH_MAX], elf[PATH_MAX + 32], img[PATH_MAX], ini[PATH_MAX], rep[PATH_MAX];
	json_t *r, *disk = NULL;
	FILE *f;
	int st;

	disco_guest_dir(gdir, sizeof(gdir));
	snprintf(elf, sizeof(elf), "%s/disk_share.elf", gdir);
	if (access(elf, R_OK)) {
		fprintf(stderr, "disco bench disk: %s is not built: no memory figure\n", elf);
		return NULL;
	}
	snprintf(img, sizeof(img), "%s/disco-bench-share-%d.img", dir, (int)getpid());
	snprintf(ini, sizeof(ini), "%s/disco-bench-share-%d.ini", dir, (int)getpid());
	snprintf(rep, sizeof(rep), "%s/disco-bench-share-%d.json", dir, (int)getpid());
	f = fopen(img, "w");
	if (!f)
		return NULL;
	for (unsigned sec = 0; sec < 64; sec++) {	/* the pattern disk_share checks */
		char b[512];

		memset(b, '.', sizeof(b));
		b[snprintf(b, sizeof(b), "disco sector %06u", sec)] = '.';
		b[511] = '\n';
		fwrite(b, 1, sizeof(b), f);
	}
	fclose(f);
	f = fopen(ini, "w");
	if (!f)
		goto out;
	fprintf(f, "[machine]\nnodes = %u\nmem = %uM\ntimeout = 60s\n%s", how ? 2 : 1, 32 + 16 * nvms,
		how == 2 ? "disk_cache = machine\n" : "");
	for (unsigned i = 0; i < nvms; i++) {
		fprintf(f, "[vm v%u]\nmem = 16M\nkernel = %s\ndisk = %s\ndisk_overlay = temp\n", i, elf, img);
		if (how == 1)
			fprintf(f, "cpus = 2\nnodes = 0,1\n");
		else if (how >= 2)
			fprintf(f, "nodes = %u\n%s", i % 2, i ? "append = delay_ms=300\n" : "");
	}
	fclose(f);
	st = run_machine(ini, rep, NULL);
	r = json_load_file(rep, 0, NULL);
	if (st || !r)
		fprintf(stderr, "disco bench disk: the %u-VM run failed (exit %d)\n", nvms, st);
	else {
		json_int_t pages = 0, saved = 0;
		size_t k;
		json_t *n;

		json_array_foreach(json_object_get(r, "nodes"), k, n) {
			pages += json_integer_value(json_object_get(json_object_get(n, "disk"), "cache_pages"));
			saved += json_integer_value(json_object_get(json_object_get(n, "disk"), "memory_saved_bytes"));
		}
		disk = json_pack("{s:I, s:I}", "cache_pages", pages, "memory_saved_bytes", saved);
	}
	json_decref(r);
out:
	unlink(img);
	unlink(ini);
	unlink(rep);
	return disk;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: disco bench disk [--json] [--seconds S] [--size MIB] [--direct] [--dir DIR] [--vms N]\n"
		"                       [--stream-kib K]\n"
		"  4 KiB sequential and random reads (through an empty overlay: the base image's\n"
		"  blocks) and writes (a raw image, in place) through vdisk's io_uring server and\n"
		"  through fio --ioengine=io_uring on the same file, queue depth %d, IOPS of both and\n"
		"  the ratio vdisk/fio, the better of two runs of each. Defaults: 0.5 s per run, a 64 MiB file in /var/tmp,\n"
		"  page cache on (--direct: O_DIRECT on both sides). fio: script/bootstrap --bench.\n"
		"  Then the memory figure: N VMs (default 4) on one node read the same 8 blocks of a\n"
		"  base (guest:disk_share): machine pages holding them, against N x 8 without sharing;\n"
		"  the same on 2 nodes. Then the streaming figure: a VM reads the whole file front to\n"
		"  back, K KiB per request (--stream-kib K, default 64; 0: none), with the disk cache\n"
		"  off and on (guest:disk_sum): its MB/s inside the reads, and on/off.\n", QD);
}

int bench_disk(int argc, char **argv, int json)
{
	double seconds = 0.5;
	uint64_t size = 64ull << 20;
	const char *dir = "/var/tmp";
	bool direct = false, have_fio;
	unsigned nvms = 4, stream_kib = 64;
	char base[PATH_MAX], ovl[PATH_MAX], err[512];
	struct vdisk_server *srv;
	struct vdisk_opts o = { 0 };
	uint8_t *bufs = NULL;
	json_t *rows;
	int rc = 1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--size") && i + 1 < argc)
			size = strtoull(argv[++i], NULL, 10) << 20;
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "--vms") && i + 1 < argc)
			nvms = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--stream-kib") && i + 1 < argc)
			stream_kib = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--direct"))
			direct = true;
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--json") && strcmp(argv[i], "disk")) {
			fprintf(stderr, "disco bench disk: unexpected argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (seconds <= 0 || size < (1 << 20) || nvms < 1 || nvms > 64 || stream_kib % 4 || stream_kib > 256) {
		fprintf(stderr, "disco bench disk: --seconds must be > 0, --size at least 1 (MiB), --vms 1 to 64, "
			"--stream-kib a multiple of 4 up to 256 (0: no streaming figure)\n");
		return 2;
	}
	have_fio = launcher_have_program("fio");
	if (!have_fio)
		fprintf(stderr, "disco bench disk: fio is not installed (script/bootstrap --bench): "
			"vdisk's figures only, no ratios\n");
	snprintf(base, sizeof(base), "%s/disco-bench-disk-%d.img", dir, (int)getpid());
	snprintf(ovl, sizeof(ovl), "%s/disco-bench-disk-%d.ovl", dir, (int)getpid());
	srv = vdisk_server_new(256, err, sizeof(err));
	if (!srv) {
		fprintf(stderr, "disco bench disk: %s\n", err);
		return 1;
	}
	bufs = aligned_alloc(4096, QD * BS);
	if (!bufs) {
		vdisk_server_free(srv);
		return 1;
	}
	/* fixed buffers: the kernel maps them once, not per request (what helps most with O_DIRECT) */
	if (vdisk_server_register_buffers(srv, bufs, QD * BS) < 0)
		fprintf(stderr, "disco bench disk: buffers not registered (io_uring refused): plain reads and writes\n");
	if (make_file(base, size) < 0) {
		fprintf(stderr, "disco bench disk: cannot write %s: %s\n", base, strerror(errno));
		goto out_srv;
	}
	if (vdisk_create(ovl, base, err, sizeof(err)) < 0) {
		fprintf(stderr, "disco bench disk: %s\n", err);
		goto out_files;
	}
	o.direct = direct;
	rows = json_object();
	if (!json)
		printf("%-10s %12s %12s %8s\n", "pattern", "vdisk_iops", "fio_iops", "ratio");
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		const struct pattern *p = &patterns[i];
		struct vdisk *d = vdisk_open(srv, p->write ? base : ovl, &o, err, sizeof(err));
		double v, f = -1;

		if (!d) {
			fprintf(stderr, "disco bench disk: %s\n", err);
			json_decref(rows);
			goto out_files;
		}
		/*
		 * Each side twice, alternating, the better run of each kept: on a
		 * shared machine one run is easily disturbed, and whatever warms
		 * up below the file helps both sides alike.
		 */
		v = -1;
		for (int rep = 0; rep < 2; rep++) {
			double fv = have_fio ? fio_case(base, size, p, seconds, direct) : -1;
			double vv = vdisk_case(srv, d, p, seconds, bufs);

			if (fv > f)
				f = fv;
			if (vv > v)
				v = vv;
		}
		vdisk_close(d);
		if (v < 0) {
			fprintf(stderr, "disco bench disk: vdisk failed on %s\n", p->name);
			json_decref(rows);
			goto out_files;
		}
		if (!json && f > 0)
			printf("%-10s %12.0f %12.0f %8.2f\n", p->name, v, f, v / f);
		else if (!json)
			printf("%-10s %12.0f %12s %8s\n", p->name, v, "-", "-");
		json_object_set_new(rows, p->name, f > 0 ? json_pack("{s:f, s:f, s:f}", "vdisk_iops", v, "fio_iops", f,
								      "ratio", v / f)
							 : json_pack("{s:f, s:n, s:n}", "vdisk_iops", v, "fio_iops", "ratio"));
	}
	json_t *memo = json_null(), *memo_span = json_null(), *memo_machine = json_null(), *memo_node = json_null();
	static const char *const how_name[] = { "", " (2 nodes)", " (2 nodes, disk_cache = machine)",
						" (2 nodes, disk_cache = on)" };
	static const char *const how_vms[] = { "", ", each on nodes 0 and 1,", ", on nodes 0 and 1 in turn,",
					       ", on nodes 0 and 1 in turn," };

	for (int how = 0; how < 4; how++) {
		json_t *mem = memory_case(dir, nvms, how), *fig;

		if (!mem)
			continue;
		json_int_t pages = json_integer_value(json_object_get(mem, "cache_pages"));
		json_int_t saved = json_integer_value(json_object_get(mem, "memory_saved_bytes"));

		fig = json_pack("{s:i, s:i, s:I, s:I, s:I}", "vms", (int)nvms, "blocks_per_vm", 8,
			      "cache_pages", pages, "pages_without_sharing", (json_int_t)(8 * nvms),
			      "memory_saved_bytes", saved);
		*(how == 0 ? &memo : how == 1 ? &memo_span : how == 2 ? &memo_machine : &memo_node) = fig;
		if (!json)
			printf("memory%s: %u VMs%s read the same 8 blocks: %lld machine pages hold them (%u without sharing), "
			       "%lld KiB saved\n", how_name[how], nvms, how_vms[how],
			       (long long)pages, 8 * nvms, (long long)saved / 1024);
		json_decref(mem);
	}
	/* the streaming figure: off and on twice, alternating, the better run of each */
	json_t *stream = json_null();
	double off = -1, on = -1;

	for (int rep = 0; stream_kib && rep < 2; rep++) {
		double run_off = stream_case(dir, base, size, stream_kib, false);
		double run_on = run_off > 0 ? stream_case(dir, base, size, stream_kib, true) : -1;

		if (run_off < 0 || run_on < 0) {
			off = on = -1;
			break;
		}
		off = run_off > off ? run_off : off;
		on = run_on > on ? run_on : on;
	}
	if (off > 0 && on > 0) {
		stream = json_pack("{s:I, s:i, s:f, s:f, s:f}", "bytes", (json_int_t)size, "request_kib", (int)stream_kib,
				   "off_mbps", off, "on_mbps", on, "ratio", on / off);
		if (!json)
			printf("stream: a VM reads the %llu MiB file front to back in %u KiB requests: %.0f MB/s with the "
			       "disk cache on, %.0f off, on/off %.2f\n", (unsigned long long)(size >> 20), stream_kib, on, off,
			       on / off);
	}
	if (json) {
		json_t *top = json_pack("{s:o, s:i, s:i, s:I, s:b, s:f, s:b, s:o, s:o, s:o, s:o, s:o}", "patterns", rows,
					"block_size", BS, "queue_depth", QD, "file_bytes", (json_int_t)size, "direct", direct,
					"seconds", seconds, "fio", have_fio, "memory", memo, "memory_span", memo_span,
					"memory_machine", memo_machine, "memory_per_node", memo_node, "stream", stream);
		char *s = json_dumps(top, JSON_INDENT(2));

		puts(s);
		free(s);
		json_decref(top);
	} else {
		printf("(reads through an empty overlay, i.e. the base image; writes in place on a raw image;\n"
		       " %s, %g s per side; target: reads >= 0.8 of fio)\n", direct ? "O_DIRECT" : "page cache", seconds);
		json_decref(rows);
		json_decref(memo);
		json_decref(memo_span);
		json_decref(memo_machine);
		json_decref(memo_node);
		json_decref(stream);
	}
	rc = 0;
out_files:
	unlink(ovl);
	unlink(base);
out_srv:
	vdisk_server_free(srv);
	free(bufs);
	return rc;
}
