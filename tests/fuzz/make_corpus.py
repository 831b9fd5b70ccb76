#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets, tests/fuzz/corpus/<target>/, from real inputs:

  http1_session    HTTP/1 exchanges of curl (and a pipelining client) with nginx and Python's http.server,
                   recorded by a relay between them, as each side saw them (fuzz_records.h format)
  stream_http1     the same exchanges as stream chunks, some dropped, held back and reordered, with
                   reorder timeouts and quiescing (stream_http1_fuzzer.cpp's ops)
  http2_session    HTTP/2 (prior knowledge) of curl, nghttp and h2load with nginx, recorded the same way:
                   whole, cut in small chunks, with uncopied tails, gaps, and seen mid-way
  dns_message      DNS messages of dig and dnsmasq (UDP and TCP), recorded the same way
  dns_session      those exchanges as datagrams and stream chunks (fuzz_records.h format)
  elf_file         small shared objects and objects compiled from the symbolizer's TLS stub, and variants
                   (no section headers, truncated)
  go_binary        small Go ELF files: the real crypto/tls.(*Conn).Read/Write code and build information of
                   the Go fixtures, with a pclntab, symbols and DWARF of their own (the fixtures are MBs)
  probe_placement  code of the static OpenSSL fixture (SSL_read/_ex and SSL_write/_ex with their workers) and
                   of the Go fixtures' crypto/tls functions (probe_placement_fuzzer.cpp's header first)
  address_table    `l7tap symbols --table` output, and the same edited (comments, case, blank lines)
  keylog_hook      small ELF files compiled from the symbolizer's key-log stub (each shape, stripped and
                   not, one position-dependent) and a small Go ELF with writeKeyLog's code; and a thunk with
                   a label call as bare code (keylog_hook_fuzzer.cpp's header first)
  tls_decryptor    TLS connections of libssl's client and server in memory, every suite l7tap decrypts, with
                   their key logs: whole, cut small, with uncopied tails, gaps, late secrets, trial pairing,
                   resumed, seen mid-way (BUILD_DIR/tests/fuzz/make_tls_corpus writes them)

Usage: tests/fuzz/make_corpus.py BUILD_DIR [TARGET...]
BUILD_DIR is a normal build (its fixtures and l7tap). Needs nginx, dnsmasq, dig, curl and gcc (make deps).
Existing seeds of the targets written are replaced; recordings differ from run to run (dates, DNS ids).
"""
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
STUB = os.path.join(HERE, "..", "symbolizer", "stubs")

EGRESS, INGRESS = 0, 8  # direction bit of a record op (fuzz_records.h): as the client saw it


def record(op, payload=b"", value=None):
    """One record of fuzz_records.h: op, 16-bit value (the payload size for data ops), payload."""
    value = len(payload) if value is None else value
    assert value < 65536
    return bytes([op]) + struct.pack("<H", value) + payload


def write_seed(target, name, data):
    directory = os.path.join(CORPUS, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port):
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


class TcpRelay:
    """Forwards connections to an upstream port and records each one as [(direction, bytes)], in the order
    the chunks arrived (direction as the client saw it)."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.connections = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            events = []
            with self.lock:
                self.connections.append(events)
            done = []
            for src, dst, direction in ((client, server, EGRESS), (server, client, INGRESS)):
                threading.Thread(target=self._pump, args=(src, dst, direction, events, done),
                                 daemon=True).start()

    def _pump(self, src, dst, direction, events, done):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                done.append(direction)
                return
            with self.lock:
                events.append((direction, data))
            dst.sendall(data)

    def take(self):
        """Connections recorded since the last call, once they have settled."""
        time.sleep(0.3)
        with self.lock:
            taken, self.connections = self.connections, []
        return taken


class UdpRelay:
    """Forwards datagrams to an upstream port and records [(direction, bytes)] per client socket."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.exchanges = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            query, client = self.sock.recvfrom(65536)
            up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            up.settimeout(2)
            up.sendto(query, ("127.0.0.1", self.upstream))
            events = [(EGRESS, query)]
            try:
                response, _ = up.recvfrom(65536)
                events.append((INGRESS, response))
                self.sock.sendto(response, client)
            except socket.timeout:
                pass
            up.close()
            self.exchanges.append(events)

    def take(self):
        time.sleep(0.2)
        taken, self.exchanges = self.exchanges, []
        return taken


def run(command, **kwargs):
    return subprocess.run(command, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          **kwargs).stdout


# ---------------------------------------------------------------------------------------------------------
# HTTP/1


NGINX_CONF = """{user}
worker_processes 1;
error_log {prefix}/error.log;
pid {prefix}/nginx.pid;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/body;
  gzip on;
  gzip_types text/plain;
  gzip_min_length 64;
  server {{
    listen 127.0.0.1:{port};
    root {prefix}/www;
    location /api/ {{ return 200 "{{\\"ok\\":true}}\\n"; }}
    location /moved {{ return 301 /index.html; }}
  }}
}}
"""


def http_exchanges(workdir):
    """Recorded connections: lists of (direction, bytes) as the client saw them."""
    www = os.path.join(workdir, "www")
    os.makedirs(www)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("<html><body>l7tap fuzz seed</body></html>\n")
    with open(os.path.join(www, "big.txt"), "w") as f:
        f.write("".join(f"line {i} of a text that gzip compresses\n" for i in range(600)))
    port = free_port()
    conf = os.path.join(workdir, "nginx.conf")
    # As root, nginx's workers would run as nobody, who cannot read the private temporary directory.
    user = "user root;" if os.geteuid() == 0 else ""
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(user=user, prefix=workdir, port=port))
    nginx = subprocess.Popen(["nginx", "-c", conf, "-p", workdir, "-g", "daemon off;"])
    pyport = free_port()
    python = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(pyport)],
                              cwd=www, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    exchanges = {}
    try:
        wait_for_port(port)
        wait_for_port(pyport)
        relay = TcpRelay(port)
        base = f"http://127.0.0.1:{relay.port}"
        upload = os.path.join(workdir, "upload.bin")
        with open(upload, "wb") as f:
            f.write(bytes(range(256)) * 8)
        curls = {
            "get": [f"{base}/"],
            "head": ["-I", f"{base}/index.html"],
            "post_form": ["-d", "name=l7tap&kind=fuzz", f"{base}/api/users/12345?debug=1"],
            "not_found": [f"{base}/missing/page"],
            "redirect": [f"{base}/moved"],
            "keepalive": [f"{base}/index.html", f"{base}/api/orders/0a1b2c3d4e5f", f"{base}/moved"],
            "gzip_chunked": ["-H", "Accept-Encoding: gzip", f"{base}/big.txt"],
            "put_chunked": ["-T", upload, "-H", "Transfer-Encoding: chunked", f"{base}/upload"],
            "expect_continue": ["-H", "Expect: 100-continue", "--data-binary", f"@{upload}",
                                f"{base}/api/upload"],
            "http10": ["--http1.0", f"{base}/index.html"],
            "upgrade_refused": ["-H", "Connection: Upgrade", "-H", "Upgrade: websocket", f"{base}/"],
            "range": ["-r", "0-99", f"{base}/big.txt"],
        }
        for name, args in curls.items():
            run(["curl", "-s", "-o", "/dev/null", "--max-time", "5"] + args)
            exchanges[name] = relay.take()[0]
        # Pipelining: two requests in one write, answered in order.
        with socket.create_connection(("127.0.0.1", relay.port)) as s:
            s.sendall(b"GET /index.html HTTP/1.1\r\nHost: seed\r\n\r\n"
                      b"HEAD /big.txt HTTP/1.1\r\nHost: seed\r\nConnection: close\r\n\r\n")
            while s.recv(65536):
                pass
        exchanges["pipelined"] = relay.take()[0]
        relay_py = TcpRelay(pyport)
        run(["curl", "-s", "-o", "/dev/null", "--max-time", "5", f"http://127.0.0.1:{relay_py.port}/"])
        exchanges["python_http_server"] = relay_py.take()[0]
    finally:
        nginx.terminate()
        python.terminate()
        nginx.wait()
        python.wait()
    return exchanges


def http_seeds(exchanges):
    for name, events in exchanges.items():
        # As the client saw it, and as the server did (directions swapped); role known, and unknown.
        client = b"".join(record(0 | d, data) for d, data in events)
        server = b"".join(record(0 | (d ^ INGRESS), data) for d, data in events)
        write_seed("http1_session", f"{name}-client", bytes([1]) + client)
        write_seed("http1_session", f"{name}-server", bytes([2]) + server)
        if name in ("keepalive", "pipelined", "expect_continue"):
            write_seed("http1_session", f"{name}-unknown-role", bytes([0]) + client)
        if name in ("keepalive", "gzip_chunked"):
            # Small chunks, through the consumer adapters, closed explicitly.
            pieces = b"".join(record(6 | d, data[i:i + 7]) for d, data in events for i in range(0, len(data), 7))
            write_seed("http1_session", f"{name}-client-7-byte-chunks", bytes([1]) + pieces + record(3))
        if name in ("keepalive", "put_chunked"):
            # The first chunk of each direction's largest event is cut: its tail is not captured.
            cut = b""
            for d, data in events:
                if len(data) > 300:
                    cut += record(1 | d | (8 << 4), data[:len(data) - 256])  # 2^8 = 256 bytes uncopied
                else:
                    cut += record(d, data)
            write_seed("http1_session", f"{name}-client-uncopied-tails", bytes([1]) + cut)
    # A gap inside the second response, and one in the request headers.
    events = exchanges["keepalive"]
    gapped = b""
    responses = 0
    for d, data in events:
        if d == INGRESS:
            responses += 1
            if responses == 2 and len(data) > 40:
                gapped += record(d, data[:30]) + record(2 | d, value=len(data) - 40) + record(d, data[-10:])
                continue
        gapped += record(d, data)
    write_seed("http1_session", "keepalive-client-response-gap", bytes([1]) + gapped)


def stream_seeds(exchanges):
    """stream_http1: each exchange whole (open seen), and with every third event dropped, every fifth held
    back and delivered after the next, a reorder timeout and a quiesce after each event."""
    for name, events in exchanges.items():
        for role, swap in ((1, 0), (2, INGRESS)):
            side = "client" if role == 1 else "server"
            whole = b"".join(record(0 | (d ^ swap), data) for d, data in events)
            write_seed("stream_http1", f"{name}-{side}", bytes([role | 4]) + whole)
            lossy = b""
            for i, (d, data) in enumerate(events):
                d ^= swap
                if i % 3 == 2:
                    lossy += record(1 | d, data)
                elif i % 5 == 4:
                    lossy += record(2 | d, data) + record(3 | d)
                else:
                    lossy += record(0 | d, data) + record(5) + record(6)
            write_seed("stream_http1", f"{name}-{side}-lossy", bytes([role | 4]) + lossy)


# ---------------------------------------------------------------------------------------------------------
# HTTP/2


NGINX_H2_CONF = """{user}
worker_processes 1;
error_log {prefix}/error.log;
pid {prefix}/nginx.pid;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/body;
  server {{
    listen 127.0.0.1:{port} http2;
    root {prefix}/www;
    location /api/ {{ return 200 "{{\\"ok\\":true}}\\n"; }}
    location /reset {{ return 444; }}
  }}
}}
"""


def h2_exchanges(workdir):
    """Recorded HTTP/2 connections (prior knowledge): lists of (direction, bytes) as the client saw them."""
    www = os.path.join(workdir, "www")
    os.makedirs(www)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("<html><body>l7tap fuzz seed</body></html>\n")
    with open(os.path.join(www, "big.bin"), "wb") as f:
        f.write(os.urandom(20000))
    port = free_port()
    conf = os.path.join(workdir, "nginx.conf")
    user = "user root;" if os.geteuid() == 0 else ""
    with open(conf, "w") as f:
        f.write(NGINX_H2_CONF.format(user=user, prefix=workdir, port=port))
    nginx = subprocess.Popen(["nginx", "-c", conf, "-p", workdir, "-g", "daemon off;"])
    exchanges = {}
    try:
        wait_for_port(port)
        relay = TcpRelay(port)
        base = f"http://127.0.0.1:{relay.port}"
        curls = {
            "curl_get": [f"{base}/"],
            "curl_post": ["-d", "name=l7tap&kind=fuzz", f"{base}/api/users/12345?debug=1"],
            "curl_not_found": [f"{base}/missing/page"],
            "curl_big": [f"{base}/big.bin"],
            "curl_reset": [f"{base}/reset"],
        }
        for name, args in curls.items():
            subprocess.run(["curl", "-s", "-o", "/dev/null", "--max-time", "5", "--http2-prior-knowledge"] + args,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            exchanges[name] = relay.take()[0]
        run(["nghttp", "-n", f"{base}/", f"{base}/index.html", f"{base}/api/orders/7", f"{base}/missing"])
        exchanges["nghttp_concurrent"] = relay.take()[0]
        run(["h2load", "-n", "30", "-c", "1", "-m", "10", f"{base}/index.html"])
        exchanges["h2load_m10"] = relay.take()[0]
    finally:
        nginx.terminate()
        nginx.wait()
    return exchanges


def http2_seeds(exchanges):
    for name, events in exchanges.items():
        # One record holds at most 65535 bytes.
        events = [(d, data[i:i + 65535]) for d, data in events for i in range(0, len(data), 65535)]
        client = b"".join(record(0 | d, data) for d, data in events)
        server = b"".join(record(0 | (d ^ INGRESS), data) for d, data in events)
        write_seed("http2_session", f"{name}-client", bytes([1 | 4]) + client)
        write_seed("http2_session", f"{name}-server", bytes([2 | 4]) + server)
        write_seed("http2_session", f"{name}-unknown-role", bytes([0 | 4]) + client)
        if name in ("nghttp_concurrent", "curl_big"):
            pieces = b"".join(record(d, data[i:i + 7]) for d, data in events for i in range(0, len(data), 7))
            write_seed("http2_session", f"{name}-client-7-byte-chunks", bytes([1 | 4]) + pieces)
            cut = b""
            for d, data in events:
                if len(data) > 300:
                    cut += record(1 | d | (8 << 4), data[:len(data) - 256])
                else:
                    cut += record(d, data)
            write_seed("http2_session", f"{name}-client-uncopied-tails", bytes([1 | 4]) + cut)
            gapped = b""
            for i, (d, data) in enumerate(events):
                gapped += record(2 | d, value=len(data)) if i % 4 == 3 else record(d, data)
            write_seed("http2_session", f"{name}-client-gaps", bytes([1 | 4]) + gapped)
        if name == "h2load_m10":
            # Seen mid-way: the first third of the events never reached the session.
            later = b"".join(record(d, data) for d, data in events[len(events) // 3:])
            write_seed("http2_session", f"{name}-client-midway", bytes([1]) + later)


# ---------------------------------------------------------------------------------------------------------
# DNS


def dns_exchanges():
    port = free_port(socket.SOCK_DGRAM)
    txt = [f"--txt-record=big.example.test,record {i} of a TXT set too large for 512 bytes without EDNS"
           for i in range(12)]
    dnsmasq = subprocess.Popen(
        ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--pid-file=",
         f"--port={port}", "--listen-address=127.0.0.1", "--bind-interfaces",
         "--address=/example.test/192.0.2.10", "--address=/example.test/2001:db8::10",
         "--mx-host=example.test,mail.example.test,10", "--cname=www.example.test,example.test",
         "--ptr-record=10.2.0.192.in-addr.arpa,example.test", "--srv-host=_http._tcp.example.test,example.test,80"]
        + txt, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        udp = UdpRelay(port)
        tcp = TcpRelay(port)
        queries = {
            "a": ["example.test", "A"],
            "aaaa": ["example.test", "AAAA"],
            "mx": ["example.test", "MX"],
            "cname": ["www.example.test", "A"],
            "ptr": ["-x", "192.0.2.10"],
            "srv": ["_http._tcp.example.test", "SRV"],
            "txt_truncated": ["+noedns", "+ignore", "big.example.test", "TXT"],
            "txt_edns": ["+bufsize=4096", "big.example.test", "TXT"],
            "refused": ["unknown.invalid", "A"],
            "mixed_case": ["ExAmPlE.TeSt", "A"],
        }
        exchanges = {}
        for name, args in queries.items():
            run(["dig", "@127.0.0.1", "-p", str(udp.port), "+tries=1", "+time=2"] + args)
            exchanges[f"udp-{name}"] = udp.take()[0]
        for name in ("a", "txt_edns", "mx"):
            run(["dig", "@127.0.0.1", "-p", str(tcp.port), "+tcp", "+tries=1", "+time=2"] + queries[name])
            exchanges[f"tcp-{name}"] = tcp.take()[0]
        # Two queries on one TCP connection (dig +keepopen with two names).
        run(["dig", "@127.0.0.1", "-p", str(tcp.port), "+tcp", "+keepopen", "+tries=1", "example.test", "A",
             "example.test", "AAAA"])
        connections = tcp.take()
        exchanges["tcp-keepopen"] = [e for c in connections for e in c]
    finally:
        dnsmasq.terminate()
        dnsmasq.wait()
    return exchanges


def tcp_messages(stream):
    messages = []
    while len(stream) >= 2:
        length = struct.unpack(">H", stream[:2])[0]
        messages.append(stream[2:2 + length])
        stream = stream[2 + length:]
    return messages


def dns_seeds():
    for name, events in dns_exchanges().items():
        if name.startswith("udp-"):
            for d, data in events:
                write_seed("dns_message", f"{name}-{'query' if d == EGRESS else 'response'}", data)
            client = b"".join(record(0 | d, data) for d, data in events)
            server = b"".join(record(0 | (d ^ INGRESS), data) for d, data in events)
            write_seed("dns_session", f"{name}-client", bytes([0]) + client)
            write_seed("dns_session", f"{name}-server", bytes([0]) + server)
            if name in ("udp-a", "udp-txt_edns"):
                # The response datagram captured only up to its question (a cut capture).
                d, response = events[1]
                write_seed("dns_session", f"{name}-client-cut-response",
                           bytes([0]) + record(0, events[0][1]) + record(1 | d | (9 << 4), response[:40]))
        else:
            for direction in (EGRESS, INGRESS):
                stream = b"".join(data for d, data in events if d == direction)
                for i, message in enumerate(tcp_messages(stream)):
                    kind = "query" if direction == EGRESS else "response"
                    write_seed("dns_message", f"{name}-{kind}-{i}", message)
            client = b"".join(record(2 | d, data) for d, data in events)
            write_seed("dns_session", f"{name}-client", bytes([0]) + client)
            server = b"".join(record(6 | (d ^ INGRESS), data) for d, data in events)
            write_seed("dns_session", f"{name}-server-through-consumer", bytes([0]) + server)
            if name == "tcp-txt_edns":
                # One byte at a time, then the response's tail uncopied and a gap.
                pieces = b"".join(record(2 | d, data[i:i + 1]) for d, data in events for i in range(len(data)))
                write_seed("dns_session", f"{name}-client-1-byte-chunks", bytes([1]) + pieces)
                d, response = [e for e in events if e[0] == INGRESS][0]
                cut = record(2, events[0][1]) + record(3 | d | (8 << 4), response[:max(0, len(response) - 256)])
                write_seed("dns_session", f"{name}-client-uncopied-tail-then-gap",
                           bytes([0]) + cut + record(4 | d) + record(5, value=1))


# ---------------------------------------------------------------------------------------------------------
# ELF files


COMPACT = ["-O2", "-fPIC", "-shared", "-Wl,--build-id=sha1", "-Wl,-z,noseparate-code", "-Wl,-z,max-page-size=0x40",
           "-Wl,-z,norelro"]


def elf_seeds(workdir):
    stub = os.path.join(STUB, "tls_stub.c")
    versions = os.path.join(STUB, "versions.map")
    variants = {
        "stub-openssl111.so": ["-DL7TAP_STUB=1", "-Wl,--no-as-needed", "-lc"],
        "stub-boringssl.so": ["-DL7TAP_STUB=2", "-Wl,--no-as-needed", "-lc"],
        "stub-libressl.so": ["-DL7TAP_STUB=3", "-nostdlib"],
        "stub-versioned.so": ["-DL7TAP_STUB=4", f"-Wl,--version-script={versions}", "-nostdlib"],
        "stub-versioned-stripped.so": ["-DL7TAP_STUB=4", f"-Wl,--version-script={versions}", "-s", "-nostdlib"],
        "stub-openssl3-core-adjacent.so": ["-DL7TAP_STUB=5", "-nostdlib"],
        "stub-openssl3-core-lone.so": ["-DL7TAP_STUB=6", "-nostdlib", "-s"],
        "stub-i386.so": ["-DL7TAP_STUB=1", "-m32", "-nostdlib"],
    }
    for name, flags in variants.items():
        out = os.path.join(workdir, name)
        run(["gcc"] + COMPACT + flags + ["-o", out, stub])
        with open(out, "rb") as f:
            write_seed("elf_file", name, f.read())
    obj = os.path.join(workdir, "stub.o")
    run(["gcc", "-O2", "-c", "-DL7TAP_STUB=1", "-o", obj, stub])
    with open(obj, "rb") as f:
        write_seed("elf_file", "stub-object.o", f.read())
    with open(os.path.join(workdir, "stub-openssl111.so"), "rb") as f:
        so = bytearray(f.read())
    # Without section headers (as sstrip leaves a file): e_shoff, e_shnum, e_shstrndx zeroed.
    no_sections = bytearray(so)
    struct.pack_into("<Q", no_sections, 0x28, 0)
    struct.pack_into("<HH", no_sections, 0x3c, 0, 0)
    write_seed("elf_file", "stub-openssl111-no-section-headers.so", bytes(no_sections))
    write_seed("elf_file", "stub-openssl111-truncated.so", bytes(so[:len(so) // 2]))


# Go: small files with the real code and build information of the Go fixtures.

GO_FUNCTIONS = ["crypto/tls.(*Conn).Read", "crypto/tls.(*Conn).Write"]
GO_WRITE_KEY_LOG = "crypto/tls.(*Config).writeKeyLog"
FD_TYPES = {  # the DWARF structure types go_dwarf_offsets.cpp reads, with the members it needs
    "crypto/tls.Conn": [("conn", 0)],
    "net.conn": [("fd", 0)],
    "net.netFD": [("pfd", 0)],
    "internal/poll.FD": [("fdmu", 0), ("Sysfd", 16)],
    "net.TCPConn": [("conn", 0)],
}


def symbols(path):
    """name -> (address, size) of the Go TLS functions (writeKeyLog too), from nm."""
    found = {}
    for line in run(["nm", "-S", path]).decode().splitlines():
        fields = line.split(None, 3)
        if len(fields) == 4 and (fields[3] in GO_FUNCTIONS or fields[3] == GO_WRITE_KEY_LOG):
            found[fields[3]] = (int(fields[0], 16), int(fields[1], 16))
    return found


def sections(path):
    """name -> (address, offset, size), from readelf."""
    found = {}
    for line in run(["readelf", "-SW", path]).decode().splitlines():
        line = line.replace("[ ", "[")
        fields = line.split()
        if len(fields) > 6 and fields[0].startswith("[") and fields[0] != "[Nr]":
            found[fields[1]] = (int(fields[3], 16), int(fields[4], 16), int(fields[5], 16))
    return found


def read_bytes(path, offset, size):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(size)


def uleb(value):
    out = b""
    while True:
        byte = value & 0x7f
        value >>= 7
        out += bytes([byte | (0x80 if value else 0)])
        if not value:
            return out


def dwarf(expression_locations):
    """.debug_abbrev and .debug_info (one unit) describing FD_TYPES, member offsets as constants or as
    DW_OP_plus_uconst expressions."""
    DW_TAG_compile_unit, DW_TAG_structure_type, DW_TAG_member = 0x11, 0x13, 0x0d
    DW_AT_name, DW_AT_data_member_location = 0x03, 0x38
    DW_FORM_string, DW_FORM_udata, DW_FORM_block1 = 0x08, 0x0f, 0x0a
    location_form = DW_FORM_block1 if expression_locations else DW_FORM_udata
    abbrev = (uleb(1) + uleb(DW_TAG_compile_unit) + b"\x01" + uleb(DW_AT_name) + uleb(DW_FORM_string) + b"\0\0"
              + uleb(2) + uleb(DW_TAG_structure_type) + b"\x01" + uleb(DW_AT_name) + uleb(DW_FORM_string) + b"\0\0"
              + uleb(3) + uleb(DW_TAG_member) + b"\x00" + uleb(DW_AT_name) + uleb(DW_FORM_string)
              + uleb(DW_AT_data_member_location) + uleb(location_form) + b"\0\0" + b"\0")
    dies = uleb(1) + b"l7tap fuzz seed\0"
    for type_name, members in FD_TYPES.items():
        dies += uleb(2) + type_name.encode() + b"\0"
        for member, offset in members:
            if expression_locations:
                location = bytes([0x23]) + uleb(offset)  # DW_OP_plus_uconst
                dies += uleb(3) + member.encode() + b"\0" + bytes([len(location)]) + location
            else:
                dies += uleb(3) + member.encode() + b"\0" + uleb(offset)
        dies += b"\0"
    dies += b"\0"
    # Version 4 as Go writes it; block-form locations are DWARF 2/3 only (libdw refuses them in version 4).
    header = struct.pack("<HIB", 3 if expression_locations else 4, 0, 8)  # version, abbrev offset, address size
    info = struct.pack("<I", len(header) + len(dies)) + header + dies
    return abbrev, info


def pclntab(version_minor, text_start, functions):
    """A pclntab in the fixture's format: header, function names, functab, one _func (entry, nameOff) each."""
    legacy = version_minor < 18
    magic = 0xfffffffa if legacy else (0xfffffff0 if version_minor < 20 else 0xfffffff1)
    names = b""
    name_offsets = []
    for name, _, _ in functions:
        name_offsets.append(len(names))
        names += name.encode() + b"\0"
    words = 7 if legacy else 8
    header_size = 8 + 8 * words
    funcname_offset = header_size
    pcln_offset = (funcname_offset + len(names) + 7) // 8 * 8
    field = 8 if legacy else 4
    functab_size = (2 * len(functions) + 1) * field
    func_size = (8 if legacy else 4) + 4 + 32  # entry, nameOff, then fields the symbolizer does not read
    funcoffs = [functab_size + i * func_size for i in range(len(functions))]
    functab = b""
    for (_, address, _), funcoff in zip(functions, funcoffs):
        entry = address if legacy else address - text_start
        functab += struct.pack("<QQ" if legacy else "<II", entry, funcoff)
    end = functions[-1][1] + functions[-1][2]
    functab += struct.pack("<Q" if legacy else "<I", end if legacy else end - text_start)
    funcs = b""
    for (_, address, _), name_offset in zip(functions, name_offsets):
        entry = struct.pack("<Q", address) if legacy else struct.pack("<I", address - text_start)
        funcs += entry + struct.pack("<i", name_offset) + bytes(32)
    cu_offset = filetab_offset = pctab_offset = pcln_offset  # empty tables
    values = [len(functions), 0] + ([] if legacy else [text_start]) + [funcname_offset, cu_offset, filetab_offset,
                                                                      pctab_offset, pcln_offset]
    header = struct.pack("<IBBBB", magic, 0, 0, 1, 8) + b"".join(struct.pack("<Q", v) for v in values)
    body = header + names
    body += bytes(pcln_offset - len(body))
    return body + functab + funcs


