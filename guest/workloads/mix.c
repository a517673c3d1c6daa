/*
 * mix: a multiprogrammed mix, the workload Disco ran beside its parallel
 * codes: independent jobs, one per hart, that share nothing. Hart k runs
 * job k mod 3 on its own data (allocated and first touched by itself):
 *   compress  LZ77 compression (4-byte hash, literal runs, 16-bit offsets)
 *             of generated text-like data, decompression, comparison;
 *   sort      heapsort of PRNG keys; sorted, same sum and xor;
 *   hash      an open-addressing (linear probing) table: inserts, then
 *             8 passes of lookups of every key inserted (right value) and
 *             as many absent keys (not found).
 * Each job repeats `rounds` times with a new seed and checks itself. All
 * memory is private: migration should move every job's pages to its own
 * node, replication has nothing to do.
 * Parameters: kib (data per job, default 256), rounds (default 2), harts.
 * Exit: 0 pass, 10 + hart = that hart's job failed its check.
 */
#include "workload.h"

enum { JOB_COMPRESS, JOB_SORT, JOB_HASH, NJOBS };
static const char *const job_name[NJOBS] = { "compress", "sort", "hash" };

struct mix {
	unsigned harts;
	long bytes, rounds;
	uint64_t ck[RT_MAX_HARTS], ticks[RT_MAX_HARTS];
	int ok[RT_MAX_HARTS];
};

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* ---- compress ---------------------------------------------------------------- */

#define LZ_HASH_BITS 12

