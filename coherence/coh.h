/*
 * coh.h — the node controller's public interface (coherence/).
 *
 * This layer owns the fabric: nothing outside coherence/ includes libfabric
 * headers. Today it offers the transport that every other layer builds on:
 *
 *   - coh_fabric_open(): one RDM endpoint per node, addresses exchanged over
 *     MPI, the node's machine memory registered for RMA, receive buffers
 *     posted, a job key shared by all nodes.
 *   - coh_fabric_send()/coh_fabric_poll(): small messages with per-peer
 *     credit flow control, so no burst overruns a receiver's buffers. Every
 *     message carries the job key; one with a wrong key, an unknown sender or
 *     a bad length is dropped and counted, never handed up.
 *   - sleeping: the node's event loop epolls the fd of coh_fabric_wait_fds():
 *     the completion queue's wait object where the provider has one (tcp),
 *     else a doorbell of disco's own (shm, whose CQ has no fd and whose
 *     fi_cq_sread spins). The doorbell is a datagram socket per node plus a
 *     "sleeping" word per node in memory the ranks of a host share; a
 *     sender that finds its peer's word set rings the doorbell, after the
 *     send and again when the send completes (shm may deliver only then).
 *     Protocol: sleeper stores sleeping=1, re-polls the CQ, then waits;
 *     sender posts the message, then exchanges sleeping->0 and rings if it
 *     was 1. Both sides use sequentially consistent atomics, so either the
 *     sleeper's re-poll sees the message or the sender sees the flag.
 *     A provider without an fd whose peers sit on other hosts cannot be
 *     rung: there a sleep lasts at most coh_fabric_max_sleep_ms().
 *   - coh_fabric_read(): RMA read of a peer's machine memory.
 *
 * Single-threaded: all calls come from the node's event loop.
 */
#ifndef DISCO_COH_H
#define DISCO_COH_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

struct coh_fabric;

#define COH_MSG_MAX	4096	/* payload bytes of one message */

/*
 * Message types. 1..15: the transport itself; 16..31: the node (bootstrap,
 * shutdown, progress); 32..127: the coherence protocol; 128..: later layers
 * (vnet). The node's handler hands each range to its owner.
 */
enum {
	COH_MSG_CREDIT = 1,	/* credits returned, no payload */
	COH_MSG_PING,		/* payload: u64 timestamp; answered with PONG */
	COH_MSG_PONG,
	COH_MSG_USER = 16,	/* first node type */
	COH_MSG_PROTO = 32,	/* first coherence-protocol type */
	COH_MSG_PROTO_END = 128,
};

struct coh_fabric_config {
	const char *provider;	/* "shm", "tcp;ofi_rxm", "verbs;ofi_rxm"...; NULL: FI_PROVIDER or libfabric's choice */
	void *mem;		/* the node's machine memory, registered for RMA */
	size_t mem_len;
	unsigned credits;	/* messages in flight per peer; 0 = default (32) */
};

struct coh_fabric_stats {
	uint64_t msgs_sent, msgs_recv, bytes_sent, bytes_recv;
	uint64_t credit_msgs;		/* explicit credit returns */
	uint64_t send_stalls;		/* sends queued for lack of credits or EAGAIN */
	uint64_t dropped_bad_key, dropped_malformed;
	uint64_t rma_reads, rma_bytes;
	uint64_t doorbells_rung, sleeps, wakeups;
};

/* Called for each valid message: src node, type, payload. */
typedef void (*coh_msg_handler)(void *opaque, unsigned src, unsigned type, const void *payload, size_t len);

/*
 * coh_fabric_open - collective over comm: every rank calls it.
 * Returns the transport, or NULL with a one-line message in err naming the
 * provider asked for and what failed (on every rank).
 */
struct coh_fabric *coh_fabric_open(MPI_Comm comm, const struct coh_fabric_config *cfg,
				   coh_msg_handler handler, void *opaque, char *err, size_t errlen);
void coh_fabric_close(struct coh_fabric *f);

/* The provider libfabric chose ("shm", "tcp;ofi_rxm"...), and its fabric name. */
const char *coh_fabric_provider(const struct coh_fabric *f);
/* Whether the node sleeps on the CQ's own wait object (1) or on disco's doorbell (0). */
int coh_fabric_has_wait_fd(const struct coh_fabric *f);
uint64_t coh_fabric_job_key(const struct coh_fabric *f);
/* How many of the job's ranks run on this host, this one included. */
unsigned coh_fabric_host_ranks(const struct coh_fabric *f);

/*
 * coh_fabric_send - send `len` bytes (<= COH_MSG_MAX) of message `type` to
 * node dest. Never blocks: without credits the message waits in a local
 * queue and leaves when credits return. Returns 0, -EINVAL (bad dest, len
 * or type), -ENOMEM, or -EIO when the fabric failed.
 */
int coh_fabric_send(struct coh_fabric *f, unsigned dest, unsigned type, const void *payload, size_t len);

/*
 * coh_fabric_poll - drive progress: read completions, hand received
 * messages to the handler, repost buffers, return credits, flush queued
 * sends. Returns the number of messages handled (>= 0), or -EIO after a
 * fabric error (the message names the peer where libfabric says).
 */
int coh_fabric_poll(struct coh_fabric *f);

/*
 * coh_fabric_flush - drive progress until every queued message has left and
 * every send has completed (before a node stops polling). Returns 0,
 * -ETIMEDOUT (a peer does not return credits), or -EIO.
 */
int coh_fabric_flush(struct coh_fabric *f, int timeout_ms);

/* The fds to epoll for incoming work; returns how many (1 today). */
int coh_fabric_wait_fds(const struct coh_fabric *f, int fds[2]);
/* The longest a node may sleep without missing a message: -1 = no limit. */
int coh_fabric_max_sleep_ms(const struct coh_fabric *f);
/*
 * coh_fabric_sleep_prepare - call right before waiting on the fd. Returns 0
 * when it is safe to sleep, 1 when work arrived meanwhile (poll instead).
 * coh_fabric_sleep_done - call after waking, whatever woke the node.
 */
int coh_fabric_sleep_prepare(struct coh_fabric *f);
void coh_fabric_sleep_done(struct coh_fabric *f);

/*
 * coh_fabric_read - RMA read of len bytes at offset off of node src's
 * machine memory into local (which must lie in this node's registered
 * machine memory). Completes before returning, serving other traffic
 * meanwhile. Returns 0 or -errno.
 */
int coh_fabric_read(struct coh_fabric *f, unsigned src, uint64_t off, void *local, size_t len);

void coh_fabric_get_stats(const struct coh_fabric *f, struct coh_fabric_stats *st);

#endif
