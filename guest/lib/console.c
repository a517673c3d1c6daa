/*
 * console.c: console output and a small printf.
 *
 * M-mode builds poll the ns16550a at RT_UART_BASE (wait for LSR.THRE, write
 * THR); S-mode builds use the SBI legacy console putchar (a7 = 1). rt_printf
 * formats into a buffer on the stack and writes it under one lock, so lines
 * from several harts do not interleave.
 *
 * Formats: %d %i %u %x %X %o %p %s %c %%, flags '-' '0' ' ' '+', a width
 * (number or '*'), a precision for %s, length modifiers l, ll, z, h, hh.
 */
#include "rt_internal.h"

#define UART_THR 0
#define UART_IER 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_LSR 5
#define UART_LSR_THRE 0x20

static rt_spinlock_t console_lock = RT_SPINLOCK_INIT;

#ifdef RT_SMODE


static void raw_putc(char c)
{
	rt_sbi_call(1, 0, (unsigned char)c, 0, 0);
}

void rt_console_init(void)
{
}
#else
static inline void uart_w(int reg, uint8_t v) { *(volatile uint8_t *)(RT_UART_BASE + reg) = v; }
static inline uint8_t uart_r(int reg) { return *(volatile uint8_t *)(RT_UART_BASE + reg); }

static void raw_putc(char c)
{
	/* Bounded wait: a UART that never drains must not hang the test. */
	for (int i = 0; i < 1000000 && !(uart_r(UART_LSR) & UART_LSR_THRE); i++)
		;
	uart_w(UART_THR, (uint8_t)c);
}


void rt_console_init(void)
{
	uart_w(UART_IER, 0);      /* polled: no interrupts */
	uart_w(UART_LCR, 0x03);   /* 8N1, DLAB off */
	uart_w(UART_FCR, 0x01);   /* FIFO on */
}
#endif

static void out_locked(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			raw_putc('\r');
		raw_putc(s[i]);
	}
}

void rt_putc(char c)
{
	rt_spin_lock(&console_lock);
	out_locked(&c, 1);
	rt_spin_unlock(&console_lock);
}

void rt_puts(const char *s)
{
	rt_spin_lock(&console_lock);
	out_locked(s, strlen(s));
	rt_spin_unlock(&console_lock);
}

struct sink {
	char *buf;
	size_t size, len;
};

static void put(struct sink *s, char c)
{
	if (s->len + 1 < s->size)
		s->buf[s->len] = c;
	s->len++;
}

static void put_num(struct sink *s, uint64_t v, int neg, unsigned base, int upper,
		    int width, int left, char pad, char sign_char)
{
	char tmp[24];
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	int n = 0;

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	char sign = neg ? '-' : sign_char;
	int len = n + (sign ? 1 : 0);
	if (!left && pad == ' ')
		for (; width > len; width--)
			put(s, ' ');
	if (sign)
		put(s, sign);
	if (!left && pad == '0')
		for (; width > len; width--)
			put(s, '0');
	while (n)
		put(s, tmp[--n]);
	if (left)
		for (; width > len; width--)
			put(s, ' ');
}

/* Returns the length the full output would have (like vsnprintf). */
int rt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct sink s = { buf, size, 0 };

	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			put(&s, *fmt);
			continue;
		}
		fmt++;
		int left = 0, width = 0, prec = -1, lng = 0;
		char pad = ' ', sign_char = 0;
		for (;; fmt++) {
			if (*fmt == '-')
				left = 1;
			else if (*fmt == '0')
				pad = '0';
			else if (*fmt == ' ')
				sign_char = ' ';
			else if (*fmt == '+')
				sign_char = '+';
			else
				break;
		}
		if (*fmt == '*') {
			width = va_arg(ap, int);
			fmt++;
		} else {
			while (*fmt >= '0' && *fmt <= '9')
				width = width * 10 + (*fmt++ - '0');
		}
		if (*fmt == '.') {
			fmt++;
			prec = 0;
			if (*fmt == '*') {
				prec = va_arg(ap, int);
				fmt++;
			} else {
				while (*fmt >= '0' && *fmt <= '9')
					prec = prec * 10 + (*fmt++ - '0');
			}
		}
		for (;; fmt++) {
			if (*fmt == 'l' || *fmt == 'z' || *fmt == 'j' || *fmt == 't')
				lng = 1;
			else if (*fmt != 'h')
				break;
		}
		switch (*fmt) {
		case 'd':
		case 'i': {
			int64_t v = lng ? va_arg(ap, long) : va_arg(ap, int);
			put_num(&s, v < 0 ? -(uint64_t)v : (uint64_t)v, v < 0, 10, 0, width, left, pad, sign_char);
			break;
		}
		case 'u':
		case 'x':
		case 'X':
		case 'o': {
			uint64_t v = lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
			unsigned base = *fmt == 'u' ? 10 : *fmt == 'o' ? 8 : 16;
			put_num(&s, v, 0, base, *fmt == 'X', width, left, pad, 0);
			break;
		}
		case 'p':
			put(&s, '0');
			put(&s, 'x');
			put_num(&s, (uintptr_t)va_arg(ap, void *), 0, 16, 0, 0, 0, ' ', 0);
			break;
		case 'c':
			put(&s, (char)va_arg(ap, int));
			break;
		case 's': {
			const char *str = va_arg(ap, const char *);
			if (!str)
				str = "(null)";
			int n = 0;
			while (str[n] && (prec < 0 || n < prec))
				n++;
			if (!left)
				for (int w = width; w > n; w--)
					put(&s, ' ');
			for (int i = 0; i < n; i++)
				put(&s, str[i]);
			if (left)
				for (int w = width; w > n; w--)
					put(&s, ' ');
			break;
		}
		case '%':
			put(&s, '%');
			break;
		case 0:
			fmt--;
			break;
		default:
			put(&s, '%');
			put(&s, *fmt);
			break;
		}
	}
	if (size)
		buf[s.len < size ? s.len : size - 1] = 0;
	return (int)s.len;
}

int rt_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = rt_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

int rt_printf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	int n = rt_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	rt_spin_lock(&console_lock);
	out_locked(buf, n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	rt_spin_unlock(&console_lock);
	return n;
}

/* For rt_panic and the default trap handler: no lock, the lock may be held. */

void rt_console_emergency(const char *s)
{
	out_locked(s, strlen(s));
}