static uint8_t *put_len(uint8_t *o, unsigned long v)
{
	while (v >= 0x80) {
		*o++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*o++ = (uint8_t)v;
	return o;
}

static const uint8_t *get_len(const uint8_t *i, unsigned long *v)
{
	unsigned long r = 0;
	unsigned sh = 0;
	for (;;) {
		uint8_t b = *i++;
		r |= (unsigned long)(b & 0x7f) << sh;
		if (!(b & 0x80))
			break;
		sh += 7;
	}
	*v = r;
	return i;
}

static inline uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

/* Format: { literal count, literals, [offset (2 bytes), match length - 4] }* */
static size_t lz_compress(const uint8_t *in, size_t n, uint8_t *out, uint32_t *table)
{
	uint8_t *o = out;
	size_t i = 0, lit = 0;
	memset(table, 0xff, sizeof(uint32_t) << LZ_HASH_BITS);
	while (i + 4 <= n) {
		uint32_t h = (rd32(in + i) * 2654435761u) >> (32 - LZ_HASH_BITS);
		uint32_t cand = table[h];
		table[h] = (uint32_t)i;
		if (cand != UINT32_MAX && i - cand < 65536 && rd32(in + cand) == rd32(in + i)) {
			size_t len = 4;
			while (i + len < n && in[cand + len] == in[i + len])
				len++;
			o = put_len(o, i - lit);
			memcpy(o, in + lit, i - lit);
			o += i - lit;
			size_t off = i - cand;
			*o++ = (uint8_t)off;
			*o++ = (uint8_t)(off >> 8);
			o = put_len(o, len - 4);
			i += len;
			lit = i;
		} else {
			i++;
		}
	}
	o = put_len(o, n - lit);
	memcpy(o, in + lit, n - lit);
	return (size_t)(o + (n - lit) - out);
}

static size_t lz_decompress(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	const uint8_t *p = in, *end = in + n;
	size_t o = 0;
	while (p < end) {
		unsigned long lit, len;
		p = get_len(p, &lit);
		if (o + lit > cap)
			return SIZE_MAX;
		memcpy(out + o, p, lit);
		p += lit;
		o += lit;
		if (p >= end)
			break;
		size_t off = p[0] | p[1] << 8;
		p = get_len(p + 2, &len);
		len += 4;
		if (off == 0 || off > o || o + len > cap)
			return SIZE_MAX;
		for (unsigned long k = 0; k < len; k++, o++)
			out[o] = out[o - off];
	}
	return o;
}

static int job_compress(long bytes, uint64_t seed, uint64_t *ck)
{
	static const char *const words[] = { "the ", "disco ", "monitor ", "runs ", "virtual ", "machines ",
		"on ", "a ", "numa ", "machine ", "pages ", "migrate ", "and ", "replicate ", "flash ", "node, ",
		"coherence ", "line ", "miss ", "home.\n" };
	size_t n = (size_t)bytes;
	uint8_t *in = rt_malloc(n), *z = rt_malloc(n + n / 64 + 64), *back = rt_malloc(n);
	uint32_t *table = rt_malloc(sizeof(uint32_t) << LZ_HASH_BITS);
	if (!in || !z || !back || !table)
		return 0;
	size_t i = 0;
	while (i < n) {
		uint64_t r = next(&seed);
		const char *w = words[r % 20];
		if ((r >> 8) % 16 == 0) {      /* some noise: a number */
			char num[24];
			int k = rt_snprintf(num, sizeof(num), "%lu ", (unsigned long)(r >> 40));
			for (int j = 0; j < k && i < n; j++)
				in[i++] = (uint8_t)num[j];
		}
		for (; *w && i < n; w++)
			in[i++] = (uint8_t)*w;
	}
	size_t zn = lz_compress(in, n, z, table);
	size_t bn = lz_decompress(z, zn, back, n);
	int ok = zn < n && bn == n && !memcmp(in, back, n);
	*ck = fnv(*ck ^ zn, z, zn);
	rt_free(table);
	rt_free(back);
	rt_free(z);
	rt_free(in);
	return ok;
}

/* ---- sort -------------------------------------------------------------------- */

static void sift(uint64_t *a, size_t root, size_t n)
{
	for (;;) {
		size_t c = 2 * root + 1;
		if (c >= n)
			return;
		if (c + 1 < n && a[c + 1] > a[c])
			c++;
		if (a[root] >= a[c])
			return;
		uint64_t t = a[root];
		a[root] = a[c];
		a[c] = t;
		root = c;
	}
}

static int job_sort(long bytes, uint64_t seed, uint64_t *ck)
{
	size_t n = (size_t)bytes / 8;
	uint64_t *a = rt_malloc(n * 8);
	if (!a || n < 2)
		return 0;
	uint64_t sum = 0, x = 0;
	for (size_t i = 0; i < n; i++) {
		a[i] = next(&seed) % (n * 4);     /* duplicates on purpose */
		sum += a[i];
		x ^= a[i];
	}
	for (size_t i = n / 2; i-- > 0;)
		sift(a, i, n);
	for (size_t end = n - 1; end > 0; end--) {
		uint64_t t = a[0];
		a[0] = a[end];
		a[end] = t;
		sift(a, 0, end);
	}
	uint64_t sum2 = 0, x2 = 0;
	int ok = 1;
	for (size_t i = 0; i < n; i++) {
		if (i && a[i - 1] > a[i])
			ok = 0;
		sum2 += a[i];
		x2 ^= a[i];
	}
	*ck = fnv(*ck, a, n * 8);
	rt_free(a);
	return ok && sum == sum2 && x == x2;
}

/* ---- hash -------------------------------------------------------------------- */

static inline uint64_t mixh(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return k;
}

#define HASH_LOOKUP_PASSES 8   /* lookups per key, to weigh like the other jobs */

static int job_hash(long bytes, uint64_t seed, uint64_t *ck)
{
	/* table of (key, value) pairs at half load: bytes / 16 slots */
	size_t slots = 1;
	while (slots * 2 * 16 <= (size_t)bytes)
		slots *= 2;
	size_t nkeys = slots / 2;
	uint64_t *t = rt_calloc(slots * 2, 8), *keys = rt_malloc(nkeys * 8);
	if (!t || !keys || slots < 4)
		return 0;
	uint64_t probes = 0, found_sum = 0;
	int ok = 1;
	for (size_t i = 0; i < nkeys; i++) {
		uint64_t k = next(&seed) | 1;      /* key 0 marks an empty slot */
		keys[i] = k;
		size_t h = mixh(k) & (slots - 1);
		while (t[2 * h] && t[2 * h] != k) {
			h = (h + 1) & (slots - 1);
			probes++;
		}
		if (t[2 * h] == k) {               /* a duplicate key: keep the first value */
			keys[i] = 0;
			continue;
		}
		t[2 * h] = k;
		t[2 * h + 1] = k * 7 + i;
	}
	for (size_t i = 0; i < nkeys * HASH_LOOKUP_PASSES; i++) {
		uint64_t k = keys[i % nkeys];
		if (!k)
			continue;
		size_t h = mixh(k) & (slots - 1);
		while (t[2 * h] && t[2 * h] != k) {
			h = (h + 1) & (slots - 1);
			probes++;
		}
		if (t[2 * h] != k || t[2 * h + 1] != k * 7 + i % nkeys)
			ok = 0;
		found_sum += t[2 * h + 1];
		/* an absent key: even keys are never inserted */
		uint64_t a = k ^ 1;
		h = mixh(a) & (slots - 1);
		while (t[2 * h]) {
			if (t[2 * h] == a)
				ok = 0;
			h = (h + 1) & (slots - 1);
			probes++;
		}
	}
	*ck = fnv(*ck, &found_sum, 8) ^ probes;
	rt_free(keys);
	rt_free(t);
	return ok;
}

/* ---- driver ------------------------------------------------------------------- */

static void worker(void *arg)
{
	struct mix *m = arg;
	unsigned me = rt_hartid();
	int job = me % NJOBS, ok = 1;
	uint64_t ck = 0xcbf29ce484222325ULL, t0 = rt_rdtime();
	for (long r = 0; r < m->rounds; r++) {
		uint64_t seed = 0x9E3779B97F4A7C15ULL * (me + 1) + (uint64_t)r * 0x632BE59BD9B4E019ULL;
		switch (job) {
		case JOB_COMPRESS: ok &= job_compress(m->bytes, seed, &ck); break;
		case JOB_SORT: ok &= job_sort(m->bytes, seed, &ck); break;
		default: ok &= job_hash(m->bytes, seed, &ck); break;
		}
	}
	m->ticks[me] = rt_rdtime() - t0;
	m->ck[me] = ck;
	m->ok[me] = ok;
}

int main(void)
{
	struct mix m;
	rt_disco_mark_phase(RT_PHASE_INIT);
	m.harts = workload_harts();
	m.bytes = rt_bootarg_long("kib", 256) * 1024;
	m.rounds = rt_bootarg_long("rounds", 2);
	if (m.bytes < 1024 || m.rounds < 1)
		rt_panic("mix: bad parameters (kib=%ld rounds=%ld)\n", m.bytes / 1024, m.rounds);
	rt_disco_mark_phase(RT_PHASE_COMPUTE);
	uint64_t t0 = rt_rdtime(), i0 = rt_rdinstret();
	rt_run_on_harts(m.harts, worker, &m);
	uint64_t ticks = rt_rdtime() - t0, instret = rt_rdinstret() - i0;
	rt_disco_mark_phase(RT_PHASE_CHECK);
	uint64_t ck = 0;
	int bad = 0;
	for (unsigned k = 0; k < m.harts; k++) {
		rt_printf("mix: hart %u job=%s ticks=%lu checksum=0x%lx %s\n", k, job_name[k % NJOBS],
			  (unsigned long)m.ticks[k], (unsigned long)m.ck[k], m.ok[k] ? "ok" : "FAIL");
		ck ^= (m.ck[k] << (k % 64)) | (k % 64 ? m.ck[k] >> (64 - k % 64) : 0);
		if (!m.ok[k] && !bad)
			bad = 10 + (int)k;
	}
	rt_disco_mark_phase(RT_PHASE_DONE);
	workload_report("mix", m.harts, m.bytes / 1024, m.rounds, ticks, instret, ck, !bad);
	return bad;
}
