/*
 * isa_rvc_seq.S: void rvc_run(uint64_t *out) executes compressed
 * instructions (explicit c.* mnemonics, so each is 16 bits) and stores
 * results in out[0..20] for isa_rvc.c to compare.
 */
#define R(i) ((i) * 8)
	.text
	.option push
	.option rvc
	.balign 4
	.globl rvc_run
rvc_run:
	c.addi16sp sp, -64
	c.sdsp	ra, 56(sp)
	c.sdsp	s0, 48(sp)
	c.sdsp	s1, 40(sp)
	c.li	a1, -32
	c.sd	a1, R(0)(a0)
	c.lui	a2, 0xfffff
	c.sd	a2, R(1)(a0)
	c.li	a3, 1
	c.slli	a3, 63
	c.srai	a3, 3
	c.sd	a3, R(2)(a0)
	c.li	a4, -1
	c.srli	a4, 60
	c.sd	a4, R(3)(a0)
	c.li	a5, 21
	c.andi	a5, -6
	c.sd	a5, R(4)(a0)
	c.mv	a1, a5
	c.add	a1, a5
	c.sd	a1, R(5)(a0)
	c.sub	a1, a4
	c.sd	a1, R(6)(a0)
	c.xor	a1, a5
	c.sd	a1, R(7)(a0)
	c.or	a1, a4
	c.sd	a1, R(8)(a0)
	c.and	a1, a5
	c.sd	a1, R(9)(a0)
	li	a1, 0x7fffffff
	c.addiw	a1, 1
	c.sd	a1, R(10)(a0)
	c.mv	a2, a1
	c.addw	a2, a1
	c.sd	a2, R(11)(a0)
	c.li	a2, 1
	c.subw	a2, a1
	c.sd	a2, R(12)(a0)
	c.addi4spn a1, sp, 16
	addi	a2, sp, 16
	sub	a1, a1, a2
	c.sd	a1, R(13)(a0)
	c.sdsp	a3, 8(sp)
	c.ldsp	a1, 8(sp)
	c.sd	a1, R(14)(a0)
	lui	a1, 0x80000
	c.swsp	a1, 4(sp)
	c.lwsp	a2, 4(sp)
	c.sd	a2, R(15)(a0)
	addi	s0, sp, 16
	c.sw	a1, 4(s0)
	c.lw	a2, 4(s0)
	c.sd	a2, R(16)(a0)
	c.sd	a3, 8(s0)
	c.ld	a2, 8(s0)
	c.sd	a2, R(17)(a0)
	c.li	a1, 0
	c.li	a2, 0
	c.beqz	a1, 1f
	c.li	a2, 1
1:	c.bnez	a1, 2f
	c.addi	a2, 2
2:	c.li	a1, 5
	c.bnez	a1, 3f
	c.addi	a2, 4
3:	c.beqz	a1, 4f
	c.addi	a2, 8
4:	c.j	5f
	c.addi	a2, 16
5:	c.sd	a2, R(18)(a0)
	la	s1, 6f
	c.jalr	s1
7:	c.j	8f
6:	c.mv	a2, ra
	c.jr	ra
8:	la	a1, 7b
	sub	a2, a2, a1
	c.sd	a2, R(19)(a0)
	c.nop
	c.li	a1, 31
	c.addi	a1, -32
	c.sd	a1, R(20)(a0)
	c.ldsp	s1, 40(sp)
	c.ldsp	s0, 48(sp)
	c.ldsp	ra, 56(sp)
	c.addi16sp sp, 64
	c.jr	ra
	.option pop
