/*
 * vms.c — the VMs a node runs, and how their consoles reach the user.
 *
 * A VM runs on the first min(cpus, n) nodes of its `nodes` list, hart i on
 * the list's node i mod that count (docs/coherence.md, "The monitor's
 * memory path"); the first is its home, which holds its devices, console
 * and report entry (the other nodes' parts are merged into it on node 0).
 * Its console goes to the home node's standard output (which mpirun forwards to the user's
 * terminal), each line prefixed with the VM's name when the machine runs
 * more than one VM, and to console_log when the description asks for it.
 * Keyboard input reaches node 0's first VM (mpirun forwards stdin to rank 0
 * only). The VMs take turns a budget at a time.
 */
#include <errno.h>
#include <stddef.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/paths.h"
#include "coherence/coh.h"
#include "coherence/coh_mem.h"
#include "node/gcache.h"
#include "node/internal.h"
#include "vdisk/vdisk.h"
#include "vmm/vmm.h"
#include "vnet/vnet.h"

struct vm_slot {
	struct node_vms *owner;
	const struct desc_vm *d;
	struct vmm_vm *vm;
	bool active, idle;
	int exit_status;		/* valid once !active */
	const char *end;		/* "poweroff", "interrupted", "timeout", "failed" */
	FILE *log;
	bool at_line_start;		/* the next byte out starts a line (gets the prefix) */
	char out[512];			/* console bytes not yet written: part of a line */
	size_t out_len;
	uint64_t out_since;		/* when the first of them arrived */
	uint64_t t_start, t_end;	/* CLOCK_MONOTONIC ns */
	struct vnet_port *port;		/* the NIC's switch port, NULL: no NIC */
	unsigned id;			/* the VM's place in the description */
	bool home;			/* this node is the VM's home (devices, console, report) */
	bool span;			/* the VM's harts run on several nodes */
	json_t *heat_before;		/* this node's pages' misses when the policy first acted */
	json_t *heat_last;		/* ... in the last full window of the counters */
	struct vdisk_remote_base *rbase;	/* home of a VM whose base another node serves: where from */
};