def legacy_buildinfo(version, string_header_address):
    """Go 1.16/1.17's .go.buildinfo: the header with pointers to runtime.buildVersion's string header."""
    return b"\xff Go buildinf:" + bytes([8, 0]) + struct.pack("<QQ", string_header_address, 0)


class ElfWriter:
    """A little-endian x86-64 ELF file laid out as the Go linker does: vaddr = base + file offset."""

    def __init__(self, pie):
        self.pie = pie
        self.base = 0 if pie else 0x400000
        self.sections = []  # (name, type, flags, offset, data, link, info, entsize, align)
        self.offset = 0x100  # after the ELF and program headers

    def add(self, name, data, kind=1, flags=0, align=16, link=0, info=0, entsize=0):
        self.offset = (self.offset + align - 1) // align * align
        self.sections.append((name, kind, flags, self.offset, data, link, info, entsize, align))
        address = self.base + self.offset
        self.offset += len(data)
        return address

    def address_of_next(self, align=16):
        return self.base + (self.offset + align - 1) // align * align

    def build(self, entry):
        names = b"\0"
        name_offsets = []
        for section in self.sections + [(".shstrtab",)]:
            name_offsets.append(len(names))
            names += section[0].encode() + b"\0"
        body_end = self.offset
        shstrtab_offset = body_end
        shoff = (shstrtab_offset + len(names) + 7) // 8 * 8
        segments = []
        for flags, wanted in ((5, lambda f: f & 4), (4, lambda f: f & 2 and not f & 5), (6, lambda f: f & 1)):
            chosen = [s for s in self.sections if s[2] and wanted(s[2])]
            if chosen:
                start = min(s[3] for s in chosen)
                end = max(s[3] + len(s[4]) for s in chosen)
                segments.append((flags, start, end - start))
        shnum = len(self.sections) + 2
        ehdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
        ehdr += struct.pack("<HHIQQQIHHHHHH", 3 if self.pie else 2, 62, 1, entry, 64, shoff, 0, 64, 56,
                            len(segments), 64, shnum, shnum - 1)
        phdrs = b"".join(struct.pack("<IIQQQQQQ", 1, flags, off, self.base + off, self.base + off, size, size,
                                     0x1000) for flags, off, size in segments)
        image = bytearray(ehdr + phdrs)
        image += bytes(0x100 - len(image))
        for name, kind, flags, offset, data, *_ in self.sections:
            image += bytes(offset - len(image)) + data
        image += names + bytes(shoff - shstrtab_offset - len(names))
        shdrs = bytes(64)
        for (name, kind, flags, offset, data, link, info, entsize, align), name_offset in zip(self.sections,
                                                                                                name_offsets):
            address = self.base + offset if flags & 2 else 0
            shdrs += struct.pack("<IIQQQQIIQQ", name_offset, kind, flags, address, offset, len(data), link, info,
                                 align, entsize)
        shdrs += struct.pack("<IIQQQQIIQQ", name_offsets[-1], 3, 0, 0, shstrtab_offset, len(names), 0, 0, 1, 0)
        return bytes(image + shdrs)


