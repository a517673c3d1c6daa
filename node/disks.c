/*
 * disks.c — which node reads each VM's base image (docs/disk.md, "Disks
 * across nodes").
 *
 * Hosts need not share a file system: a VM's base image may exist on some
 * nodes and not on its home. Before the VMs are made, every node looks at
 * every VM's disk (can it open it, and the image's identity: size and
 * sampled hash, as an overlay header records them) and the nodes exchange
 * what they saw in one MPI_Allgather; each then reaches the same verdict
 * per VM:
 *
 *   disk_server = auto   the home's own file if it can read it, else the
 *                        lowest node that can, which serves the blocks;
 *   disk_server = N      node N serves them (the home's file, if it has
 *                        one, must be the same image: the same path
 *                        naming a different file is refused).
 *
 * A base served by another node is read-only there: the VM needs an
 * overlay (disk_overlay = temp, keep or persistent), kept on its home.
 *
 * A disk that names an overlay (used as it is, disk_overlay = none) has
 * its base where the overlay's header says, with the identity it records.
 * When the home cannot read that base (or disk_server names another node),
 * a second exchange asks every node for the file at the base path (a
 * relative one taken beside each node's own `disk` path, as the overlay's
 * directory there), and the lowest node whose file has the recorded size
 * and sampled hash serves it; no such node: refused, saying what each saw.
 */
#include <errno.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "node/internal.h"

/*
 * What one node saw of one VM's disk. Normally (kind RAW) the file at
 * `disk`. When it is an overlay (kind OVL): status is whether this node has
 * its base with the recorded identity (0, -ESTALE: a different file, or
 * -errno), size and hash are the recorded identity, and path the base path
 * as the header records it. In the second exchange: the file at the home
 * overlay's base path, as kind RAW.
 */
enum { SEEN_RAW, SEEN_OVL };

struct seen {
	int32_t status;			/* 0 readable raw image, else -errno */
	uint32_t kind;			/* SEEN_RAW or SEEN_OVL */
	uint64_t size, hash;
	int64_t mtime_ns;
	char path[1024];		/* absolute path there (SEEN_OVL: the base path recorded) */
};

static bool unreadable(int status)
{
	return status == -ENOENT || status == -EACCES || status == -ENOTDIR || status == -EPERM || status == -ELOOP;
}

/* A node's view of `disk` as a raw base: an overlay there cannot be served. */
static int raw_status(const struct seen *s)
{
	return s->kind == SEEN_RAW ? s->status : -EINVAL;
}

/* The overlay's base path as this node names it: a relative one is beside this node's `disk`. */
static void base_here(const char *disk, const char *recorded, char *out, size_t len)
{
	const char *slash = strrchr(disk, '/');

	if (recorded[0] == '/' || !slash)
		snprintf(out, len, "%s", recorded);
	else
		snprintf(out, len, "%.*s/%s", (int)(slash - disk), disk, recorded);
}

/* What this node sees at `path`, expected to be a raw image of identity want (NULL: any). */
static void look(const char *path, const struct vdisk_ident *want, struct seen *me)
{
	struct vdisk_ident id = {0};
	char why[600];

	me->kind = SEEN_RAW;
	me->status = vdisk_identify(path, &id, me->path, sizeof(me->path), why, sizeof(why));
	me->size = id.size;
	me->hash = id.hash;
	me->mtime_ns = id.mtime_ns;
	if (!me->status && want && (id.size != want->size || id.hash != want->hash))
		me->status = -ESTALE;
	if (me->status)
		LOG(SUB_DISK, LOG_DEBUG, "%s", me->status == -ESTALE ? "a different image" : why);
}

/* Does VM i need the second exchange: an overlay on its home whose base must come from another node? */
static bool needs_base_search(const struct desc *d, unsigned i, const struct seen *h)
{
	int want = desc_vm_disk_server(d, i);

	if (h->kind != SEEN_OVL || d->vms[i].disk_overlay != DISK_OVL_NONE)
		return false;	/* an overlay over an overlay is refused by the home itself */
	return want >= 0 ? (unsigned)want != d->vms[i].nodes[0] : unreadable(h->status);
}

/* VM i's base is served by node server, from the file it saw (s). */
static void plan_served(struct node_disk_plan *p, int server, unsigned i, const struct seen *s)
{
	p->server = server;
	p->base.node = (unsigned)server;
	p->base.image = i;
	p->base.ident = (struct vdisk_ident){ .size = s->size, .hash = s->hash, .mtime_ns = s->mtime_ns };
	snprintf(p->base.path, sizeof(p->base.path), "%s", s->path);
}

