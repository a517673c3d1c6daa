/*
 * node.c — bootstrap, event loop and shutdown of one node (see node.h).
 *
 * The event loop. One thread does everything, in this order each turn:
 *   - drive the fabric (coh_fabric_poll), which hands messages to on_msg();
 *   - run this node's VMs for `poll` instructions (the bounded budget that
 *     keeps a request to a busy node waiting microseconds, not a quantum);
 *   - when nothing is runnable, sleep in epoll on the fabric's wait fd (the
 *     CQ's fd, or the doorbell), the signalfd and the console, until the
 *     earliest deadline (a guest timer, the idle period, the run timeout).
 *
 * Ending a run. A node whose VMs have all exited (and whose idle period is
 * over) sends NODE_DONE to node 0. Node 0, once every node is done, sends
 * NODE_SHUTDOWN to all and leaves the loop; the others leave on receipt.
 * SIGINT/SIGTERM and the run timeout stop the local VMs and end the run the
 * same way, with the status saying why. A fabric error (a dead peer) ends
 * the job with MPI_Abort after naming the peer: Open MPI 4.1 has no way to
 * continue without a rank, and a hang is the one outcome that is not allowed.
 */
#define _GNU_SOURCE
#include "node/node.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <mpi.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "coherence/coh.h"
#include "coherence/coh_mem.h"
#include "common/log.h"
#include "disco_version.h"
#include "node/internal.h"
#include "vmm/vmm.h"
#include "vnet/vnet.h"

enum {
	NODE_MSG_DONE = COH_MSG_USER,	/* node -> 0: my work is done */
	NODE_MSG_SHUTDOWN,		/* 0 -> all: end the run; payload: int status */
	NODE_MSG_STOP,			/* any -> 0: stop the run (signal, timeout); payload: int status */
	NODE_MSG_STATS,			/* node -> 0: u64 instret, for the progress line */
	NODE_MSG_CHECKED,		/* node -> all: my reachability checks are done */
};

/* ordered by severity: a run ends with the worst status any node saw */
enum run_status { RUN_COMPLETED, RUN_QUIT, RUN_INTERRUPTED, RUN_TIMEOUT, RUN_FAILED };
static const char *const run_status_names[] = { "completed", "quit", "interrupted", "timeout", "failed" };

struct node {
	unsigned self, n;
	const struct node_options *opt;
	struct desc *desc;
	struct node_mem mem;
	struct coh_fabric *fab;
	struct coh_mem *coh;	/* the coherence engine (home directory, remote-line cache) */
	struct node_vms *vms;
	struct vnet *net;	/* the subnets' switches (NULL: no VM has a NIC) */
	struct vnet_stream *streams[VNET_SUBNETS_MAX];	/* node 0: external ports ([machine] net_port) */
	unsigned n_streams;
	unsigned probe_recv, probe_total, probe_finished, probe_done;	/* DISCO_NET_PROBE */
	double probe_gbps;
	int epfd, sigfd;

	/* run state */
	bool local_done;	/* NODE_DONE sent (or counted, on node 0) */
	unsigned done_count;	/* node 0: nodes done */
	bool shutdown;		/* leave the loop */
	int status;		/* enum run_status */
	uint64_t idle_until_ns;
	uint64_t deadline_ns;	/* run timeout, 0 = none */
	bool escape;		/* console: Ctrl-A seen, the next key is a command */

	/* bootstrap checks */
	unsigned pongs;
	unsigned checked;	/* peers whose checks are done */
	double rtt_us[32];
	unsigned n_rtt;
	uint64_t last_pong_ns;

	/* progress (node 0) */
	uint64_t *instret_of;
	uint64_t next_progress_ns, next_stats_ns;