struct node_vms {
	unsigned self;
	bool prefix;
	struct node_mem *mem;
	struct vm_slot *slots;
	unsigned n;
	unsigned rr;			/* next slot to run */
	struct vdisk_server *disk;	/* the node's io_uring disk server; NULL when no VM here has a disk */
	struct vdisk_cache *cache;	/* the node's global disk cache (with the server) */
	struct vdisk_remote *remote;	/* base images served to other nodes / fetched from them; NULL: none */
	struct gcache *gc;		/* the disk cache across nodes ([machine] disk_cache = machine); NULL: off */
	struct vdisk_remote_base *served;	/* the bases this node serves to others (so its own VMs name them alike) */
	unsigned n_served;
	uint64_t *recall;		/* cache pages that VMs of other nodes read: freed once recalled */
	unsigned n_recall, cap_recall;
	struct node_vms_env env;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Console output leaves a line at a time, in one write: the consoles of
 * VMs on different nodes reach the user through mpirun, which interleaves
 * whatever fragments each rank writes. A partial line (a prompt) leaves
 * once it has waited CONSOLE_HOLD_NS, or when its VM goes idle or ends.
 */
#define CONSOLE_HOLD_NS	20000000ull

static void console_flush(struct vm_slot *s)
{
	if (!s->out_len)
		return;
	char line[sizeof(s->out) + DESC_NAME_MAX + 4];
	size_t n = 0;
	if (s->owner->prefix && s->at_line_start)
		n = (size_t)snprintf(line, sizeof(line), "[%s] ", s->d->name);
	memcpy(line + n, s->out, s->out_len);
	n += s->out_len;
	fwrite(line, 1, n, stdout);
	fflush(stdout);
	s->at_line_start = s->out[s->out_len - 1] == '\n';
	s->out_len = 0;
}

static void console_write(void *opaque, const char *buf, size_t len)
{
	struct vm_slot *s = opaque;
	if (s->log)
		fwrite(buf, 1, len, s->log);
	for (size_t i = 0; i < len; i++) {
		if (!s->out_len)
			s->out_since = now_ns();
		s->out[s->out_len++] = buf[i];
		if (buf[i] == '\n' || s->out_len == sizeof(s->out))
			console_flush(s);
	}
}

/*
 * The NIC's back end: the VM's switch port. A frame queued at the port
 * kicks the device, which fills the guest's receive buffers and raises its
 * interrupt; the VM is then no longer idle.
 */
static void nic_tx(void *opaque, const void *frame, size_t len, unsigned phase)
{
	struct vm_slot *s = opaque;
	vnet_port_input_phase(s->port, frame, len, phase, now_ns());
}

static size_t nic_rx_peek(void *opaque, const void **frame)
{
	struct vm_slot *s = opaque;
	return vnet_port_peek(s->port, frame);
}

/* vnet's frame references are the pages' sharing ops as the VM's pmap sees them */
_Static_assert(sizeof(struct vnet_share) == sizeof(struct vmm_share_ops) &&
	       offsetof(struct vnet_share, get) == offsetof(struct vmm_share_ops, get) &&
	       offsetof(struct vnet_share, put) == offsetof(struct vmm_share_ops, put),
	       "vnet_share and vmm_share_ops must stay layout-identical");

static const struct vmm_share_ops *nic_rx_share(void *opaque)
{
	struct vm_slot *s = opaque;
	return (const struct vmm_share_ops *)vnet_port_peek_share(s->port);
}

static void nic_rx_pop(void *opaque, bool delivered, size_t remapped)
{
	struct vm_slot *s = opaque;
	vnet_port_pop_remapped(s->port, delivered, remapped);
}

static void nic_kick(void *opaque)
{
	struct vm_slot *s = opaque;
	if (!s->vm)
		return;
	vmm_vm_nic_kick(s->vm);
	s->idle = false;
}

static const struct vnet_port_ops nic_port_ops = { .kick = nic_kick };

/*
 * The VMs' machine pages: the node's, and when the node has none left, the
 * ones the disk cache keeps for blocks no VM maps any more ([machine]
 * disk_cache_max) give way.
 */
static void *vm_alloc_page(void *opaque)
{
	struct node_vms *v = opaque;
	void *p = node_mem_alloc_page(v->mem);
	while (!p && v->cache && vdisk_cache_evict(v->cache, 1))
		p = node_mem_alloc_page(v->mem);
	return p;
}

static void vm_free_page(void *opaque, void *page)
{
	struct node_vms *v = opaque;
	node_mem_free_page(v->mem, page);
}

/*
 * The disk cache's pages. A spanning VM maps them (docs/disk.md), so harts
 * on other nodes may hold lines of one through the coherence engine: a page
 * the cache gives back is reused only once no other node holds a line of it.
 */
static void *cache_alloc_page(void *opaque)
{
	struct node_vms *v = opaque;
	return node_mem_alloc_page_dirty(v->mem);	/* (the cache copies a whole block into it) */
}

static void cache_release(void *opaque, uint8_t *page)
{
	struct node_vms *v = opaque;
	uint64_t off = (uint64_t)(page - v->mem->base);

	if (v->env.coh && coh_mem_page_recall(v->env.coh, off) != 0) {
		if (v->n_recall == v->cap_recall) {
			unsigned cap = v->cap_recall ? 2 * v->cap_recall : 64;
			uint64_t *r = realloc(v->recall, cap * sizeof(*r));
			if (!r) {
				LOG_RATELIMITED(SUB_NODE, LOG_WARN, "out of memory: a disk cache page is not reused");
				return;
			}
			v->recall = r;
			v->cap_recall = cap;
		}
		v->recall[v->n_recall++] = off;
		return;
	}
	node_mem_free_page(v->mem, page);
}

/* ... and one that other nodes may map (disk_cache = machine) waits until the directory says none does. */
static void cache_free_page(void *opaque, void *page)
{
	struct node_vms *v = opaque;

	if (!gcache_page_freed(v->gc, page))
		cache_release(v, page);
}

static int gc_send(void *opaque, unsigned node, unsigned type, const void *payload, size_t len)
{
	struct node_vms *v = opaque;
	return v->env.send(v->env.opaque, node, type, payload, len);
}

/* From the loop: cache pages whose recall finished go back to the node. */
static void cache_recalled(struct node_vms *v)
{
	for (unsigned i = 0; i < v->n_recall;) {
		if (coh_mem_page_recall(v->env.coh, v->recall[i]) == 0) {
			node_mem_free_page(v->mem, v->mem->base + v->recall[i]);
			v->recall[i] = v->recall[--v->n_recall];
		} else {
			i++;
		}
	}
}

/* Resolve "guest:NAME" to a built guest image. */
static void resolve_image(const char *in, char *out, size_t len)
{
	if (strncmp(in, "guest:", 6) != 0) {
		snprintf(out, len, "%s", in);
		return;
	}
	char dir[PATH_MAX];
	disco_guest_dir(dir, sizeof(dir));
	if ((size_t)snprintf(out, len, "%s/%s.elf", dir, in + 6) >= len)
		snprintf(out, len, "%s", in);	/* too long a path: the loader names what it cannot open */
}

static void heat_before(void *opaque);
static void heat_window(void *opaque);

/*
 * The nodes that take part in VM dv: the first min(cpus, n_nodes) of its
 * list (hart i runs on the list's node i mod that count; the first is home).
 */
static unsigned vm_span_nodes(const struct desc_vm *dv)
{
	return dv->cpus < dv->n_nodes ? dv->cpus : dv->n_nodes;
}

/* Runnable vCPUs on this node, of every VM (the vCPU balancer's load). */
static unsigned node_load(void *opaque)
{
	const struct node_vms *v = opaque;
	unsigned k = 0;

	for (unsigned i = 0; i < v->n; i++)
		if (v->slots[i].active && v->slots[i].vm)
			k += vmm_vm_runnable_harts(v->slots[i].vm);
	return k;
}

struct node_vms *node_vms_create(const struct desc *d, unsigned self, struct node_mem *mem,
				 bool console_prefix, struct vnet *net, const struct node_vms_env *env,
				 char *err, size_t errlen)
{
	struct node_vms *v = calloc(1, sizeof(*v));
	if (!v)
		goto oom;
	if (env)
		v->env = *env;
	v->self = self;
	v->mem = mem;
	v->prefix = console_prefix || d->n_vms > 1;
	v->slots = calloc(d->n_vms ? d->n_vms : 1, sizeof(*v->slots));
	if (!v->slots)
		goto oom;
	/* one io_uring serves the disks of every VM whose devices live here (docs/disk.md) */
	for (unsigned i = 0; i < d->n_vms && !v->disk; i++)
		if (d->vms[i].disk[0] && d->vms[i].n_nodes && d->vms[i].nodes[0] == self &&
		    !(v->disk = vdisk_server_new(256, err, errlen)))
			goto fail;
	/* ... and the base images this node serves to VMs on other nodes (docs/disk.md, "Disks across nodes") */
	bool serves = false, fetches = false;
	for (unsigned i = 0; v->env.disks && i < d->n_vms; i++) {
		serves |= v->env.disks[i].server == (int)self;
		fetches |= v->env.disks[i].server >= 0 && d->vms[i].nodes[0] == self;
	}
	if (serves && !v->disk && !(v->disk = vdisk_server_new(256, err, errlen)))
		goto fail;
	if (v->disk && d->machine.disk_cache && !(v->cache = vdisk_cache_new(cache_alloc_page, cache_free_page, v)))
		goto oom;
	if (v->cache)
		vdisk_cache_set_max(v->cache, d->machine.disk_cache_max);
	for (unsigned i = 0; v->env.disks && i < d->n_vms; i++) {
		/* (with disk_cache = machine: the caches of the nodes it serves and its own know one base) */
		if (d->machine.disk_cache != 2 || v->env.disks[i].server != (int)self || v->n_served == d->n_vms)
			continue;
		if (!v->served && !(v->served = calloc(d->n_vms, sizeof(*v->served))))
			goto oom;
		v->served[v->n_served++] = v->env.disks[i].base;
	}
	if (d->machine.disk_cache == 2 && v->env.coh && v->env.send && v->env.machine_nodes > 1) {
		/* every node: the directory of some bases may be here, whether or not its VMs have disks */
		struct gcache_config gc = { .self = self, .nodes = v->env.machine_nodes, .coh = v->env.coh,
					    .opaque = v, .send = gc_send, .release = cache_release };
		if (!(v->gc = gcache_new(&gc)))
			goto oom;
	}
	if (serves || fetches) {
		struct vdisk_remote_transport t = { .opaque = v->env.opaque, .send = v->env.send, .msg_max = COH_MSG_MAX };
		if (!v->env.send || !(v->remote = vdisk_remote_new(v->disk, &t, 0)))
			goto oom;
	}
	for (unsigned i = 0; serves && i < d->n_vms; i++) {
		char rerr[600];
		if (v->env.disks[i].server == (int)self &&
		    vdisk_remote_serve(v->remote, i, v->env.disks[i].base.path, &v->env.disks[i].base.ident, rerr,
				       sizeof(rerr)) < 0) {
			snprintf(err, errlen, "[vm %s] serving its base image to node %u: %s", d->vms[i].name,
				 d->vms[i].nodes[0], rerr);
			goto fail;
		}
	}
	for (unsigned i = 0; i < d->n_vms; i++) {
		const struct desc_vm *dv = &d->vms[i];
		unsigned k = vm_span_nodes(dv), j;
		for (j = 0; j < k && dv->nodes[j] != self; j++)
			;
		if (j == k)
			continue;	/* none of its harts runs here */
		struct vm_slot *s = &v->slots[v->n++];
		s->owner = v;
		s->d = dv;
		s->id = i;
		s->home = j == 0;
		s->span = k > 1;
		s->at_line_start = true;
		if (s->span && !v->env.coh) {
			snprintf(err, errlen, "[vm %s] runs on several nodes but this node has no coherence engine", dv->name);
			goto fail;
		}
		if (s->home && dv->console_log[0] && !(s->log = fopen(dv->console_log, "w"))) {
			snprintf(err, errlen, "[vm %s] console_log %s: %s", dv->name, dv->console_log, strerror(errno));
			goto fail;
		}
		char kernel[2048], bios[2048];
		resolve_image(dv->kernel, kernel, sizeof(kernel));
		resolve_image(dv->bios, bios, sizeof(bios));
		struct vmm_vm_config cfg = {
			.name = dv->name,
			.ncpus = dv->cpus,
			.mem_bytes = dv->mem,
			.kernel = kernel,
			.bios = dv->bios[0] ? bios : NULL,
			.initrd = dv->initrd[0] ? dv->initrd : NULL,
			.append = dv->append[0] ? dv->append : NULL,
			.disk = dv->disk[0] && s->home ? dv->disk : NULL,	/* devices live at home */
			.quantum = d->machine.quantum,
			/* desc_disk_overlay and vmm_disk_mode list the modes in the same order */
			.disk_cfg = { .server = v->disk, .mode = (enum vmm_disk_mode)dv->disk_overlay,
				      .overlay = dv->disk_overlay_file, .o_direct = dv->disk_direct,
				      .cache = v->cache, .gcache = s->span ? NULL : gcache_ops(v->gc),
				      .served = v->served, .n_served = v->n_served },
			.mem = { .opaque = v, .alloc_page = vm_alloc_page, .free_page = vm_free_page },
			.console = { .opaque = s, .write = console_write },
		};
		struct vmm_span_config span = {
			.coh = v->env.coh, .self = self, .nodes = dv->nodes, .n_nodes = k, .vm_id = i,
			.start_ns = v->env.start_ns, .opaque = v->env.opaque, .send = v->env.send,
			.policy = (unsigned)d->policy.policy, .machine_nodes = d->machine.nodes,
			.placement = (unsigned)dv->placement,
			.trigger = d->policy.trigger, .dominance = d->policy.dominance,
			.write_share = d->policy.write_share, .max_moves = d->policy.max_moves,
			.reset_ns = d->policy.reset_ns, .interval_ns = d->policy.interval_ns,
			.policy_acts = heat_before, .policy_reset = heat_window, .policy_opaque = s,
			.balance = d->machine.balance, .balance_ns = d->machine.balance_ns,
			.balance_threshold = d->machine.balance_threshold, .node_load = node_load, .load_opaque = v,
		};
		if (s->span)
			cfg.span = &span;
		if (s->home && dv->disk[0] && v->env.disks && v->env.disks[i].server >= 0) {
			if (!(s->rbase = malloc(sizeof(*s->rbase))))
				goto oom;
			*s->rbase = v->env.disks[i].base;
			s->rbase->r = v->remote;
			cfg.disk_cfg.remote = s->rbase;
			if (v->env.disks[i].overlay) {	/* disk is an overlay: used as it is, over the served base */
				cfg.disk_cfg.mode = VMM_DISK_PERSISTENT;
				cfg.disk_cfg.overlay = dv->disk;
			}
		}
		if (dv->net[0] && s->home) {
			int sn = net ? vnet_subnet_find(net, dv->net) : -ENOENT;
			if (sn < 0 || !(s->port = vnet_port_add(net, (unsigned)sn, dv->name, &nic_port_ops, s))) {
				snprintf(err, errlen, "[vm %s] net = %s: cannot attach the NIC to the subnet", dv->name, dv->net);
				goto fail;
			}
			cfg.nic.on = true;
			cfg.nic.mtu = vnet_subnet_mtu(net, (unsigned)sn);
			if (desc_vm_mac(d, i, cfg.nic.mac)) {
				snprintf(err, errlen, "[vm %s] mac = %s: not a unicast MAC address", dv->name, dv->mac);
				goto fail;
			}
			cfg.nic.ops = (struct vmm_nic_ops){ .opaque = s, .tx = nic_tx, .rx_peek = nic_rx_peek,
							    .rx_share = d->machine.net_remap ? nic_rx_share : NULL,
							    .rx_pop = nic_rx_pop };
		}
		char verr[512] = "";
		s->vm = vmm_vm_create(&cfg, verr, sizeof(verr));
		if (!s->vm) {
			snprintf(err, errlen, "[vm %s] %s", dv->name, verr);
			goto fail;
		}
		s->active = true;
		s->t_start = now_ns();
	}
	return v;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	node_vms_destroy(v);
	return NULL;
}

void node_vms_destroy(struct node_vms *v)
{
	if (!v)
		return;
	gcache_close(v->gc);	/* (the other nodes are ending too: nobody needs to hear of pages and references) */
	for (unsigned i = 0; i < v->n; i++) {
		if (v->slots[i].vm)
			vmm_vm_destroy(v->slots[i].vm);
		if (v->slots[i].log)
			fclose(v->slots[i].log);
		json_decref(v->slots[i].heat_before);
		json_decref(v->slots[i].heat_last);
		free(v->slots[i].rbase);
	}
	free(v->slots);
	vdisk_remote_free(v->remote);	/* after the VMs (their reads are cancelled), before the server */
	vdisk_server_free(v->disk);	/* after the VMs: their disks are closed */
	vdisk_cache_free(v->cache);	/* after the VMs: nothing maps its pages */
	gcache_free(v->gc);
	free(v->recall);		/* (the run is over: nobody reads them) */
	free(v->served);
	free(v);
}

unsigned node_vms_active(const struct node_vms *v)
{
	unsigned k = 0;
	for (unsigned i = 0; v && i < v->n; i++)
		k += v->slots[i].active;
	return k;
}

bool node_vms_runnable(const struct node_vms *v)
{
	uint64_t t = 0;
	for (unsigned i = 0; v && i < v->n; i++) {
		const struct vm_slot *s = &v->slots[i];
		if (!s->active)
			continue;
		if (!s->idle)
			return true;
		if (!t)
			t = now_ns();
		if (vmm_vm_next_event_ns(s->vm) <= t)
			return true;	/* its timer is due */
	}
	return false;
}

static void finish(struct vm_slot *s, int status, const char *end)
{
	s->active = false;
	s->exit_status = status;
	s->end = end;
	s->t_end = now_ns();
	if (s->out_len && s->out[s->out_len - 1] != '\n')
		console_write(s, "\n", 1);
	else if (!s->out_len && !s->at_line_start)
		console_write(s, "\n", 1);
	console_flush(s);
	LOG(SUB_NODE, LOG_INFO, "[vm %s] ended (%s), exit status %d", s->d->name, end, status);
}

uint64_t node_vms_run(struct node_vms *v, uint64_t budget)
{
	uint64_t t = now_ns(), before = node_vms_instret(v);
	if (v->n_recall)
		cache_recalled(v);
	for (unsigned k = 0; k < v->n; k++) {
		struct vm_slot *s = &v->slots[(v->rr + k) % v->n];
		if (!s->active)
			continue;
		/* an idle VM is rerun only once its timer is due (input clears idle too) */
		if (s->idle && vmm_vm_next_event_ns(s->vm) > t)
			continue;
		enum vmm_status st = vmm_vm_run(s->vm, budget);
		s->idle = st == VMM_IDLE;

		if (st == VMM_EXITED)
			finish(s, vmm_vm_exit_code(s->vm), "poweroff");
		else if (s->out_len && (s->idle || now_ns() - s->out_since > CONSOLE_HOLD_NS))
			console_flush(s);
	}
	v->rr = v->n ? (v->rr + 1) % v->n : 0;
	return node_vms_instret(v) - before;
}

uint64_t node_vms_next_event_ns(const struct node_vms *v)
{
	uint64_t t = v && v->remote ? vdisk_remote_next_deadline(v->remote) : UINT64_MAX;	/* a base read's timeout */
	if (v && v->gc && gcache_next_ns(v->gc) < t)
		t = gcache_next_ns(v->gc);	/* a cache lookup's answer or timeout */
	for (unsigned i = 0; v && i < v->n; i++)
		if (v->slots[i].active) {
			uint64_t e = vmm_vm_next_event_ns(v->slots[i].vm);
			if (e < t)
				t = e;
		}
	return t;
}

void node_vms_console_input(struct node_vms *v, const char *buf, size_t len)
{
	for (unsigned i = 0; i < v->n; i++)
		if (v->slots[i].active && v->slots[i].home) {
			vmm_vm_console_input(v->slots[i].vm, buf, len);
			v->slots[i].idle = false;
			return;
		}
}

bool node_vms_wants_input(const struct node_vms *v)
{
	return v && v->self == 0 && v->n > 0;
}

uint64_t node_vms_instret(const struct node_vms *v)
{
	uint64_t total = 0;
	for (unsigned i = 0; v && i < v->n; i++) {
		struct vmm_vm_stats st;
		vmm_vm_get_stats(v->slots[i].vm, &st);
		total += st.instret;
	}
	return total;
}

void node_vms_stop(struct node_vms *v, const char *why)
{
	for (unsigned i = 0; v && i < v->n; i++)
		if (v->slots[i].active)
			finish(&v->slots[i], 1, why);
}

/* ---- VMs whose harts run on several nodes ---- */

#define HEAT_PAGES	1024	/* pages per node in a heat map */

/*
 * heat_pages - the misses on this node's pages of the VM, by requesting
 * node: {"t_s", "nodes", "pages": [[gpa, home node, misses of node 0, of
 * node 1, ...], ...]} for the pages with any miss since the last reset.
 */
static json_t *heat_pages(const struct vm_slot *s)
{
	static uint64_t gpa[HEAT_PAGES], ma[HEAT_PAGES];
	struct coh_mem *coh = s->owner->env.coh;
	unsigned nn = s->owner->env.machine_nodes;
	size_t n = vmm_vm_local_pages(s->vm, gpa, ma, HEAT_PAGES);
	uint32_t *c = calloc((size_t)nn * COH_MISS_KINDS, sizeof(*c));
	json_t *rows = json_array();
	for (size_t i = 0; c && i < n && i < HEAT_PAGES; i++) {
		uint64_t total = 0;
		if (coh_mem_page_misses(coh, COH_MADDR_OFF(ma[i]), c, (size_t)nn * COH_MISS_KINDS))
			continue;
		json_t *row = json_pack("[I, i]", (json_int_t)gpa[i], (int)COH_MADDR_NODE(ma[i]));
		for (unsigned k = 0; k < nn; k++) {
			uint64_t m = (uint64_t)c[k * COH_MISS_KINDS] + c[k * COH_MISS_KINDS + 1] + c[k * COH_MISS_KINDS + 2];
			total += m;
			json_array_append_new(row, json_integer((json_int_t)m));
		}
		if (total)
			json_array_append_new(rows, row);
		else
			json_decref(row);
	}
	free(c);
	return json_pack("{s:f, s:i, s:o}", "t_s", (double)(now_ns() - s->t_start) / 1e9, "nodes", (int)nn,
			 "pages", rows);
}

/* The counters are about to be reset: keep the heat map of the window that ends. */
static void heat_window(void *opaque)
{
	struct vm_slot *s = opaque;
	json_decref(s->heat_last);
	s->heat_last = heat_pages(s);
}

/* The policy is about to ask for its first move here: keep the heat map of that moment. */
static void heat_before(void *opaque)
{
	struct vm_slot *s = opaque;
	if (!s->heat_before)
		s->heat_before = heat_pages(s);
}

static json_t *span_stats_json(const struct vmm_span_stats *t)
{
	json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"pages_mapped", (json_int_t)t->pages_mapped, "pages_here", (json_int_t)t->pages_here,
		"pmap_requests", (json_int_t)t->pmap_requests, "stalls_pmap", (json_int_t)t->stalls_pmap,
		"mmio_forwarded", (json_int_t)t->mmio_forwarded, "irqs_forwarded", (json_int_t)t->irqs_forwarded,
		"code_lost", (json_int_t)t->code_lost, "msgs_sent", (json_int_t)t->msgs_sent,
		"msgs_recv", (json_int_t)t->msgs_recv, "dropped", (json_int_t)t->dropped);
	json_object_set_new(o, "policy", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"migrations", (json_int_t)t->migrations, "pages_in", (json_int_t)t->pages_in,
		"pages_out", (json_int_t)t->pages_out, "shootdowns", (json_int_t)t->shootdowns,
		"moves_asked", (json_int_t)t->moves_asked, "moves_refused", (json_int_t)t->moves_refused,
		"write_shared", (json_int_t)t->write_shared, "replications", (json_int_t)t->replications,
		"collapses", (json_int_t)t->collapses, "replica_bytes", (json_int_t)(t->replica_pages * 4096)));
	json_object_set_new(o, "sched", json_pack("{s:I, s:I, s:I, s:f, s:f, s:f}",
		"vcpu_moves", (json_int_t)t->vcpu_moves, "vcpus_in", (json_int_t)t->vcpus_in,
		"vcpus_out", (json_int_t)t->vcpus_out,
		"vcpu_move_ms", t->vcpu_moves ? (double)t->vcpu_move_ns / 1e6 / (double)t->vcpu_moves : 0.0,
		"vcpu_move_wait_ms", t->vcpus_out ? (double)t->vcpu_move_wait_ns / 1e6 / (double)t->vcpus_out : 0.0,
		"load", (double)t->load_milli / 1000.0));
	return o;
}

