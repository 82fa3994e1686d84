#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into fuzz/corpus/<target>/ (committed; replayed
by `cargo test --test fuzz_corpus`). Sources: the SIP messages of our SIPp scenarios
(tests/sipp/*.xml, placeholders filled in), abridged RFC 4475 torture messages, the shipped
dial plans, and hand-written SDP, digest, RTP and desktop messages. Re-run after changing a
scenario; libFuzzer's own finds can be added beside these files."""
import hashlib, os, re, struct, glob

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")

VALUES = {
    "service": "311", "remote_ip": "127.0.0.1", "remote_port": "5060", "local_ip": "127.0.0.1",
    "local_port": "6000", "transport": "UDP", "branch": "z9hG4bK-seed-1", "pid": "4242",
    "call_number": "1", "call_id": "seed-1@127.0.0.1", "media_ip_type": "4", "local_ip_type": "4",
    "media_ip": "127.0.0.1", "rtp_port": "7000", "next_url": "sip:centrale@127.0.0.1:5060",
    "user": "agent1", "password": "pw", "digit": "5", "cseq": "1",
}
LAST = {
    "Via": "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-a;received=127.0.0.1",
    "From": "From: <sip:5145550100@127.0.0.1>;tag=abc", "To": "To: <sip:311@127.0.0.1>",
    "Call-ID": "Call-ID: seed-1@127.0.0.1", "CSeq": "CSeq: 1 INVITE",
    "Contact": "Contact: <sip:agent1@127.0.0.1:6000>",
}


def fill(msg):
    msg = re.sub(r"\[last_([A-Za-z-]+):\]", lambda m: LAST.get(m.group(1), m.group(1) + ": x"), msg)
    msg = re.sub(r"\[\$?([A-Za-z_0-9]+)\]", lambda m: VALUES.get(m.group(1), "x"), msg)
    lines = [l.strip() for l in msg.strip("\n").split("\n")]
    if "" in lines:
        i = lines.index("")
        head, body = lines[:i], lines[i + 1:]
    else:
        head, body = lines, []
    body_text = "".join(l + "\r\n" for l in body if l)
    head = [re.sub(r"Content-Length:.*", "Content-Length: %d" % len(body_text), h) for h in head]
    if "authentication" in msg:
        head = [h for h in head if "authentication" not in h]
    return ("\r\n".join(head) + "\r\n\r\n" + body_text).encode()


def scenario_messages():
    msgs = []
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "sipp", "*.xml"))):
        text = open(path, encoding="latin-1").read()
        for m in re.findall(r"<!\[CDATA\[(.*?)\]\]>", text, re.S):
            msgs.append((os.path.basename(path), fill(m)))
    return msgs


VIA = "Via: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK-torture\r\n"
COMMON = VIA + "To: <sip:311@example.com>\r\nFrom: <sip:caller@example.net>;tag=1\r\nCall-ID: torture-1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
TORTURE = [
    # 3.1.1.1 a short tortuous INVITE (abridged): odd whitespace, escaped names, folded lines.
    "INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\r\nTO :\r\n sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\r\nfrom   : \"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8\r\nMaX-fOrWaRdS: 0068\r\nCall-ID: wsinv.ndaksdj@192.0.2.1\r\nContent-Length   : 0\r\ncseq: 0009\r\n  INVITE\r\nVia  : SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw\r\ns :\r\nNewFangledHeader:   newfangled value\r\n continued newfangled value\r\nUnknownHeaderWithUnusualValue: ;;,,;;,;\r\n\r\n",
    # 3.1.1.13 escaped semicolons in URI parameters / 3.1.2.x invalid ones
    "INVITE sip:311@example.com SIP/2.0\r\n" + COMMON + "Expires: 3600\r\nContact: <sip:c@192.0.2.2>>\r\nContent-Length: 0\r\n\r\n",
    "INVITE sip:311@example.com SIP/2.0\r\n" + COMMON + "Content-Length: -999\r\n\r\n",
    "INVITE sip:311@example.com SIP/2.0\r\n" + VIA + "To: <sip:311@example.com>\r\nFrom: <sip:caller@example.net>;tag=1\r\nCall-ID: t\r\nCSeq: 36893488147419103232 INVITE\r\nContent-Length: 0\r\n\r\n",
    "INVITE sip:311@example.com SIP/2.0\r\n" + COMMON + "From: \"unbalanced <sip:x@example.net>;tag=2\r\nContent-Length: 0\r\n\r\n",
    "INVITE sip:311@example.com SIP/2.0\r\n" + COMMON + "To: <sip:other@example.com>\r\nContent-Length: 0\r\n\r\n",
    "INVITE name:311@example.com SIP/2.0\r\n" + COMMON + "Content-Length: 0\r\n\r\n",
    "INVITE sip:311@example.com SIP/7.0\r\n" + COMMON + "Content-Length: 0\r\n\r\n",
    "INVITE sip:311@example.com SIP/2.0\r\n" + COMMON + "Content-Length: 500\r\n\r\nshort",
    "OPTIONS sip:311@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.2\r\nTo: <sip:311@example.com>\r\nFrom: <sip:caller@example.net>;tag=1\r\nCall-ID: 2543\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    "NEWMETHOD sip:311@example.com SIP/2.0\r\n" + COMMON.replace("1 INVITE", "1 NEWMETHOD") + "Content-Length: 0\r\n\r\n",
    "SIP/2.0 200 OK\r\n" + COMMON + "Content-Length: 0\r\n\r\n",
]

SDPS = [
    "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n",
    "v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\nm=audio 7000 RTP/SAVP 0 101\r\na=sendonly\r\na=rtcp:7003\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19XRV9MT1ZFX1RIRV9TUlRQX0tFWVNfX19f|2^20|1:4\r\na=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:WVNfX19XRV9MT1ZFX1RIRV9TUlRQX0tFWVNfX19f\r\n",
    "v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 126\r\na=rtpmap:111 opus/48000/2\r\na=rtcp-mux\r\na=setup:actpass\r\na=fingerprint:sha-256 AB:CD\r\n",
]

DIGESTS = [
    'Digest username="agent1", realm="centrale", nonce="abc", uri="sip:centrale", response="0123456789abcdef0123456789abcdef", algorithm=MD5, qop=auth, nc=00000001, cnonce="xyz"',
    'Digest realm="carrier.test", nonce="n1", qop="auth,auth-int", algorithm=SHA-256, opaque="o", stale=TRUE',
    'Digest realm="x", nonce="y"',
    'Digest username="a\\"b", realm=, nonce="unterminated',
    'Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==',
]


def rtp(pt, seq, ts, payload, marker=False):
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq, ts, 0xDEADBEEF) + payload


RTPS = [
    rtp(0, 1, 160, bytes([0xFF]) * 160),
    rtp(101, 2, 320, bytes([5, 0x0A, 0x03, 0x20]), marker=True),
    rtp(101, 3, 320, bytes([5, 0x8A, 0x06, 0x40])),
    bytes([0x80, 200, 0, 6]) + bytes(24),  # RTCP SR
    bytes([0x90, 0, 0, 1]) + bytes(8) + bytes([0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0]) + bytes(20),
    rtp(0, 65535, 0, bytes(170)),
]

DESK = [
    '{"type":"ready"}', '{"type":"pause","reason":"lunch"}', '{"type":"signout"}',
    '{"type":"answer","leg":"abc/2","sdp":"v=0\\r\\n"}', '{"type":"hold","leg":"abc/2","on":true}',
    '{"type":"transfer","leg":"abc/2","to":{"queue":"permis"}}',
    '{"type":"transfer","leg":"abc/2","to":{"target":"811"}}',
    '{"type":"disposition","call":"c1","code":"resolved","note":"ok"}', '{"type":"nope"}', '[1,2',
]


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    h = hashlib.sha1(data).hexdigest()[:12]
    with open(os.path.join(d, "%s-%s" % (name, h)), "wb") as f:
        f.write(data)


def main():
    msgs = scenario_messages()
    for i, (src, m) in enumerate(msgs):
        write("sip_message", src.replace(".xml", ""), m)
    for i, t in enumerate(TORTURE):
        write("sip_message", "rfc4475-%d" % i, t)
        write("sip_stream", "rfc4475-%d" % i, bytes([7]) + t.encode())
    # Streams: a scenario's messages back to back with keep-alives, cut every 1, 13 and 200 bytes.
    by_file = {}
    for src, m in msgs:
        by_file.setdefault(src, []).append(m)
    for src, ms in sorted(by_file.items()):
        joined = b"\r\n\r\n".join(ms)
        for step in (1, 13, 200):
            write("sip_stream", src.replace(".xml", "") + "-%d" % step, bytes([step]) + joined)
        # Event sequences: the scenario's messages in order, NUL-separated.
        write("sip_endpoint", src.replace(".xml", ""), b"\0".join(ms))
    for i, s in enumerate(SDPS):
        write("sdp", "sdp-%d" % i, s)
    for src, m in msgs:
        if b"\r\n\r\nv=0" in m:
            write("sdp", src.replace(".xml", ""), m.split(b"\r\n\r\n", 1)[1])
    for i, s in enumerate(DIGESTS):
        write("digest", "digest-%d" % i, s)
    for i, p in enumerate(RTPS):
        write("rtp", "rtp-%d" % i, p)
    for i, m in enumerate(DESK):
        write("desk_message", "desk-%d" % i, m)
    for path in sorted(glob.glob(os.path.join(ROOT, "dialplans", "*", "*.toml"))):
        name = os.path.basename(os.path.dirname(path)) + "-" + os.path.basename(path)
        write("dialplan", name.replace(".toml", ""), open(path, "rb").read())
    for target in sorted(os.listdir(OUT)):
        print(target, len(os.listdir(os.path.join(OUT, target))))


if __name__ == "__main__":
    main()
