/*
 * fabric.c — the transport of the node controller, over libfabric RDM
 * endpoints with manual progress (see coh.h for the interface and the
 * doorbell protocol).
 *
 * Wire format: every message is one libfabric send of a struct wire_hdr
 * followed by hdr.len payload bytes. hdr.credits piggybacks credits the
 * sender returns to the receiver; a COH_MSG_CREDIT message carries only that.
 *
 * Flow control: a node may have at most `credits` messages in flight to one
 * peer; a credit comes back when the receiver has handled the message and
 * reposted its buffer. Credit-only messages do not consume credits; they are
 * sent when half the window is owed and no other message carries them back,
 * so at most two are in flight per peer. The receive pool therefore holds
 * (nodes - 1) * (credits + 2) buffers and can never be overrun.
 *
 * Buffers: one registered region holds every receive and send buffer; each
 * buffer starts with its struct fi_context, which libfabric hands back as
 * the completion's op_context, so a completion leads straight to its buffer.
 */
#define _GNU_SOURCE
#include "coherence/coh.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#include "common/log.h"

#define DEFAULT_CREDITS	32
#define SEND_BUFS	256

struct wire_hdr {
	uint64_t key;		/* job key: drawn by node 0 at bootstrap */
	uint32_t src;		/* sending node */
	uint16_t type;
	uint16_t credits;	/* credits returned to the receiver */
	uint32_t len;		/* payload bytes that follow */
	uint32_t reserved;
};

enum xbuf_kind { XB_RECV, XB_SEND, XB_RMA };

struct xbuf {
	struct fi_context ctx;	/* first: completions return &ctx */
	struct xbuf *next;	/* free list */
	enum xbuf_kind kind;
	unsigned dest;		/* XB_SEND: where it went */
	bool done;		/* XB_RMA: completed */
	int status;
	uint8_t *data;		/* wire_hdr + payload */
};

struct pending {		/* a send waiting for credits or a buffer */
	struct pending *next;
	unsigned type;
	size_t len;
	uint8_t payload[];
};

struct peer {
	fi_addr_t addr;
	uint64_t mem_base;	/* remote address of offset 0 of its machine memory */
	uint64_t mem_key;
	unsigned credits;	/* sends we may still make */
	unsigned owed;		/* credits we owe it */
	unsigned credit_msgs_out;
	struct pending *q_head, *q_tail;
	int local_idx;		/* index in the host's shared window, -1 if on another host */
	struct sockaddr_un bell;
	socklen_t bell_len;
};

struct coh_fabric {
	unsigned self, n;
	uint64_t key;
	coh_msg_handler handler;
	void *opaque;
	unsigned window;

	struct fi_info *info;
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct fid_av *av;
	struct fid_cq *cq;
	struct fid_ep *ep;
	struct fid_mr *mem_mr;	/* machine memory */
	struct fid_mr *buf_mr;	/* message buffers */
	void *mem_desc, *buf_desc;
	uint8_t *mem;
	size_t mem_len;
	char prov_name[64];

	int cq_fd;		/* CQ's wait object where the provider has one, else -1 */
	bool cq_has_fd;
	bool all_local;		/* every peer on this host (doorbell reaches all) */
	unsigned host_ranks;	/* ranks of the job on this host, this one included */

	/* doorbell */
	MPI_Comm hostcomm;
	MPI_Win win;
	int *sleeping_self;
	int **sleeping;		/* per host-local index */
	int bell_fd;

	struct peer *peers;
	struct xbuf *xbufs;
	uint8_t *bufmem;
	size_t nbufs, nrecv;
	struct xbuf *send_free;
	unsigned queued;	/* peers with pending sends */
	struct coh_fabric_stats st;
};

static size_t buf_size(void)
{
	return sizeof(struct wire_hdr) + COH_MSG_MAX;
}

static int post_recv(struct coh_fabric *f, struct xbuf *b)
{
	for (;;) {
		ssize_t r = fi_recv(f->ep, b->data, buf_size(), f->buf_desc, FI_ADDR_UNSPEC, &b->ctx);
		if (r == 0)
			return 0;
		if (r != -FI_EAGAIN) {
			LOG(SUB_COH, LOG_ERROR, "fi_recv: %s", fi_strerror((int)-r));
			return -EIO;
		}
		struct fi_cq_data_entry e;
		fi_cq_read(f->cq, &e, 0);	/* drive progress without consuming */
	}
}

