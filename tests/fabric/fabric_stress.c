/*
 * fabric_stress.c — the transport under a burst: every node sends COUNT
 * numbered messages to every other node as fast as coh_fabric_send takes
 * them (far more than the receive buffers hold), while serving its own
 * receives. Each receiver checks that from each sender it got every number
 * exactly once, in order, with intact payload. Credits must stall senders
 * instead of overrunning receivers.
 *
 *   mpirun -np N fabric_stress [COUNT]      exit 0 on success
 */
#include <errno.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coherence/coh.h"

#define MSG_DATA	(COH_MSG_PROTO_END + 1)

struct state {
	unsigned self, n;
	uint64_t *next;		/* per sender: the number expected next */
	uint64_t received;
	int errors;
};

static void on_msg(void *opaque, unsigned src, unsigned type, const void *p, size_t len)
{
	struct state *s = opaque;
	uint64_t seq;
	if (type != MSG_DATA || len < sizeof(seq)) {
		fprintf(stderr, "node %u: unexpected type %u len %zu from %u\n", s->self, type, len, src);
		s->errors++;
		return;
	}
	memcpy(&seq, p, sizeof(seq));
	if (seq != s->next[src]) {
		if (s->errors++ < 5)
			fprintf(stderr, "node %u: from node %u got #%llu, expected #%llu\n", s->self, src,
				(unsigned long long)seq, (unsigned long long)s->next[src]);
		s->next[src] = seq;
	}
	/* payload: length varies with seq, bytes derived from (src, seq) */
	size_t want = sizeof(seq) + (seq % 97) * 8;
	const unsigned char *b = p;
	if (len != want)
		s->errors++;
	for (size_t i = sizeof(seq); i < len; i++)
		if (b[i] != (unsigned char)(src * 31 + seq + i)) {
			s->errors++;
			break;
		}
	s->next[src]++;
	s->received++;
}

int main(int argc, char **argv)
{
	MPI_Init(&argc, &argv);
	int rank, size;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	uint64_t count = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000;
	struct state s = { .self = (unsigned)rank, .n = (unsigned)size };
	s.next = calloc((size_t)size, sizeof(uint64_t));
	static char mem[1 << 16];
	char err[512];
	struct coh_fabric_config cfg = { .mem = mem, .mem_len = sizeof(mem) };
	struct coh_fabric *f = coh_fabric_open(MPI_COMM_WORLD, &cfg, on_msg, &s, err, sizeof(err));
	if (!f) {
		fprintf(stderr, "node %d: %s\n", rank, err);
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	unsigned char buf[sizeof(uint64_t) + 97 * 8];
	uint64_t expect = count * (uint64_t)(size - 1);
	for (uint64_t seq = 0; seq < count; seq++) {
		for (int d = 0; d < size; d++) {
			if (d == rank)
				continue;
			size_t len = sizeof(seq) + (seq % 97) * 8;
			memcpy(buf, &seq, sizeof(seq));
			for (size_t i = sizeof(seq); i < len; i++)
				buf[i] = (unsigned char)(rank * 31 + seq + i);
			if (coh_fabric_send(f, (unsigned)d, MSG_DATA, buf, len)) {
				fprintf(stderr, "node %d: send failed\n", rank);
				MPI_Abort(MPI_COMM_WORLD, 1);
			}
		}
		if (seq % 64 == 0 && coh_fabric_poll(f) < 0)
			MPI_Abort(MPI_COMM_WORLD, 1);
	}
	while (s.received < expect)
		if (coh_fabric_poll(f) < 0)
			MPI_Abort(MPI_COMM_WORLD, 1);
	if (coh_fabric_flush(f, 30000))
		s.errors++;
	struct coh_fabric_stats st;
	coh_fabric_get_stats(f, &st);
	/* nobody stops serving before everybody has all its messages */
	MPI_Request req;
	int done = 0;
	MPI_Ibarrier(MPI_COMM_WORLD, &req);
	while (!done) {
		coh_fabric_poll(f);
		MPI_Test(&req, &done, MPI_STATUS_IGNORE);
	}
	printf("node %d: received %llu of %llu, %d errors, %llu sends stalled for credits, %llu credit messages, provider %s\n",
	       rank, (unsigned long long)s.received, (unsigned long long)expect, s.errors,
	       (unsigned long long)st.send_stalls, (unsigned long long)st.credit_msgs, coh_fabric_provider(f));
	int bad = s.errors || s.received != expect, anybad = 0;
	MPI_Allreduce(&bad, &anybad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
	coh_fabric_close(f);
	free(s.next);
	MPI_Finalize();
	return anybad ? 1 : 0;
}
