/*
 * bench_mark: a CoreMark-like mix, in the spirit of (not identical to)
 * EEMBC CoreMark: each iteration runs
 *   - list: a linked list of records is searched, reversed and sorted
 *     (mergesort on the list) by two different keys;
 *   - matrix: integer matrix multiply, add-constant and bit-extract passes;
 *   - state: a state machine classifying numbers in a generated text;
 *   - CRC-16 over all intermediate results, chained between iterations.
 * Self-check: the list is sorted after each sort and keeps its length;
 * the matrix result is checked against a second, transposed computation.
 * Checksum: the final CRC.
 */
#include "bench.h"

/* checksum for scale=1, recorded from QEMU 7.2 */
#define MARK_WANT 0x81abULL

#define ITERS     500
#define LIST_N    256
#define MAT_N     24
#define TEXT_N    2048

struct rec {
	struct rec *next;
	int16_t key, data;
	uint32_t idx;
};

static uint16_t crc16(uint16_t crc, uint32_t v, int bytes)
{
	for (int b = 0; b < bytes; b++) {
		crc ^= (uint8_t)(v >> (8 * b));
		for (int k = 0; k < 8; k++)
			crc = crc & 1 ? (crc >> 1) ^ 0xA001 : crc >> 1;
	}
	return crc;
}

static int cmp_key(const struct rec *a, const struct rec *b) { return a->key - b->key; }
static int cmp_idx(const struct rec *a, const struct rec *b) { return (int)a->idx - (int)b->idx; }

static struct rec *list_sort(struct rec *l, int (*cmp)(const struct rec *, const struct rec *))
{
	/* bottom-up merge sort on a singly linked list */
	for (int insize = 1;; insize *= 2) {
		struct rec *p = l, *tail = NULL;
		int merges = 0;
		l = NULL;
		while (p) {
			merges++;
			struct rec *q = p;
			int psize = 0, qsize = insize;
			for (int i = 0; i < insize && q; i++) {
				psize++;
				q = q->next;
			}
			while (psize > 0 || (qsize > 0 && q)) {
				struct rec *e;
				if (!psize) {
					e = q, q = q->next, qsize--;
				} else if (!qsize || !q || cmp(p, q) <= 0) {
					e = p, p = p->next, psize--;
				} else {
					e = q, q = q->next, qsize--;
				}
				if (tail)
					tail->next = e;
				else
					l = e;
				tail = e;
			}
			p = q;
		}
		tail->next = NULL;
		if (merges <= 1)
			return l;
	}
}

static struct rec *list_reverse(struct rec *l)
{
	struct rec *prev = NULL;
	while (l) {
		struct rec *n = l->next;
		l->next = prev;
		prev = l;
		l = n;
	}
	return prev;
}

static int list_ok(struct rec *l, int (*cmp)(const struct rec *, const struct rec *), int n)
{
	int count = 0;
	for (; l; l = l->next, count++)
		if (l->next && cmp(l, l->next) > 0)
			return 0;
	return count == n;
}

static uint16_t bench_list(struct rec *l0, int iter, uint16_t crc, int *ok, struct rec **head)
{
	struct rec *l = *head;
	/* find: count records whose key matches a pattern */
	int found = 0;
	for (struct rec *p = l; p; p = p->next)
		if ((p->key & 0xff) == (iter & 0xff) || p->data == (int16_t)iter)
			found++;
	crc = crc16(crc, (uint32_t)found, 2);
	l = list_reverse(l);
	crc = crc16(crc, l->idx, 4);
	/* perturb keys so every iteration sorts differently */
	for (struct rec *p = l; p; p = p->next)
		p->key = (int16_t)(p->key * 31 + iter + p->data);
	l = list_sort(l, cmp_key);
	*ok &= list_ok(l, cmp_key, LIST_N);
	for (struct rec *p = l; p; p = p->next)
		crc = crc16(crc, (uint16_t)p->key, 2);
	l = list_sort(l, cmp_idx);
	*ok &= list_ok(l, cmp_idx, LIST_N);
	crc = crc16(crc, l->idx + (uint32_t)(l->next->key), 4);
	*head = l;
	(void)l0;
	return crc;
}

static int32_t A[MAT_N][MAT_N], B[MAT_N][MAT_N], C[MAT_N][MAT_N], Bt[MAT_N][MAT_N];