	/* figures */
	uint64_t t_start_ns, loop_turns, sleeps, instret;
	double loop_cpu_s;	/* CPU time used inside the event loop */
	uint64_t last_work_ns;	/* last time a message was handled */
	uint64_t last_events_ns;	/* last look at signals and console input while busy */
	bool oversubscribed;		/* more ranks on this host than processors */
	uint64_t last_yield_ns;
	time_t start_wall, end_wall;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/*
 * The fabric's own bandwidth, for `disco bench net` (DISCO_NET_PROBE=N):
 * node 0 sends N messages of COH_MSG_MAX bytes to node 1, which answers
 * PROBE_DONE once it has them all; node 0 times the lot.
 */
static void net_probe_msg(struct node *nd, unsigned src, unsigned type, const void *payload, size_t len)
{
	if (type == VNET_MSG_PROBE_DONE) {
		nd->probe_done++;
		return;
	}
	if (len >= sizeof(uint32_t))
		memcpy(&nd->probe_total, payload, sizeof(uint32_t));
	if (++nd->probe_recv == nd->probe_total) {
		coh_fabric_send(nd->fab, src, VNET_MSG_PROBE_DONE, NULL, 0);
		nd->probe_finished = 1;
	}
}

static void on_msg(void *opaque, unsigned src, unsigned type, const void *payload, size_t len)
{
	struct node *nd = opaque;
	int st = 0;
	if (type >= COH_MSG_PROTO && type < COH_MSG_PROTO_END) {
		if (nd->coh)
			coh_mem_handle(nd->coh, src, type, payload, len);
		return;
	}
	if (type >= VMM_MSG_FIRST && type < VMM_MSG_END) {
		node_vms_handle_msg(nd->vms, src, type, payload, len);	/* a VM whose harts run on several nodes */
		return;
	}
	if (type == VNET_MSG_PROBE || type == VNET_MSG_PROBE_DONE) {
		net_probe_msg(nd, src, type, payload, len);
		return;
	}
	if (type >= VDISK_MSG_FIRST && type < VDISK_MSG_END) {
		/* 232..247: a base image served across nodes (vdisk.h, docs/disk.md) */
		node_vms_disk_msg(nd->vms, src, type, payload, len);
		return;
	}
	if (type >= VNET_MSG_FRAME) {
		if (nd->net)
			vnet_on_msg(nd->net, src, type, payload, len, now_ns());
		else
			LOG_RATELIMITED(SUB_NODE, LOG_WARN, "network message type %u from node %u, and no subnet here", type, src);
		return;
	}
	switch (type) {
	case COH_MSG_PONG:
		nd->pongs++;
		nd->last_pong_ns = now_ns();
		break;
	case NODE_MSG_DONE:
		if (nd->self == 0)
			nd->done_count++;
		break;
	case NODE_MSG_STOP:
	case NODE_MSG_SHUTDOWN:
		if (len == sizeof(int))
			memcpy(&st, payload, sizeof(st));
		if (st < RUN_COMPLETED || st > RUN_FAILED)
			st = RUN_FAILED;
		if (st > nd->status)
			nd->status = st;
		if (type == NODE_MSG_SHUTDOWN || nd->self == 0) {
			if (nd->vms && st != RUN_COMPLETED)
				node_vms_stop(nd->vms, run_status_names[st]);
			if (type == NODE_MSG_SHUTDOWN)
				nd->shutdown = true;
			else
				nd->done_count = nd->n;	/* node 0: end now */
		}
		break;
	case NODE_MSG_CHECKED:
		nd->checked++;
		break;
	case NODE_MSG_STATS:
		if (nd->instret_of && len == sizeof(uint64_t) && src < nd->n)
			memcpy(&nd->instret_of[src], payload, sizeof(uint64_t));
		break;
	default:
		LOG_RATELIMITED(SUB_NODE, LOG_WARN, "unexpected message type %u from node %u", type, src);
	}
}

static void fatal_fabric(struct node *nd)
{
	LOG(SUB_NODE, LOG_ERROR, "the fabric failed (a peer died or became unreachable); ending the job");
	MPI_Abort(MPI_COMM_WORLD, 1);
}

/*
 * Before sleeping, a node keeps polling for this long after its last work:
 * a reply usually comes within a round trip, and a sleep plus a wake-up
 * costs more than that (the doorbell's wake-up is tens of microseconds).
 */
#define SPIN_NS	50000ull
/* How often a busy node of an oversubscribed host offers its processor to the host's other nodes. */
#define YIELD_NS	100000ull

static int poll_fabric(struct node *nd)
{
	/* the engine polls the fabric itself, then finishes what the messages started */
	int r = nd->coh ? coh_mem_poll(nd->coh) : coh_fabric_poll(nd->fab);
	if (r < 0)
		fatal_fabric(nd);
	if (r > 0)
		nd->last_work_ns = now_ns();
	return r;
}

static void handle_signals(struct node *nd);

/*
 * wait_count - serve the fabric until *counter reaches target, sleeping
 * between messages (ranks may outnumber cores: a spinning waiter would
 * steal the core of the very peer it waits for). Returns 0 or -ETIMEDOUT.
 */
static int wait_count(struct node *nd, const unsigned *counter, unsigned target, uint64_t timeout_ns)
{
	uint64_t t0 = now_ns();
	for (;;) {
		poll_fabric(nd);
		if (*counter >= target)
			return 0;
		uint64_t t = now_ns();
		if (t - t0 > timeout_ns)
			return -ETIMEDOUT;
		if (t - nd->last_work_ns < SPIN_NS)
			continue;
		if (coh_fabric_sleep_prepare(nd->fab) != 0)
			continue;
		int ms = (int)((timeout_ns - (t - t0)) / 1000000) + 1;
		int cap = coh_fabric_max_sleep_ms(nd->fab);
		if (cap >= 0 && ms > cap)
			ms = cap;
		struct epoll_event ev[4];
		int k = epoll_wait(nd->epfd, ev, 4, ms);
		coh_fabric_sleep_done(nd->fab);
		for (int i = 0; i < k; i++)
			if (ev[i].data.fd == nd->sigfd)
				handle_signals(nd);
	}
}

/*
 * Reachability: every node pings every other and waits for all the answers;
 * then 32 timed round trips to its successor; then an RMA read of the
 * successor's header page, which must hold its magic word.
 */
static int check_reachability(struct node *nd, char *err, size_t errlen)
{
	if (nd->n == 1)
		return 0;
	const uint64_t limit = 30ull * 1000000000ull;
	uint64_t t0 = now_ns();
	for (unsigned i = 0; i < nd->n; i++)
		if (i != nd->self && coh_fabric_send(nd->fab, i, COH_MSG_PING, &t0, sizeof(t0)))
			fatal_fabric(nd);
	if (wait_count(nd, &nd->pongs, nd->n - 1, limit)) {
		snprintf(err, errlen, "only %u of %u peers answered a fabric ping within 30 s", nd->pongs, nd->n - 1);
		return -ETIMEDOUT;
	}
	unsigned next = (nd->self + 1) % nd->n;
	for (unsigned k = 0; k < 32; k++) {
		unsigned want = nd->pongs + 1;
		uint64_t t = now_ns();
		if (coh_fabric_send(nd->fab, next, COH_MSG_PING, &t, sizeof(t)))
			fatal_fabric(nd);
		if (wait_count(nd, &nd->pongs, want, limit)) {
			snprintf(err, errlen, "node %u stopped answering pings", next);
			return -ETIMEDOUT;
		}
		nd->rtt_us[nd->n_rtt++] = (double)(nd->last_pong_ns - t) / 1e3;
	}
	uint64_t *scratch = (uint64_t *)(nd->mem.base + 64);
	*scratch = 0;
	int rc = coh_fabric_read(nd->fab, next, 0, scratch, sizeof(*scratch));
	if (rc) {
		snprintf(err, errlen, "RMA read of node %u's memory failed: %s", next, strerror(-rc));
		return rc;
	}
	if (*scratch != (NODE_MEM_MAGIC | next)) {
		snprintf(err, errlen, "RMA read of node %u's memory returned %#llx, not its magic word",
			 next, (unsigned long long)*scratch);
		return -EIO;
	}
	/*
	 * A barrier over the fabric, not MPI: a node that went ahead into an MPI
	 * collective would stop answering the pings of the nodes still checking.
	 */
	for (unsigned i = 0; i < nd->n; i++)
		if (i != nd->self && coh_fabric_send(nd->fab, i, NODE_MSG_CHECKED, NULL, 0))
			fatal_fabric(nd);
	if (wait_count(nd, &nd->checked, nd->n - 1, limit)) {
		snprintf(err, errlen, "only %u of %u peers finished their fabric checks within 30 s", nd->checked, nd->n - 1);
		return -ETIMEDOUT;
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void send_or_die(struct node *nd, unsigned dest, unsigned type, const void *p, size_t len)
{
	if (coh_fabric_send(nd->fab, dest, type, p, len))
		fatal_fabric(nd);
}

/* node 0: end the run for everybody */
static void broadcast_shutdown(struct node *nd)
{
	for (unsigned i = 1; i < nd->n; i++)
		send_or_die(nd, i, NODE_MSG_SHUTDOWN, &nd->status, sizeof(nd->status));
	nd->shutdown = true;
}

static void stop_run(struct node *nd, int status)
{
	if (status > nd->status)
		nd->status = status;
	if (nd->vms)
		node_vms_stop(nd->vms, run_status_names[status]);
	if (nd->self == 0)
		nd->done_count = nd->n;
	else
		send_or_die(nd, 0, NODE_MSG_STOP, &status, sizeof(status));
}

/*
 * A node told to terminate (SIGTERM: mpirun ending the job because a rank
 * died, or a second stop request) stops the run and writes what it can, but
 * never waits longer than this for its peers: the report's gather and the
 * closing barrier would wait for ever on a dead rank (the shm provider
 * notices no dead peer), and the node would outlive the job.
 */
#define TERM_GRACE_S	5

static void handle_signals(struct node *nd)
{
	struct signalfd_siginfo si;
	while (read(nd->sigfd, &si, sizeof(si)) == sizeof(si)) {
		LOG(SUB_NODE, LOG_INFO, "signal %u: stopping the run", si.ssi_signo);
		if (si.ssi_signo == SIGTERM)
			alarm(TERM_GRACE_S);	/* SIGALRM is not blocked: its default action ends the node */
		stop_run(nd, RUN_INTERRUPTED);
	}
}

/*
 * Console input, with QEMU's escapes: Ctrl-A x ends the run, Ctrl-A h
 * lists the escapes, Ctrl-A Ctrl-A sends one Ctrl-A to the guest.
 */
static void handle_stdin(struct node *nd)
{
	char buf[256], out[256];
	size_t n = 0;
	ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));
	if (r <= 0) {
		epoll_ctl(nd->epfd, EPOLL_CTL_DEL, STDIN_FILENO, NULL);	/* end of input: stop listening */
		return;
	}
	for (ssize_t i = 0; i < r; i++) {
		char c = buf[i];
		if (!nd->escape) {
			if (c == 0x01)
				nd->escape = true;
			else
				out[n++] = c;
			continue;
		}
		nd->escape = false;
		if (c == 'x' || c == 'X') {
			fprintf(stderr, "\r\ndisco: Ctrl-A x: ending the run\r\n");
			stop_run(nd, RUN_QUIT);
		} else if (c == 'h' || c == 'H' || c == '?') {
			fprintf(stderr, "\r\ndisco console: Ctrl-A x  end the run\r\n"
					"               Ctrl-A h  this help\r\n"
					"               Ctrl-A Ctrl-A  send Ctrl-A to the guest\r\n");
		} else if (c == 0x01) {
			out[n++] = c;
		}
	}
	if (n)
		node_vms_console_input(nd->vms, out, n);
}

/* Wait up to timeout_ms (0: just look) for signals, console input or fabric work, and handle the first two. */
static void dispatch_events(struct node *nd, int timeout_ms)
{
	struct epoll_event ev[8];
	int k = epoll_wait(nd->epfd, ev, 8, timeout_ms);
	for (int i = 0; i < k; i++) {
		if (ev[i].data.fd == nd->sigfd)
			handle_signals(nd);
		else if (ev[i].data.fd == STDIN_FILENO)
			handle_stdin(nd);
		else if (ev[i].data.fd == node_vms_disk_fd(nd->vms))
			node_vms_disk_poll(nd->vms);
		for (unsigned s = 0; s < nd->n_streams; s++)
			if (ev[i].data.fd == vnet_stream_fd(nd->streams[s]))
				vnet_stream_poll(nd->streams[s], now_ns());
	}
}

static void progress_line(struct node *nd, uint64_t t)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < nd->n; i++)
		total += nd->instret_of[i];
	double secs = (double)(t - nd->t_start_ns) / 1e9;
	fprintf(stderr, "\r[disco] %7.1f s  %u nodes  %.3g G instructions  %.1f MIPS   ",
		secs, nd->n, (double)total / 1e9, secs > 0 ? (double)total / secs / 1e6 : 0.0);
	fflush(stderr);
}