def go_elf(fixture, minor, pie=False, symtab=True, with_dwarf=False, expression_locations=False,
           legacy_minor=None, names=GO_FUNCTIONS):
    """A small Go ELF file holding the code of the fixture's functions `names` (crypto/tls.(*Conn).Read/Write)
    and its build information."""
    found = symbols(fixture)
    secs = sections(fixture)
    writer = ElfWriter(pie)
    text_start = writer.address_of_next(32)
    code = b""
    functions = []
    for name in names:
        address, size = found[name]
        text_offset = secs[".text"][1] + (address - secs[".text"][0])
        code += bytes((-len(code)) % 32)
        functions.append((name, text_start + len(code), size))
        code += read_bytes(fixture, text_offset, size)
    writer.add(".text", code, flags=6, align=32)  # SHF_ALLOC | SHF_EXECINSTR
    pcln_minor = legacy_minor if legacy_minor is not None else minor
    writer.add(".data.rel.ro.gopclntab" if pie else ".gopclntab", pclntab(pcln_minor, text_start, functions),
               flags=2, align=32)
    if legacy_minor is not None:
        version = f"go1.{legacy_minor}.15".encode()
        rodata_address = writer.address_of_next(16)
        header_address = rodata_address + 16
        writer.add(".rodata", version + bytes(16 - len(version)) + struct.pack("<QQ", rodata_address, len(version)),
                   flags=2)
        buildinfo = legacy_buildinfo(version, header_address)
    else:
        address, offset, size = secs[".go.buildinfo"]
        buildinfo = read_bytes(fixture, offset, size)
    writer.add(".go.buildinfo", buildinfo, flags=3, align=16)  # SHF_WRITE | SHF_ALLOC
    if symtab:
        strtab = b"\0"
        syms = bytes(24)
        for name, address, size in functions:
            syms += struct.pack("<IBBHQQ", len(strtab), 0x12, 0, 1, address, size)  # GLOBAL FUNC in .text
            strtab += name.encode() + b"\0"
        first = len(writer.sections)
        writer.add(".symtab", syms, kind=2, align=8, link=first + 2, info=1, entsize=24)
        writer.add(".strtab", strtab, kind=3, align=1)
    if with_dwarf:
        abbrev, info = dwarf(expression_locations)
        writer.add(".debug_abbrev", abbrev, align=1)
        writer.add(".debug_info", info, align=1)
    return writer.build(functions[0][1])


