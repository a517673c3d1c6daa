/*
 * net.h: the guest runtime's network: a virtio-net driver (virtio-mmio
 * version 2, split queues, polled or woken by the PLIC) and a small
 * datagram protocol over Ethernet, enough for tests, benchmarks and
 * workloads that pass messages between VMs. M-mode programs, one hart
 * drives the NIC.
 *
 * Frames. net_send() builds an Ethernet frame (destination, this NIC's
 * address, EtherType) around the payload; net_recv() returns the next
 * frame whole. The driver keeps NET_RXQ receive buffers posted, each big
 * enough for the largest frame the device's MTU allows, in two parts: the
 * headers, and the payload in a page-aligned buffer of its own, so that the
 * monitor can map a datagram's whole payload pages into the VM instead of
 * copying them (net_recv). A frame leaves as
 * a chain of two buffers, the headers and then the caller's payload in
 * place (no copy); a send returns once the device has used the chain (at
 * once on disco, whose device serves the queue within the notify).
 *
 * Datagrams (EtherType NET_ETH_DGRAM, 0x88b5, an IEEE "local experimental"
 * type): a 12-byte little-endian header {u16 source port, u16 destination
 * port, u32 sequence number, u32 payload length} and the payload. No
 * checksum (the virtual wire does not corrupt), no retransmission: a
 * datagram can be dropped (a full queue at the switch), and the counters of
 * the report say where.
 *
 * Waiting. With a timeout the driver sleeps in WFI with the NIC's PLIC
 * source and the CLINT timer enabled in mie (mstatus.MIE stays clear: WFI
 * wakes on a pending interrupt without taking a trap), so a VM waiting for
 * the network is idle and its node can sleep.
 */
#ifndef NET_H
#define NET_H

#include <stddef.h>
#include <stdint.h>

#define NET_RXQ		16		/* receive buffers */
#define NET_RX_HEAD	26		/* frame bytes in a receive buffer's first part: Ethernet + datagram headers */
#define NET_ETH_HLEN	14
#define NET_ETH_DGRAM	0x88b5
#define NET_FOREVER	UINT64_MAX

struct net_dgram {
	uint8_t src[6];
	uint16_t sport, dport;
	uint32_t seq;
	uint32_t len;		/* payload bytes */
	const uint8_t *data;	/* valid until the next receive */
};

/* Find the virtio-net device, negotiate, post receive buffers. 0, or -1 with a message printed. */
int net_init(void);
const uint8_t *net_mac(void);
unsigned net_mtu(void);
extern const uint8_t net_broadcast[6];

/* Send one frame: payload of len bytes (at most net_mtu()). Returns 0 or -1. */
int net_send(const uint8_t dst[6], uint16_t ethertype, const void *payload, size_t len);
/*
 * Wait up to timeout ticks of the time CSR (NET_FOREVER: no limit) for a
 * frame; returns its length, or -1 on timeout. The frame comes in two
 * parts, valid until the next net_recv: *head holds its first NET_RX_HEAD
 * bytes (fewer if it is shorter), *rest the others, in a page-aligned
 * buffer.
 */
long net_recv(const uint8_t **head, const uint8_t **rest, uint64_t timeout);

/* Datagrams: payload len bytes, at most net_mtu() - 12. Returns 0 or -1. */
int net_dgram_send(const uint8_t dst[6], uint16_t sport, uint16_t dport, uint32_t seq,
		   const void *data, size_t len);
/* Next datagram (other frames are skipped); 0, or -1 on timeout. */
int net_dgram_recv(struct net_dgram *d, uint64_t timeout);

/* Wait by polling the used ring instead of sleeping in WFI (lower latency, a busy VM). */
void net_set_poll(int on);

/* Driver counters. */
struct net_stats {
	uint64_t tx_frames, rx_frames, rx_skipped, wakeups;
};
void net_get_stats(struct net_stats *st);

#endif
