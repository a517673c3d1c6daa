/*
 * msi.pml — a Promela model of disco's directory protocol (coherence/dir.c,
 * rcache.c), checked exhaustively by spin (tests/coh/model.sh).
 *
 * One line; node 0 is its home (and accesses it too), nodes 1..NC-1 cache
 * it. The network is a pool of message slots from which each node takes any
 * message addressed to it: every reordering is explored. The model follows
 * the implementation: blocking home with a FIFO queue per line, acks at the
 * home, UNBLOCK for every grant but the clean read's, silent clean
 * evictions, dirty writebacks with a writeback buffer serving forwards, an
 * INV overtaking a read's data (the data serves the waiting access once).
 * A node performs the access it missed on as soon as the grant arrives, in
 * the same step: that is what the implementation's hold guarantees.
 *
 * Checked: single writer (no other valid copy, home's included, when a
 * node writes); every read of a valid copy and of the home's memory returns
 * the last value written; every write is an increment of the exclusive
 * copy, and in the end the line holds exactly the number of writes; no
 * deadlock (every node finishes, the network drains); no message arrives
 * in a state that cannot take it.
 */

#ifndef NC
#define NC	3	/* nodes: 0 is the home */
#endif
#ifndef OPS
#define OPS	2	/* accesses per caching node */
#endif
#ifndef HOPS
#define HOPS	1	/* accesses by the home */
#endif
#define NSLOT	8
#define QLEN	4

mtype = { GETS, GETX, PUTX, DATA, GRANT, INV, INV_ACK, FWD_GETS, FWD_GETX, SHWB, UNBLOCK, PUT_ACK };

typedef Msg {
	bool valid;
	mtype type;
	byte src, dst, req;
	bool excl, upg, nounb;
	byte data;
};
Msg net[NSLOT];

byte latest = 0;	/* the last value written */
byte writes = 0;
byte ndone = 0;

/* requester states */
#define I	0
#define S	1
#define M	2
#define IS_D	3
#define IM_D	4
#define SM_A	5
byte cst[NC], cdata[NC];
bool wbv[NC], invafter[NC];
byte wbdata[NC];

/* home */
#define DI	0
#define DS	1
#define DM	2
byte dstate = DI, sharers = 0, owner = 0, mem = 0, hs = 2;
bool busy = 0;
byte tkind, treq, towner, acks, pending, fstate, fsharers, fowner;
bool tgrant;
byte qsrc[QLEN], qkind[QLEN], qdata[QLEN], qn = 0;
bool qupg[QLEN];
#define K_GETS	0
#define K_GETX	1
#define K_PUTX	2
#define K_LGETS	3
#define K_LGETX	4

inline send(a_t, a_s, a_d, a_r, a_ex, a_up, a_nu, a_dat) {
	i = 0;
	do
	:: i < NSLOT && net[i].valid -> i++
	:: i < NSLOT && !net[i].valid ->
		net[i].type = a_t; net[i].src = a_s; net[i].dst = a_d; net[i].req = a_r;
		net[i].excl = a_ex; net[i].upg = a_up; net[i].nounb = a_nu; net[i].data = a_dat;
		net[i].valid = 1;
		break
	:: i == NSLOT -> assert(false)	/* more slots needed */
	od
}

#define FOR_ME(k)	(net[k].valid && net[k].dst == me)
#define TAKE(k)		m.type = net[k].type; m.src = net[k].src; m.req = net[k].req; \
			m.excl = net[k].excl; m.upg = net[k].upg; m.nounb = net[k].nounb; \
			m.data = net[k].data; net[k].valid = 0

inline no_other_copy(w) {
	j = 1;
	do
	:: j < NC -> assert(j == w || (cst[j] != S && cst[j] != M && cst[j] != SM_A)); j++
	:: j == NC -> break
	od
}

/* ---- requesting nodes ---- */

inline do_access(me) {
	if
	:: want == 1 ->
		if
		:: invafter[me] -> assert(cdata[me] <= latest); cst[me] = I; invafter[me] = 0
		:: else -> assert(cdata[me] == latest)
		fi
	:: want == 2 ->
		assert(cst[me] == M && hs == 0);
		no_other_copy(me);
		cdata[me]++; latest = cdata[me]; writes++
	fi;
	want = 0;
	ops++
}

