/*
 * vnet.h — the virtual subnets between VMs (vnet/): one switch per subnet
 * on every node, carrying Ethernet frames between the virtio-net NICs of
 * the VMs at home on that node and, over the node's transport, to the same
 * subnet's switch on the other nodes.
 *
 * Ports. A switch has a port per local NIC (vnet_port_add) and, implicitly,
 * one per peer node. MAC learning: the source address of every frame
 * teaches the switch which port it lives behind (a frame from a VM that
 * moved re-teaches it); an entry not refreshed within the subnet's aging
 * time is forgotten. Forwarding: a known unicast destination goes to its
 * port; an unknown, broadcast or multicast destination is flooded to every
 * port but the ingress one. Frames that came from a peer node are flooded
 * to local ports only (split horizon: the sending node flooded to every
 * node itself), so a frame crosses the fabric at most once and never loops.
 *
 * Queues. Each local port has a bounded output queue of `qlen` frames; the
 * NIC pulls from it (vnet_port_peek/pop) when its guest has receive buffers,
 * and a frame arriving at a full queue is dropped at the tail and counted.
 * The switch calls the port's kick() when a frame is queued, so that the
 * NIC can deliver at once.
 *
 * Between nodes. A frame travels as one or more messages of type
 * VNET_MSG_FRAME (>= 128: the node hands them to vnet_on_msg), each with a
 * 16-byte header {u16 subnet, u16 flags (0x8000 | the frame's page phase),
 * u32 frame id, u32 frame length,
 * u32 offset} and up to msg_max - 16 bytes of the frame. The transport
 * delivers one sender's messages in order (FI_ORDER_SAS) and a node sends
 * a frame's fragments back to back, so one reassembly buffer per source
 * node is enough; a fragment that does not continue it drops the partial
 * frame (counted) and, if it starts a frame, begins anew.
 *
 * vnet reaches the transport only through struct vnet_transport: it knows
 * nothing of libfabric. Single-threaded, like the node's event loop; no
 * global state, so several nodes' vnets can live in one test process.
 */
#ifndef DISCO_VNET_H
#define DISCO_VNET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vnet;
struct vnet_port;

#define VNET_ETH_HLEN		14
#define VNET_MTU_MAX		65535	/* virtio-net's config mtu is 16 bits */
#define VNET_MTU_MIN		68
#define VNET_FRAME_MAX		(VNET_MTU_MAX + VNET_ETH_HLEN + 4)	/* + an 802.1Q tag */
#define VNET_MSG_FRAME		128	/* node message type of a frame fragment (vnet owns 128..199) */
#define VNET_MSG_PROBE		129	/* `disco bench net`: the fabric's bandwidth (node.c) */
#define VNET_MSG_PROBE_DONE	130
#define VNET_FRAG_HDR		16
#define VNET_MAC_MAX		1024	/* learned addresses per subnet switch */
#define VNET_SUBNETS_MAX	64
#define VNET_PAGE		4096

/* The node's transport, as vnet sees it. */
struct vnet_transport {
	void *opaque;
	unsigned self, nodes;
	size_t msg_max;		/* payload bytes of one message (> VNET_FRAG_HDR) */
	/* Send one message; never blocks. Returns 0 or -errno. */
	int (*send)(void *opaque, unsigned dest, unsigned type, const void *payload, size_t len);
};

struct vnet_subnet_config {
	const char *name;
	unsigned mtu;		/* bytes of payload after the Ethernet header */
	unsigned qlen;		/* frames per local output queue */
	uint64_t aging_ns;	/* a learned address is forgotten after this */
};

/* A local port's owner: the NIC back end. */
struct vnet_port_ops {
	/* A frame is waiting in the port's queue. */
	void (*kick)(void *opaque);
};

/*
 * Counters of one port, from the switch's side: "in" came from the port
 * (the VM sent it), "out" left through it (delivered to the VM, or sent to
 * the peer node).
 */
struct vnet_port_stats {
	uint64_t in_frames, in_bytes;
	uint64_t out_frames, out_bytes;
	uint64_t drop_queue_full;	/* tail drops at this port's output queue */
	uint64_t drop_too_big;		/* larger than the subnet's MTU */
	uint64_t drop_runt;		/* shorter than an Ethernet header */
	uint64_t drop_send;		/* the transport refused a fragment */
	uint64_t drop_reassembly;	/* peer ports: partial frames abandoned */
	uint64_t bytes_copied;		/* bytes copied into a VM's buffers */
	uint64_t bytes_remapped;	/* payload pages remapped instead of copied */
};

/*
 * vnet_new - the subnets of one node. t is copied. Returns NULL when out of
 * memory or when t is unusable (msg_max too small, self >= nodes).
 */
struct vnet *vnet_new(const struct vnet_transport *t);
void vnet_free(struct vnet *n);

