#!/usr/bin/env python3
"""Peak memory of a memcached-protocol server holding N items.

Stores N items of SIZE bytes (keys key:000000...) over one pipelined
connection, checks every STORED, prints the server's VmRSS/VmHWM from
/proc, then gets every item once and prints them again. Used for the RSS
figures in docs/benchmarks.md:

    target/release/evloop-memcached --listen 127.0.0.1:PORT &
    memcached -l 127.0.0.1 -p PORT2 -U 0 -t 1 -u root &
    python3 scripts/memcached_rss.py PORT PID 100000 100
"""
import socket, sys
port, pid, n, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

def status(pid):
    d = {}
    for line in open(f"/proc/{pid}/status"):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            d[k] = int(v.split()[0])
    return d

s = socket.create_connection(("127.0.0.1", port))
before = status(pid)
value = b"v" * size
batch = 1000
for start in range(0, n, batch):
    req = b"".join(b"set key:%06d 0 0 %d\r\n%s\r\n" % (i, size, value) for i in range(start, min(n, start + batch)))
    s.sendall(req)
    want = b"STORED\r\n" * (min(n, start + batch) - start)
    got = b""
    while len(got) < len(want):
        got += s.recv(1 << 16)
    assert got == want, got[:100]
s.sendall(b"stats\r\n")
st = b""
while not st.endswith(b"END\r\n"):
    st += s.recv(1 << 16)
items = [l for l in st.split(b"\r\n") if l.startswith(b"STAT curr_items") or l.startswith(b"STAT bytes ")]
after = status(pid)
print(f"before: VmRSS {before['VmRSS']} kB; after {n} x {size} B: VmRSS {after['VmRSS']} kB, VmHWM {after['VmHWM']} kB; {b' '.join(items).decode()}")
# Then fetch every item once (pipelined gets), and report again.
for start in range(0, n, batch):
    keys = range(start, min(n, start + batch))
    s.sendall(b"".join(b"get key:%06d\r\n" % i for i in keys))
    want = sum(len(b"VALUE key:%06d 0 %d\r\n" % (i, size)) + size + 2 + 5 for i in keys)
    got = 0
    while got < want:
        got += len(s.recv(1 << 20))
after = status(pid)
print(f"  after getting each once: VmRSS {after['VmRSS']} kB, VmHWM {after['VmHWM']} kB")