static void ring_doorbell(struct coh_fabric *f, unsigned dest)
{
	struct peer *p = &f->peers[dest];
	if (!f->sleeping || p->local_idx < 0)
		return;
	int *word = f->sleeping[p->local_idx];
	if (__atomic_load_n(word, __ATOMIC_SEQ_CST) &&
	    __atomic_exchange_n(word, 0, __ATOMIC_SEQ_CST)) {
		char c = 1;
		/* EAGAIN means the bell already holds a ring: enough */
		ssize_t r = sendto(f->bell_fd, &c, 1, MSG_DONTWAIT, (struct sockaddr *)&p->bell, p->bell_len);
		f->st.doorbells_rung++;
		LOG(SUB_COH, LOG_TRACE, "rang node %u's doorbell (%zd)", dest, r);
	}
}

/* Post one message now; -EAGAIN if no buffer or the provider is busy. */
static int send_now(struct coh_fabric *f, unsigned dest, unsigned type, const void *payload, size_t len)
{
	struct xbuf *b = f->send_free;
	if (!b)
		return -EAGAIN;
	struct peer *p = &f->peers[dest];
	struct wire_hdr *h = (struct wire_hdr *)b->data;
	unsigned give = p->owed > 0xffff ? 0xffff : p->owed;
	h->key = f->key;
	h->src = f->self;
	h->type = (uint16_t)type;
	h->credits = (uint16_t)give;
	h->len = (uint32_t)len;
	h->reserved = 0;
	if (len)
		memcpy(b->data + sizeof(*h), payload, len);
	ssize_t r = fi_send(f->ep, b->data, sizeof(*h) + len, f->buf_desc, p->addr, &b->ctx);
	if (r == -FI_EAGAIN)
		return -EAGAIN;
	if (r) {
		LOG(SUB_COH, LOG_ERROR, "fi_send to node %u: %s", dest, fi_strerror((int)-r));
		return -EIO;
	}
	f->send_free = b->next;
	b->dest = dest;
	p->owed -= give;
	f->st.msgs_sent++;
	f->st.bytes_sent += sizeof(*h) + len;
	LOG(SUB_COH, LOG_TRACE, "sent type %u to node %u (%zu bytes, %u credits back)", type, dest, len, give);
	ring_doorbell(f, dest);
	return 0;
}

static int enqueue(struct coh_fabric *f, unsigned dest, unsigned type, const void *payload, size_t len)
{
	struct pending *q = malloc(sizeof(*q) + len);
	if (!q)
		return -ENOMEM;
	q->next = NULL;
	q->type = type;
	q->len = len;
	if (len)
		memcpy(q->payload, payload, len);
	struct peer *p = &f->peers[dest];
	if (p->q_tail)
		p->q_tail->next = q;
	else
		p->q_head = q;
	p->q_tail = q;
	f->st.send_stalls++;
	return 0;
}

int coh_fabric_send(struct coh_fabric *f, unsigned dest, unsigned type, const void *payload, size_t len)
{
	if (dest >= f->n || dest == f->self || len > COH_MSG_MAX || type == COH_MSG_CREDIT || type > 0xffff)
		return -EINVAL;
	struct peer *p = &f->peers[dest];
	if (p->q_head || p->credits == 0)
		return enqueue(f, dest, type, payload, len);
	int rc = send_now(f, dest, type, payload, len);
	if (rc == -EAGAIN)
		return enqueue(f, dest, type, payload, len);
	if (rc == 0)
		p->credits--;
	return rc;
}