static void loop(struct node *nd)
{
	uint64_t budget = nd->desc->machine.poll ? nd->desc->machine.poll : 5000;
	while (!nd->shutdown) {
		nd->loop_turns++;
		poll_fabric(nd);
		if (nd->shutdown)
			break;
		/* disk requests the vCPUs queued go to the kernel in one batch; completions end here */
		if (node_vms_disk_poll(nd->vms) > 0)
			nd->last_work_ns = now_ns();	/* more may follow soon: spin a little before sleeping */
		uint64_t t = now_ns();

		if (!nd->local_done && node_vms_active(nd->vms) == 0 && t >= nd->idle_until_ns) {
			nd->local_done = true;
			if (nd->self == 0)
				nd->done_count++;
			else
				send_or_die(nd, 0, NODE_MSG_DONE, NULL, 0);
		}
		if (nd->self == 0 && nd->done_count >= nd->n) {
			broadcast_shutdown(nd);
			break;
		}
		if (nd->deadline_ns && t >= nd->deadline_ns) {
			LOG(SUB_NODE, LOG_WARN, "the run reached its time limit ([machine] timeout)");
			nd->deadline_ns = 0;
			stop_run(nd, RUN_TIMEOUT);
			continue;
		}
		if (nd->opt->progress) {
			if (nd->self != 0 && t >= nd->next_stats_ns) {
				uint64_t ir = node_vms_instret(nd->vms);
				send_or_die(nd, 0, NODE_MSG_STATS, &ir, sizeof(ir));
				nd->next_stats_ns = t + 1000000000ull;
			}
			if (nd->self == 0 && t >= nd->next_progress_ns) {
				nd->instret_of[0] = node_vms_instret(nd->vms);
				progress_line(nd, t);
				nd->next_progress_ns = t + 1000000000ull;
			}
		}

		if (node_vms_runnable(nd->vms)) {
			nd->instret += node_vms_run(nd->vms, budget);
			/*
			 * More ranks than cores on this host: a guest spinning
			 * here must not keep a node that waits for this one's
			 * answer off the processor for a whole time slice.
			 */
			if (nd->oversubscribed && t - nd->last_yield_ns > YIELD_NS) {
				nd->last_yield_ns = t;
				sched_yield();
			}
			/* a busy node still hears signals and console input, every millisecond */
			if (t - nd->last_events_ns > 1000000) {
				nd->last_events_ns = t;
				dispatch_events(nd, 0);
			}
			continue;
		}

		/* nothing runnable: sleep until a message, a signal, input or the next deadline */
		if (t - nd->last_work_ns < SPIN_NS)
			continue;
		uint64_t wake = node_vms_next_event_ns(nd->vms);
		if (!nd->local_done && nd->idle_until_ns > t && nd->idle_until_ns < wake)
			wake = nd->idle_until_ns;
		if (nd->deadline_ns && nd->deadline_ns < wake)
			wake = nd->deadline_ns;
		if (nd->opt->progress && wake > t + 1000000000ull)
			wake = t + 1000000000ull;
		int timeout_ms = -1;
		if (wake != UINT64_MAX) {
			uint64_t d = wake > t ? wake - t : 0;
			timeout_ms = (int)((d + 999999) / 1000000);
		}
		int cap = coh_fabric_max_sleep_ms(nd->fab);
		if (nd->coh && coh_mem_busy(nd->coh))
			cap = 1;	/* the engine holds lines or messages that time releases */
		if (cap >= 0 && (timeout_ms < 0 || timeout_ms > cap))
			timeout_ms = cap;	/* peers on other hosts cannot ring the doorbell */
		if (coh_fabric_sleep_prepare(nd->fab) != 0)
			continue;
		nd->sleeps++;
		LOG(SUB_NODE, LOG_TRACE, "sleeping (timeout %d ms)", timeout_ms);
		dispatch_events(nd, timeout_ms);
		coh_fabric_sleep_done(nd->fab);
	}
	/* messages still queued for credits must leave before this node stops polling */
	if (coh_fabric_flush(nd->fab, 30000))
		LOG(SUB_NODE, LOG_WARN, "some messages could not be delivered before shutdown");
	if (nd->opt->progress && nd->self == 0)
		fprintf(stderr, "\n");
}