def go_seeds(build, targets):
    fixtures = os.path.join(build, "fixtures", "go")
    versions = sorted({name.split("-")[0] for name in os.listdir(fixtures) if name.startswith("go1.")},
                      key=lambda v: int(v.split(".")[1]))
    newest = versions[-1]
    minor = int(newest.split(".")[1])
    fixture = os.path.join(fixtures, f"{newest}-default-server")
    if "go_binary" in targets:
        for version in versions:
            server = os.path.join(fixtures, f"{version}-default-server")
            version_minor = int(version.split(".")[1])
            write_seed("go_binary", f"{version}-server", go_elf(server, version_minor))
            write_seed("go_binary", f"{version}-server-stripped", go_elf(server, version_minor, symtab=False))
            write_seed("go_binary", f"{version}-server-pie", go_elf(server, version_minor, pie=True))
        write_seed("go_binary", f"{newest}-server-dwarf", go_elf(fixture, minor, with_dwarf=True))
        write_seed("go_binary", f"{newest}-server-dwarf-expression-locations",
                   go_elf(fixture, minor, with_dwarf=True, expression_locations=True))
        write_seed("go_binary", "go1.17-layout-server", go_elf(fixture, minor, legacy_minor=17))
    if "probe_placement" in targets:
        # The code of each function alone, walked from its entry with Go's argument registers.
        found = symbols(fixture)
        secs = sections(fixture)
        for name in GO_FUNCTIONS:
            address, size = found[name]
            code = read_bytes(fixture, secs[".text"][1] + address - secs[".text"][0], size)
            header = struct.pack("<HHHHB", 16, 16 + size, 16, 16, 1 | (24 << 1))
            short = name.split(".")[-1].lower()
            write_seed("probe_placement", f"{newest}-tls-conn-{short}", header + code)
    if "elf_file" in targets:
        write_seed("elf_file", f"{newest}-server-small.go", go_elf(fixture, minor, with_dwarf=True))


