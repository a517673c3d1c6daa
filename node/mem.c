/*
 * mem.c — the node's machine memory and its page allocator.
 *
 * The mapping is anonymous and MAP_NORESERVE: a node with 4 GiB of machine
 * memory costs the host only the pages the guests touch. Pages are zeroed
 * when handed out (fresh mapping pages are zero already; reused ones are
 * cleared), so a guest never sees another guest's data.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "common/log.h"
#include "node/internal.h"

#define PAGE 4096u

int node_mem_init(struct node_mem *m, size_t len, unsigned node)
{
	memset(m, 0, sizeof(*m));
	if (len < 2 * PAGE)
		return -EINVAL;
	m->base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m->base == MAP_FAILED) {
		m->base = NULL;
		return -errno;
	}
	m->len = len;
	m->next = PAGE;	/* page 0 is the header page */
	uint64_t *hdr = (uint64_t *)m->base;
	hdr[0] = NODE_MEM_MAGIC | node;
	return 0;
}

void node_mem_fini(struct node_mem *m)
{
	if (m->base)
		munmap(m->base, m->len);
	m->base = NULL;
}

static void *alloc_page(struct node_mem *m, bool zero)
{
	void *p;
	if (m->free_list) {
		p = m->free_list;
		m->free_list = *(void **)p;
		if (zero)
			memset(p, 0, PAGE);
	} else if (m->next + PAGE <= m->len) {
		p = m->base + m->next;
		m->next += PAGE;
	} else {
		return NULL;
	}
	if (++m->pages_used > m->pages_peak)
		m->pages_peak = m->pages_used;
	return p;
}

void *node_mem_alloc_page(void *opaque)
{
	return alloc_page(opaque, true);
}

void *node_mem_alloc_page_dirty(void *opaque)
{
	return alloc_page(opaque, false);
}

void node_mem_free_page(void *opaque, void *page)
{
	struct node_mem *m = opaque;
	BUG_ON((uint8_t *)page < m->base + PAGE || (uint8_t *)page >= m->base + m->len);
	*(void **)page = m->free_list;
	m->free_list = page;
	m->pages_used--;
}
