/*
 * vnet.c — subnet switches: MAC learning with aging, flooding, bounded
 * output queues, and frames split into transport messages between nodes.
 * See vnet.h for the forwarding rules and the wire format.
 *
 * The MAC table is open-addressed (linear probing, never shrinking): an
 * aged entry keeps its slot, so probe chains stay intact, and is reused by
 * the next new address whose probe passes it.
 */
#include "vnet/vnet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/*
 * A queued frame. Frames that can hold a whole page keep their bytes at the
 * sender's page phase, (data + k) % 4096 == (phase + k) % 4096, so that a
 * page the sender had page-aligned is a page-aligned host page here, which
 * a receiving NIC may map into its VM copy-on-write instead of copying
 * (vnet_port_peek_share). The frame lives while its queue or a mapping
 * holds it (refs).
 */
struct frame {
	struct vnet_share share;	/* opaque = the frame; handed to the VM's pmap */
	int refs;
	uint32_t len;
	uint8_t *data;
	void *mem;
};

struct vnet_port {
	struct subnet *sn;
	char name[64];
	bool peer;			/* the port toward peer node `node` */
	unsigned node;
	const struct vnet_port_ops *ops;
	void *opaque;
	struct frame **q;		/* local ports: ring of sn->qlen frames */
	unsigned head, count;
	struct vnet_port_stats st;
};

struct mac_entry {
	uint8_t mac[6];
	bool used;
	struct vnet_port *port;
	uint64_t seen_ns;
};

struct subnet {
	struct vnet *n;
	unsigned idx;
	char name[64];
	unsigned mtu, qlen;
	uint64_t aging_ns;
	struct vnet_port **local;
	unsigned n_local;
	struct vnet_port *peers;	/* one per node; peers[self] unused */
	struct mac_entry mac[VNET_MAC_MAX];
};

/* A frame being reassembled from one source node's fragments. */
struct reasm {
	bool active;
	unsigned subnet;
	uint32_t id, total, got;
	unsigned phase;			/* the sender's page phase of byte 0 */
	uint8_t *buf;
};

struct vnet {
	struct vnet_transport t;
	struct subnet *sn[VNET_SUBNETS_MAX];
	unsigned n_sn;
	struct reasm *rx;		/* per source node */
	uint8_t *msg;			/* one outgoing message */
	uint32_t next_id;
	uint64_t dropped_malformed;	/* fragments naming no subnet or with bad fields */
};

struct frag_hdr {
	uint16_t subnet, flags;
	uint32_t id, total, off;
};
_Static_assert(sizeof(struct frag_hdr) == VNET_FRAG_HDR, "fragment header");
#define FRAG_PHASE	0x8000	/* flags: the low 12 bits are the frame's page phase */

struct vnet *vnet_new(const struct vnet_transport *t)
{
	struct vnet *n;

	if (!t || t->msg_max <= VNET_FRAG_HDR || t->self >= t->nodes || (t->nodes > 1 && !t->send))
		return NULL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->t = *t;
	n->rx = calloc(t->nodes, sizeof(*n->rx));
	n->msg = malloc(t->msg_max);
	if (!n->rx || !n->msg) {
		vnet_free(n);
		return NULL;
	}
	return n;
}

static void frame_put(struct frame *fr)
{
	if (--fr->refs == 0) {
		free(fr->mem);
		free(fr);
	}
}

static void share_get(void *opaque, uint8_t *page)
{
	((struct frame *)opaque)->refs++;
}

static void share_put(void *opaque, uint8_t *page)
{
	frame_put(opaque);
}

static struct frame *frame_new(const void *bytes, size_t len, unsigned phase)
{
	struct frame *fr = malloc(sizeof(*fr));