proctype Cache(byte me)
{
	byte i, j, ops = 0, want = 0, evicts = 0;
	Msg m;
end:
	do
	/* a new access or an eviction */
	:: atomic { ops < OPS && want == 0 && !wbv[me] && (cst[me] == I || cst[me] == S || cst[me] == M) ->
		if
		:: cst[me] == S || cst[me] == M -> want = 1; do_access(me)
		:: cst[me] == I -> want = 1; cst[me] = IS_D; send(GETS, me, 0, me, 0, 0, 0, 0)
		:: cst[me] == M -> want = 2; do_access(me)
		:: cst[me] == S -> want = 2; cst[me] = SM_A; send(GETX, me, 0, me, 0, 1, 0, 0)
		:: cst[me] == I -> want = 2; cst[me] = IM_D; send(GETX, me, 0, me, 0, 0, 0, 0)
		:: evicts == 0 && cst[me] == S -> evicts++; cst[me] = I
		:: evicts == 0 && cst[me] == M -> evicts++; wbv[me] = 1; wbdata[me] = cdata[me]; cst[me] = I;
			send(PUTX, me, 0, me, 0, 0, 0, wbdata[me])
		fi;
		if
		:: ops == OPS && want == 0 -> ndone++
		:: else -> skip
		fi }
	/* a message */
	:: atomic { (FOR_ME(0) || FOR_ME(1) || FOR_ME(2) || FOR_ME(3) || FOR_ME(4) || FOR_ME(5) || FOR_ME(6) || FOR_ME(7)) ->
		if
		:: FOR_ME(0) -> TAKE(0)
		:: FOR_ME(1) -> TAKE(1)
		:: FOR_ME(2) -> TAKE(2)
		:: FOR_ME(3) -> TAKE(3)
		:: FOR_ME(4) -> TAKE(4)
		:: FOR_ME(5) -> TAKE(5)
		:: FOR_ME(6) -> TAKE(6)
		:: FOR_ME(7) -> TAKE(7)
		fi;
		if
		:: m.type == DATA ->
			assert(cst[me] == IS_D || cst[me] == IM_D || cst[me] == SM_A);
			assert(want != 2 || m.excl);
			cdata[me] = m.data;
			if
			:: m.excl -> cst[me] = M
			:: else -> cst[me] = S
			fi;
			if
			:: !(m.nounb && m.src == 0 && !m.excl) -> send(UNBLOCK, me, 0, me, 0, 0, 0, 0)
			:: else -> skip
			fi;
			do_access(me);
			if
			:: ops == OPS -> ndone++
			:: else -> skip
			fi
		:: m.type == GRANT ->
			assert(cst[me] == SM_A && want == 2);
			cst[me] = M;
			send(UNBLOCK, me, 0, me, 0, 0, 0, 0);
			do_access(me);
			if
			:: ops == OPS -> ndone++
			:: else -> skip
			fi
		:: m.type == INV ->
			assert(cst[me] != M);
			if
			:: cst[me] == S -> cst[me] = I
			:: cst[me] == SM_A -> cst[me] = IM_D
			:: cst[me] == IS_D -> invafter[me] = 1
			:: else -> skip
			fi;
			send(INV_ACK, me, 0, me, 0, 0, 0, 0)
		:: m.type == FWD_GETS ->
			assert(cst[me] == M || wbv[me]);
			if
			:: cst[me] == M ->
				if
				:: m.req != 0 -> send(DATA, me, m.req, m.req, 0, 0, 0, cdata[me])
				:: else -> skip
				fi;
				send(SHWB, me, 0, m.req, 0, 0, 0, cdata[me]);
				cst[me] = S
			:: else ->
				if
				:: m.req != 0 -> send(DATA, me, m.req, m.req, 0, 0, 0, wbdata[me])
				:: else -> skip
				fi;
				send(SHWB, me, 0, m.req, 0, 0, 0, wbdata[me])
			fi
		:: m.type == FWD_GETX ->
			assert(cst[me] == M || wbv[me]);
			if
			:: cst[me] == M -> send(DATA, me, m.req, m.req, 1, 0, 0, cdata[me]); cst[me] = I
			:: else -> send(DATA, me, m.req, m.req, 1, 0, 0, wbdata[me])
			fi
		:: m.type == PUT_ACK -> assert(wbv[me]); wbv[me] = 0
		:: else -> assert(false)
		fi }
	od
}

/* ---- the home ---- */

