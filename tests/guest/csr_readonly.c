/*
 * csr_readonly: writes to read-only CSRs raise illegal-instruction with
 * mtval = the instruction, whatever the form (CSRRW, CSRRS/CSRRC with
 * rs1 != x0, the immediate forms with a nonzero uimm), while reads of the
 * same CSRs (CSRRS/CSRRC with rs1 = x0 or uimm = 0) do not trap.
 * Read-only CSRs: mvendorid, marchid, mimpid, mhartid, cycle, time, instret.
 * Exit codes: 10+i writes (M mode), 60 reads (M), 70 reads (S, counters open).
 */
#include "trapseq.h"

TS_SEQ(seq_ro_writes,
	"csrw mvendorid, a0\n"
	"csrw marchid, a0\n"
	"csrw mimpid, a0\n"
	"csrw mhartid, a0\n"
	"csrrs a1, mhartid, sp\n"       /* rs1 != x0 is a write, even of zeros */
	"csrrc a1, mvendorid, sp\n"
	"csrrwi a1, mimpid, 0\n"        /* CSRRWI always writes */
	"csrrsi a1, marchid, 1\n"
	"csrrci a1, mhartid, 1\n"
	"csrw cycle, a0\n"
	"csrw time, a0\n"
	"csrw instret, a0\n"
	"csrrs a1, cycle, sp\n"
	"csrrsi a1, time, 4\n"
);

TS_SEQ(seq_ro_reads,
	"csrr a1, mvendorid\n"
	"csrr a1, marchid\n"
	"csrr a1, mimpid\n"
	"csrr a1, mhartid\n"
	"csrrs a1, mhartid, x0\n"
	"csrrc a1, mvendorid, x0\n"
	"csrrsi a1, marchid, 0\n"
	"csrrci a1, mimpid, 0\n"
	"csrr a1, cycle\n"
	"csrr a1, time\n"
	"csrr a1, instret\n"
	"csrrc a1, time, x0\n"
);

TS_SEQ(seq_counter_reads,
	"rdcycle a1\n"
	"rdtime a1\n"
	"rdinstret a1\n"
);

int main(void)
{
	rt_printf("csr_readonly:\n");
	TS_EXPECT(10, seq_ro_writes, PRV_M, EXC_ILLEGAL);
	TS_EXPECT_NONE(60, seq_ro_reads, PRV_M);
	rt_csr_write(mcounteren, 7);
	TS_EXPECT_NONE(70, seq_counter_reads, PRV_S);
	/* mhartid reads back the hart id the boot protocol passed in */
	CHECK_EQ(80, rt_csr_read(mhartid), rt_hartid());
	return 0;
}