	if (!fr)
		return NULL;
	phase &= VNET_PAGE - 1;
	if (len >= VNET_PAGE) {
		fr->mem = aligned_alloc(VNET_PAGE, (phase + len + VNET_PAGE - 1) & ~(size_t)(VNET_PAGE - 1));
		fr->data = (uint8_t *)fr->mem + phase;
	} else {
		fr->mem = malloc(len ? len : 1);
		fr->data = fr->mem;
	}
	if (!fr->mem) {
		free(fr);
		return NULL;
	}
	memcpy(fr->data, bytes, len);
	fr->len = (uint32_t)len;
	fr->refs = 1;
	fr->share = (struct vnet_share){ .opaque = fr, .get = share_get, .put = share_put };
	return fr;
}

static void port_flush(struct vnet_port *p)
{
	while (p->count) {
		frame_put(p->q[p->head]);
		p->head = (p->head + 1) % p->sn->qlen;
		p->count--;
	}
}

void vnet_free(struct vnet *n)
{
	if (!n)
		return;
	for (unsigned i = 0; i < n->n_sn; i++) {
		struct subnet *sn = n->sn[i];

		for (unsigned k = 0; k < sn->n_local; k++) {
			port_flush(sn->local[k]);
			free(sn->local[k]->q);
			free(sn->local[k]);
		}
		free(sn->local);
		free(sn->peers);
		free(sn);
	}
	for (unsigned i = 0; n->rx && i < n->t.nodes; i++)
		free(n->rx[i].buf);
	free(n->rx);
	free(n->msg);
	free(n);
}

int vnet_subnet_add(struct vnet *n, const struct vnet_subnet_config *cfg)
{
	struct subnet *sn;

	if (!cfg->name || !cfg->name[0] || strlen(cfg->name) >= sizeof(sn->name) ||
	    cfg->mtu < VNET_MTU_MIN || cfg->mtu > VNET_MTU_MAX || cfg->qlen == 0 || cfg->qlen > 65536)
		return -EINVAL;
	if (n->n_sn == VNET_SUBNETS_MAX)
		return -ENOSPC;
	sn = calloc(1, sizeof(*sn));
	if (!sn)
		return -ENOMEM;
	sn->peers = calloc(n->t.nodes, sizeof(*sn->peers));
	if (!sn->peers) {
		free(sn);
		return -ENOMEM;
	}
	sn->n = n;
	sn->idx = n->n_sn;
	snprintf(sn->name, sizeof(sn->name), "%s", cfg->name);
	sn->mtu = cfg->mtu;
	sn->qlen = cfg->qlen;
	sn->aging_ns = cfg->aging_ns;
	for (unsigned i = 0; i < n->t.nodes; i++) {
		struct vnet_port *p = &sn->peers[i];

		p->sn = sn;
		p->peer = true;
		p->node = i;
		snprintf(p->name, sizeof(p->name), "node%u", i);
	}
	n->sn[n->n_sn++] = sn;
	return (int)sn->idx;
}

int vnet_subnet_find(const struct vnet *n, const char *name)
{
	for (unsigned i = 0; i < n->n_sn; i++)
		if (!strcmp(n->sn[i]->name, name))
			return (int)i;
	return -ENOENT;
}

unsigned vnet_subnet_count(const struct vnet *n)
{
	return n ? n->n_sn : 0;
}

unsigned vnet_subnet_mtu(const struct vnet *n, unsigned subnet)
{
	return subnet < n->n_sn ? n->sn[subnet]->mtu : 0;
}

struct vnet_port *vnet_port_add(struct vnet *n, unsigned subnet, const char *name,
				const struct vnet_port_ops *ops, void *opaque)
{
	struct subnet *sn;
	struct vnet_port *p, **grown;

	if (subnet >= n->n_sn)
		return NULL;
	sn = n->sn[subnet];
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->q = calloc(sn->qlen, sizeof(*p->q));
	grown = realloc(sn->local, (sn->n_local + 1) * sizeof(*grown));
	if (!p->q || !grown) {
		free(p->q);
		free(p);
		if (grown)
			sn->local = grown;
		return NULL;
	}
	sn->local = grown;
	p->sn = sn;
	p->ops = ops;
	p->opaque = opaque;
	snprintf(p->name, sizeof(p->name), "%s", name ? name : "nic");
	sn->local[sn->n_local++] = p;
	return p;
}

