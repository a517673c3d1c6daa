/*
 * cohtest.c — disco-cohtest: the coherence engine on real ranks under
 * mpirun (one rank = one node, coh_mem over coh_fabric), as a test and as
 * a benchmark.
 *
 *   disco-cohtest sc    [options]   random reads, writes and atomic
 *       increments from two "vCPUs" per node (non-blocking coh_mem_get),
 *       then MP, SB and IRIW litmus shapes for --litmus iterations, then a
 *       page copy (recall + RMA); exits 0 when counters are exact, no reader
 *       saw a value go back, no litmus showed a forbidden outcome and the
 *       pages copied right; 1 otherwise.
 *   disco-cohtest bench [options]   node 0 measures (3 nodes or more for
 *       read_dirty_us) and prints one JSON object (docs/coherence.md).
 *
 * Options: --provider P (shm, tcp, or a libfabric name; default FI_PROVIDER),
 * --ops N (per vCPU, sc), --litmus N, --line BYTES, --cache BYTES,
 * --ways W, --hot (every increment on one line: the livelock check),
 * --idle-check (a waiting node must sleep: at most a quarter of the CPU
 * while node 0 idles for a second), --samples N (bench), --time-limit S
 * (fail instead of hanging), --spin-us U
 * (poll this long after the last message before sleeping: 50 for sc, 2000
 * for bench, whose numbers should not include wake-up times).
 *
 * Nodes synchronise with a barrier over the fabric (type COH_MSG_USER):
 * a node in an MPI collective would stop serving the protocol for others.
 * Waiting nodes sleep on the fabric's wait fd (coh_fabric_sleep_prepare +
 * epoll), never spin for long: ranks may outnumber cores.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <mpi.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "coherence/coh.h"
#include "coherence/coh_mem.h"
#include "common/log.h"

#define DRV_BARRIER	COH_MSG_USER
#define MEM_BYTES	(4u << 20)

struct drv {
	unsigned self, n;
	struct coh_fabric *fab;
	struct coh_mem *m;
	uint8_t *mem;
	int epfd;
	unsigned bar_epoch, bar_count[2];
	unsigned pongs;
	uint64_t last_pong;
	uint64_t deadline;
	uint64_t rng;
	/* options */
	const char *provider;
	unsigned ops, litmus, line, ways, samples, spin_us;
	size_t cache;
	bool hot, idle_check;
	int failures;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd(struct drv *d)
{
	uint64_t x = d->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return d->rng = x;
}

static void handler(void *opaque, unsigned src, unsigned type, const void *p, size_t len)
{
	struct drv *d = opaque;
	if (type >= COH_MSG_PROTO && type < COH_MSG_PROTO_END) {
		if (d->m)
			coh_mem_handle(d->m, src, type, p, len);
		return;
	}
	if (type == DRV_BARRIER && len == sizeof(unsigned)) {
		unsigned e;
		memcpy(&e, p, sizeof(e));
		d->bar_count[e & 1]++;
		return;
	}
	if (type == COH_MSG_PONG) {
		d->pongs++;
		d->last_pong = now_ns();
	}
}

static void check_deadline(struct drv *d)
{
	if (d->deadline && now_ns() > d->deadline) {
		fprintf(stderr, "cohtest[node %u]: time limit reached: livelock or deadlock\n", d->self);
		MPI_Abort(MPI_COMM_WORLD, 3);
	}
}

/* Serve the fabric and the engine until *pending clears (or *counter >= target). */
static void serve_until(struct drv *d, const int *pending, const unsigned *counter, unsigned target)
{
	uint64_t last = now_ns();
	for (;;) {
		if (pending && !*pending)
			return;
		if (counter && *counter >= target)
			return;
		int k = coh_mem_poll(d->m);
		if (k < 0) {
			fprintf(stderr, "cohtest[node %u]: fabric failed\n", d->self);
			MPI_Abort(MPI_COMM_WORLD, 2);
		}
		uint64_t t = now_ns();
		if (k > 0) {
			last = t;
			continue;
		}
		check_deadline(d);
		if (t - last < (uint64_t)d->spin_us * 1000) {
			sched_yield();	/* ranks may outnumber cores: let the peer we wait for run */
			continue;
		}
		if (coh_fabric_sleep_prepare(d->fab) != 0)
			continue;
		int ms = coh_mem_busy(d->m) ? 1 : 100, cap = coh_fabric_max_sleep_ms(d->fab);
		if (cap >= 0 && ms > cap)
			ms = cap;
		struct epoll_event ev[2];
		epoll_wait(d->epfd, ev, 2, ms);
		coh_fabric_sleep_done(d->fab);
		last = now_ns();
	}
}

