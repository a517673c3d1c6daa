/* hello: the smallest guest program; prints a line and the hart count, exits 0. */
#include "rt.h"

int main(void)
{
	rt_printf("hello from disco guest, hart %u of %u, ram %lu MiB\n", rt_hartid(), rt_nharts(),
		  (unsigned long)(rt_ram_size() >> 20));
	return 0;
}
