/*
 * bench_lz: an LZ77 compressor and decompressor (LZ4-like: hash of 4 bytes
 * into a table of recent positions, literal runs and matches coded with a
 * token byte and extension bytes) over generated text-like data.
 * Self-check: every round decompresses to the input. Checksum: CRC-32 of
 * all compressed streams and their sizes.
 */
#include "bench.h"

/* checksum for scale=1, recorded from QEMU 7.2 */
#define LZ_WANT 0x23fd033a0015ab03ULL

#define IN_SIZE   (128 * 1024)
#define ROUNDS    24
#define HASH_BITS 14
#define MIN_MATCH 4

static const char *const words[] = {
	"the ", "node ", "page ", "miss ", "home ", "line ", "cache ", "remote ", "local ",
	"directory ", "replica ", "migrate ", "machine ", "virtual ", "disco ", "flash ",
	"coherence ", "protocol ", "of ", "and ", "a ", "to ", "in ", "is ", "\n",
};

static void gen_input(uint8_t *buf, size_t n, struct bench_rng *r)
{
	size_t i = 0;
	while (i < n) {
		uint64_t x = bench_next(r);
		const char *w = words[x % (sizeof(words) / sizeof(words[0]))];
		if ((x >> 32) % 17 == 0) {      /* some noise */
			buf[i++] = (uint8_t)(x >> 40);
			continue;
		}
		while (*w && i < n)
			buf[i++] = (uint8_t)*w++;
	}
}

static inline uint32_t read32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint8_t *put_len(uint8_t *op, size_t len)
{
	while (len >= 255) {
		*op++ = 255;
		len -= 255;
	}
	*op++ = (uint8_t)len;
	return op;
}

/* Returns the compressed size; out must hold n + n/255 + 16 bytes. */
static size_t compress(const uint8_t *in, size_t n, uint8_t *out, uint32_t *table)
{
	const uint8_t *ip = in, *anchor = in, *end = in + n, *limit = n > 12 ? end - 12 : in;
	uint8_t *op = out;

	memset(table, 0, sizeof(uint32_t) << HASH_BITS);
	while (ip < limit) {
		uint32_t h = (read32(ip) * 2654435761u) >> (32 - HASH_BITS);
		const uint8_t *ref = in + table[h];
		table[h] = (uint32_t)(ip - in);
		if (ref >= ip || ip - ref > 65535 || read32(ref) != read32(ip)) {
			ip++;
			continue;
		}
		size_t mlen = MIN_MATCH;
		while (ip + mlen < end && ip[mlen] == ref[mlen])
			mlen++;
		size_t lit = (size_t)(ip - anchor);
		uint8_t *token = op++;
		*token = (uint8_t)((lit < 15 ? lit : 15) << 4);
		if (lit >= 15)
			op = put_len(op, lit - 15);
		memcpy(op, anchor, lit);
		op += lit;
		size_t off = (size_t)(ip - ref);
		*op++ = (uint8_t)off;
		*op++ = (uint8_t)(off >> 8);
		size_t ml = mlen - MIN_MATCH;
		*token |= (uint8_t)(ml < 15 ? ml : 15);
		if (ml >= 15)
			op = put_len(op, ml - 15);
		ip += mlen;
		anchor = ip;
	}
	size_t lit = (size_t)(end - anchor);
	uint8_t *token = op++;
	*token = (uint8_t)((lit < 15 ? lit : 15) << 4);
	if (lit >= 15)
		op = put_len(op, lit - 15);
	memcpy(op, anchor, lit);
	op += lit;
	return (size_t)(op - out);
}

/* Returns the decompressed size, or (size_t)-1 on a malformed stream. */
static size_t decompress(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	const uint8_t *ip = in, *end = in + n;
	uint8_t *op = out, *oend = out + cap;

	while (ip < end) {
		uint8_t token = *ip++;
		size_t lit = token >> 4;
		if (lit == 15) {
			uint8_t b;
			do {
				if (ip >= end)
					return (size_t)-1;
				b = *ip++;
				lit += b;
			} while (b == 255);
		}
		if (lit > (size_t)(end - ip) || lit > (size_t)(oend - op))
			return (size_t)-1;
		memcpy(op, ip, lit);
		op += lit;
		ip += lit;
		if (ip >= end)
			break;
		if (end - ip < 2)
			return (size_t)-1;
		size_t off = ip[0] | (size_t)ip[1] << 8;
		ip += 2;
		size_t ml = token & 15;
		if (ml == 15) {
			uint8_t b;
			do {
				if (ip >= end)
					return (size_t)-1;
				b = *ip++;
				ml += b;
			} while (b == 255);
		}
		ml += MIN_MATCH;
		if (off == 0 || off > (size_t)(op - out) || ml > (size_t)(oend - op))
			return (size_t)-1;
		const uint8_t *ref = op - off;
		while (ml--)
			*op++ = *ref++;     /* overlapping copies are the point */
	}
	return (size_t)(op - out);
}

int main(void)
{
	long scale = rt_bootarg_long("scale", 1);
	size_t cap = IN_SIZE + IN_SIZE / 255 + 16;
	uint8_t *in = rt_malloc(IN_SIZE), *comp = rt_malloc(cap), *back = rt_malloc(IN_SIZE);
	uint32_t *table = rt_malloc(sizeof(uint32_t) << HASH_BITS);
	struct bench_rng rng = { 0x9E3779B97F4A7C15ULL };
	struct bench_run b;
	uint32_t crc = 0;
	uint64_t total = 0;
	int ok = 1;

	if (!in || !comp || !back || !table)
		rt_panic("bench_lz: out of memory\n");
	bench_start(&b, "lz");
	for (long r = 0; r < ROUNDS * scale; r++) {
		gen_input(in, IN_SIZE, &rng);
		size_t c = compress(in, IN_SIZE, comp, table);
		size_t d = decompress(comp, c, back, IN_SIZE);
		if (d != IN_SIZE || memcmp(in, back, IN_SIZE))
			ok = 0;
		crc = bench_crc32(crc, comp, c);
		total += c;
	}
	uint64_t sum = ((uint64_t)crc << 32) ^ total;
	rt_printf("lz: %ld x %u KiB -> %lu bytes compressed\n", ROUNDS * scale, IN_SIZE / 1024,
		  (unsigned long)total);
	return bench_finish(&b, ROUNDS * scale, sum, ok, scale == 1 ? LZ_WANT : 0);
}