def code_seeds(build):
    """SSL_read/_ex and SSL_write/_ex of the static OpenSSL fixture with the workers they call."""
    fixture = os.path.join(build, "fixtures", "http_server_static")
    table = {}
    for line in run(["nm", "-S", fixture]).decode().splitlines():
        fields = line.split()
        if len(fields) == 4:
            table[fields[3]] = (int(fields[0], 16), int(fields[1], 16))
    text_address, text_offset, _ = sections(fixture)[".text"]
    for kind in ("read", "write"):
        names = [f"ssl_{kind}_internal", f"SSL_{kind}", f"SSL_{kind}_ex"]
        start = min(table[n][0] for n in names)
        end = max(table[n][0] + table[n][1] for n in names)
        code = read_bytes(fixture, text_offset + start - text_address, end - start)
        plain, ex = (table[f"SSL_{kind}"][0] - start + 16, table[f"SSL_{kind}_ex"][0] - start + 16)
        header = struct.pack("<HHHHB", ex, ex + table[f"SSL_{kind}_ex"][1], plain, ex, 24 << 1)
        write_seed("probe_placement", f"openssl-ssl-{kind}-and-worker", header + code)
        do = table["SSL_do_handshake"]
        code = read_bytes(fixture, text_offset + do[0] - text_address, do[1])
        write_seed("probe_placement", "openssl-ssl-do-handshake", struct.pack("<HHHHB", 16, 16 + do[1], 16, 16,
                                                                             24 << 1) + code)


