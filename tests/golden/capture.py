"""Golden captures of Python networkzero 1.0b1 on the wire. Driven by capture.sh, which
runs every role inside private network namespaces (never on a real network).

Roles:
  advertise           host A: advertise every CASE with the real networkzero, then idle
  listen OUTDIR       host B: plain UDP socket on 0.0.0.0:9999 (SO_REUSEADDR, broadcast),
                      write each CASE's first advert datagram to OUTDIR/NN-label.bin
  rpc-server OUTDIR   host C: block UDP 9999 (so networkzero uses a remote beacon), serve a
                      fake beacon REP on 127.0.0.1:19998 behind a raw TCP relay on
                      127.0.0.1:9998 that records both byte streams of every connection
  rpc-client          host C: advertise / discover / discover_all via that beacon, then
                      exit (atexit sends unadvertise)

Every loop is bounded in count and time.
"""
import json
import os
import socket
import sys
import threading
import time

DEFAULT = object()  # "do not pass ttl_s": networkzero's default (20)
A_IP = "10.200.250.1"
LONG_ADDR = A_IP + ":65535"
# ["<name>", "10.200.250.1:65535", 20] is 30 bytes + the name: 226 ASCII chars fill the
# 256-byte receive buffer of a Python beacon exactly.
LONGEST_NAME = ("longest-" + "abcdefghijklmnopqrstuvwxyz0123456789" * 7)[:226]

# (label, name, address or None, ttl_s or DEFAULT)
CASES = [
    ("echo", "echo", None, DEFAULT),
    ("cafe-u", "café-ü", None, DEFAULT),
    ("robot-katakana", "ロボット", None, DEFAULT),
    ("emoji-surrogates", "robot 🤖", None, DEFAULT),
    ("group-chat-alice", "chat/alice", None, DEFAULT),
    ("quotes-backslash", 'say "hi"\\x', None, DEFAULT),
    ("control-chars", "tab\there\nnewline\x01", None, DEFAULT),
    ("empty-name", "", None, DEFAULT),
    ("explicit-address", "explicit", A_IP + ":1234", DEFAULT),
    ("address-port-only", "port-only", "5555", DEFAULT),
    ("address-hostname", "hostname", "localhost:5556", DEFAULT),
    ("address-wildcard", "wildcard", "10.200.*:5557", DEFAULT),
    ("ttl-0", "ttl-0", A_IP + ":1000", 0),
    ("ttl-1", "ttl-1", A_IP + ":1001", 1),
    ("ttl-86400", "ttl-86400", A_IP + ":1002", 86400),
    ("ttl-none-null", "ttl-none", A_IP + ":1003", None),
    ("ttl-float", "ttl-float", A_IP + ":1004", 2.5),
    ("longest-256-bytes", LONGEST_NAME, LONG_ADDR, DEFAULT),
]


def patch_logging():
    import logging
    if not hasattr(logging.Logger, "warn"):
        logging.Logger.warn = logging.Logger.warning


def advertise():
    patch_logging()
    import networkzero as nw0
    for label, name, address, ttl in CASES:
        kwargs = {} if ttl is DEFAULT else {"ttl_s": ttl}
        got = nw0.advertise(name, address, **kwargs)
        print("ADVERTISED", label, json.dumps(got), flush=True)
    print("ALL-ADVERTISED", flush=True)
    time.sleep(60)  # killed by capture.sh long before


def listen(outdir, timeout_s=40.0, max_datagrams=2000):
    by_name = {name: (i, label) for i, (label, name, _, _) in enumerate(CASES)}
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.bind(("0.0.0.0", 9999))
    sock.settimeout(0.5)
    print("READY", flush=True)
    got = {}
    manifest = []
    deadline = time.time() + timeout_s
    for _ in range(max_datagrams):
        if len(got) == len(CASES) or time.time() > deadline:
            break
        try:
            data, src = sock.recvfrom(65535)
        except socket.timeout:
            continue
        try:
            name = json.loads(data.decode("utf-8"))[0]
        except Exception as exc:
            print("UNPARSABLE", repr(data), exc, flush=True)
            continue
        if name not in by_name:
            print("UNKNOWN", repr(data), flush=True)
            continue
        i, label = by_name[name]
        if label in got:
            if got[label] != data:
                print("DIFFERENT-REPEAT", label, repr(data), flush=True)
            continue
        got[label] = data
        fname = "%02d-%s.bin" % (i + 1, label)
        with open(os.path.join(outdir, fname), "wb") as f:
            f.write(data)
        manifest.append((i, fname, len(data), "%s:%d" % src, data.decode("utf-8")))
        print("CAPTURED", fname, len(data), src, flush=True)
    manifest.sort()
    with open(os.path.join(outdir, "MANIFEST.tsv"), "w", encoding="utf-8") as f:
        f.write("file\tbytes\tsource\tdatagram (UTF-8)\n")
        for _, fname, n, src, text in manifest:
            f.write("%s\t%d\t%s\t%s\n" % (fname, n, src, text))
    missing = [label for label, *_ in CASES if label not in got]
    if missing:
        print("MISSING", missing, flush=True)
        sys.exit(1)
    print("DONE", flush=True)


