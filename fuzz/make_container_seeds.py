#!/usr/bin/env python3
"""Writes the seeds of fuzz/corpus/container/: snapshots of the small real
captures in fuzz/corpus/ring/ made by `bbx snapshot`, containers built here
(64 KiB and 4 KiB chunks, LZ4 blocks of literals only, zero chunks), and
copies with one defect each. Run from the top of the tree:

    python3 fuzz/make_container_seeds.py build/bbx
"""
import os
import struct
import subprocess
import sys

RING = "fuzz/corpus/ring"
OUT = "fuzz/corpus/container"
MAGIC = b"\x89BBC\r\n\x1a\n"


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the spec's test vector


def literal_block(raw):
    """An LZ4 block of one sequence: all literals, no match (valid LZ4)."""
    n = len(raw)
    if n < 15:
        return bytes([n << 4]) + raw
    ext, rest = bytearray(), n - 15
    while rest >= 255:
        ext.append(255)
        rest -= 255
    ext.append(rest)
    return bytes([0xF0]) + bytes(ext) + raw


def header(image_size, chunk_size, count=None, flags=0, major=1):
    if count is None:
        count = (image_size + chunk_size - 1) // chunk_size
    h = MAGIC + struct.pack("<HHIIIQI", major, 0, 64, flags, chunk_size, image_size, count) + bytes(24)
    return h + struct.pack("<I", crc32c(h))


def container(image, chunk_size):
    out = bytearray(header(len(image), chunk_size))
    for off in range(0, len(image), chunk_size):
        raw = image[off:off + chunk_size]
        if not any(raw):
            out += struct.pack("<IIII", len(raw), 0, 0, crc32c(raw))
            continue
        block = literal_block(raw)
        out += struct.pack("<IIII", len(raw), len(block), crc32c(block), crc32c(raw)) + block
    return bytes(out)


def chunks(data):
    """(offset, raw, packed, packed_crc, raw_crc) of each chunk."""
    count = struct.unpack_from("<I", data, 32)[0]
    off, out = 64, []
    for _ in range(count):
        raw, packed, pcrc, rcrc = struct.unpack_from("<IIII", data, off)
        out.append((off, raw, packed, pcrc, rcrc))
        off += 16 + packed
    return out


def reseal(data):
    d = bytearray(data)
    d[60:64] = struct.pack("<I", crc32c(bytes(d[:60])))
    return bytes(d)


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    bbx = sys.argv[1] if len(sys.argv) > 1 else "build/bbx"
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        os.remove(os.path.join(OUT, name))
    for src, level in [("basic", 1), ("wrap", 1), ("discard", 1), ("tasks", 1), ("killed", 1), ("threads", 9)]:
        dst = os.path.join(OUT, "snap-%s.bbc" % src)
        subprocess.run([bbx, "snapshot", "--level", str(level), os.path.join(RING, "real-%s.bbx" % src), "-o", dst],
                       check=True)
        os.chmod(dst, 0o644)
    with open(os.path.join(RING, "real-basic.bbx"), "rb") as f:
        image = f.read()
    # Ring 1 wiped: its slots read as torn, and its 4 KiB chunk is a zero chunk.
    rings_offset, ring_size = struct.unpack_from("<Q", image, 72)[0], struct.unpack_from("<I", image, 28)[0]
    wiped = image[: rings_offset + ring_size] + bytes(ring_size) + image[rings_offset + 2 * ring_size:]
    assert len(wiped) == len(image)
    write("built-basic-4k-chunks.bbc", container(wiped, 4096))
    good = container(image, 65536)
    write("built-basic.bbc", good)
    with open(os.path.join(OUT, "snap-wrap.bbc"), "rb") as f:
        snap = f.read()

    data_chunk = [c for c in chunks(snap) if c[2] > 0][0]
    zero_chunk = [c for c in chunks(container(wiped, 4096)) if c[2] == 0][0]
    d = bytearray(snap)
    d[data_chunk[0] + 16 + data_chunk[2] // 2] ^= 0x01
    write("bad-packed-crc.bbc", bytes(d))
    d = bytearray(snap)
    d[data_chunk[0] + 12] ^= 0x80
    write("bad-raw-crc.bbc", bytes(d))
    d = bytearray(snap)
    d[21] ^= 0x01
    write("bad-header-crc.bbc", bytes(d))
    d = bytearray(container(wiped, 4096))
    d[zero_chunk[0] + 12] ^= 0x01
    write("bad-zero-chunk-crc.bbc", bytes(d))
    # A block whose checksums are right but which is not LZ4: a match
    # offset of 0 right after the first literal.
    raw = image[:65536]
    block = bytes([0x1F, raw[0], 0, 0]) + bytes(96)
    bad = bytearray(header(len(image), 65536))
    bad += struct.pack("<IIII", len(raw), len(block), crc32c(block), crc32c(raw)) + block
    write("bad-not-lz4.bbc", bytes(bad))
    write("bad-truncated.bbc", snap[: len(snap) * 2 // 3])
    write("bad-trailing.bbc", snap + b"\0\0\0\0")
    write("bad-oversized.bbc", reseal(snap[:24] + struct.pack("<QI", 8 << 30, (8 << 30) // 65536) + snap[36:]))
    write("bad-flags.bbc", reseal(snap[:16] + struct.pack("<I", 1) + snap[20:]))
    write("bad-version.bbc", snap[:8] + struct.pack("<H", 2) + snap[10:])
    write("bad-magic-prefix.bbc", MAGIC[:5])
    # An image that is not a valid ring file: ring_size 4097.
    broken = bytearray(image)
    broken[28:32] = struct.pack("<I", 4097)
    write("bad-image-ring-size.bbc", container(bytes(broken), 65536))


main()