/* A spanning VM's entry: its nodes, and per node (this one now, the others merged on node 0) its harts' work. */
static void span_report(const struct vm_slot *s, json_t *o)
{
	struct vmm_span_stats t;
	json_t *nodes = json_array(), *part;
	for (unsigned k = 0; k < vm_span_nodes(s->d); k++)
		json_array_append_new(nodes, json_integer(s->d->nodes[k]));
	vmm_vm_get_span_stats(s->vm, &t);
	part = json_pack("{s:i, s:i, s:I, s:I, s:o}", "node", (int)s->owner->self,
			 "harts", (int)vmm_vm_local_harts(s->vm),
			 "instructions", json_integer_value(json_object_get(o, "instructions")),
			 "pages_touched", json_integer_value(json_object_get(o, "pages_touched")),
			 "span", span_stats_json(&t));
	json_object_set_new(o, "nodes", nodes);
	json_object_set_new(o, "parts", json_pack("[o]", part));
	/* where the harts' time went besides executing (hart-seconds; summed over the nodes on node 0) */
	struct vmm_vm_stats vs;
	vmm_vm_get_stats(s->vm, &vs);
	json_object_set_new(o, "local_stall_s", json_real((double)vs.stall_local_ns / 1e9));
	json_object_set_new(o, "remote_stall_s", json_real((double)vs.stall_remote_ns / 1e9));
	json_object_set_new(o, "monitor_stall_s", json_real((double)vs.stall_monitor_ns / 1e9));
	json_object_set_new(part, "run_s", json_real((double)vs.run_ns / 1e9));
	/* after: the window that is running at the end, or the last full one if that saw more pages */
	json_t *now = heat_pages(s), *after = now;
	if (s->heat_last && json_array_size(json_object_get(s->heat_last, "pages")) >
			    json_array_size(json_object_get(now, "pages")))
		after = s->heat_last;
	json_object_set_new(part, "heat", json_pack("{s:O?, s:O}", "before", s->heat_before, "after", after));
	json_decref(now);
	json_object_set_new(part, "remote_stall_s", json_real((double)vs.stall_remote_ns / 1e9));
	json_object_set_new(o, "migrations", json_integer((json_int_t)t.migrations));
	json_object_set_new(o, "replications", json_integer((json_int_t)t.replications));
	json_object_set_new(o, "collapses", json_integer((json_int_t)t.collapses));
	json_object_set_new(o, "vcpu_moves", json_integer((json_int_t)t.vcpu_moves));
	if (!s->home) {
		json_object_set_new(o, "part", json_true());
		json_object_del(o, "exit_status");
	}
}