/* ---- MAC table ---- */

static unsigned mac_hash(const uint8_t *mac)
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < 6; i++)
		h = (h ^ mac[i]) * 16777619u;
	return h % VNET_MAC_MAX;
}

static bool aged(const struct subnet *sn, const struct mac_entry *e, uint64_t now)
{
	return now - e->seen_ns > sn->aging_ns && now > e->seen_ns;
}

static struct mac_entry *mac_lookup(struct subnet *sn, const uint8_t *mac, uint64_t now)
{
	unsigned h = mac_hash(mac);

	for (unsigned k = 0; k < VNET_MAC_MAX; k++) {
		struct mac_entry *e = &sn->mac[(h + k) % VNET_MAC_MAX];

		if (!e->used)
			return NULL;
		if (!memcmp(e->mac, mac, 6))
			return aged(sn, e, now) ? NULL : e;
	}
	return NULL;
}

static void mac_learn(struct subnet *sn, const uint8_t *mac, struct vnet_port *p, uint64_t now)
{
	unsigned h = mac_hash(mac);
	struct mac_entry *reuse = NULL;

	for (unsigned k = 0; k < VNET_MAC_MAX; k++) {
		struct mac_entry *e = &sn->mac[(h + k) % VNET_MAC_MAX];

		if (!e->used) {
			if (!reuse)
				reuse = e;
			break;
		}
		if (!memcmp(e->mac, mac, 6)) {
			e->port = p;	/* a VM that moved re-teaches the switch */
			e->seen_ns = now;
			return;
		}
		if (!reuse && aged(sn, e, now))
			reuse = e;
	}
	if (!reuse)
		return;		/* table full of live addresses: such frames keep being flooded */
	memcpy(reuse->mac, mac, 6);
	reuse->used = true;
	reuse->port = p;
	reuse->seen_ns = now;
}

unsigned vnet_subnet_learned(const struct vnet *n, unsigned subnet, uint64_t now_ns)
{
	unsigned k = 0;

	if (subnet >= n->n_sn)
		return 0;
	for (unsigned i = 0; i < VNET_MAC_MAX; i++) {
		const struct mac_entry *e = &n->sn[subnet]->mac[i];

		k += e->used && !aged(n->sn[subnet], e, now_ns);
	}
	return k;
}

/* ---- output ---- */

static void send_to_peer(struct vnet_port *p, const void *frame, size_t len, unsigned phase)
{
	struct vnet *n = p->sn->n;
	size_t chunk_max = n->t.msg_max - VNET_FRAG_HDR;
	struct frag_hdr h = { .subnet = (uint16_t)p->sn->idx, .flags = (uint16_t)(FRAG_PHASE | (phase & (VNET_PAGE - 1))),
			      .id = n->next_id++, .total = (uint32_t)len };
	const uint8_t *f = frame;

	for (size_t off = 0; off < len; off += chunk_max) {
		size_t chunk = len - off < chunk_max ? len - off : chunk_max;

		h.off = (uint32_t)off;
		memcpy(n->msg, &h, sizeof(h));
		memcpy(n->msg + sizeof(h), f + off, chunk);
		if (n->t.send(n->t.opaque, p->node, VNET_MSG_FRAME, n->msg, sizeof(h) + chunk) < 0) {
			p->st.drop_send++;
			LOG_RATELIMITED(SUB_NET, LOG_WARN, "subnet %s: cannot send a frame to node %u",
					p->sn->name, p->node);
			return;
		}
	}
	p->st.out_frames++;
	p->st.out_bytes += len;
}

static void enqueue(struct vnet_port *p, const void *frame, size_t len, unsigned phase)
{
	struct subnet *sn = p->sn;
	struct frame *fr;

	if (p->count == sn->qlen) {
		p->st.drop_queue_full++;
		return;
	}
	fr = frame_new(frame, len, phase);
	if (!fr) {
		p->st.drop_queue_full++;
		return;
	}
	p->q[(p->head + p->count) % sn->qlen] = fr;
	p->count++;
	if (p->ops && p->ops->kick)
		p->ops->kick(p->opaque);
}

