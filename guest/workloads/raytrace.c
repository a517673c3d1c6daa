/*
 * raytrace: a SPLASH-2 RAYTRACE-style renderer over a large read-shared
 * scene, in integer arithmetic (the guests have no F/D). The scene is
 * `spheres` spheres scattered over the n x n image plane at various heights,
 * indexed by a uniform grid of cells (8 x 8 pixels each; every cell lists
 * the spheres whose bounding square overlaps it, in one CSR array). The
 * camera looks straight down (orthographic): the primary ray of a pixel
 * tests the spheres of its cell and keeps the highest hit (an integer
 * square root gives the height); a shadow ray towards the light at 45
 * degrees walks the cells of the pixel's row until it leaves the height of
 * the scene; the pixel is the sphere's colour times ambient plus Lambert
 * diffuse light (N.L from the fixed-point normal) unless in shadow.
 *
 * Rows are handed out dynamically (an AMO counter, as SPLASH-2's task
 * queues do), so every hart reads the whole scene: the scene and grid are
 * read-shared (replication should help), the image is written once per
 * pixel by whoever rendered the row.
 *
 * Check: hart 0 renders the image again serially; the images must be
 * identical, and the image must contain both lit and shadowed sphere
 * pixels and background. The checksum is a hash of the image.
 * Parameters: n (image side, default 256), spheres (default 8192; radii
 * 0.5 to 3.5 pixels, heights up to n/4 pixels), harts.
 * Exit: 0 pass, 1 images differ, 2 degenerate image.
 */
#include "workload.h"

#define S      256          /* world units per pixel */
#define CELL   8            /* pixels per grid cell side */
#define AMB    48           /* ambient light, of 256 */

struct sphere { int64_t x, y, z, r; uint32_t color; uint32_t pad; };

struct scene {
	long n, nspheres, g;        /* image side, spheres, cells per side */
	int64_t ztop;               /* highest sphere top */
	struct sphere *sp;
	uint32_t *cell_start;       /* g*g + 1 */
	uint32_t *cell_list;
	uint32_t *img;
	unsigned harts;
	volatile uint32_t next_row;
	uint64_t hits[RT_MAX_HARTS], shadows[RT_MAX_HARTS];
};

static uint64_t isqrt(uint64_t v)
{
	uint64_t r = 0, bit = 1ULL << 62;
	while (bit > v)
		bit >>= 2;
	while (bit) {
		if (v >= r + bit) {
			v -= r + bit;
			r = (r >> 1) + bit;
		} else {
			r >>= 1;
		}
		bit >>= 2;
	}
	return r;
}

static uint64_t rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The bounding square of sphere p in cells, clipped to the grid. */
static void cells_of(const struct scene *sc, const struct sphere *p, long *x0, long *x1, long *y0, long *y1)
{
	long g = sc->g;
	*x0 = p->x - p->r < 0 ? 0 : (p->x - p->r) / (S * CELL);
	*y0 = p->y - p->r < 0 ? 0 : (p->y - p->r) / (S * CELL);
	*x1 = (p->x + p->r) / (S * CELL);
	*y1 = (p->y + p->r) / (S * CELL);
	if (*x1 >= g)
		*x1 = g - 1;
	if (*y1 >= g)
		*y1 = g - 1;
}