/*
 * vnet_subnet_add - a subnet switch. Every node must add the same subnets
 * in the same order (their index names them on the wire). Returns the
 * subnet's index, -EINVAL (bad mtu/qlen/name) or -ENOSPC / -ENOMEM.
 */
int vnet_subnet_add(struct vnet *n, const struct vnet_subnet_config *cfg);
/* Index of the subnet called name, or -ENOENT. */
int vnet_subnet_find(const struct vnet *n, const char *name);
unsigned vnet_subnet_mtu(const struct vnet *n, unsigned subnet);
unsigned vnet_subnet_count(const struct vnet *n);

/*
 * vnet_port_add - a local port on subnet for a NIC called name. Returns the
 * port, or NULL (bad subnet, out of memory).
 */
struct vnet_port *vnet_port_add(struct vnet *n, unsigned subnet, const char *name,
				const struct vnet_port_ops *ops, void *opaque);

/*
 * vnet_port_input - a frame the port's VM sent, at host time now_ns: the
 * switch learns its source and forwards it. Returns 0, or -EMSGSIZE / -EINVAL
 * when it was dropped as too big / too short (counted either way).
 * vnet_port_input_phase - the same, for a frame whose byte 0 sat at offset
 * phase of a page in the sender's memory: queued copies keep that phase, so
 * that the sender's page-aligned payload pages are whole host pages at the
 * receiving port (and at ports on other nodes: the phase travels along).
 */
int vnet_port_input(struct vnet_port *p, const void *frame, size_t len, uint64_t now_ns);
int vnet_port_input_phase(struct vnet_port *p, const void *frame, size_t len, unsigned phase, uint64_t now_ns);

/*
 * A queued frame's reference counting for page sharing: layout-identical to
 * vmm's page-sharing ops (opaque first, then get and put of one page).
 * vnet_port_peek_share - for the head frame of p's queue (NULL: none, or
 * too short to hold a whole page): a receiving NIC that maps a page-aligned
 * host page of the frame's bytes (as vnet_port_peek gives them) into its
 * VM copy-on-write calls get once per mapping and put when it ends; the
 * frame lives until its last mapping ends, even once popped.
 */
struct vnet_share {
	void *opaque;
	void (*get)(void *opaque, uint8_t *page);
	void (*put)(void *opaque, uint8_t *page);
};
const struct vnet_share *vnet_port_peek_share(const struct vnet_port *p);

/* The frame at the head of p's output queue: its length (0: none), *frame until vnet_port_pop. */
size_t vnet_port_peek(struct vnet_port *p, const void **frame);
/* Remove the head frame; delivered says whether the VM got it (counted as out and copied). */
void vnet_port_pop(struct vnet_port *p, bool delivered);
/* The same, remapped of its bytes having been mapped into the VM rather than copied. */
void vnet_port_pop_remapped(struct vnet_port *p, bool delivered, size_t remapped);
/* Frames waiting in p's output queue. */
unsigned vnet_port_queued(const struct vnet_port *p);
void vnet_port_get_stats(const struct vnet_port *p, struct vnet_port_stats *st);

/* A message of type >= 128 from node src (the node's handler calls this). */
void vnet_on_msg(struct vnet *n, unsigned src, unsigned type, const void *payload, size_t len, uint64_t now_ns);

/*
 * vnet_report - per subnet: its settings and every port (local NICs and
 * peer nodes) with its counters. A new JSON array.
 */
json_t *vnet_report(const struct vnet *n);

/* Counters of the port toward peer node `node` on subnet (for tests). */
void vnet_peer_get_stats(const struct vnet *n, unsigned subnet, unsigned node, struct vnet_port_stats *st);
/* Learned addresses that have not aged out at now_ns (for tests). */
unsigned vnet_subnet_learned(const struct vnet *n, unsigned subnet, uint64_t now_ns);

/* ---- the external port (stream.c) ---- */

struct vnet_stream;

/*
 * vnet_stream_open - a port of subnet on a stream socket listening on
 * 127.0.0.1:port (0: any free port) in QEMU's -netdev stream framing (a
 * 4-byte big-endian length before each frame). Returns NULL with a message
 * in err.
 */
struct vnet_stream *vnet_stream_open(struct vnet *n, unsigned subnet, uint16_t port, char *err, size_t errlen);
void vnet_stream_close(struct vnet_stream *s);
/* The fd for the node's epoll: readable when vnet_stream_poll() has work. */
int vnet_stream_fd(const struct vnet_stream *s);
/* The port it listens on. */
uint16_t vnet_stream_port(const struct vnet_stream *s);
/* Accept, read and write whatever is ready; never blocks. */
void vnet_stream_poll(struct vnet_stream *s, uint64_t now_ns);

#endif