static int flush_queues(struct coh_fabric *f)
{
	for (unsigned d = 0; d < f->n; d++) {
		struct peer *p = &f->peers[d];
		while (p->q_head && p->credits) {
			struct pending *q = p->q_head;
			int rc = send_now(f, d, q->type, q->payload, q->len);
			if (rc == -EAGAIN)
				return 0;
			if (rc)
				return rc;
			p->credits--;
			p->q_head = q->next;
			if (!p->q_head)
				p->q_tail = NULL;
			free(q);
		}
		/*
		 * Here the queue is empty or out of credits: either way no data
		 * message will carry the credits back soon. (Waiting for one when
		 * both sides are out of credits is a deadlock.)
		 */
		if (p->owed >= (f->window + 1) / 2 && p->credit_msgs_out < 2) {
			int rc = send_now(f, d, COH_MSG_CREDIT, NULL, 0);
			if (rc == 0) {
				f->st.credit_msgs++;
				p->credit_msgs_out++;
			} else if (rc != -EAGAIN) {
				return rc;
			}
		}
	}
	return 0;
}

static void handle_recv(struct coh_fabric *f, struct xbuf *b, size_t got)
{
	const struct wire_hdr *h = (const struct wire_hdr *)b->data;
	if (got < sizeof(*h)) {
		f->st.dropped_malformed++;
		LOG_RATELIMITED(SUB_COH, LOG_WARN, "dropped a %zu-byte message: shorter than a header", got);
		return;
	}
	if (h->key != f->key) {
		f->st.dropped_bad_key++;
		LOG_RATELIMITED(SUB_COH, LOG_WARN, "dropped a message with a wrong job key (claims node %u)", h->src);
		return;
	}
	if (h->src >= f->n || h->src == f->self || h->len != got - sizeof(*h) || h->type == 0) {
		f->st.dropped_malformed++;
		LOG_RATELIMITED(SUB_COH, LOG_WARN, "dropped a malformed message (src %u, type %u, len %u of %zu)",
				h->src, h->type, h->len, got);
		return;
	}
	struct peer *p = &f->peers[h->src];
	LOG(SUB_COH, LOG_TRACE, "received type %u from node %u (%u bytes, %u credits back)", h->type, h->src, h->len, h->credits);
	p->credits += h->credits;
	f->st.msgs_recv++;
	f->st.bytes_recv += got;
	if (h->type == COH_MSG_CREDIT)
		return;
	p->owed++;
	if (h->type == COH_MSG_PING) {
		coh_fabric_send(f, h->src, COH_MSG_PONG, b->data + sizeof(*h), h->len);
		return;
	}
	f->handler(f->opaque, h->src, h->type, b->data + sizeof(*h), h->len);
}

static int report_cq_error(struct coh_fabric *f)
{
	struct fi_cq_err_entry e;
	memset(&e, 0, sizeof(e));
	if (fi_cq_readerr(f->cq, &e, 0) < 0)
		return -EIO;
	struct xbuf *b = e.op_context;
	char pe[256] = "";
	fi_cq_strerror(f->cq, e.prov_errno, e.err_data, pe, sizeof(pe));
	if (b && b->kind == XB_SEND)
		LOG(SUB_COH, LOG_ERROR, "send to node %u failed: %s (%s): is node %u still running?",
		    b->dest, fi_strerror(e.err), pe, b->dest);
	else if (b && b->kind == XB_RMA)
		LOG(SUB_COH, LOG_ERROR, "RMA read from node %u failed: %s (%s)", b->dest, fi_strerror(e.err), pe);
	else
		LOG(SUB_COH, LOG_ERROR, "fabric error: %s (%s)", fi_strerror(e.err), pe);
	if (b && b->kind == XB_RMA) {
		b->done = true;
		b->status = -EIO;
	}
	return -EIO;
}