static void output(struct vnet_port *p, const void *frame, size_t len, unsigned phase)
{
	if (p->peer)
		send_to_peer(p, frame, len, phase);
	else
		enqueue(p, frame, len, phase);
}

/* Learn the source, then forward to the destination's port or flood. */
static void forward(struct subnet *sn, struct vnet_port *in, const uint8_t *frame, size_t len, unsigned phase,
		    uint64_t now)
{
	const uint8_t *dst = frame, *src = frame + 6;
	struct mac_entry *e;

	if (!(src[0] & 1))
		mac_learn(sn, src, in, now);
	if (!(dst[0] & 1) && (e = mac_lookup(sn, dst, now))) {
		if (e->port != in)
			output(e->port, frame, len, phase);
		return;
	}
	for (unsigned i = 0; i < sn->n_local; i++)
		if (sn->local[i] != in)
			output(sn->local[i], frame, len, phase);
	if (in->peer)
		return;		/* split horizon: the sender flooded to every node */
	for (unsigned i = 0; i < sn->n->t.nodes; i++)
		if (i != sn->n->t.self)
			output(&sn->peers[i], frame, len, phase);
}

static size_t frame_limit(const struct subnet *sn, const uint8_t *frame, size_t len)
{
	bool tagged = len >= VNET_ETH_HLEN && frame[12] == 0x81 && frame[13] == 0x00;

	return sn->mtu + VNET_ETH_HLEN + (tagged ? 4 : 0);
}

int vnet_port_input(struct vnet_port *p, const void *frame, size_t len, uint64_t now_ns)
{
	return vnet_port_input_phase(p, frame, len, 0, now_ns);
}

int vnet_port_input_phase(struct vnet_port *p, const void *frame, size_t len, unsigned phase, uint64_t now_ns)
{
	struct subnet *sn = p->sn;

	if (len < VNET_ETH_HLEN) {
		p->st.drop_runt++;
		return -EINVAL;
	}
	if (len > frame_limit(sn, frame, len)) {
		p->st.drop_too_big++;
		return -EMSGSIZE;
	}
	p->st.in_frames++;
	p->st.in_bytes += len;
	forward(sn, p, frame, len, phase, now_ns);
	return 0;
}

size_t vnet_port_peek(struct vnet_port *p, const void **frame)
{
	if (!p->count)
		return 0;
	*frame = p->q[p->head]->data;
	return p->q[p->head]->len;
}

const struct vnet_share *vnet_port_peek_share(const struct vnet_port *p)
{
	return p->count && p->q[p->head]->len >= VNET_PAGE ? &p->q[p->head]->share : NULL;
}

void vnet_port_pop(struct vnet_port *p, bool delivered)
{
	vnet_port_pop_remapped(p, delivered, 0);
}

void vnet_port_pop_remapped(struct vnet_port *p, bool delivered, size_t remapped)
{
	struct frame *fr;

	if (!p->count)
		return;
	fr = p->q[p->head];
	if (remapped > fr->len)
		remapped = fr->len;
	if (delivered) {
		p->st.out_frames++;
		p->st.out_bytes += fr->len;
		p->st.bytes_copied += fr->len - remapped;
		p->st.bytes_remapped += remapped;
	}
	frame_put(fr);
	p->head = (p->head + 1) % p->sn->qlen;
	p->count--;
}

unsigned vnet_port_queued(const struct vnet_port *p)
{
	return p->count;
}

void vnet_port_get_stats(const struct vnet_port *p, struct vnet_port_stats *st)
{
	*st = p->st;
}

void vnet_peer_get_stats(const struct vnet *n, unsigned subnet, unsigned node, struct vnet_port_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (subnet < n->n_sn && node < n->t.nodes)
		*st = n->sn[subnet]->peers[node].st;
}

/* ---- input from peer nodes ---- */

