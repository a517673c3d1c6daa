/*
 * mem.c: the heap and the string functions the compiler may call.
 *
 * The heap runs from the end of the image (after the per-hart stacks) to
 * the end of RAM. rt_malloc rounds a request up to a power of two (>= 16
 * bytes, a 16-byte header in front keeps the class) and takes a block from
 * that class's free list or bumps the break. Simple, O(1), never coalesces:
 * right for tests and workloads that allocate their arrays once.
 */
#include "rt_internal.h"

#define NCLASS 40

struct block {
	struct block *next;   /* while free */
	uint64_t cls;
};

static rt_spinlock_t heap_lock = RT_SPINLOCK_INIT;
static uintptr_t heap_brk, heap_end;      /* guarded by heap_lock */
static struct block *free_list[NCLASS];   /* guarded by heap_lock */

void rt_heap_init(uintptr_t start, uintptr_t end)
{
	heap_brk = (start + 15) & ~15UL;
	heap_end = end;
}

void *rt_malloc(size_t n)
{
	unsigned cls = 4;
	while (((size_t)1 << cls) < n + sizeof(struct block))
		cls++;
	if (cls >= NCLASS)
		return NULL;
	rt_spin_lock(&heap_lock);
	struct block *b = free_list[cls];
	if (b) {
		free_list[cls] = b->next;
	} else if (heap_brk + ((size_t)1 << cls) <= heap_end) {
		b = (struct block *)heap_brk;
		heap_brk += (size_t)1 << cls;
	}
	rt_spin_unlock(&heap_lock);
	if (!b)
		return NULL;
	b->cls = cls;
	return b + 1;
}

void *rt_calloc(size_t n, size_t size)
{
	if (size && n > (size_t)-1 / size)
		return NULL;
	void *p = rt_malloc(n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

void rt_free(void *p)
{
	if (!p)
		return;
	struct block *b = (struct block *)p - 1;
	if (b->cls >= NCLASS)
		rt_panic("rt_free: bad block %p\n", p);
	rt_spin_lock(&heap_lock);
	b->next = free_list[b->cls];
	free_list[b->cls] = b;
	rt_spin_unlock(&heap_lock);
}

size_t rt_heap_free(void)
{
	return heap_end - heap_brk;
}

void *memset(void *d, int c, size_t n)
{
	uint8_t *p = d;
	if (n >= 16 && !((uintptr_t)p & 7)) {
		uint64_t v = (uint8_t)c * 0x0101010101010101ULL;
		for (; n >= 8; n -= 8, p += 8)
			*(uint64_t *)p = v;
	}
	while (n--)
		*p++ = (uint8_t)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	uint8_t *dp = d;
	const uint8_t *sp = s;
	if (!(((uintptr_t)dp | (uintptr_t)sp) & 7))
		for (; n >= 8; n -= 8, dp += 8, sp += 8)
			*(uint64_t *)dp = *(const uint64_t *)sp;
	while (n--)
		*dp++ = *sp++;
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	uint8_t *dp = d;
	const uint8_t *sp = s;
	if (dp <= sp || dp >= sp + n)
		return memcpy(d, s, n);
	while (n--)
		dp[n] = sp[n];
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;
	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x < *y ? -1 : 1;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			return 0;
	}
	return 0;
}