int coh_fabric_poll(struct coh_fabric *f)
{
	int handled = 0;
	for (;;) {
		struct fi_cq_data_entry e[16];
		ssize_t r = fi_cq_read(f->cq, e, 16);
		if (r == -FI_EAGAIN)
			break;
		if (r == -FI_EAVAIL)
			return report_cq_error(f);
		if (r < 0) {
			LOG(SUB_COH, LOG_ERROR, "fi_cq_read: %s", fi_strerror((int)-r));
			return -EIO;
		}
		for (ssize_t i = 0; i < r; i++) {
			struct xbuf *b = e[i].op_context;
			switch (b->kind) {
			case XB_RECV:
				handle_recv(f, b, e[i].len);
				handled++;
				if (post_recv(f, b))
					return -EIO;
				break;
			case XB_SEND:
				if (((struct wire_hdr *)b->data)->type == COH_MSG_CREDIT &&
				    f->peers[b->dest].credit_msgs_out)
					f->peers[b->dest].credit_msgs_out--;
				b->next = f->send_free;
				f->send_free = b;
				/*
				 * Complete means in the peer's queue. A provider may
				 * deliver only now (shm progresses some sends on the
				 * sender's side): ring again in case the peer went
				 * back to sleep after the first ring found nothing.
				 */
				ring_doorbell(f, b->dest);
				break;
			case XB_RMA:
				b->done = true;
				b->status = 0;
				break;
			}
		}
	}
	int rc = flush_queues(f);
	return rc ? rc : handled;
}

int coh_fabric_flush(struct coh_fabric *f, int timeout_ms)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		bool pending = false;
		for (unsigned d = 0; d < f->n; d++)
			pending |= f->peers[d].q_head != NULL;
		size_t free_bufs = 0;
		for (struct xbuf *b = f->send_free; b; b = b->next)
			free_bufs++;
		if (!pending && free_bufs == f->nbufs - f->nrecv)
			return 0;
		if (coh_fabric_poll(f) < 0)
			return -EIO;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > timeout_ms)
			return -ETIMEDOUT;
	}
}

int coh_fabric_wait_fds(const struct coh_fabric *f, int fds[2])
{
	fds[0] = f->cq_has_fd ? f->cq_fd : f->bell_fd;
	return 1;
}

int coh_fabric_max_sleep_ms(const struct coh_fabric *f)
{
	return f->cq_has_fd || f->all_local ? -1 : 10;
}

int coh_fabric_sleep_prepare(struct coh_fabric *f)
{
	if (f->sleeping_self)
		__atomic_store_n(f->sleeping_self, 1, __ATOMIC_SEQ_CST);
	int r = coh_fabric_poll(f);
	if (r == 0 && f->cq_has_fd) {
		struct fid *fids[1] = { &f->cq->fid };
		if (fi_trywait(f->fabric, fids, 1) != FI_SUCCESS)
			r = 1;
	}
	if (r != 0) {
		if (f->sleeping_self)
			__atomic_store_n(f->sleeping_self, 0, __ATOMIC_SEQ_CST);
		return 1;
	}
	f->st.sleeps++;
	return 0;
}