inline set_hs_of(st) {
	if
	:: st == DI -> hs = 2
	:: st == DS -> hs = 1
	:: else -> hs = 0
	fi
}

inline inval_all(except) {
	j = 1;
	do
	:: j < NC ->
		if
		:: j != except && (sharers & (1 << j)) -> send(INV, 0, j, 0, 0, 0, 0, 0); acks++
		:: else -> skip
		fi;
		j++
	:: j == NC -> break
	od
}

inline home_access() {
	if
	:: hwant == 1 -> assert(hs >= 1 && mem == latest)
	:: hwant == 2 -> assert(hs == 2); no_other_copy(0); mem++; latest = mem; writes++
	fi;
	hwant = 0;
	hops++;
	if
	:: hops == HOPS -> ndone++
	:: else -> skip
	fi
}

inline finish() {
	dstate = fstate; sharers = fsharers; owner = fowner;
	busy = 0;
	if
	:: tkind == K_LGETS || tkind == K_LGETX || tkind == K_GETS -> set_hs_of(dstate)
	:: else -> skip
	fi;
	if
	:: (tkind == K_LGETS || tkind == K_LGETX) && hwant != 0 && hs >= hwant -> home_access()
	:: else -> skip
	fi
}

/* dir_process: start serving (src, kind) on the idle line */
inline process(p_s, p_k, p_u, p_d) {
	tkind = p_k; treq = p_s; acks = 0; pending = 0; tgrant = 0;
	fstate = dstate; fsharers = sharers; fowner = owner;
	if
	:: p_k == K_GETS && dstate != DM ->
		dstate = DS; sharers = sharers | (1 << p_s); hs = 1;
		send(DATA, 0, p_s, p_s, 0, 0, 1, mem)
	:: p_k == K_GETS && dstate == DM ->
		assert(owner != p_s);
		towner = owner; pending = 2; busy = 1;
		fstate = DS; fsharers = (1 << owner) | (1 << p_s);
		send(FWD_GETS, 0, owner, p_s, 0, 0, 0, 0)
	:: p_k == K_GETX ->
		busy = 1; pending = 1; fstate = DM; fowner = p_s; fsharers = 0; hs = 0;
		if
		:: dstate == DM -> assert(owner != p_s); towner = owner; send(FWD_GETX, 0, owner, p_s, 0, 0, 0, 0)
		:: dstate == DS ->
			tgrant = p_u && (sharers & (1 << p_s));
			inval_all(p_s);
			if
			:: acks == 0 && tgrant -> send(GRANT, 0, p_s, p_s, 1, 0, 0, 0)
			:: acks == 0 && !tgrant -> send(DATA, 0, p_s, p_s, 1, 0, 0, mem)
			:: else -> skip
			fi
		:: dstate == DI -> send(DATA, 0, p_s, p_s, 1, 0, 0, mem)
		fi
	:: p_k == K_PUTX ->
		if
		:: dstate == DM && owner == p_s -> mem = p_d; dstate = DI; sharers = 0; hs = 2
		:: dstate == DS && (sharers & (1 << p_s)) ->
			sharers = sharers & ~(1 << p_s);
			if
			:: sharers == 0 -> dstate = DI; hs = 2
			:: else -> skip
			fi
		:: else -> skip
		fi;
		send(PUT_ACK, 0, p_s, p_s, 0, 0, 0, 0)
	:: p_k == K_LGETS ->
		if
		:: dstate == DM -> towner = owner; pending = 1; busy = 1;
			fstate = DS; fsharers = 1 << owner;
			send(FWD_GETS, 0, owner, 0, 0, 0, 0, 0)
		:: else -> skip
		fi
	:: p_k == K_LGETX ->
		fstate = DI; fsharers = 0;
		if
		:: dstate == DM -> towner = owner; pending = 1; busy = 1;
			send(FWD_GETX, 0, owner, 0, 0, 0, 0, 0)
		:: dstate == DS -> hs = 1; inval_all(0);
			if
			:: acks == 0 -> dstate = DI; sharers = 0; hs = 2
			:: else -> busy = 1
			fi
		:: dstate == DI -> skip
		fi
	fi;
	if
	:: !busy && (p_k == K_LGETS || p_k == K_LGETX) && hwant != 0 && hs >= hwant -> home_access()
	:: else -> skip
	fi
}