/* ---- the report ---- */

static json_t *node_figures(struct node *nd)
{
	json_t *o;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	struct coh_fabric_stats fs;
	coh_fabric_get_stats(nd->fab, &fs);
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	double rtt_min = 0, rtt_med = 0;
	if (nd->n_rtt) {
		qsort(nd->rtt_us, nd->n_rtt, sizeof(double), cmp_double);
		rtt_min = nd->rtt_us[0];
		rtt_med = nd->rtt_us[nd->n_rtt / 2];
	}
	json_t *vms = node_vms_report(nd->vms);
	o = json_pack("{s:i, s:s, s:i, s:i, s:I, s:f, s:f, s:f, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:{s:f, s:f}, s:o, s:o, s:o}",
		"node", (int)nd->self, "host", host, "pid", (int)getpid(),
		"cpus", (int)nd->desc->machine.cpus,
		"mem_bytes", (json_int_t)nd->mem.len,
		"wall_s", (double)(now_ns() - nd->t_start_ns) / 1e9,
		"cpu_user_s", (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
		"cpu_sys_s", (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6,
		"loop_cpu_s", nd->loop_cpu_s,
		"machine_pages_used", (json_int_t)nd->mem.pages_used,
		"machine_pages_peak", (json_int_t)nd->mem.pages_peak,
		"instructions", (json_int_t)nd->instret,
		"loop_turns", (json_int_t)nd->loop_turns,
		"sleeps", (json_int_t)nd->sleeps,
		"msgs_sent", (json_int_t)fs.msgs_sent,
		"msgs_recv", (json_int_t)fs.msgs_recv,
		"bytes_sent", (json_int_t)fs.bytes_sent,
		"bytes_recv", (json_int_t)fs.bytes_recv,
		"credit_msgs", (json_int_t)fs.credit_msgs,
		"send_stalls", (json_int_t)fs.send_stalls,
		"dropped_bad_key", (json_int_t)fs.dropped_bad_key,
		"dropped_malformed", (json_int_t)fs.dropped_malformed,
		"rma_reads", (json_int_t)fs.rma_reads,
		"doorbells_rung", (json_int_t)fs.doorbells_rung,
		"wakeups", (json_int_t)fs.wakeups,
		"wait", coh_fabric_has_wait_fd(nd->fab) ? "cq-fd" : "doorbell",
		"fabric_rtt_us", "min", rtt_min, "median", rtt_med,
		"vms", vms ? vms : json_array(),
		"coherence", nd->coh ? coh_mem_stats_json(nd->coh) : json_object(),
		"net", vnet_report(nd->net));
	if (o && nd->probe_gbps > 0)
		json_object_set_new(o, "fabric_gbps", json_real(nd->probe_gbps));
	json_t *disk = o ? node_vms_disk_report(nd->vms) : NULL;
	if (disk)
		json_object_set_new(o, "disk", disk);
	return o;
}

/* ---- VMs whose harts run on several nodes ---- */

static int vm_send(void *opaque, unsigned dest, unsigned type, const void *payload, size_t len)
{
	struct node *nd = opaque;
	return coh_fabric_send(nd->fab, dest, type, payload, len);
}

static void line_lost(void *opaque, coh_maddr_t line, enum coh_lost_how how)
{
	struct node *nd = opaque;
	(void)how;	/* whatever the cause, the line's data may change without this node seeing it */
	node_vms_line_lost(nd->vms, line);
}

/* ---- the virtual subnets ---- */

/* Node 0: the subnets' external ports, watched by the event loop. */
static int net_streams_open(struct node *nd, char *err, size_t errlen)
{
	unsigned base = nd->desc->machine.net_port, n = vnet_subnet_count(nd->net);
	if (!base || nd->self != 0 || !n)
		return 0;
	if (base + n - 1 > 65535) {
		snprintf(err, errlen, "[machine] net_port = %u: %u subnets need ports up to %u, past 65535",
			 base, n, base + n - 1);
		return -EINVAL;
	}
	for (unsigned i = 0; i < n; i++) {
		char serr[256];
		struct vnet_stream *s = vnet_stream_open(nd->net, i, (uint16_t)(base + i), serr, sizeof(serr));
		if (!s) {
			snprintf(err, errlen, "[machine] net_port: subnet %u: %s", i, serr);
			return -EINVAL;
		}
		nd->streams[nd->n_streams++] = s;
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = vnet_stream_fd(s) };
		if (epoll_ctl(nd->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev)) {
			snprintf(err, errlen, "cannot watch the external port: %s", strerror(errno));
			return -errno;
		}
	}
	return 0;
}

static void net_probe(struct node *nd)
{
	const char *env = getenv("DISCO_NET_PROBE");
	uint32_t count = env ? (uint32_t)strtoul(env, NULL, 10) : 0;
	const uint64_t limit = 30ull * 1000000000ull;
	if (!count || nd->n < 2)
		return;
	if (nd->self == 1) {
		if (wait_count(nd, &nd->probe_finished, 1, limit))
			LOG(SUB_NET, LOG_WARN, "fabric probe: %u of the messages arrived", nd->probe_recv);
		return;
	}
	if (nd->self != 0)
		return;
	static uint8_t msg[COH_MSG_MAX];
	memcpy(msg, &count, sizeof(count));
	uint64_t t = now_ns();
	for (uint32_t i = 0; i < count; i++)
		send_or_die(nd, 1, VNET_MSG_PROBE, msg, sizeof(msg));
	if (wait_count(nd, &nd->probe_done, 1, limit) == 0)
		nd->probe_gbps = (double)count * COH_MSG_MAX * 8 / (double)(now_ns() - t);
	else
		LOG(SUB_NET, LOG_WARN, "fabric probe: node 1 did not answer");
}

static int net_send(void *opaque, unsigned dest, unsigned type, const void *payload, size_t len)
{
	struct node *nd = opaque;
	/* an answer usually comes within a round trip: spin for it (SPIN_NS) rather than sleep at once */
	nd->last_work_ns = now_ns();
	return coh_fabric_send(nd->fab, dest, type, payload, len);
}

/*
 * One switch per subnet that a VM names, on every node, in the order the
 * VMs name them (the index names a subnet on the wire). NULL when no VM
 * has a NIC.
 */
static int net_create(struct node *nd, char *err, size_t errlen)
{
	const struct desc *d = nd->desc;
	struct vnet_transport t = { .opaque = nd, .self = nd->self, .nodes = nd->n, .msg_max = COH_MSG_MAX,
				    .send = net_send };
	for (unsigned i = 0; i < d->n_vms; i++) {
		if (!d->vms[i].net[0])
			continue;
		if (!nd->net && !(nd->net = vnet_new(&t))) {
			snprintf(err, errlen, "cannot create the virtual subnets: out of memory");
			return -ENOMEM;
		}
		if (vnet_subnet_find(nd->net, d->vms[i].net) >= 0)
			continue;
		struct vnet_subnet_config c = { .name = d->vms[i].net, .mtu = d->machine.net_mtu,
						.qlen = d->machine.net_queue, .aging_ns = d->machine.net_aging_ns };
		int r = vnet_subnet_add(nd->net, &c);
		if (r < 0) {
			snprintf(err, errlen, "subnet %s: %s", c.name, strerror(-r));
			return r;
		}
	}
	return 0;
}

static void iso_time(time_t t, char *buf, size_t len)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*
 * Gather every node's figures at node 0 and write the report there.
 * Returns node 0's exit status: the first failing VM's exit code, 0 if all
 * passed; 1 if the run did not complete.
 */
static int gather_report(struct node *nd)
{
	json_t *mine = node_figures(nd);
	char *text = json_dumps(mine, JSON_COMPACT);
	json_decref(mine);
	int len = text ? (int)strlen(text) + 1 : 1;
	int *lens = NULL, *displs = NULL;
	char *all = NULL;
	if (nd->self == 0) {
		lens = calloc(nd->n, sizeof(int));
		displs = calloc(nd->n, sizeof(int));
	}
	MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, MPI_COMM_WORLD);
	if (nd->self == 0) {
		long total = 0;
		for (unsigned i = 0; i < nd->n; i++) {
			displs[i] = (int)total;
			total += lens[i];
		}
		all = malloc((size_t)total);
	}
	MPI_Gatherv(text ? text : "", len, MPI_CHAR, all, lens, displs, MPI_CHAR, 0, MPI_COMM_WORLD);
	free(text);
	if (nd->self != 0)
		return 0;

	json_t *nodes = json_array(), *vms = json_array(), *hosts = json_array();
	int exit_code = 0;
	for (unsigned i = 0; i < nd->n; i++) {
		json_error_t je;
		json_t *o = json_loads(all + displs[i], 0, &je);
		if (!o) {
			LOG(SUB_NODE, LOG_ERROR, "node %u sent an unreadable report: %s", i, je.text);
			continue;
		}
		json_t *nv = json_object_get(o, "vms");
		size_t k;
		json_t *vm;
		json_array_foreach(nv, k, vm) {
			json_array_append(vms, vm);
			json_t *es = json_object_get(vm, "exit_status");
			if (exit_code == 0 && json_is_integer(es) && json_integer_value(es) != 0)
				exit_code = (int)json_integer_value(es);
		}
		json_object_del(o, "vms");
		const char *h = json_string_value(json_object_get(o, "host"));
		bool seen = false;
		json_t *hv;
		json_array_foreach(hosts, k, hv)
			if (h && !strcmp(json_string_value(hv), h))
				seen = true;
		if (h && !seen)
			json_array_append_new(hosts, json_string(h));
		json_array_append_new(nodes, o);
	}
	free(all);
	free(lens);
	free(displs);
	node_vms_merge_parts(vms);	/* VMs whose harts ran on several nodes: one entry each */

	char start[32], end[32];
	iso_time(nd->start_wall, start, sizeof(start));
	iso_time(nd->end_wall, end, sizeof(end));
	json_t *report = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:f, s:i, s:s, s:o, s:o, s:o, s:o, s:o}",
		"schema", 1,
		"disco_version", DISCO_VERSION,
		"status", run_status_names[nd->status],
		"start", start, "end", end,
		"provider", coh_fabric_provider(nd->fab),
		"wall_s", (double)(now_ns() - nd->t_start_ns) / 1e9,
		"node_count", (int)nd->n,
		"description_file", nd->desc->file,
		"description", desc_to_json(nd->desc),
		"hosts", hosts,
		"nodes", nodes,
		"vms", vms,
		"pages", json_array());
	const char *path = nd->opt->report ? nd->opt->report : nd->desc->machine.report;
	if (path && *path && strcmp(path, "-")) {
		if (json_dump_file(report, path, JSON_INDENT(2)) != 0)
			LOG(SUB_NODE, LOG_ERROR, "cannot write the report to %s: %s", path, strerror(errno));
		else
			LOG(SUB_NODE, LOG_INFO, "report written to %s", path);
	}
	json_decref(report);
	if (nd->status == RUN_QUIT)
		return 0;	/* the user ended it (Ctrl-A x), as QEMU exits 0 */
	if (nd->status != RUN_COMPLETED)
		return exit_code ? exit_code : 1;
	return exit_code;
}