def keylog_seeds(build, workdir):
    stub = os.path.join(STUB, "keylog_stub.c")
    variants = {
        "stub-thunk.so": ["-DL7TAP_KEYLOG=1"],
        "stub-thunk-stripped.so": ["-DL7TAP_KEYLOG=1", "-s"],
        "stub-checked-stripped.so": ["-DL7TAP_KEYLOG=2", "-s"],
        "stub-disagree-stripped.so": ["-DL7TAP_KEYLOG=3", "-s"],
        "stub-unpassed-stripped.so": ["-DL7TAP_KEYLOG=4", "-s"],
    }
    for name, flags in variants.items():
        out = os.path.join(workdir, name)
        run(["gcc"] + COMPACT + ["-nostdlib"] + flags + ["-o", out, stub])
        with open(out, "rb") as f:
            write_seed("keylog_hook", name, b"\0" + f.read())
    # Position-dependent: the labels are loaded as 32-bit constants.
    out = os.path.join(workdir, "stub-thunk-nopie-stripped")
    run(["gcc", "-O2", "-fno-pie", "-no-pie", "-nostdlib", "-Wl,-e,l7tap_master_secret", "-Wl,--build-id=sha1",
         "-Wl,-z,noseparate-code", "-Wl,-z,max-page-size=0x40", "-Wl,-z,norelro", "-s", "-DL7TAP_KEYLOG=1",
         "-o", out, stub])
    with open(out, "rb") as f:
        write_seed("keylog_hook", "stub-thunk-nopie-stripped", b"\0" + f.read())
    fixtures = os.path.join(build, "fixtures", "go")
    newest = sorted({name.split("-")[0] for name in os.listdir(fixtures) if name.startswith("go1.")},
                    key=lambda v: int(v.split(".")[1]))[-1]
    fixture = os.path.join(fixtures, f"{newest}-default-server")
    minor = int(newest.split(".")[1])
    write_seed("keylog_hook", f"{newest}-server-write-key-log-stripped",
               b"\0" + go_elf(fixture, minor, symtab=False, names=[GO_WRITE_KEY_LOG] + GO_FUNCTIONS))
    # Bare code, at position 16: a caller loading a label into rsi and calling a thunk shaped like
    # ssl_log_secret in Debian's libssl.so.3, which tail-jumps to a function starting with push r15.
    caller = 16
    thunk = caller + 7 + 3 + 5 + 1
    thunk_code = (b"\x48\x89\xf8\x49\x89\xd0\x48\x89\xf7\x49\x89\xc9\x48\x8d\x90\x60\x01\x00\x00"
                  b"\xb9\x20\x00\x00\x00\x48\x89\xc6")
    target = thunk + len(thunk_code) + 5
    label = target + 3
    code = (b"\x48\x8d\x35" + struct.pack("<i", label - (caller + 7)) + b"\x48\x89\xdf" + b"\xe8" +
            struct.pack("<i", thunk - (caller + 15)) + b"\xc3" + thunk_code + b"\xe9" +
            struct.pack("<i", target - (thunk + len(thunk_code) + 5)) + b"\x41\x57\xc3" + b"CLIENT_RANDOM\0")
    header = struct.pack("<HHHB", thunk, label, label + 7, 1)
    write_seed("keylog_hook", "code-thunk-and-label-call", b"\x01" + header + code)