#define HOT_PAGES	8

static json_int_t row_total(json_t *row)
{
	json_int_t t = 0;
	for (size_t k = 2; k < json_array_size(row); k++)
		t += json_integer_value(json_array_get(row, k));
	return t;
}

static int cmp_row_total(const void *a, const void *b)
{
	json_int_t x = row_total(*(json_t *const *)a), y = row_total(*(json_t *const *)b);
	return (x < y) - (x > y);	/* most misses first */
}

/* The VM's hottest pages at the end of the run, over every node's heat map: [{gpa, node, misses: [by node]}]. */
static json_t *hot_pages(json_t *parts)
{
	json_t *all = json_array(), *part, *out = json_array();
	size_t i;
	json_array_foreach(parts, i, part)
		json_array_extend(all, json_object_get(json_object_get(json_object_get(part, "heat"), "after"), "pages"));
	size_t n = json_array_size(all);
	json_t **r = malloc((n ? n : 1) * sizeof(*r));
	for (size_t k = 0; r && k < n; k++)
		r[k] = json_array_get(all, k);
	if (r)
		qsort(r, n, sizeof(*r), cmp_row_total);
	for (size_t k = 0; r && k < n && k < HOT_PAGES; k++) {
		json_t *m = json_array();
		for (size_t j = 2; j < json_array_size(r[k]); j++)
			json_array_append(m, json_array_get(r[k], j));
		json_array_append_new(out, json_pack("{s:O, s:O, s:o}", "gpa", json_array_get(r[k], 0),
						     "node", json_array_get(r[k], 1), "misses", m));
	}
	free(r);
	json_decref(all);
	return out;
}

