/*
 * echo.c — the console, both ways: reads the UART and echoes each line back
 * as "echo: LINE". A line "quit" powers off with status 0. Used by the
 * console test and by people trying the interactive console.
 */
#include "rt.h"

#define UART_BASE	0x10000000ul
#define UART_RBR	0
#define UART_LSR	5
#define LSR_DR		0x01

static int uart_getc(void)
{
	volatile unsigned char *u = (volatile unsigned char *)UART_BASE;
	while (!(u[UART_LSR] & LSR_DR))
		;
	return u[UART_RBR];
}

int main(void)
{
	char line[128];
	unsigned n = 0;

	rt_printf("echo: ready\n");
	for (;;) {
		int c = uart_getc();
		if (c == '\r' || c == '\n') {
			line[n] = 0;
			if (n == 0)
				continue;
			rt_printf("echo: %s\n", line);
			if (n == 4 && line[0] == 'q' && line[1] == 'u' && line[2] == 'i' && line[3] == 't')
				return 0;
			n = 0;
		} else if (n + 1 < sizeof(line)) {
			line[n++] = (char)c;
		}
	}
}