/* ---- bootstrap ---- */

static int setup_events(struct node *nd, char *err, size_t errlen)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);	/* how `disco run` asks for a clean stop: mpirun forwards it */
	sigprocmask(SIG_BLOCK, &set, NULL);
	nd->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	nd->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (nd->sigfd < 0 || nd->epfd < 0) {
		snprintf(err, errlen, "event loop set-up: %s", strerror(errno));
		return -errno;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = nd->sigfd };
	epoll_ctl(nd->epfd, EPOLL_CTL_ADD, nd->sigfd, &ev);
	int fds[2];
	int nfds = coh_fabric_wait_fds(nd->fab, fds);
	for (int i = 0; i < nfds; i++) {
		ev.data.fd = fds[i];
		if (epoll_ctl(nd->epfd, EPOLL_CTL_ADD, fds[i], &ev)) {
			snprintf(err, errlen, "cannot wait on the fabric's fd: %s", strerror(errno));
			return -errno;
		}
	}
	return 0;
}

/* Every rank reaches the same verdict; the message is printed by every rank (prefixed by its node). */
static int agree(int ok_local)
{
	int ok_all = 0;
	MPI_Allreduce(&ok_local, &ok_all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
	return ok_all;
}

int node_main(const struct node_options *opt)
{
	struct node nd_s, *nd = &nd_s;
	char err[1024] = "";
	int rank, size, rc = 1;
	memset(nd, 0, sizeof(*nd));
	nd->epfd = nd->sigfd = -1;
	nd->opt = opt;
	nd->t_start_ns = now_ns();
	nd->start_wall = time(NULL);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	nd->self = (unsigned)rank;
	nd->n = (unsigned)size;
	log_set_node(rank);

	/* 1. the description, checked identically on every rank */
	if (opt->desc_file)
		nd->desc = desc_parse_file(opt->desc_file, err, sizeof(err));
	else
		nd->desc = desc_parse_string(desc_default_text, "<default>", err, sizeof(err));
	if (nd->desc && desc_validate(nd->desc, err, sizeof(err)))
		desc_free(nd->desc), nd->desc = NULL;
	/* paths expand ${NAME} from each node's environment: one node may fail alone, and all must stop */
	if (!agree(nd->desc != NULL)) {
		if (!nd->desc)
			fprintf(stderr, "disco-node[node %d]: %s\n", rank, err);
		desc_free(nd->desc);
		return 2;
	}
	if (nd->desc->machine.nodes != nd->n) {
		fprintf(stderr, "disco-node[node %d]: %s describes %u nodes but %u ranks were started: "
			"run `mpirun -np %u disco-node ...` or `disco run`\n",
			rank, nd->desc->file, nd->desc->machine.nodes, nd->n, nd->desc->machine.nodes);
		desc_free(nd->desc);
		return 2;
	}
	const char *slurm = getenv("SLURM_NTASKS");
	if (slurm && getenv("SLURM_JOB_ID") && (unsigned)atoi(slurm) != nd->n) {
		fprintf(stderr, "disco-node[node %d]: Slurm allocated %s tasks but %u ranks run: ask for --ntasks=%u\n",
			rank, slurm, nd->n, nd->desc->machine.nodes);
		desc_free(nd->desc);
		return 2;
	}

	if (nd->desc->machine.time == TIME_INSTRET && nd->self == 0)
		LOG(SUB_NODE, LOG_WARN, "%s: time = instret is not implemented yet; guest clocks follow the host's",
		    nd->desc->file);

	/* 2. machine memory and the transport */
	int r = node_mem_init(&nd->mem, nd->desc->machine.mem & ~(uint64_t)(COH_PAGE_SIZE - 1), nd->self);
	if (!agree(r == 0)) {
		if (r)
			fprintf(stderr, "disco-node[node %d]: cannot map %llu bytes of machine memory: %s\n",
				rank, (unsigned long long)nd->desc->machine.mem, strerror(-r));
		goto out_desc;
	}
	struct coh_fabric_config fc = {
		.provider = getenv("FI_PROVIDER") ? NULL : (nd->desc->machine.provider == PROV_AUTO ? NULL :
			    desc_provider_name(nd->desc->machine.provider)),
		.mem = nd->mem.base,
		.mem_len = nd->mem.len,
	};
	char fabprov[64];
	if (fc.provider && (!strcmp(fc.provider, "tcp") || !strcmp(fc.provider, "verbs"))) {
		snprintf(fabprov, sizeof(fabprov), "%s;ofi_rxm", fc.provider);
		fc.provider = fabprov;
	}
	nd->fab = coh_fabric_open(MPI_COMM_WORLD, &fc, on_msg, nd, err, sizeof(err));
	if (!agree(nd->fab != NULL)) {
		if (!nd->fab)
			fprintf(stderr, "disco-node[node %d]: %s\n", rank, err);
		goto out_mem;
	}
	LOG(SUB_NODE, LOG_INFO, "up: provider %s, %s, %llu MiB of machine memory", coh_fabric_provider(nd->fab),
	    coh_fabric_has_wait_fd(nd->fab) ? "sleeping on the CQ's fd" : "sleeping on the doorbell",
	    (unsigned long long)(nd->mem.len >> 20));

	struct coh_mem_config mc = {
		.self = nd->self, .nodes = nd->n,
		.mem = nd->mem.base, .mem_len = nd->mem.len,
		.line_size = nd->desc->machine.line, .cache_bytes = nd->desc->machine.rcache,
	};
	int cerr = 0;
	nd->coh = coh_mem_create(nd->fab, &mc, &cerr);
	if (!agree(nd->coh != NULL)) {
		if (!nd->coh)
			fprintf(stderr, "disco-node[node %d]: cannot start the coherence engine: %s\n", rank, strerror(-cerr));
		goto out_fab;
	}

	/* 3. every node reaches every other */
	r = setup_events(nd, err, sizeof(err));
	if (r == 0)
		r = check_reachability(nd, err, sizeof(err));
	if (!agree(r == 0)) {
		if (r)
			fprintf(stderr, "disco-node[node %d]: fabric check failed: %s\n", rank, err);
		goto out_fab;
	}

	net_probe(nd);	/* `disco bench net` only */

	/* 4. the VMs with harts here (the machine's clock starts now, the same on every node), and the loop */
	uint64_t t0 = now_ns();
	MPI_Bcast(&t0, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	nd->oversubscribed = cores > 0 && coh_fabric_host_ranks(nd->fab) > (unsigned long)cores;
	struct node_vms_env env = { .coh = nd->coh, .machine_nodes = nd->n, .start_ns = t0, .opaque = nd,
				    .send = vm_send };
	/* which node reads each VM's base image (collective; the same verdict everywhere) */
	struct node_disk_plan *disks = NULL;
	r = node_disks_plan(nd->desc, nd->self, nd->n, &disks, err, sizeof(err));
	if (!agree(r == 0)) {
		if (r)
			fprintf(stderr, "disco-node[node %d]: %s\n", rank, err);
		goto out_vms;
	}
	env.disks = disks;
	if (net_create(nd, err, sizeof(err)) == 0 && net_streams_open(nd, err, sizeof(err)) == 0)
		nd->vms = node_vms_create(nd->desc, nd->self, &nd->mem, opt->console_prefix, nd->net, &env,
					  err, sizeof(err));
	free(disks);
	if (!agree(nd->vms != NULL)) {
		if (!nd->vms)
			fprintf(stderr, "disco-node[node %d]: %s\n", rank, err);
		goto out_vms;
	}
	if (node_vms_disk_fd(nd->vms) >= 0) {	/* disk completions wake a sleeping node */
		struct epoll_event dev = { .events = EPOLLIN | EPOLLET, .data.fd = node_vms_disk_fd(nd->vms) };
		if (epoll_ctl(nd->epfd, EPOLL_CTL_ADD, dev.data.fd, &dev))
			LOG(SUB_NODE, LOG_WARN, "the disk server's eventfd cannot be watched: %s", strerror(errno));
	}
	coh_mem_set_lost_cb(nd->coh, line_lost, nd);
	node_vms_start(nd->vms);
	if (node_vms_wants_input(nd->vms)) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = STDIN_FILENO };
		if (epoll_ctl(nd->epfd, EPOLL_CTL_ADD, STDIN_FILENO, &ev))
			LOG(SUB_NODE, LOG_INFO, "console input unavailable: %s", strerror(errno));
	}
	if (opt->progress && nd->self == 0)
		nd->instret_of = calloc(nd->n, sizeof(uint64_t));
	nd->idle_until_ns = now_ns() + (uint64_t)(opt->idle_s * 1e9);
	if (nd->desc->machine.timeout_ns)
		nd->deadline_ns = nd->t_start_ns + nd->desc->machine.timeout_ns;
	MPI_Barrier(MPI_COMM_WORLD);
	double cpu0 = cpu_seconds();
	loop(nd);
	nd->loop_cpu_s = cpu_seconds() - cpu0;
	nd->end_wall = time(NULL);

	/* 5. report; leave together */
	rc = gather_report(nd);
	if (nd->self != 0)
		rc = 0;
	free(nd->instret_of);
out_vms:
	node_vms_destroy(nd->vms);
	for (unsigned i = 0; i < nd->n_streams; i++)
		vnet_stream_close(nd->streams[i]);
	vnet_free(nd->net);
	nd->net = NULL;
	if (nd->epfd >= 0)
		close(nd->epfd);
	if (nd->sigfd >= 0)
		close(nd->sigfd);
out_fab:
	MPI_Barrier(MPI_COMM_WORLD);
	coh_mem_destroy(nd->coh);
	coh_fabric_close(nd->fab);
out_mem:
	node_mem_fini(&nd->mem);
out_desc:
	desc_free(nd->desc);
	return rc;
}