void node_vms_merge_parts(json_t *vms)
{
	static const char *const sums[] = { "instructions", "exceptions", "interrupts", "tlb_misses", "pages_touched",
					    "migrations", "replications", "collapses", "vcpu_moves" };
	size_t i = 0;
	while (i < json_array_size(vms)) {
		json_t *p = json_array_get(vms, i), *h = NULL, *x;
		size_t k;
		if (!json_is_true(json_object_get(p, "part"))) {
			i++;
			continue;
		}
		json_array_foreach(vms, k, x)
			if (!json_is_true(json_object_get(x, "part")) &&
			    json_equal(json_object_get(x, "name"), json_object_get(p, "name")))
				h = x;
		if (h) {
			for (size_t j = 0; j < sizeof(sums) / sizeof(sums[0]); j++) {
				json_int_t a = json_integer_value(json_object_get(h, sums[j]));
				json_int_t b = json_integer_value(json_object_get(p, sums[j]));
				json_object_set_new(h, sums[j], json_integer(a + b));
			}
			static const char *const rsums[] = { "local_stall_s", "remote_stall_s", "monitor_stall_s", "run_s" };
			for (size_t j = 0; j < sizeof(rsums) / sizeof(rsums[0]); j++)
				json_object_set_new(h, rsums[j], json_real(json_number_value(json_object_get(h, rsums[j])) +
									  json_number_value(json_object_get(p, rsums[j]))));
			double rt = json_real_value(json_object_get(h, "runtime_s"));
			json_int_t ins = json_integer_value(json_object_get(h, "instructions"));
			json_object_set_new(h, "mips", json_real(rt > 0 ? (double)ins / rt / 1e6 : 0.0));
			json_array_extend(json_object_get(h, "parts"), json_object_get(p, "parts"));
		}
		json_array_remove(vms, i);	/* (no home entry: the report keeps the home's only) */
	}
	json_t *v;
	json_array_foreach(vms, i, v)
		if (json_is_array(json_object_get(v, "parts")))
			json_object_set_new(v, "hot_pages", hot_pages(json_object_get(v, "parts")));
}