inline enqueue(p_s, p_k, p_u, p_d) {
	assert(qn < QLEN);
	qsrc[qn] = p_s; qkind[qn] = p_k; qupg[qn] = p_u; qdata[qn] = p_d; qn++
}

inline drain() {
	do
	:: !busy && qn > 0 ->
		psrc = qsrc[0]; pkind = qkind[0]; pupg = qupg[0]; pdat = qdata[0];
		j = 0;
		do
		:: j + 1 < qn -> qsrc[j] = qsrc[j + 1]; qkind[j] = qkind[j + 1]; qupg[j] = qupg[j + 1];
			qdata[j] = qdata[j + 1]; j++
		:: else -> break
		od;
		qn--;
		process(psrc, pkind, pupg, pdat)
	:: else -> break
	od
}

inline request(p_s, p_k, p_u, p_d) {
	if
	:: busy -> enqueue(p_s, p_k, p_u, p_d)
	:: else -> process(p_s, p_k, p_u, p_d)
	fi
}

proctype Home()
{
	byte i, j, hops = 0, hwant = 0, psrc, pkind, pdat;
	bool pupg;
	Msg m;
	byte me = 0;
end:
	do
	:: atomic { hops < HOPS && hwant == 0 ->
		if
		:: hwant = 1
		:: hwant = 2
		fi;
		if
		:: hs >= hwant -> home_access()
		:: else -> request(0, K_LGETS + hwant - 1, 0, 0)
		fi }
	:: atomic { (FOR_ME(0) || FOR_ME(1) || FOR_ME(2) || FOR_ME(3) || FOR_ME(4) || FOR_ME(5) || FOR_ME(6) || FOR_ME(7)) ->
		if
		:: FOR_ME(0) -> TAKE(0)
		:: FOR_ME(1) -> TAKE(1)
		:: FOR_ME(2) -> TAKE(2)
		:: FOR_ME(3) -> TAKE(3)
		:: FOR_ME(4) -> TAKE(4)
		:: FOR_ME(5) -> TAKE(5)
		:: FOR_ME(6) -> TAKE(6)
		:: FOR_ME(7) -> TAKE(7)
		fi;
		if
		:: m.type == GETS -> request(m.src, K_GETS, 0, 0)
		:: m.type == GETX -> request(m.src, K_GETX, m.upg, 0)
		:: m.type == PUTX -> request(m.src, K_PUTX, 0, m.data)
		:: m.type == INV_ACK ->
			assert(busy && acks > 0 && (tkind == K_GETX || tkind == K_LGETX));
			acks--;
			if
			:: acks == 0 && tkind == K_LGETX -> finish()
			:: acks == 0 && tkind == K_GETX && tgrant -> send(GRANT, 0, treq, treq, 1, 0, 0, 0)
			:: acks == 0 && tkind == K_GETX && !tgrant -> send(DATA, 0, treq, treq, 1, 0, 0, mem)
			:: else -> skip
			fi
		:: m.type == SHWB ->
			assert(busy && (tkind == K_GETS || tkind == K_LGETS) && m.src == towner);
			mem = m.data; pending--;
			if
			:: pending == 0 -> finish()
			:: else -> skip
			fi
		:: m.type == UNBLOCK ->
			assert(busy && (tkind == K_GETS || tkind == K_GETX) && m.src == treq && acks == 0);
			pending--;
			if
			:: pending == 0 -> finish()
			:: else -> skip
			fi
		:: m.type == DATA ->
			assert(busy && tkind == K_LGETX && m.src == towner && m.excl);
			mem = m.data; pending--;
			if
			:: pending == 0 -> finish()
			:: else -> skip
			fi
		:: else -> assert(false)
		fi;
		drain() }
	od
}

/* In the end: every node finished, nothing in flight, the line holds every write. */
active proctype Check()
{
	byte k;
	atomic {
		ndone == NC && !busy && qn == 0 &&
		!net[0].valid && !net[1].valid && !net[2].valid && !net[3].valid &&
		!net[4].valid && !net[5].valid && !net[6].valid && !net[7].valid ->
		if
		:: dstate == DM -> assert(cdata[owner] == writes)
		:: else -> assert(mem == writes)
		fi
	}
}

init {
	byte c = 1;
	atomic {
		run Home();
		do
		:: c < NC -> run Cache(c); c++
		:: c == NC -> break
		od
	}
}