static void barrier(struct drv *d)
{
	unsigned e = d->bar_epoch++;
	for (unsigned i = 0; i < d->n; i++)
		if (i != d->self && coh_fabric_send(d->fab, i, DRV_BARRIER, &e, sizeof(e)))
			MPI_Abort(MPI_COMM_WORLD, 2);
	serve_until(d, NULL, &d->bar_count[e & 1], d->n - 1);
	d->bar_count[e & 1] -= d->n - 1;
}

static uint64_t *get(struct drv *d, coh_maddr_t a, int mode)
{
	void *p;
	int rc = coh_mem_get_wait(d->m, a, mode, &p, 60000);
	if (rc) {
		fprintf(stderr, "cohtest[node %u]: access to node %u offset %#" PRIx64 " failed: %s\n", d->self,
			COH_MADDR_NODE(a), (uint64_t)COH_MADDR_OFF(a), strerror(-rc));
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	return p;
}

/* ---- sc: random operations from two vCPUs per node ---- */

#define NLOC	16
#define VCPUS	2

enum { OP_R, OP_W, OP_INC };
struct vcpu {
	unsigned id, done;
	struct coh_req req;
	bool waiting;
	uint64_t seq;
	uint64_t last[NLOC][8];		/* last value read per location and slot (coherence) */
};

static coh_maddr_t loc_addr(struct drv *d, unsigned l)
{
	if (d->hot)
		return COH_MADDR(l % 2, 0);
	/* spread over the homes and pages: 3 lines apart so slots stay in their location */
	return COH_MADDR(l % d->n, (uint64_t)(l / d->n) * 3 * d->line + (l & 2) * 8192);
}

/* Run one operation: 0 done, -EAGAIN waiting. */
static int vcpu_op(struct drv *d, struct vcpu *v, unsigned kind, unsigned l, unsigned slot)
{
	coh_maddr_t a = loc_addr(d, l) + (kind == OP_INC ? 0 : 8 + 8 * slot);
	void *p;
	int rc = coh_mem_get(d->m, a, kind == OP_R ? COH_READ : COH_WRITE, &p, &v->req);
	if (rc == -EAGAIN)
		return rc;
	if (rc) {
		fprintf(stderr, "cohtest[node %u]: coh_mem_get: %s\n", d->self, strerror(-rc));
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	uint64_t *w = p;
	switch (kind) {
	case OP_INC:
		*w += 1;
		break;
	case OP_W:
		*w = ++v->seq;
		break;
	case OP_R:
		if (*w < v->last[l][slot]) {
			fprintf(stderr, "cohtest[node %u]: location %u slot %u went back from %" PRIu64 " to %" PRIu64 "\n",
				d->self, l, slot, v->last[l][slot], *w);
			d->failures++;
		}
		v->last[l][slot] = *w;
		break;
	}
	return 0;
}

static int phase_random(struct drv *d)
{
	struct vcpu *v = calloc(VCPUS, sizeof(*v));
	if (!v)
		return -ENOMEM;
	/* each (node, vcpu) writes its own slot: slot = (self * VCPUS + id) % 8, the seq is per writer */
	unsigned writers = d->n * VCPUS;
	struct { unsigned kind, l, slot; } cur[VCPUS];
	for (unsigned i = 0; i < VCPUS; i++)
		v[i].id = i;
	unsigned incs = 0;
	for (unsigned i = 0; i < VCPUS; i++)
		cur[i].kind = UINT32_MAX;
	unsigned finished = 0;
	uint64_t last = now_ns();
	while (finished < VCPUS) {
		bool did = false;
		for (unsigned i = 0; i < VCPUS; i++) {
			struct vcpu *c = &v[i];
			if (c->done >= d->ops || (c->waiting && c->req.pending))
				continue;
			if (cur[i].kind == UINT32_MAX) {
				unsigned r = (unsigned)(rnd(d) % 10);
				unsigned mine = d->self * VCPUS + i;
				cur[i].l = (unsigned)(rnd(d) % NLOC);
				if (r < 4 || d->hot) {
					cur[i].kind = OP_INC;
				} else if (r < 6 && mine < 8) {
					cur[i].kind = OP_W;
					cur[i].slot = mine;
				} else {
					cur[i].kind = OP_R;
					cur[i].slot = (unsigned)(rnd(d) % (writers < 8 ? writers : 8));
				}
			}
			int rc = vcpu_op(d, c, cur[i].kind, cur[i].l, cur[i].slot);
			did = true;
			if (rc == -EAGAIN) {
				c->waiting = true;
				continue;
			}
			c->waiting = false;
			if (cur[i].kind == OP_INC)
				incs++;
			cur[i].kind = UINT32_MAX;
			if (++c->done == d->ops)
				finished++;
		}
		int k = coh_mem_poll(d->m);
		if (k < 0)
			MPI_Abort(MPI_COMM_WORLD, 2);
		uint64_t t = now_ns();
		if (did || k > 0) {
			last = t;
			continue;
		}
		check_deadline(d);
		if (t - last < (uint64_t)d->spin_us * 1000 || coh_fabric_sleep_prepare(d->fab) != 0)
			continue;
		struct epoll_event ev[2];
		int cap = coh_fabric_max_sleep_ms(d->fab), ms = coh_mem_busy(d->m) ? 1 : 100;
		epoll_wait(d->epfd, ev, 2, cap >= 0 && cap < ms ? cap : ms);
		coh_fabric_sleep_done(d->fab);
		last = now_ns();
	}
	free(v);
	barrier(d);
	/* node 0 sums the counters through the protocol; everybody's increments are known */
	unsigned total = 0;
	MPI_Allreduce(&incs, &total, 1, MPI_UNSIGNED, MPI_SUM, MPI_COMM_WORLD);
	if (d->self == 0) {
		uint64_t sum = 0;
		unsigned nloc = d->hot ? 2 : NLOC;
		for (unsigned l = 0; l < nloc; l++)
			sum += *get(d, loc_addr(d, l), COH_READ);
		if (sum != total) {
			fprintf(stderr, "cohtest: counters sum to %" PRIu64 ", %u increments were made\n", sum, total);
			d->failures++;
		} else {
			printf("random: %u increments exact over %u nodes\n", total, d->n);
		}
	}
	barrier(d);
	return 0;
}

/* ---- litmus shapes: fresh lines every iteration ---- */

static void warm(struct drv *d, coh_maddr_t x, coh_maddr_t y)
{
	if (rnd(d) & 1)
		(void)*get(d, x, COH_READ);
	if (rnd(d) & 1)
		(void)*get(d, y, COH_READ);
}

static void phase_litmus(struct drv *d)
{
	unsigned bad_mp = 0, bad_sb = 0, bad_iriw = 0, seen_sb[4] = { 0 };
	uint64_t base = 1u << 20;	/* litmus lines from 1 MiB up in each node's memory */
	unsigned per_iter = 2 * d->line;
	unsigned iters = d->litmus;
	if ((uint64_t)iters * per_iter > MEM_BYTES - base - 4096)
		iters = (unsigned)((MEM_BYTES - base - 4096) / per_iter);
	for (unsigned it = 0; it < iters; it++) {
		uint64_t off = base + (uint64_t)it * per_iter;
		coh_maddr_t x = COH_MADDR(it % d->n, off), y = COH_MADDR((it + 1) % d->n, off + d->line);
		warm(d, x, y);
		barrier(d);
		unsigned shape = it % 3;
		if (shape == 2 && d->n < 4)
			shape = it & 1;
		uint64_t r1, r2;
		switch (shape) {
		case 0:	/* MP: 0 writes x then y; 1 reads y then x */
			if (d->self == 0) {
				*get(d, x, COH_WRITE) = 1;
				*get(d, y, COH_WRITE) = 1;
			} else if (d->self == 1) {
				r1 = *get(d, y, COH_READ);
				r2 = *get(d, x, COH_READ);
				bad_mp += r1 == 1 && r2 == 0;
			}
			break;
		case 1:	/* SB: 0 writes x reads y; 1 writes y reads x; node 0 gathers */
			if (d->self < 2) {
				*get(d, d->self ? y : x, COH_WRITE) = 1;
				r1 = *get(d, d->self ? x : y, COH_READ);
				uint64_t *slot = (uint64_t *)(d->mem + 4096 * 3) + (it % 64);
				*slot = r1;	/* private scratch outside the protocol's test lines */
			}
			break;
		case 2:	/* IRIW: 0 writes x, 1 writes y, 2 reads x y, 3 reads y x */
			if (d->self == 0)
				*get(d, x, COH_WRITE) = 1;
			else if (d->self == 1)
				*get(d, y, COH_WRITE) = 1;
			else if (d->self == 2 || d->self == 3) {
				coh_maddr_t a = d->self == 2 ? x : y, b = d->self == 2 ? y : x;
				r1 = *get(d, a, COH_READ);
				r2 = *get(d, b, COH_READ);
				uint64_t *slot = (uint64_t *)(d->mem + 4096 * 3) + (it % 64);
				*slot = r1 * 2 + r2;
			}
			break;
		}
		barrier(d);
		if (shape >= 1) {
			/* collect SB / IRIW results: each reader's scratch word, by MPI after the barrier */
			uint64_t mine = 0, all[1024];
			if ((shape == 1 && d->self < 2) || (shape == 2 && (d->self == 2 || d->self == 3)))
				mine = ((uint64_t *)(d->mem + 4096 * 3))[it % 64];
			MPI_Gather(&mine, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
			if (d->self == 0 && shape == 1) {
				seen_sb[all[0] * 2 + all[1]]++;
				bad_sb += all[0] == 0 && all[1] == 0;
			}
			if (d->self == 0 && shape == 2)
				bad_iriw += all[2] == 2 && all[3] == 2;	/* saw x then not y, and y then not x */
		}
	}
	unsigned bad[3] = { bad_mp, bad_sb, bad_iriw }, tot[3];
	MPI_Reduce(bad, tot, 3, MPI_UNSIGNED, MPI_SUM, 0, MPI_COMM_WORLD);
	if (d->self == 0) {
		printf("litmus: %u iterations: MP %u, SB %u, IRIW %u forbidden outcomes (SB seen: 00 %u 01 %u 10 %u 11 %u)\n",
		       iters, tot[0], tot[1], tot[2], seen_sb[0], seen_sb[1], seen_sb[2], seen_sb[3]);
		if (tot[0] || tot[1] || tot[2])
			d->failures++;
	}
	barrier(d);
}

/* ---- pages: every node copies its successor's page 2 (dirty lines elsewhere recalled) ---- */

static void phase_pages(struct drv *d)
{
	uint64_t pg = 2 * 4096;
	unsigned lines = 4096 / d->line;
	/* everybody writes a word of every line of every node's page 2, word = node's own */
	for (unsigned h = 0; h < d->n; h++)
		for (unsigned l = 0; l < lines; l++)
			if (l % d->n == d->self)
				*get(d, COH_MADDR(h, pg + (uint64_t)l * d->line), COH_WRITE) = 0xc0de0000u + h * 4096 + l;
	barrier(d);
	unsigned src = (d->self + 1) % d->n;
	int rc = coh_mem_page_copy_wait(d->m, COH_MADDR(src, pg), 5 * 4096);
	if (rc) {
		fprintf(stderr, "cohtest[node %u]: page copy: %s\n", d->self, strerror(-rc));
		d->failures++;
	} else {
		for (unsigned l = 0; l < lines; l++) {
			uint64_t v = *(uint64_t *)(d->mem + 5 * 4096 + (uint64_t)l * d->line);
			if (v != 0xc0de0000u + src * 4096 + l) {
				fprintf(stderr, "cohtest[node %u]: copied page line %u holds %#" PRIx64 "\n", d->self, l, v);
				d->failures++;
				break;
			}
		}
	}
	barrier(d);
}

/*
 * idle: node 0 stops serving for a second while every other node waits for
 * it in a barrier; a waiting node must sleep (ranks outnumber cores here),
 * so it may use a small fraction of that second of CPU.
 */
static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
	       ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static void phase_idle(struct drv *d)
{
	barrier(d);
	double c0 = cpu_s();
	uint64_t t0 = now_ns();
	if (d->self == 0)
		usleep(1000000);
	barrier(d);
	double used = cpu_s() - c0, wall = (double)(now_ns() - t0) / 1e9;
	if (d->self != 0 && used > 0.25 * wall) {
		fprintf(stderr, "cohtest[node %u]: used %.2f s of CPU waiting %.2f s for an idle node: it does not sleep\n",
			d->self, used, wall);
		d->failures++;
	}
	double worst = 0;
	if (d->self == 0)
		used = 0;
	MPI_Reduce(&used, &worst, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
	if (d->self == 0)
		printf("idle: waiting nodes used at most %.3f s of CPU in %.2f s\n", worst, wall);
}

/* ---- bench ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double median_us(uint64_t *v, unsigned k)
{
	qsort(v, k, sizeof(*v), cmp_u64);
	return (double)v[k / 2] / 1e3;
}

static void bench(struct drv *d)
{
	unsigned k = d->samples;
	uint64_t *t = calloc(k, sizeof(*t));
	if (!t)
		MPI_Abort(MPI_COMM_WORLD, 2);
	double rtt = 0, clean = 0, dirty = -1, inval = 0, tput = 0;
	/* regions in node 1's memory, k lines each */
	uint64_t r_clean = 0, r_dirty = (uint64_t)k * d->line, r_inval = 2ull * k * d->line;
	if ((uint64_t)3 * k * d->line > MEM_BYTES / 2) {
		fprintf(stderr, "cohtest: --samples too large for the memory\n");
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	barrier(d);
	/*
	 * 1-2. the transport's round trip and the clean remote read miss (two
	 * hops), interleaved so that both see the same machine load
	 */
	if (d->self == 0) {
		uint64_t *t2 = calloc(k, sizeof(*t2));
		if (!t2)
			MPI_Abort(MPI_COMM_WORLD, 2);
		for (unsigned i = 0; i < k; i++) {
			uint64_t t0 = now_ns();
			unsigned want = d->pongs + 1;
			coh_fabric_send(d->fab, 1, COH_MSG_PING, &t0, sizeof(t0));
			serve_until(d, NULL, &d->pongs, want);
			t[i] = d->last_pong - t0;
			t0 = now_ns();
			(void)*get(d, COH_MADDR(1, r_clean + (uint64_t)i * d->line), COH_READ);
			t2[i] = now_ns() - t0;
		}
		rtt = median_us(t, k);
		clean = median_us(t2, k);
		free(t2);
	}
	barrier(d);
	/* 3. dirty remote read miss: node 2 owns the lines, three hops */
	if (d->n >= 3) {
		if (d->self == 2)
			for (unsigned i = 0; i < k; i++)
				*get(d, COH_MADDR(1, r_dirty + (uint64_t)i * d->line), COH_WRITE) = i;
		barrier(d);
		if (d->self == 0) {
			for (unsigned i = 0; i < k; i++) {
				uint64_t t0 = now_ns();
				(void)*get(d, COH_MADDR(1, r_dirty + (uint64_t)i * d->line), COH_READ);
				t[i] = now_ns() - t0;
			}
			dirty = median_us(t, k);
		}
		barrier(d);
	}
	/* 4. write miss with sharers to invalidate: every other node reads the lines first */
	if (d->self != 0 && d->self != 1)
		for (unsigned i = 0; i < k; i++)
			(void)*get(d, COH_MADDR(1, r_inval + (uint64_t)i * d->line), COH_READ);
	barrier(d);
	if (d->self == 0) {
		for (unsigned i = 0; i < k; i++) {
			uint64_t t0 = now_ns();
			*get(d, COH_MADDR(1, r_inval + (uint64_t)i * d->line), COH_WRITE) = 1;
			t[i] = now_ns() - t0;
		}
		inval = median_us(t, k);
	}
	barrier(d);
	/* 5. throughput: 16 misses in flight to fresh lines of node 1 */
	if (d->self == 0) {
		enum { W = 16 };
		struct coh_req rq[W];
		memset(rq, 0, sizeof(rq));
		unsigned issued = 0, done = 0, nl = (MEM_BYTES / 2) / d->line;
		uint64_t base = MEM_BYTES / 2, t0 = now_ns();
		unsigned slot_line[W];
		for (unsigned s = 0; s < W; s++)
			slot_line[s] = UINT32_MAX;
		while (done < nl) {
			for (unsigned s = 0; s < W; s++) {
				if (rq[s].pending)
					continue;
				if (slot_line[s] != UINT32_MAX) {
					void *p;
					if (coh_mem_get(d->m, COH_MADDR(1, base + (uint64_t)slot_line[s] * d->line), COH_READ, &p,
							&rq[s]) == -EAGAIN)
						continue;
					done++;
					slot_line[s] = UINT32_MAX;
				}
				if (issued < nl) {
					void *p;
					slot_line[s] = issued++;
					if (coh_mem_get(d->m, COH_MADDR(1, base + (uint64_t)slot_line[s] * d->line), COH_READ, &p,
							&rq[s]) == 0) {
						done++;
						slot_line[s] = UINT32_MAX;
					}
				}
			}
			if (coh_mem_poll(d->m) < 0)
				MPI_Abort(MPI_COMM_WORLD, 2);
			check_deadline(d);
		}
		tput = (double)nl / ((double)(now_ns() - t0) / 1e9);
	}
	barrier(d);
	if (d->self == 0) {
		struct coh_mem_stats st;
		coh_mem_get_stats(d->m, &st);
		printf("{\"provider\": \"%s\", \"nodes\": %u, \"line_size\": %u, \"samples\": %u, "
		       "\"rtt_us\": %.2f, \"read_clean_us\": %.2f, \"read_dirty_us\": ",
		       coh_fabric_provider(d->fab), d->n, d->line, k, rtt, clean);
		if (dirty < 0)
			printf("null");
		else
			printf("%.2f", dirty);
		printf(", \"write_inval_us\": %.2f, \"ratio_clean\": %.3f, \"miss_throughput\": %.0f, "
		       "\"remote_miss_p50_us\": %.2f, \"remote_miss_p99_us\": %.2f, \"remote_miss_max_us\": %.2f}\n",
		       inval, rtt > 0 ? clean / rtt : 0.0, tput, (double)coh_mem_latency_ns(d->m, 0.5) / 1e3,
		       (double)coh_mem_latency_ns(d->m, 0.99) / 1e3, (double)st.lat_max_ns / 1e3);
		fflush(stdout);
	}
	free(t);
}

static void usage(void)
{
	fprintf(stderr, "usage: disco-cohtest sc|bench [--provider P] [--ops N] [--litmus N] [--line B] [--cache B] "
			"[--ways W] [--hot] [--idle-check] [--samples N] [--time-limit S] [--spin-us U]\n");
}

int main(int argc, char **argv)
{
	struct drv d = { .ops = 2000, .litmus = 300, .line = 128, .ways = 4, .samples = 2000, .cache = 1 << 20 };
	unsigned limit = 0;
	static const struct option lo[] = {
		{ "provider", required_argument, NULL, 'p' }, { "ops", required_argument, NULL, 'o' },
		{ "litmus", required_argument, NULL, 'l' }, { "line", required_argument, NULL, 'L' },
		{ "cache", required_argument, NULL, 'c' }, { "ways", required_argument, NULL, 'w' },
		{ "hot", no_argument, NULL, 'H' }, { "samples", required_argument, NULL, 's' },
		{ "time-limit", required_argument, NULL, 't' }, { "spin-us", required_argument, NULL, 'S' },
		{ "idle-check", no_argument, NULL, 'I' },
		{ NULL, 0, NULL, 0 },
	};
	MPI_Init(&argc, &argv);
	log_init(NULL);
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'p': d.provider = optarg; break;
		case 'o': d.ops = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'l': d.litmus = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'L': d.line = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'c': d.cache = strtoull(optarg, NULL, 0); break;
		case 'w': d.ways = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'H': d.hot = true; break;
		case 's': d.samples = (unsigned)strtoul(optarg, NULL, 0); break;
		case 't': limit = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'S': d.spin_us = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'I': d.idle_check = true; break;
		default: usage(); MPI_Finalize(); return 2;
		}
	}
	if (optind != argc - 1 || (strcmp(argv[optind], "sc") && strcmp(argv[optind], "bench"))) {
		usage();
		MPI_Finalize();
		return 2;
	}
	bool is_bench = !strcmp(argv[optind], "bench");
	if (!d.spin_us)
		d.spin_us = is_bench ? 2000 : 50;
	int rank, size;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	d.self = (unsigned)rank;
	d.n = (unsigned)size;
	log_set_node(rank);
	if (size < 2) {
		fprintf(stderr, "disco-cohtest needs 2 ranks or more\n");
		MPI_Finalize();
		return 77;
	}
	if (d.provider && !strcmp(d.provider, "tcp"))
		d.provider = "tcp;ofi_rxm";
	d.rng = 0x9e3779b97f4a7c15ull * (uint64_t)(rank + 1) + (uint64_t)time(NULL);
	if (limit)
		d.deadline = now_ns() + (uint64_t)limit * 1000000000ull;
	d.mem = aligned_alloc(4096, MEM_BYTES);
	if (!d.mem)
		MPI_Abort(MPI_COMM_WORLD, 2);
	memset(d.mem, 0, MEM_BYTES);
	char err[512] = "";
	struct coh_fabric_config fc = { .provider = d.provider, .mem = d.mem, .mem_len = MEM_BYTES };
	d.fab = coh_fabric_open(MPI_COMM_WORLD, &fc, handler, &d, err, sizeof(err));
	if (!d.fab) {
		fprintf(stderr, "cohtest[node %d]: %s\n", rank, err);
		MPI_Finalize();
		return 77;
	}
	struct coh_mem_config mc = {
		.self = d.self, .nodes = d.n, .mem = d.mem, .mem_len = MEM_BYTES,
		.line_size = d.line, .cache_bytes = d.cache, .ways = d.ways, .spin_us = d.spin_us,
	};
	int e = 0;
	d.m = coh_mem_create(d.fab, &mc, &e);
	if (!d.m) {
		fprintf(stderr, "cohtest[node %d]: coh_mem_create: %s\n", rank, strerror(-e));
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	d.epfd = epoll_create1(EPOLL_CLOEXEC);
	int fds[2], nfd = coh_fabric_wait_fds(d.fab, fds);
	for (int i = 0; i < nfd; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fds[i] };
		epoll_ctl(d.epfd, EPOLL_CTL_ADD, fds[i], &ev);
	}
	MPI_Barrier(MPI_COMM_WORLD);
	uint64_t t0 = now_ns();
	if (is_bench) {
		bench(&d);
	} else {
		phase_random(&d);
		if (d.litmus)
			phase_litmus(&d);
		phase_pages(&d);
		if (d.idle_check)
			phase_idle(&d);
	}
	barrier(&d);
	coh_fabric_flush(d.fab, 5000);
	struct coh_mem_stats st;
	coh_mem_get_stats(d.m, &st);
	if (getenv("COHTEST_STATS")) {
		json_t *j = coh_mem_stats_json(d.m);
		char *s = json_dumps(j, JSON_COMPACT);
		fprintf(stderr, "node %u: %s\n", d.self, s);
		free(s);
		json_decref(j);
	}
	int fails = d.failures + (st.dropped ? 1 : 0), all = 0;
	if (st.dropped)
		fprintf(stderr, "cohtest[node %u]: %" PRIu64 " protocol messages dropped\n", d.self, st.dropped);
	MPI_Allreduce(&fails, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	if (rank == 0 && !is_bench)
		printf("%s: %u nodes on %s, %.1f s\n", all ? "FAIL" : "ok", d.n, coh_fabric_provider(d.fab),
		       (double)(now_ns() - t0) / 1e9);
	coh_mem_destroy(d.m);
	d.m = NULL;
	coh_fabric_close(d.fab);
	close(d.epfd);
	free(d.mem);
	MPI_Finalize();
	return all ? 1 : 0;
}