void node_vms_start(struct node_vms *v)
{
	for (unsigned i = 0; v && i < v->n; i++)
		vmm_vm_start(v->slots[i].vm);
}

void node_vms_handle_msg(struct node_vms *v, unsigned src, unsigned type, const void *payload, size_t len)
{
	uint32_t id;
	if (!v || len < sizeof(id))
		return;
	memcpy(&id, payload, sizeof(id));
	for (unsigned i = 0; i < v->n; i++) {
		struct vm_slot *s = &v->slots[i];
		if (s->span && s->id == id) {
			if (s->vm)	/* (an ended VM still counts the vCPUs that were on their way to it) */
				vmm_vm_handle_msg(s->vm, src, type, payload, len);
			s->idle = false;	/* a hart may have woken, or MMIO waits to be done */
			return;
		}
	}
	LOG_RATELIMITED(SUB_NODE, LOG_WARN, "message type %u from node %u for VM %u, which has no harts here",
			type, src, id);
}

void node_vms_line_lost(struct node_vms *v, uint64_t line)
{
	for (unsigned i = 0; v && i < v->n; i++)
		if (v->slots[i].span && v->slots[i].active)
			vmm_vm_line_lost(v->slots[i].vm, line);
}

/* ---- disks (docs/disk.md) ---- */