/* Generates the spheres, then the grid: count per cell, prefix sums, fill (CSR). */
static void build(struct scene *sc)
{
	long n = sc->n, g = sc->g, x0, x1, y0, y1;
	uint64_t s = 0x5DEECE66DULL;
	sc->ztop = 0;
	for (long i = 0; i < sc->nspheres; i++) {
		struct sphere *p = &sc->sp[i];
		p->x = (int64_t)(rng(&s) % (uint64_t)(n * S));
		p->y = (int64_t)(rng(&s) % (uint64_t)(n * S));
		p->r = S / 2 + (int64_t)(rng(&s) % (uint64_t)(3 * S));
		p->z = (int64_t)(rng(&s) % (uint64_t)(n * S / 4));
		p->color = (uint32_t)rng(&s) | 0x404040;
		if (p->z + p->r > sc->ztop)
			sc->ztop = p->z + p->r;
	}
	for (long c = 0; c <= g * g; c++)
		sc->cell_start[c] = 0;
	for (long i = 0; i < sc->nspheres; i++) {
		cells_of(sc, &sc->sp[i], &x0, &x1, &y0, &y1);
		for (long cy = y0; cy <= y1; cy++)
			for (long cx = x0; cx <= x1; cx++)
				sc->cell_start[cy * g + cx + 1]++;
	}
	for (long c = 0; c < g * g; c++)
		sc->cell_start[c + 1] += sc->cell_start[c];
	sc->cell_list = rt_malloc((size_t)sc->cell_start[g * g] * sizeof(uint32_t) + 4);
	if (!sc->cell_list)
		rt_panic("raytrace: out of memory for %u grid entries\n", sc->cell_start[g * g]);
	for (long i = 0; i < sc->nspheres; i++) {
		cells_of(sc, &sc->sp[i], &x0, &x1, &y0, &y1);
		for (long cy = y0; cy <= y1; cy++)
			for (long cx = x0; cx <= x1; cx++)
				sc->cell_list[sc->cell_start[cy * g + cx]++] = (uint32_t)i;
	}
	/* the fill advanced every start to the next cell's start: shift back */
	for (long c = g * g; c > 0; c--)
		sc->cell_start[c] = sc->cell_start[c - 1];
	sc->cell_start[0] = 0;
}

static long cell_entries(const struct scene *sc)
{
	return sc->cell_start[sc->g * sc->g];
}

/* Is the ray from (x, y, z) along (1, 0, 1) blocked by a sphere other than `self`? */
static int in_shadow(const struct scene *sc, int64_t x, int64_t y, int64_t z, uint32_t self)
{
	long g = sc->g, cy = y / (S * CELL);
	for (long cx = x / (S * CELL); cx < g; cx++) {
		int64_t x0 = cx * S * CELL;
		if (x0 > x && z + (x0 - x) > sc->ztop)
			break;     /* the ray is above everything from here on */
		for (uint32_t k = sc->cell_start[cy * g + cx]; k < sc->cell_start[cy * g + cx + 1]; k++) {
			uint32_t i = sc->cell_list[k];
			if (i == self)
				continue;
			const struct sphere *p = &sc->sp[i];
			int64_t ox = x - p->x, oy = y - p->y, oz = z - p->z;
			int64_t b = ox + oz, c = ox * ox + oy * oy + oz * oz - p->r * p->r;
			if (b * b - 2 * c >= 0 && (c < 0 || b < 0))
				return 1;
		}
	}
	return 0;
}

static uint32_t shade(uint32_t color, unsigned light)
{
	uint32_t r = ((color >> 16) & 0xff) * light / 256, gg = ((color >> 8) & 0xff) * light / 256,
		 b = (color & 0xff) * light / 256;
	return r << 16 | gg << 8 | b;
}

static void render_row(struct scene *sc, long py, uint32_t *out, uint64_t *hits, uint64_t *shadows)
{
	long n = sc->n, g = sc->g;
	int64_t y = py * S + S / 2;
	for (long px = 0; px < n; px++) {
		int64_t x = px * S + S / 2, best_z = -1;
		uint32_t best = UINT32_MAX;
		long c = (py / CELL) * g + px / CELL;
		for (uint32_t k = sc->cell_start[c]; k < sc->cell_start[c + 1]; k++) {
			uint32_t i = sc->cell_list[k];
			const struct sphere *p = &sc->sp[i];
			int64_t dx = x - p->x, dy = y - p->y, d2 = dx * dx + dy * dy, r2 = p->r * p->r;
			if (d2 >= r2)
				continue;
			int64_t z = p->z + (int64_t)isqrt((uint64_t)(r2 - d2));
			if (z > best_z || (z == best_z && i < best)) {
				best_z = z;
				best = i;
			}
		}
		if (best == UINT32_MAX) {
			out[px] = ((px ^ py) & 8) ? 0x202020 : 0x101018;
			continue;
		}
		const struct sphere *p = &sc->sp[best];
		(*hits)++;
		/* N.L with N = (P - C) / r and L = (1, 0, 1) / sqrt 2, in 1/256 */
		int64_t ndl = ((x - p->x) + (best_z - p->z)) * 181 / p->r;
		unsigned light = AMB;
		if (in_shadow(sc, x, y, best_z, best))
			(*shadows)++;
		else if (ndl > 0)
			light += (unsigned)(ndl > 256 ? 256 : ndl) * (256 - AMB) / 256;
		out[px] = shade(p->color, light);
	}
}