def rpc_server(outdir, timeout_s=30.0, max_conns=50):
    import zmq
    os.makedirs(outdir, exist_ok=True)
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("", 9999))  # makes networkzero's beacon bind fail: it then uses RPC
    ctx = zmq.Context()
    rep = ctx.socket(zmq.REP)
    rep.bind("tcp://127.0.0.1:19998")
    requests = []

    def serve():
        end = time.time() + timeout_s
        while time.time() < end and len(requests) < max_conns:
            if not rep.poll(200):
                continue
            req = rep.recv()
            requests.append(req)
            action, *args = json.loads(req)
            if action == "advertise":
                reply = args[1] or "127.0.0.1:5555"
            elif action == "discover":
                reply = "127.0.0.1:5555"
            elif action == "discover_all":
                reply = [["echo", "127.0.0.1:5555"]]
            else:
                reply = None
            rep.send(json.dumps(reply).encode("utf-8"))

    streams = []  # per connection: [client->server bytes, server->client bytes]

    def pump(src, dst, buf, end):
        while time.time() < end:
            try:
                chunk = src.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            buf.extend(chunk)
            try:
                dst.sendall(chunk)
            except OSError:
                break
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    threading.Thread(target=serve, daemon=True).start()
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", 9998))
    lst.listen(8)
    lst.settimeout(0.5)
    print("READY", flush=True)
    end = time.time() + timeout_s
    pumps = []
    quiet_since = time.time()
    while time.time() < end and len(streams) < max_conns:
        try:
            conn, _ = lst.accept()
        except socket.timeout:
            # done when the client has finished (it prints, capture.sh tells us via a file)
            if os.path.exists(os.path.join(outdir, ".client-done")) and time.time() - quiet_since > 1:
                break
            continue
        quiet_since = time.time()
        up = socket.create_connection(("127.0.0.1", 19998), timeout=5)
        conn.settimeout(5)
        up.settimeout(5)
        c2s, s2c = bytearray(), bytearray()
        streams.append((c2s, s2c))
        for args in ((conn, up, c2s, end), (up, conn, s2c, end)):
            t = threading.Thread(target=pump, args=args, daemon=True)
            t.start()
            pumps.append(t)
    for t in pumps:
        t.join(timeout=6)
    if os.path.exists(os.path.join(outdir, ".client-done")):
        os.remove(os.path.join(outdir, ".client-done"))
    for i, (c2s, s2c) in enumerate(streams):
        action = json.loads(requests[i])[0] if i < len(requests) else "unknown"
        base = os.path.join(outdir, "%02d-%s" % (i + 1, action))
        with open(base + ".req.bin", "wb") as f:
            f.write(requests[i] if i < len(requests) else b"")
        with open(base + ".c2s.bin", "wb") as f:
            f.write(bytes(c2s))
        with open(base + ".s2c.bin", "wb") as f:
            f.write(bytes(s2c))
        print("RPC", os.path.basename(base), len(c2s), len(s2c), flush=True)
    print("DONE", flush=True)


def rpc_client():
    patch_logging()
    import networkzero as nw0
    print("advertise ->", nw0.advertise("echo", "127.0.0.1:5555"), flush=True)
    print("discover ->", nw0.discover("echo", 2), flush=True)
    print("discover_all ->", nw0.discover_all(), flush=True)
    # at exit networkzero sends ["unadvertise", "echo"]


if __name__ == "__main__":
    role = sys.argv[1]
    if role == "advertise":
        advertise()
    elif role == "listen":
        listen(sys.argv[2])
    elif role == "rpc-server":
        rpc_server(sys.argv[2])
    elif role == "rpc-client":
        rpc_client()
    else:
        sys.exit("unknown role " + role)