int node_vms_disk_fd(const struct node_vms *v)
{
	return v && v->disk ? vdisk_server_fd(v->disk) : -1;
}

int node_vms_disk_poll(struct node_vms *v)
{
	int n = v && v->disk ? vdisk_server_poll(v->disk) : 0;
	if (v && v->remote)
		n += vdisk_remote_poll(v->remote, now_ns());	/* base reads from a node that stopped answering */
	if (v && v->gc)
		n += (int)gcache_poll(v->gc, now_ns());	/* other nodes' caches answered (disk_cache = machine) */
	return n;
}

void node_vms_disk_msg(struct node_vms *v, unsigned src, unsigned type, const void *payload, size_t len)
{
	if (v && v->gc && type >= GC_MSG_LOOKUP && type < GC_MSG_END)
		gcache_on_msg(v->gc, src, type, payload, len);	/* the disk cache across nodes */
	else if (v && v->remote)
		vdisk_remote_on_msg(v->remote, src, type, payload, len);
	else
		LOG_RATELIMITED(SUB_NODE, LOG_WARN, "disk message type %u from node %u, and this node serves no disk", type, src);
}

/* Set n integer members of o. */
static void json_set_counts(json_t *o, const char *const *keys, const uint64_t *vals, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		json_object_set_new(o, keys[i], json_integer((json_int_t)vals[i]));
}

/* The report's "disk" object of a VM, or of a node (the sum over its VMs). */
static json_t *disk_json(const struct vmm_disk_stats *d)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"requests", (json_int_t)d->requests, "errors", (json_int_t)d->errors,
		"reads", (json_int_t)d->reads, "writes", (json_int_t)d->writes, "flushes", (json_int_t)d->flushes,
		"bytes_read", (json_int_t)d->bytes_read, "bytes_written", (json_int_t)d->bytes_written,
		"bytes_read_from_disk", (json_int_t)(d->bytes_from_base + d->bytes_from_overlay),
		"bytes_from_base", (json_int_t)d->bytes_from_base, "bytes_from_overlay", (json_int_t)d->bytes_from_overlay,
		"bytes_from_cache", (json_int_t)d->bytes_from_cache, "shared_bytes", (json_int_t)d->shared_bytes);
}

/* A VM's disk object: disk_json, and what it maps from other nodes' caches (disk_cache = machine). */
static json_t *vm_disk_json(const struct vmm_disk_stats *d, bool machine)
{
	json_t *o = disk_json(d);

	if (machine) {
		json_object_set_new(o, "bytes_from_remote_cache", json_integer((json_int_t)d->bytes_from_remote_cache));
		json_object_set_new(o, "remote_shared_bytes", json_integer((json_int_t)d->remote_shared_bytes));
	}
	return o;
}