void coh_fabric_sleep_done(struct coh_fabric *f)
{
	f->st.wakeups++;
	if (!f->sleeping_self)
		return;
	__atomic_store_n(f->sleeping_self, 0, __ATOMIC_SEQ_CST);
	char buf[64];
	while (recv(f->bell_fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

int coh_fabric_read(struct coh_fabric *f, unsigned src, uint64_t off, void *local, size_t len)
{
	if (src >= f->n || (uint8_t *)local < f->mem || (uint8_t *)local + len > f->mem + f->mem_len)
		return -EINVAL;
	struct peer *p = &f->peers[src];
	struct xbuf b = { .kind = XB_RMA, .dest = src };
	uint64_t raddr = p->mem_base + off;
	for (;;) {
		ssize_t r = fi_read(f->ep, local, len, f->mem_desc, p->addr, raddr, p->mem_key, &b.ctx);
		if (r == 0)
			break;
		if (r != -FI_EAGAIN) {
			LOG(SUB_COH, LOG_ERROR, "fi_read from node %u: %s", src, fi_strerror((int)-r));
			return -EIO;
		}
		if (coh_fabric_poll(f) < 0)
			return -EIO;
	}
	LOG(SUB_COH, LOG_TRACE, "RMA read of %zu bytes from node %u at %#llx (key %#llx)", len, src,
	    (unsigned long long)raddr, (unsigned long long)p->mem_key);
	while (!b.done) {
		/*
		 * Without cross-memory attach (FI_SHM_DISABLE_CMA=1) shm serves
		 * an RMA read only when the target polls: wake it if it sleeps
		 * (a no-op when it does not, or where the provider has a CQ fd).
		 */
		ring_doorbell(f, src);
		if (coh_fabric_poll(f) < 0 && !b.done)
			return -EIO;
	}
	if (b.status == 0) {
		f->st.rma_reads++;
		f->st.rma_bytes += len;
	}
	return b.status;
}

const char *coh_fabric_provider(const struct coh_fabric *f)
{
	return f->prov_name;
}

unsigned coh_fabric_host_ranks(const struct coh_fabric *f)
{
	return f->host_ranks;
}

int coh_fabric_has_wait_fd(const struct coh_fabric *f)
{
	return f->cq_has_fd;
}

uint64_t coh_fabric_job_key(const struct coh_fabric *f)
{
	return f->key;
}

void coh_fabric_get_stats(const struct coh_fabric *f, struct coh_fabric_stats *st)
{
	*st = f->st;
}

/* ---- bootstrap ---- */

static int open_cq(struct coh_fabric *f, char *err, size_t errlen)
{
	struct fi_cq_attr attr = {
		.format = FI_CQ_FORMAT_DATA,
		.size = f->nbufs + 64,
		.wait_obj = FI_WAIT_FD,
	};
	int r = fi_cq_open(f->domain, &attr, &f->cq, NULL);
	if (r == 0) {
		r = fi_control(&f->cq->fid, FI_GETWAIT, &f->cq_fd);
		if (r == 0) {
			f->cq_has_fd = true;
			return 0;
		}
		fi_close(&f->cq->fid);
		f->cq = NULL;
	}
	/* shm (1.17) has no fd wait object: poll the CQ, sleep on the doorbell */
	attr.wait_obj = FI_WAIT_NONE;
	r = fi_cq_open(f->domain, &attr, &f->cq, NULL);
	if (r) {
		snprintf(err, errlen, "fi_cq_open on provider %s: %s", f->prov_name, fi_strerror(-r));
		return -EIO;
	}
	f->cq_has_fd = false;
	f->cq_fd = -1;
	return 0;
}

/* Doorbell: shared "sleeping" words for the ranks of this host, and a datagram socket per node. */
static int open_doorbell(struct coh_fabric *f, MPI_Comm comm, char *err, size_t errlen)
{
	int hrank, hsize = (int)f->host_ranks;
	MPI_Comm_rank(f->hostcomm, &hrank);
	f->all_local = f->host_ranks == f->n;

	/* host identity = global rank of the host's first rank; index in the host */
	int ids[2] = { 0, hrank };
	int root = (int)f->self;
	MPI_Bcast(&root, 1, MPI_INT, 0, f->hostcomm);
	ids[0] = root;
	int *all = malloc(sizeof(int) * 2 * f->n);
	if (!all) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	MPI_Allgather(ids, 2, MPI_INT, all, 2, MPI_INT, comm);
	for (unsigned i = 0; i < f->n; i++)
		f->peers[i].local_idx = all[2 * i] == root ? all[2 * i + 1] : -1;
	free(all);

	void *base;
	if (MPI_Win_allocate_shared(64, 1, MPI_INFO_NULL, f->hostcomm, &base, &f->win) != MPI_SUCCESS) {
		snprintf(err, errlen, "MPI_Win_allocate_shared for the doorbell words failed");
		return -EIO;
	}
	f->sleeping_self = base;
	*f->sleeping_self = 0;
	f->sleeping = calloc((size_t)hsize, sizeof(int *));
	if (!f->sleeping) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (int i = 0; i < hsize; i++) {
		MPI_Aint sz;
		int disp;
		void *p;
		MPI_Win_shared_query(f->win, i, &sz, &disp, &p);
		f->sleeping[i] = p;
	}

	f->bell_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (f->bell_fd < 0) {
		snprintf(err, errlen, "doorbell socket: %s", strerror(errno));
		return -errno;
	}
	for (unsigned i = 0; i < f->n; i++) {
		struct peer *p = &f->peers[i];
		memset(&p->bell, 0, sizeof(p->bell));
		p->bell.sun_family = AF_UNIX;
		/* abstract name: nothing in the file system to leak if a rank is killed */
		int len = snprintf(p->bell.sun_path + 1, sizeof(p->bell.sun_path) - 1,
				   "disco-%016llx-%u", (unsigned long long)f->key, i);
		p->bell_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
	}
	if (bind(f->bell_fd, (struct sockaddr *)&f->peers[f->self].bell, f->peers[f->self].bell_len)) {
		snprintf(err, errlen, "doorbell socket bind: %s", strerror(errno));
		return -errno;
	}
	MPI_Barrier(f->hostcomm);
	return 0;
}

static int setup_buffers(struct coh_fabric *f, char *err, size_t errlen)
{
	f->nrecv = (size_t)(f->n - 1) * (f->window + 2);
	if (f->nrecv < 4)
		f->nrecv = 4;
	f->nbufs = f->nrecv + SEND_BUFS;
	f->xbufs = calloc(f->nbufs, sizeof(*f->xbufs));
	f->bufmem = aligned_alloc(4096, (f->nbufs * buf_size() + 4095) & ~(size_t)4095);
	if (!f->xbufs || !f->bufmem) {
		snprintf(err, errlen, "out of memory for %zu message buffers", f->nbufs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < f->nbufs; i++) {
		f->xbufs[i].data = f->bufmem + i * buf_size();
		f->xbufs[i].kind = i < f->nrecv ? XB_RECV : XB_SEND;
		if (i >= f->nrecv) {
			f->xbufs[i].next = f->send_free;
			f->send_free = &f->xbufs[i];
		}
	}
	return 0;
}

static int reg_mr(struct coh_fabric *f, void *addr, size_t len, uint64_t access, uint64_t req_key,
		  struct fid_mr **mr, char *err, size_t errlen, const char *what)
{
	int r = fi_mr_reg(f->domain, addr, len, access, 0, req_key, 0, mr, NULL);
	if (r) {
		snprintf(err, errlen, "registering %s (%zu bytes) with %s: %s", what, len, f->prov_name, fi_strerror(-r));
		return -EIO;
	}
	if (f->info->domain_attr->mr_mode & FI_MR_ENDPOINT) {
		r = fi_mr_bind(*mr, &f->ep->fid, 0);
		if (!r)
			r = fi_mr_enable(*mr);
		if (r) {
			snprintf(err, errlen, "binding %s to the endpoint: %s", what, fi_strerror(-r));
			return -EIO;
		}
	}
	return 0;
}

/*
 * libfabric's shm provider names its region in /dev/shm after the process
 * ("PID:N:M") and removes it in a signal handler, so a rank killed with
 * SIGKILL leaks it; a later process that gets the same pid then fails to
 * create its endpoint (EEXIST/EBUSY). Regions named after our own pid
 * cannot belong to a live process, and we have made none yet: remove them.
 */
static void remove_stale_shm_regions(void)
{
	DIR *d = opendir("/dev/shm");
	if (!d)
		return;
	char prefix[32];
	int n = snprintf(prefix, sizeof(prefix), "%d:", (int)getpid());
	struct dirent *e;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, prefix, (size_t)n) && unlinkat(dirfd(d), e->d_name, 0) == 0)
			LOG(SUB_COH, LOG_INFO, "removed /dev/shm/%s, left by a killed process that had our pid", e->d_name);
	closedir(d);
}

struct coh_fabric *coh_fabric_open(MPI_Comm comm, const struct coh_fabric_config *cfg,
				   coh_msg_handler handler, void *opaque, char *err, size_t errlen)
{
	int rank, size, r;
	MPI_Comm_rank(comm, &rank);
	MPI_Comm_size(comm, &size);
	struct coh_fabric *f = calloc(1, sizeof(*f));
	struct fi_info *hints = fi_allocinfo();
	if (f) {
		f->cq_fd = -1;
		f->bell_fd = -1;
		f->win = MPI_WIN_NULL;
		f->hostcomm = MPI_COMM_NULL;
	}
	if (!f || !hints) {
		snprintf(err, errlen, "out of memory");
		goto fail_early;
	}
	f->self = (unsigned)rank;
	f->n = (unsigned)size;
	f->handler = handler;
	f->opaque = opaque;
	f->window = cfg->credits ? cfg->credits : DEFAULT_CREDITS;
	f->mem = cfg->mem;
	f->mem_len = cfg->mem_len;
	f->peers = calloc(f->n, sizeof(*f->peers));
	if (!f->peers) {
		snprintf(err, errlen, "out of memory");
		goto fail_early;
	}

	/* the job key: every message carries it, strangers' messages are dropped */
	if (rank == 0 && getrandom(&f->key, sizeof(f->key), 0) != sizeof(f->key))
		f->key = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	MPI_Bcast(&f->key, 1, MPI_UINT64_T, 0, comm);
	/* the ranks of this host: the doorbell's shared words, and whether the host is oversubscribed */
	int hsize = 1;
	MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &f->hostcomm);
	MPI_Comm_size(f->hostcomm, &hsize);
	f->host_ranks = (unsigned)hsize;

	const char *prov = cfg->provider;
	if (!prov || !*prov)
		prov = getenv("FI_PROVIDER");
	hints->ep_attr->type = FI_EP_RDM;
	hints->caps = FI_MSG | FI_RMA;
	hints->mode = FI_CONTEXT;
	hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY | FI_MR_ENDPOINT;
	hints->domain_attr->control_progress = FI_PROGRESS_MANUAL;
	hints->domain_attr->data_progress = FI_PROGRESS_MANUAL;
	hints->domain_attr->threading = FI_THREAD_DOMAIN;
	hints->tx_attr->msg_order = FI_ORDER_SAS;
	if (prov && *prov)
		hints->fabric_attr->prov_name = strdup(prov);
	r = fi_getinfo(FI_VERSION(1, 17), NULL, NULL, 0, hints, &f->info);
	if (r) {
		snprintf(err, errlen, "no usable libfabric provider%s%s%s: %s (fi_getinfo %d; `fi_info -l` lists the providers this libfabric has; RDM endpoints with MSG and RMA are needed)",
			 prov ? " for '" : "", prov ? prov : "", prov ? "'" : "", fi_strerror(-r), r);
		goto fail_early;
	}
	snprintf(f->prov_name, sizeof(f->prov_name), "%s", f->info->fabric_attr->prov_name);

	if (!strcmp(f->prov_name, "shm"))
		remove_stale_shm_regions();
	r = fi_fabric(f->info->fabric_attr, &f->fabric, NULL);
	if (!r)
		r = fi_domain(f->fabric, f->info, &f->domain, NULL);
	if (r) {
		snprintf(err, errlen, "opening provider %s: %s", f->prov_name, fi_strerror(-r));
		goto fail;
	}
	if (setup_buffers(f, err, errlen))
		goto fail;
	if (open_cq(f, err, errlen))
		goto fail;
	struct fi_av_attr av_attr = { .type = FI_AV_TABLE, .count = f->n };
	r = fi_av_open(f->domain, &av_attr, &f->av, NULL);
	if (!r)
		r = fi_endpoint(f->domain, f->info, &f->ep, NULL);
	if (!r)
		r = fi_ep_bind(f->ep, &f->av->fid, 0);
	if (!r)
		r = fi_ep_bind(f->ep, &f->cq->fid, FI_TRANSMIT | FI_RECV);
	if (!r)
		r = fi_enable(f->ep);
	if (r) {
		snprintf(err, errlen, "creating the RDM endpoint on %s: %s", f->prov_name, fi_strerror(-r));
		goto fail;
	}
	if (reg_mr(f, f->bufmem, f->nbufs * buf_size(), FI_SEND | FI_RECV, 1, &f->buf_mr, err, errlen, "message buffers"))
		goto fail;
	f->buf_desc = fi_mr_desc(f->buf_mr);
	if (f->mem_len) {
		if (reg_mr(f, f->mem, f->mem_len, FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE,
			   2, &f->mem_mr, err, errlen, "machine memory"))
			goto fail;
		f->mem_desc = fi_mr_desc(f->mem_mr);
	}

	/* exchange addresses, memory keys and bases */
	char name[256];
	size_t namelen = sizeof(name);
	memset(name, 0, sizeof(name));
	r = fi_getname(&f->ep->fid, name, &namelen);
	if (r) {
		snprintf(err, errlen, "fi_getname: %s", fi_strerror(-r));
		goto fail;
	}
	char *names = malloc(sizeof(name) * f->n);
	uint64_t mine[2] = {
		f->mem_mr ? fi_mr_key(f->mem_mr) : 0,
		((f->info->domain_attr->mr_mode & FI_MR_VIRT_ADDR)) ? (uint64_t)(uintptr_t)f->mem : 0,
	};
	uint64_t *keys = malloc(sizeof(mine) * f->n);
	fi_addr_t *addrs = malloc(sizeof(fi_addr_t) * f->n);
	if (!names || !keys || !addrs) {
		free(names); free(keys); free(addrs);
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* fi_av_insert takes the addresses packed at the provider's address length */
	int nl = (int)namelen, nl_min = 0, nl_max = 0;
	MPI_Allreduce(&nl, &nl_min, 1, MPI_INT, MPI_MIN, comm);
	MPI_Allreduce(&nl, &nl_max, 1, MPI_INT, MPI_MAX, comm);
	if (nl_min != nl_max) {
		free(names); free(keys); free(addrs);
		snprintf(err, errlen, "the nodes' fabric addresses differ in length (%d to %d bytes): do all nodes use the same provider?",
			 nl_min, nl_max);
		goto fail;
	}
	MPI_Allgather(name, nl, MPI_BYTE, names, nl, MPI_BYTE, comm);
	MPI_Allgather(mine, 2, MPI_UINT64_T, keys, 2, MPI_UINT64_T, comm);
	r = fi_av_insert(f->av, names, f->n, addrs, 0, NULL);
	for (unsigned i = 0; i < f->n; i++) {
		f->peers[i].addr = addrs[i];
		f->peers[i].mem_key = keys[2 * i];
		f->peers[i].mem_base = keys[2 * i + 1];
		f->peers[i].credits = f->window;
	}
	free(names); free(keys); free(addrs);
	if (r != (int)f->n) {
		snprintf(err, errlen, "fi_av_insert took %d of %u addresses", r, f->n);
		goto fail;
	}
	for (size_t i = 0; i < f->nrecv; i++)
		if (post_recv(f, &f->xbufs[i])) {
			snprintf(err, errlen, "posting receive buffers failed");
			goto fail;
		}
	if (!f->cq_has_fd && open_doorbell(f, comm, err, errlen))
		goto fail;
	fi_freeinfo(hints);
	MPI_Barrier(comm);	/* every endpoint is ready before anyone sends */
	return f;

fail:
	fi_freeinfo(hints);
	coh_fabric_close(f);
	return NULL;
fail_early:
	if (hints)
		fi_freeinfo(hints);
	if (f)
		coh_fabric_close(f);
	return NULL;
}

void coh_fabric_close(struct coh_fabric *f)
{
	if (!f)
		return;
	for (unsigned i = 0; f->peers && i < f->n; i++)
		while (f->peers[i].q_head) {
			struct pending *q = f->peers[i].q_head;
			f->peers[i].q_head = q->next;
			free(q);
		}
	if (f->ep)
		fi_close(&f->ep->fid);
	if (f->mem_mr)
		fi_close(&f->mem_mr->fid);
	if (f->buf_mr)
		fi_close(&f->buf_mr->fid);
	if (f->av)
		fi_close(&f->av->fid);
	if (f->cq)
		fi_close(&f->cq->fid);
	if (f->domain)
		fi_close(&f->domain->fid);
	if (f->fabric)
		fi_close(&f->fabric->fid);
	if (f->info)
		fi_freeinfo(f->info);
	if (f->bell_fd >= 0)
		close(f->bell_fd);
	if (f->win != MPI_WIN_NULL)
		MPI_Win_free(&f->win);
	if (f->hostcomm != MPI_COMM_NULL)
		MPI_Comm_free(&f->hostcomm);
	free(f->sleeping);
	free(f->xbufs);
	free(f->bufmem);
	free(f->peers);
	free(f);
}