void vnet_on_msg(struct vnet *n, unsigned src, unsigned type, const void *payload, size_t len, uint64_t now_ns)
{
	struct frag_hdr h;
	struct reasm *r;
	struct subnet *sn;
	struct vnet_port *peer;
	size_t chunk;

	if (type != VNET_MSG_FRAME || src >= n->t.nodes || src == n->t.self || len < sizeof(h)) {
		n->dropped_malformed++;
		return;
	}
	memcpy(&h, payload, sizeof(h));
	chunk = len - sizeof(h);
	if (h.subnet >= n->n_sn || h.total < VNET_ETH_HLEN || h.total > VNET_FRAME_MAX ||
	    h.off > h.total || chunk > h.total - h.off || chunk == 0) {
		n->dropped_malformed++;
		return;
	}
	sn = n->sn[h.subnet];
	peer = &sn->peers[src];
	r = &n->rx[src];
	if (h.off == 0) {
		if (r->active)
			n->sn[r->subnet]->peers[src].st.drop_reassembly++;
		r->active = true;
		r->subnet = h.subnet;
		r->id = h.id;
		r->total = h.total;
		r->got = 0;
		r->phase = (h.flags & FRAG_PHASE) ? h.flags & (VNET_PAGE - 1) : 0;
	} else if (!r->active || r->id != h.id || r->subnet != h.subnet || r->got != h.off ||
		   r->total != h.total) {
		if (r->active)
			n->sn[r->subnet]->peers[src].st.drop_reassembly++;
		else
			peer->st.drop_reassembly++;
		r->active = false;
		return;
	}
	if (!r->buf && !(r->buf = malloc(VNET_FRAME_MAX))) {
		peer->st.drop_reassembly++;
		r->active = false;
		return;
	}
	memcpy(r->buf + h.off, (const uint8_t *)payload + sizeof(h), chunk);
	r->got += (uint32_t)chunk;
	if (r->got < r->total)
		return;
	r->active = false;
	if (r->total > frame_limit(sn, r->buf, r->total)) {
		peer->st.drop_too_big++;
		return;
	}
	peer->st.in_frames++;
	peer->st.in_bytes += r->total;
	forward(sn, peer, r->buf, r->total, r->phase, now_ns);
}

/* ---- report ---- */

static json_t *port_json(const struct vnet_port *p)
{
	const struct vnet_port_stats *s = &p->st;
	json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I}, s:I, s:I, s:i}",
		"name", p->name,
		"kind", p->peer ? "node" : "nic",
		"in_frames", (json_int_t)s->in_frames, "in_bytes", (json_int_t)s->in_bytes,
		"out_frames", (json_int_t)s->out_frames, "out_bytes", (json_int_t)s->out_bytes,
		"drops", "queue_full", (json_int_t)s->drop_queue_full, "too_big", (json_int_t)s->drop_too_big,
		"runt", (json_int_t)s->drop_runt, "send", (json_int_t)s->drop_send,
		"reassembly", (json_int_t)s->drop_reassembly,
		"bytes_copied", (json_int_t)s->bytes_copied,
		"bytes_remapped", (json_int_t)s->bytes_remapped,
		"queued", (int)p->count);

	if (o && p->peer)
		json_object_set_new(o, "node", json_integer(p->node));
	return o;
}

json_t *vnet_report(const struct vnet *n)
{
	json_t *a = json_array();

	for (unsigned i = 0; n && i < n->n_sn; i++) {
		const struct subnet *sn = n->sn[i];
		json_t *ports = json_array();

		for (unsigned k = 0; k < sn->n_local; k++)
			json_array_append_new(ports, port_json(sn->local[k]));
		for (unsigned k = 0; k < n->t.nodes; k++)
			if (k != n->t.self)
				json_array_append_new(ports, port_json(&sn->peers[k]));
		json_array_append_new(a, json_pack("{s:s, s:i, s:i, s:f, s:I, s:o}",
			"name", sn->name, "mtu", (int)sn->mtu, "queue", (int)sn->qlen,
			"aging_s", (double)sn->aging_ns / 1e9,
			"dropped_malformed", (json_int_t)n->dropped_malformed,
			"ports", ports));
	}
	return a;
}