json_t *node_vms_disk_report(const struct node_vms *v)
{
	struct vmm_disk_stats sum = {0}, d;
	bool any = false;

	for (unsigned i = 0; v && i < v->n; i++) {
		if (!v->slots[i].vm || !vmm_vm_disk_stats(v->slots[i].vm, &d))
			continue;
		any = true;
		sum.requests += d.requests;
		sum.errors += d.errors;
		sum.reads += d.reads;
		sum.writes += d.writes;
		sum.flushes += d.flushes;
		sum.bytes_read += d.bytes_read;
		sum.bytes_written += d.bytes_written;
		sum.bytes_from_base += d.bytes_from_base;
		sum.bytes_from_overlay += d.bytes_from_overlay;
		sum.bytes_from_cache += d.bytes_from_cache;
		sum.shared_bytes += d.shared_bytes;
		sum.bytes_from_remote_cache += d.bytes_from_remote_cache;
		sum.remote_shared_bytes += d.remote_shared_bytes;
	}
	if (!any && !(v && (v->remote || v->gc)))
		return NULL;
	json_t *o = vm_disk_json(&sum, v->gc != NULL);
	struct vdisk_remote_stats rs = {0};
	if (v->remote)
		vdisk_remote_get_stats(v->remote, &rs);
	/* base images across nodes: what came from other nodes' files, what this node's files sent them */
	json_set_counts(o, (const char *const[]){ "bytes_fetched_remote", "bytes_served_remote", "remote_reads_failed",
						   "remote_timeouts", "remote_requests_refused", "remote_msgs_dropped" },
			(const uint64_t[]){ rs.bytes_fetched, rs.bytes_served, rs.failed, rs.timeouts, rs.errors,
					    rs.dropped }, 6);
	struct vdisk_cache_stats cs = {0};
	if (v->cache)
		vdisk_cache_get_stats(v->cache, &cs);
	struct gcache_stats gs;
	gcache_get_stats(v->gc, &gs);
	/*
	 * N mappings of one page would have been N pages: N - 1 saved (pages
	 * kept unmapped save nothing). Across nodes (disk_cache = machine) a
	 * mapping of another node's page counts here, and a page this node
	 * keeps only for other nodes' mappings counts here too.
	 */
	json_object_set_new(o, "cache_pages", json_integer((json_int_t)(cs.pages + gs.held)));
	json_object_set_new(o, "memory_saved_bytes",
			    json_integer((json_int_t)((cs.refs + gs.remote_mapped - (cs.pages + gs.held - cs.unmapped)) * 4096)));
	json_object_set_new(o, "cache_unmapped_pages", json_integer((json_int_t)cs.unmapped));
	json_object_set_new(o, "cache_evictions", json_integer((json_int_t)cs.evictions));
	if (v->gc)
		json_set_counts(o, (const char *const[]){ "cache_pages_mapped_remote", "cache_lookups", "cache_lookup_blocks",
							   "cache_remote_hits", "cache_published", "cache_dir_entries",
							   "cache_lookup_timeouts", "cache_msgs_dropped" },
				(const uint64_t[]){ gs.remote_mapped, gs.lookups, gs.lookup_blocks, gs.remote_hits,
						    gs.published, gs.dir_entries, gs.timeouts, gs.dropped }, 8);
	return o;
}

json_t *node_vms_report(const struct node_vms *v)
{
	json_t *a = json_array();
	for (unsigned i = 0; v && i < v->n; i++) {
		const struct vm_slot *s = &v->slots[i];
		struct vmm_vm_stats st;
		vmm_vm_get_stats(s->vm, &st);
		uint64_t end = s->active ? now_ns() : s->t_end;
		double secs = (double)(end - s->t_start) / 1e9;
		struct vmm_vm_phase ph[256];
		size_t nph = vmm_vm_get_phases(s->vm, ph, 256);
		json_t *phases = json_array();
		for (size_t k = 0; k < nph && k < 256; k++)
			json_array_append_new(phases, json_pack("{s:I, s:f, s:I}", "phase", (json_int_t)ph[k].phase,
				"t_s", (double)ph[k].ns / 1e9, "instructions", (json_int_t)ph[k].instret));
		json_array_append_new(a, json_pack("{s:s, s:i, s:i, s:s, s:i, s:I, s:f, s:f, s:f, s:I, s:I, s:I, s:I, s:o}",
			"name", s->d->name,
			"node", (int)v->self,
			"cpus", (int)s->d->cpus,
			"end", s->active ? "running" : s->end,
			"exit_status", s->exit_status,
			"instructions", (json_int_t)st.instret,
			"runtime_s", secs,
			"run_s", (double)st.run_ns / 1e9,
			"mips", secs > 0 ? (double)st.instret / secs / 1e6 : 0.0,
			"exceptions", (json_int_t)st.exceptions,
			"interrupts", (json_int_t)st.interrupts,
			"tlb_misses", (json_int_t)st.tlb_misses,
			"pages_touched", (json_int_t)st.pages_touched,
			"phases", phases));
		struct vmm_disk_stats ds;
		json_t *last = json_array_get(a, json_array_size(a) - 1);
		if (last && vmm_vm_disk_stats(s->vm, &ds))
			json_object_set_new(last, "disk", vm_disk_json(&ds, v->gc != NULL));
		json_t *o = json_array_get(a, json_array_size(a) - 1);
		if (o && s->span)
			span_report(s, o);
		struct vmm_nic_stats ns;
		if (o && vmm_vm_nic_stats(s->vm, &ns))
			json_object_set_new(o, "nic", json_pack("{s:s, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:I, s:I}",
				"subnet", s->d->net,
				"tx_frames", (json_int_t)ns.tx_frames, "tx_bytes", (json_int_t)ns.tx_bytes,
				"rx_frames", (json_int_t)ns.rx_frames, "rx_bytes", (json_int_t)ns.rx_bytes,
				"drops", "tx_too_big", (json_int_t)ns.tx_drop_too_big, "tx_runt", (json_int_t)ns.tx_drop_runt,
				"tx_fault", (json_int_t)ns.tx_drop_fault, "rx_small_buffer", (json_int_t)ns.rx_drop_small_buffer,
				"rx_fault", (json_int_t)ns.rx_drop_fault, "device_errors", (json_int_t)ns.device_errors,
				"bytes_copied", (json_int_t)ns.bytes_copied,
				"bytes_remapped", (json_int_t)ns.bytes_remapped));
	}
	return a;
}