static void worker(void *arg)
{
	struct scene *sc = arg;
	unsigned me = rt_hartid();
	uint64_t hits = 0, shadows = 0;
	for (;;) {
		uint32_t row = rt_fetch_add32(&sc->next_row, 1);
		if (row >= sc->n)
			break;
		render_row(sc, row, sc->img + row * sc->n, &hits, &shadows);
	}
	sc->hits[me] = hits;
	sc->shadows[me] = shadows;
}

int main(void)
{
	struct scene sc;
	rt_disco_mark_phase(RT_PHASE_INIT);
	sc.n = rt_bootarg_long("n", 256);
	sc.nspheres = rt_bootarg_long("spheres", 8192);
	sc.harts = workload_harts();
	if (sc.n < CELL || sc.n > 4096 || sc.nspheres < 1 || sc.nspheres > 1000000)
		rt_panic("raytrace: bad parameters (n=%ld spheres=%ld)\n", sc.n, sc.nspheres);
	sc.g = (sc.n + CELL - 1) / CELL;
	sc.sp = rt_malloc(sc.nspheres * sizeof(struct sphere));
	sc.cell_start = rt_malloc((sc.g * sc.g + 1) * sizeof(uint32_t));
	sc.img = rt_malloc(sc.n * sc.n * sizeof(uint32_t));
	uint32_t *ref = rt_malloc(sc.n * sc.n * sizeof(uint32_t));
	if (!sc.sp || !sc.cell_start || !sc.img || !ref)
		rt_panic("raytrace: out of memory\n");
	build(&sc);
	long entries = cell_entries(&sc);
	sc.next_row = 0;

	rt_disco_mark_phase(RT_PHASE_COMPUTE);
	uint64_t t0 = rt_rdtime(), i0 = rt_rdinstret();
	rt_run_on_harts(sc.harts, worker, &sc);
	uint64_t ticks = rt_rdtime() - t0, instret = rt_rdinstret() - i0;
	rt_disco_mark_phase(RT_PHASE_CHECK);

	uint64_t hits = 0, shadows = 0, h2 = 0, s2 = 0;
	for (unsigned k = 0; k < sc.harts; k++) {
		hits += sc.hits[k];
		shadows += sc.shadows[k];
	}
	for (long y = 0; y < sc.n; y++)
		render_row(&sc, y, ref + y * sc.n, &h2, &s2);
	int same = !memcmp(ref, sc.img, sc.n * sc.n * sizeof(uint32_t)) && hits == h2 && shadows == s2;
	uint64_t pixels = (uint64_t)sc.n * sc.n;
	int sane = h2 > 0 && s2 > 0 && s2 < h2 && h2 < pixels;
	uint64_t ck = 0xcbf29ce484222325ULL;
	for (uint64_t i = 0; i < pixels; i++) {
		ck ^= sc.img[i];
		ck *= 0x100000001b3ULL;
	}
	rt_printf("raytrace: %lu x %lu pixels, %ld spheres, %ld grid entries (%lu KiB read-shared), %lu hits, %lu in shadow\n",
		  (unsigned long)sc.n, (unsigned long)sc.n, sc.nspheres, entries,
		  (unsigned long)((sc.nspheres * sizeof(struct sphere) + entries * 4 + (sc.g * sc.g + 1) * 4) / 1024),
		  (unsigned long)h2, (unsigned long)s2);
	rt_disco_mark_phase(RT_PHASE_DONE);
	int rc = workload_report("raytrace", sc.harts, sc.n, sc.nspheres, ticks, instret, ck, same && sane);
	if (!same)
		return 1;
	if (!sane)
		return 2;
	return rc;
}
