# diff_gen.py SEED N - a random RV64IMAC program (ALU, M, loads/stores, AMOs, short
# branches; the assembler picks compressed forms) that prints its registers and
# a 2 KiB buffer in hex on the UART and powers off. Used by diff_qemu.sh.
import random, sys
seed=int(sys.argv[1]); n=int(sys.argv[2])
R=random.Random(seed)
dst=[5,6,7,9]+list(range(10,32))          # not x0-x4 (ra sp gp tp), not x8 (base)
src=[0]+dst
special=[0,1,-1,2**63,2**63-1,2**31,2**31-1,-2**31,0xffffffff,0x80000000,0x7fffffff,12345,-7]
def reg(): return R.choice(src)
def d(): return R.choice(dst)
def x(r): return "x%d"%r
out=[".section .text.init,\"ax\"",".globl _start","_start:",".option norvc","lla x8, buf",".option rvc"]
for r in dst:
    v=R.choice(special) if R.random()<0.5 else R.getrandbits(64)-2**63
    out.append("li %s, %d"%(x(r),v))
rr=["add","sub","sll","slt","sltu","xor","srl","sra","or","and","addw","subw","sllw","srlw","sraw",
    "mul","mulh","mulhsu","mulhu","div","divu","rem","remu","mulw","divw","divuw","remw","remuw"]
ri=["addi","slti","sltiu","xori","ori","andi","addiw"]
sh=["slli","srli","srai"]; shw=["slliw","srliw","sraiw"]
ld=[("lb",1),("lh",2),("lw",4),("ld",8),("lbu",1),("lhu",2),("lwu",4)]
st=[("sb",1),("sh",2),("sw",4),("sd",8)]
amo=["amoadd","amoswap","amoxor","amoor","amoand","amomin","amomax","amominu","amomaxu"]
for i in range(n):
    k=R.random()
    if k<0.35: out.append("%s %s, %s, %s"%(R.choice(rr),x(d()),x(reg()),x(reg())))
    elif k<0.55: out.append("%s %s, %s, %d"%(R.choice(ri),x(d()),x(reg()),R.randint(-2048,2047)))
    elif k<0.62: out.append("%s %s, %s, %d"%(R.choice(sh),x(d()),x(reg()),R.randint(0,63)))
    elif k<0.66: out.append("%s %s, %s, %d"%(R.choice(shw),x(d()),x(reg()),R.randint(0,31)))
    elif k<0.70: out.append("lui %s, %d"%(x(d()),R.randint(0,2**20-1)))
    elif k<0.80:
        m,s=R.choice(ld); out.append("%s %s, %d(x8)"%(m,x(d()),R.randrange(0,2048,s)))
    elif k<0.90:
        m,s=R.choice(st); out.append("%s %s, %d(x8)"%(m,x(reg()),R.randrange(0,2048,s)))
    elif k<0.95:
        w=R.choice([".w",".d"]); off=R.randrange(0,2048,8 if w==".d" else 4)
        out.append("addi x4, x8, %d"%off); out.append("%s%s %s, %s, (x4)"%(R.choice(amo),w,x(d()),x(reg())))
    else:
        # forward branch over one instruction
        b=R.choice(["beq","bne","blt","bge","bltu","bgeu"])
        out.append("%s %s, %s, 1f"%(b,x(reg()),x(reg()))); out.append("addi %s, %s, 1"%(x(d()),x(reg()))); out.append("1:")
# dump registers and a checksum of buf via UART, then exit
out += [".option norvc","lla x4, regs"]
for r in range(32):
    out.append("sd x%d, %d(x4)"%(r,8*r))
out += ["call dump", "li t0, 0x100000", "li t1, 0x5555", "sw t1, 0(t0)", "1: j 1b"]
out += ["dump:",
 "lla s1, regs", "li s2, 32+256", "li s3, 0x10000000",
 "2: ld s4, 0(s1)", "li s5, 60",
 "3: srl s6, s4, s5", "andi s6, s6, 15", "li s7, 10", "blt s6, s7, 4f", "addi s6, s6, 39", "4: addi s6, s6, 48",
 "sb s6, 0(s3)", "addi s5, s5, -4", "bgez s5, 3b", "li s6, 10", "sb s6, 0(s3)",
 "addi s1, s1, 8", "addi s2, s2, -1", "bnez s2, 2b", "ret"]
out += [".data",".balign 4096","regs: .zero 256","buf:"]
for i in range(256): out.append(".dword %d"%(R.getrandbits(64)))
print("\n".join(out))
