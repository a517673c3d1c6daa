/*
 * dev_uart.h — the ns16550a UART of the virt board (PLIC source 10).
 *
 * Byte registers, reg-shift 0: RBR/THR/DLL (0), IER/DLM (1), IIR/FCR (2),
 * LCR (3), MCR (4), LSR (5), MSR (6), SCR (7); DLL/DLM when LCR.DLAB.
 * Transmission is instantaneous: a THR write goes to the console at once
 * and THR is empty again, which raises the THRE interrupt if IER asks for
 * it (cleared by reading IIR or writing THR, as on the chip). Received
 * bytes wait in an RX FIFO of UART_RX_FIFO bytes, deeper than the chip's
 * 16 so that pasted input is not lost; bytes beyond it are dropped and
 * counted. MCR loopback sends THR to the RX FIFO.
 */
#ifndef DISCO_VMM_DEV_UART_H
#define DISCO_VMM_DEV_UART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct hart;

#define UART_RX_FIFO	4096

struct uart {
	struct vm *vm;
	unsigned irq;
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	bool thr_ipending;		/* THR-empty interrupt waiting for IIR read / THR write */
	uint8_t rx[UART_RX_FIFO];
	unsigned rx_head, rx_count;
	uint64_t rx_dropped;
};

void uart_init(struct uart *u, struct vm *vm, unsigned irq);
/* Feed received bytes (console input). Returns how many were accepted. */
size_t uart_rx_push(struct uart *u, const char *buf, size_t len);
int uart_read(void *opaque, struct hart *h, uint64_t off, unsigned size, uint64_t *val);
int uart_write(void *opaque, struct hart *h, uint64_t off, unsigned size, uint64_t val);

#endif