/* The verdict for VM i whose home's disk is an overlay (h), from what every node saw at its base path (b). */
static int decide_overlay(const struct desc *d, unsigned i, unsigned nodes, const struct seen *h,
			  const struct seen *b, unsigned nd, unsigned k, struct node_disk_plan *p, char *err,
			  size_t errlen)
{
	const struct desc_vm *dv = &d->vms[i];
	int want = desc_vm_disk_server(d, i), server = -1;
	const struct seen *s;
	size_t used;

	if (want >= 0) {
		s = &b[(unsigned)want * nd + k];
		if (s->status) {
			snprintf(err, errlen, "[vm %s] disk %.300s: disk_server = %d: node %d cannot serve the base %.300s of "
				 "node %u's overlay (size %llu, sampled hash %016llx as the overlay records it): %s", dv->name,
				 dv->disk, want, want, h->path, dv->nodes[0], (unsigned long long)h->size,
				 (unsigned long long)h->hash,
				 s->status == -ESTALE ? "its file there is a different image" : strerror(-s->status));
			return s->status == -ESTALE ? -ESTALE : -ENOENT;
		}
		server = want;
	} else {
		for (unsigned n = 0; n < nodes && server < 0; n++)
			if (!b[n * nd + k].status)
				server = (int)n;
	}
	if (server < 0) {
		used = (size_t)snprintf(err, errlen, "[vm %s] disk %.300s: no node has the base %.300s of node %u's overlay "
					"with the identity the overlay records (size %llu, sampled hash %016llx):", dv->name,
					dv->disk, h->path, dv->nodes[0], (unsigned long long)h->size,
					(unsigned long long)h->hash);
		for (unsigned n = 0; n < nodes && used < errlen; n++) {
			s = &b[n * nd + k];
			used += (size_t)snprintf(err + used, errlen - used, "%s node %u: %s", n ? ";" : "", n,
						 s->status == -ESTALE ? "a different image" : strerror(-s->status));
		}
		return -ENOENT;
	}
	p->overlay = true;
	plan_served(p, server, i, &b[(unsigned)server * nd + k]);
	return 0;
}

/* The verdict for VM i, from what every node saw (all[node * nd + k], k = i's place among the VMs with a disk). */
static int decide(const struct desc *d, unsigned i, unsigned nodes, const struct seen *all, unsigned nd, unsigned k,
		  struct node_disk_plan *p, char *err, size_t errlen)
{
	const struct desc_vm *dv = &d->vms[i];
	unsigned home = dv->nodes[0];
	int want = desc_vm_disk_server(d, i);
	const struct seen *h = &all[home * nd + k], *s;
	int server = -1;

	p->server = -1;
	if (h->kind == SEEN_OVL)
		return 0;	/* an overlay the home opens itself (its base is there, or it says what is wrong) */
	if (want >= 0) {
		server = want;
		s = &all[(unsigned)want * nd + k];
		if (raw_status(s)) {
			snprintf(err, errlen, "[vm %s] disk_server = %d: node %d cannot serve %s: %s", dv->name, want, want,
				 dv->disk, s->kind == SEEN_OVL ? "it is a disco overlay there, not a raw image"
				 : strerror(-s->status));
			return -EINVAL;
		}
		if ((unsigned)want != home && !h->status && (h->size != s->size || h->hash != s->hash)) {
			snprintf(err, errlen, "[vm %s] disk %s: node %u's file is not the image node %d serves (size %llu "
				 "there, %llu here; content hash %s): the same path names a different file, refusing",
				 dv->name, dv->disk, home, want, (unsigned long long)s->size, (unsigned long long)h->size,
				 s->hash == h->hash ? "same" : "differs");
			return -ESTALE;
		}
	} else if (h->status && unreadable(h->status)) {
		for (unsigned n = 0; n < nodes && server < 0; n++)
			if (!raw_status(&all[n * nd + k]))
				server = (int)n;
		if (server < 0) {
			snprintf(err, errlen, "[vm %s] disk %s: no node can read it (node %u: %s)", dv->name, dv->disk, home,
				 strerror(-h->status));
			return -ENOENT;
		}
	}
	if (server < 0 || (unsigned)server == home)
		return 0;	/* the home opens its own file, as on one host (and says what is wrong with it) */
	if (dv->disk_overlay == DISK_OVL_NONE) {
		snprintf(err, errlen, "[vm %s] disk %s: node %d serves it to node %u, read-only: set disk_overlay = temp, "
			 "keep or persistent (the VM's writes then stay on its home)", dv->name, dv->disk, server, home);
		return -EINVAL;
	}
	plan_served(p, server, i, &all[(unsigned)server * nd + k]);
	return 0;
}