static uint16_t bench_matrix(int iter, uint16_t crc, int *ok)
{
	int32_t k = iter * 3 + 1;
	for (int i = 0; i < MAT_N; i++)
		for (int j = 0; j < MAT_N; j++) {
			A[i][j] += k;
			B[i][j] = (B[i][j] ^ (int32_t)(i * j)) + k;
			Bt[j][i] = B[i][j];
		}
	int64_t sum = 0, sum_t = 0;
	for (int i = 0; i < MAT_N; i++)
		for (int j = 0; j < MAT_N; j++) {
			int32_t s = 0, st = 0;
			for (int x = 0; x < MAT_N; x++) {
				s += A[i][x] * B[x][j];
				st += A[i][x] * Bt[j][x];
			}
			C[i][j] = s;
			sum += s;
			sum_t += st;
		}
	*ok &= sum == sum_t;
	/* bit extract pass */
	uint32_t bits = 0;
	for (int i = 0; i < MAT_N; i++)
		for (int j = 0; j < MAT_N; j++)
			bits += ((uint32_t)C[i][j] >> ((i + j) & 15)) & 0x7f;
	crc = crc16(crc, (uint32_t)sum, 4);
	crc = crc16(crc, bits, 4);
	/* keep the values bounded */
	for (int i = 0; i < MAT_N; i++)
		for (int j = 0; j < MAT_N; j++)
			A[i][j] = C[i][j] & 0xffff;
	return crc;
}

enum state { S_START, S_INT, S_FRAC, S_EXP, S_SIGNED_EXP, S_HEX, S_INVALID, NSTATES };

static uint16_t bench_state(char *text, int iter, uint16_t crc)
{
	unsigned counts[NSTATES] = { 0 };
	enum state s = S_START;
	/* perturb the text a little each iteration */
	for (int i = iter % 7; i < TEXT_N; i += 97)
		text[i] = text[i] == ',' ? '.' : text[i] == '.' ? 'e' : text[i] == 'e' ? ',' : text[i];
	for (int i = 0; i < TEXT_N; i++) {
		char c = text[i];
		if (c == ',') {
			counts[s]++;
			s = S_START;
			continue;
		}
		switch (s) {
		case S_START:
			s = c >= '0' && c <= '9' ? S_INT : c == '+' || c == '-' ? S_INT : c == 'x' ? S_HEX : S_INVALID;
			break;
		case S_INT:
			s = c == '.' ? S_FRAC : c == 'e' ? S_EXP : c >= '0' && c <= '9' ? S_INT : S_INVALID;
			break;
		case S_FRAC:
			s = c == 'e' ? S_EXP : c >= '0' && c <= '9' ? S_FRAC : S_INVALID;
			break;
		case S_EXP:
			s = c == '+' || c == '-' ? S_SIGNED_EXP : c >= '0' && c <= '9' ? S_SIGNED_EXP : S_INVALID;
			break;
		case S_SIGNED_EXP:
			s = c >= '0' && c <= '9' ? S_SIGNED_EXP : S_INVALID;
			break;
		case S_HEX:
			s = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ? S_HEX : S_INVALID;
			break;
		default:
			break;
		}
	}
	for (int k = 0; k < NSTATES; k++)
		crc = crc16(crc, counts[k], 2);
	return crc;
}

int main(void)
{
	long scale = rt_bootarg_long("scale", 1);
	struct bench_rng rng = { 0x13198A2E03707344ULL };
	struct rec *recs = rt_malloc(LIST_N * sizeof(struct rec));
	char *text = rt_malloc(TEXT_N);
	static const char alphabet[] = "0123456789012345678901234567.,e+-x.,abc";
	struct bench_run b;
	uint16_t crc = 0;
	int ok = 1;

	if (!recs || !text)
		rt_panic("bench_mark: out of memory\n");
	for (int i = 0; i < LIST_N; i++) {
		recs[i].next = i + 1 < LIST_N ? &recs[i + 1] : NULL;
		recs[i].key = (int16_t)bench_next(&rng);
		recs[i].data = (int16_t)(bench_next(&rng) & 0x3ff);
		recs[i].idx = (uint32_t)i;
	}
	for (int i = 0; i < TEXT_N; i++)
		text[i] = alphabet[bench_next(&rng) % (sizeof(alphabet) - 1)];
	for (int i = 0; i < MAT_N; i++)
		for (int j = 0; j < MAT_N; j++) {
			A[i][j] = (int32_t)(bench_next(&rng) & 0xff);
			B[i][j] = (int32_t)(bench_next(&rng) & 0xff);
		}

	struct rec *head = recs;
	bench_start(&b, "mark");
	for (long it = 0; it < ITERS * scale; it++) {
		crc = bench_list(recs, (int)it, crc, &ok, &head);
		crc = bench_matrix((int)it, crc, &ok);
		crc = bench_state(text, (int)it, crc);
	}
	return bench_finish(&b, ITERS * scale, crc, ok, scale == 1 ? MARK_WANT : 0);
}