def address_table_seeds(build):
    l7tap = os.path.join(build, "l7tap")
    table = run([l7tap, "symbols", "--table", os.path.join(build, "fixtures", "http_server_static")])
    write_seed("address_table", "static-openssl", table)
    lines = table.decode().splitlines()
    edited = ["# l7tap address table: derived with 'l7tap symbols --table'", ""]
    edited += [line.upper().replace("0X", "0x") + "   # upper-case build-id" if i % 2 else "\t" + line + "\r"
               for i, line in enumerate(lines)]
    edited += ["", "   # a comment after blanks", lines[0]]  # a repeated identical entry is allowed
    write_seed("address_table", "static-openssl-edited", ("\n".join(edited) + "\n").encode())
    stub = run([l7tap, "symbols", "--table", os.path.join(build, "tests", "symbolizer",
                                                             "libsymbolizer_tls_stub_versioned.so")])
    write_seed("address_table", "two-builds", table + stub)
    write_seed("address_table", "bad-offset", (lines[0].rsplit(" ", 1)[0] + " 0x10000000000000000\n").encode())


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    build = os.path.abspath(sys.argv[1])
    targets = set(sys.argv[2:]) or {"http1_session", "stream_http1", "http2_session", "dns_message",
                                   "dns_session", "elf_file", "go_binary", "probe_placement", "address_table",
                                   "keylog_hook", "tls_decryptor"}
    for target in targets:
        shutil.rmtree(os.path.join(CORPUS, target), ignore_errors=True)
    with tempfile.TemporaryDirectory() as workdir:
        if targets & {"http1_session", "stream_http1"}:
            exchanges = http_exchanges(os.path.join(workdir, "http"))
            if "http1_session" in targets:
                http_seeds(exchanges)
            if "stream_http1" in targets:
                stream_seeds(exchanges)
        if "http2_session" in targets:
            http2_seeds(h2_exchanges(os.path.join(workdir, "http2")))
        if targets & {"dns_message", "dns_session"}:
            dns_seeds()
        if "elf_file" in targets:
            elf_seeds(workdir)
        if targets & {"go_binary", "probe_placement", "elf_file"}:
            go_seeds(build, targets)
        if "probe_placement" in targets:
            code_seeds(build)
        if "address_table" in targets:
            address_table_seeds(build)
        if "keylog_hook" in targets:
            keylog_seeds(build, workdir)
        if "tls_decryptor" in targets:
            directory = os.path.join(CORPUS, "tls_decryptor")
            os.makedirs(directory, exist_ok=True)
            run([os.path.join(build, "tests", "fuzz", "make_tls_corpus"), directory])
    total = 0
    for target in sorted(os.listdir(CORPUS)):
        files = os.listdir(os.path.join(CORPUS, target))
        size = sum(os.path.getsize(os.path.join(CORPUS, target, f)) for f in files)
        total += size
        print(f"{target}: {len(files)} seeds, {size} bytes")
    print(f"total: {total} bytes")


if __name__ == "__main__":
    main()