int node_disks_plan(const struct desc *d, unsigned self, unsigned nodes, struct node_disk_plan **out,
		    char *err, size_t errlen)
{
	struct seen *mine = NULL, *all = NULL, *all2 = NULL;
	struct node_disk_plan *plan = NULL;
	unsigned nd = 0, k = 0;
	bool search = false, exchange_failed;
	int r = 0;

	*out = NULL;
	for (unsigned i = 0; i < d->n_vms; i++)
		nd += d->vms[i].disk[0] != 0;
	if (!nd)
		return 0;	/* the same on every node: no exchange */
	mine = calloc(nd, sizeof(*mine));
	all = calloc((size_t)nd * nodes, sizeof(*all));
	plan = calloc(d->n_vms, sizeof(*plan));
	if (!mine || !all || !plan) {
		/* the others wait in the exchange: end the job rather than hang it */
		LOG(SUB_DISK, LOG_ERROR, "out of memory comparing the disks across nodes");
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	for (unsigned i = 0; i < d->n_vms; i++) {
		struct vdisk_ident want = {0};
		char why[600], recorded[1024], base[4096];
		int o;

		if (!d->vms[i].disk[0])
			continue;
		o = vdisk_overlay_base(d->vms[i].disk, recorded, sizeof(recorded), &want, why, sizeof(why));
		if (o == 1) {
			/* an overlay: does this node have its base, as the header records it? */
			base_here(d->vms[i].disk, recorded, base, sizeof(base));
			look(base, &want, &mine[k]);
			mine[k].kind = SEEN_OVL;
			mine[k].size = want.size;
			mine[k].hash = want.hash;
			snprintf(mine[k].path, sizeof(mine[k].path), "%s", recorded);
		} else {
			look(d->vms[i].disk, NULL, &mine[k]);	/* a damaged overlay: -EINVAL, the home says why */
		}
		k++;
	}
	if (MPI_Allgather(mine, (int)(nd * sizeof(*mine)), MPI_BYTE, all, (int)(nd * sizeof(*mine)), MPI_BYTE,
			  MPI_COMM_WORLD) != MPI_SUCCESS) {
		snprintf(err, errlen, "comparing the disks across nodes: MPI_Allgather failed");
		r = -EIO;
	}
	exchange_failed = r < 0;
	/* overlays whose base must come from another node: where is it? (the same decision on every node) */
	k = 0;
	for (unsigned i = 0; r == 0 && i < d->n_vms; i++) {
		const struct seen *h;

		if (!d->vms[i].disk[0])
			continue;
		h = &all[d->vms[i].nodes[0] * nd + k];
		if (needs_base_search(d, i, h)) {
			char base[4096];

			base_here(d->vms[i].disk, h->path, base, sizeof(base));
			look(base, &(struct vdisk_ident){ .size = h->size, .hash = h->hash }, &mine[k]);
			search = true;
		}
		k++;
	}
	if (search) {
		all2 = calloc((size_t)nd * nodes, sizeof(*all2));
		if (!all2) {
			LOG(SUB_DISK, LOG_ERROR, "out of memory comparing the disks across nodes");
			MPI_Abort(MPI_COMM_WORLD, 1);
		}
		if (MPI_Allgather(mine, (int)(nd * sizeof(*mine)), MPI_BYTE, all2, (int)(nd * sizeof(*mine)), MPI_BYTE,
				  MPI_COMM_WORLD) != MPI_SUCCESS) {
			snprintf(err, errlen, "looking for overlays' bases across nodes: MPI_Allgather failed");
			r = -EIO;
			exchange_failed = true;
		}
	}
	k = 0;
	for (unsigned i = 0; !exchange_failed && i < d->n_vms; i++) {
		const struct seen *h;
		char why[1024];
		int e;

		if (!d->vms[i].disk[0]) {
			plan[i].server = -1;
			continue;
		}
		h = &all[d->vms[i].nodes[0] * nd + k];
		if (needs_base_search(d, i, h))
			e = decide_overlay(d, i, nodes, h, all2, nd, k, &plan[i], why, sizeof(why));
		else
			e = decide(d, i, nodes, all, nd, k, &plan[i], why, sizeof(why));
		k++;
		if (e < 0) {	/* every VM's problem at once, not one per run */
			size_t used = r < 0 ? strlen(err) : 0;

			snprintf(err + used, errlen - used, "%s%s", r < 0 ? "; and " : "", why);
			if (r == 0)
				r = e;
			continue;
		}
		if (plan[i].server >= 0)
			LOG(SUB_DISK, self == d->vms[i].nodes[0] ? LOG_INFO : LOG_DEBUG,
			    "[vm %s] disk %s: node %d serves the %sbase image %s to node %u", d->vms[i].name,
			    d->vms[i].disk, plan[i].server, plan[i].overlay ? "overlay's " : "", plan[i].base.path,
			    d->vms[i].nodes[0]);
	}
	free(mine);
	free(all);
	free(all2);
	if (r < 0) {
		free(plan);
		return r;
	}
	*out = plan;
	return 0;
}
