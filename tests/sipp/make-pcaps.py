#!/usr/bin/env python3
"""Write the RTP captures SIPp replays in our tests (play_pcap_audio) that SIPp does not ship:
in-band DTMF as G.711 µ-law audio (for callers that do not send telephone-event).

Output: tests/sipp/pcap/inband_<key>.pcap — 120 ms of the DTMF pair at -7 dBm0 per tone, then
100 ms of silence, 20 ms per packet, payload type 0. Re-run after changing it; outputs are
committed so tests never need Python.
"""
import math
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pcap")
ROWS = [697, 770, 852, 941]
COLS = [1209, 1336, 1477, 1633]
KEYS = "123A456B789C*0#D"


def ulaw(sample: int) -> int:
    # ITU-T G.711 µ-law, the classic segment encoder.
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    sample = min(abs(sample), clip) + bias
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not (sample & mask):
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def frame(payload: bytes, sport: int = 49176, dport: int = 10000) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    eth = b"\0" * 12 + b"\x08\x00"
    return eth + ip + udp


def write(path: str, key: str) -> None:
    i = KEYS.index(key)
    f1, f2 = ROWS[i // 4], COLS[i % 4]
    amp = 22650 * 10 ** (-7 / 20)  # -7 dBm0 per tone (0 dBm0 = 22 650 peak, G.711 §)
    samples = []
    for n in range(int(0.120 * 8000)):
        t = n / 8000
        samples.append(int(amp * (math.sin(2 * math.pi * f1 * t) + math.sin(2 * math.pi * f2 * t))))
    samples += [0] * int(0.100 * 8000)
    packets = []
    seq, ts, ssrc = 1000, 4000, 0x1F2E3D4C
    for k in range(0, len(samples), 160):
        chunk = bytes(ulaw(s) for s in samples[k:k + 160])
        rtp = struct.pack("!BBHII", 0x80, 0x80 if k == 0 else 0, seq, ts, ssrc) + chunk
        packets.append(frame(rtp))
        seq += 1
        ts += 160
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for j, p in enumerate(packets):
            usec = j * 20000
            out.write(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(p), len(p)))
            out.write(p)


def write_tone(path: str, hz: float, seconds: float) -> None:
    """A steady tone as µ-law RTP (bridge tests look for this frequency on the far side)."""
    amp = 22650 * 10 ** (-10 / 20)
    samples = [int(amp * math.sin(2 * math.pi * hz * n / 8000)) for n in range(int(seconds * 8000))]
    seq, ts, ssrc = 2000, 8000, 0x5A5A1234
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for j, k in enumerate(range(0, len(samples), 160)):
            chunk = bytes(ulaw(x) for x in samples[k:k + 160])
            rtp = struct.pack("!BBHII", 0x80, 0x80 if k == 0 else 0, seq + j, ts + 160 * j, ssrc) + chunk
            p = frame(rtp)
            usec = j * 20000
            out.write(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(p), len(p)))
            out.write(p)


if __name__ == "__main__":
    write_tone(os.path.join(OUT, "tone_800hz_ulaw.pcap"), 800.0, 4.0)
    os.makedirs(OUT, exist_ok=True)
    for key in "0123456789":
        write(os.path.join(OUT, f"inband_{key}.pcap"), key)
    write(os.path.join(OUT, "inband_star.pcap"), "*")
    write(os.path.join(OUT, "inband_pound.pcap"), "#")
    print("wrote", OUT)
