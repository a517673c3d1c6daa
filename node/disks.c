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
 */
#include <errno.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "node/internal.h"

/* What one node saw of one VM's disk. */
struct seen {
	int32_t status;			/* 0 readable raw image, else -errno */
	uint32_t pad;
	uint64_t size, hash;
	int64_t mtime_ns;
	char path[1024];		/* absolute path there */
};

static bool unreadable(int status)
{
	return status == -ENOENT || status == -EACCES || status == -ENOTDIR || status == -EPERM || status == -ELOOP;
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
	if (want >= 0) {
		server = want;
		s = &all[(unsigned)want * nd + k];
		if (s->status) {
			snprintf(err, errlen, "[vm %s] disk_server = %d: node %d cannot serve %s: %s", dv->name, want, want,
				 dv->disk, strerror(-s->status));
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
			if (!all[n * nd + k].status)
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
	s = &all[(unsigned)server * nd + k];
	p->server = server;
	p->base.node = (unsigned)server;
	p->base.image = i;
	p->base.ident = (struct vdisk_ident){ .size = s->size, .hash = s->hash, .mtime_ns = s->mtime_ns };
	snprintf(p->base.path, sizeof(p->base.path), "%s", s->path);
	return 0;
}

int node_disks_plan(const struct desc *d, unsigned self, unsigned nodes, struct node_disk_plan **out,
		    char *err, size_t errlen)
{
	struct seen *mine = NULL, *all = NULL;
	struct node_disk_plan *plan = NULL;
	unsigned nd = 0, k = 0;
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
		struct vdisk_ident id = {0};
		char why[512];

		if (!d->vms[i].disk[0])
			continue;
		mine[k].status = vdisk_identify(d->vms[i].disk, &id, mine[k].path, sizeof(mine[k].path), why, sizeof(why));
		mine[k].size = id.size;
		mine[k].hash = id.hash;
		mine[k].mtime_ns = id.mtime_ns;
		if (mine[k].status)
			LOG(SUB_DISK, LOG_DEBUG, "%s", why);
		k++;
	}
	if (MPI_Allgather(mine, (int)(nd * sizeof(*mine)), MPI_BYTE, all, (int)(nd * sizeof(*mine)), MPI_BYTE,
			  MPI_COMM_WORLD) != MPI_SUCCESS) {
		snprintf(err, errlen, "comparing the disks across nodes: MPI_Allgather failed");
		r = -EIO;
	}
	k = 0;
	for (unsigned i = 0; r == 0 && i < d->n_vms; i++) {
		if (!d->vms[i].disk[0]) {
			plan[i].server = -1;
			continue;
		}
		r = decide(d, i, nodes, all, nd, k++, &plan[i], err, errlen);
		if (r == 0 && plan[i].server >= 0)
			LOG(SUB_DISK, self == d->vms[i].nodes[0] ? LOG_INFO : LOG_DEBUG,
			    "[vm %s] disk %s: node %d serves the base image to node %u", d->vms[i].name, d->vms[i].disk,
			    plan[i].server, d->vms[i].nodes[0]);
	}
	free(mine);
	free(all);
	if (r < 0) {
		free(plan);
		return r;
	}
	*out = plan;
	return 0;
}
