#!/usr/bin/env bash
# The external port ([machine] net_port): a client on 127.0.0.1 speaking
# QEMU's -netdev stream framing (4-byte big-endian length, then the frame)
# joins the subnet, says hello to a net_ping server VM by broadcast, gets
# its answer framed back, and says bye, which powers the VM off.
. "$(dirname "$0")/lib/common.bash"
t_need python3

elf="$DISCO_BUILD/guest/net_ping.elf"
[ -f "$elf" ] || t_skip "guest images not built (DISCO_GUESTS=OFF)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

printf '[machine]\nnodes = 1\nmem = 128M\ntimeout = 60s\nnet_port = %s\nreport = %s/r.json\n' "$port" "$T" > "$T/m.ini"
printf '[vm srv]\nkernel = %s\nappend = server=1\nnet = lan\n' "$elf" >> "$T/m.ini"
t_mpirun 90 -np 1 "$NODE" "$T/m.ini" > "$T/out" 2>&1 &
run=$!

cat > "$T/client.py" <<'PY'
import socket, struct, sys, time
port = int(sys.argv[1])
for _ in range(300):                      # the node needs a moment to listen
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("cannot connect to the external port")
s.settimeout(10)
me = bytes([0x52, 0x54, 0, 0xee, 0, 1])
def send(dst, dport, seq):
    # net.h's datagram: u16 sport, u16 dport, u32 seq, u32 len (little-endian), EtherType 0x88b5
    f = dst + me + b"\x88\xb5" + struct.pack("<HHII", 100, dport, seq, 0)
    s.sendall(struct.pack(">I", len(f)) + f)
def recv():
    def exact(n):
        b = b""
        while len(b) < n:
            c = s.recv(n - len(b))
            if not c:
                sys.exit("connection closed")
            b += c
        return b
    n, = struct.unpack(">I", exact(4))
    return exact(n)
send(b"\xff" * 6, 1, 7)                   # hello, broadcast
while True:
    f = recv()
    if f[12:14] == b"\x88\xb5" and f[0:6] == me:
        sport, dport, seq, ln = struct.unpack("<HHII", f[14:26])
        if sport == 1 and seq == 7:
            break
srv = f[6:12]
send(srv, 9, 8)                           # bye: the server answers and powers off
f = recv()
sport, dport, seq, ln = struct.unpack("<HHII", f[14:26])
assert f[0:6] == me and sport == 9 and seq == 8, (sport, seq)
print("external client: hello and bye answered by", srv.hex(":"))
PY
python3 "$T/client.py" "$port" || { kill $run; t_fail "client failed: $(cat "$T/out")"; }
wait $run || t_fail "run exited $?: $(cat "$T/out")"
t_json "$T/r.json" '.status == "completed" and .vms[0].exit_status == 0' || t_fail "server VM did not complete"
t_json "$T/r.json" '[.nodes[0].net[0].ports[] | select(.name == "external")][0] | .in_frames == 2 and .out_frames >= 2' ||
  t_fail "external port counters: $(jq -c '.nodes[0].net' "$T/r.json")"
echo "ok: a client on the external port talked to a VM in QEMU's stream framing"
