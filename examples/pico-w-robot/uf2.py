#!/usr/bin/env python3
"""ELF -> UF2 for the RP2040 boot ROM (picotool/elf2uf2-free; standard library only).

usage: uf2.py FIRMWARE.elf OUT.uf2

UF2 is a sequence of 512-byte blocks, each carrying 256 bytes for one flash
address (https://github.com/microsoft/uf2). The loadable ELF segments (by
physical address, so .data's flash copy is included) must lie in the RP2040's
XIP flash; they are cut into 256-byte pages, gaps zero-filled.
"""
import struct
import sys

MAGIC_START0, MAGIC_START1, MAGIC_END = 0x0A324655, 0x9E5D5157, 0x0AB16F30
FLAG_FAMILY_ID = 0x00002000
RP2040_FAMILY = 0xE48BFF56
FLASH_START, FLASH_END = 0x10000000, 0x11000000
PAGE = 256
PT_LOAD = 1


def pages(elf: bytes) -> dict:
    if elf[:4] != b"\x7fELF" or elf[4] != 1 or elf[5] != 1:
        sys.exit("uf2.py: not a 32-bit little-endian ELF")
    phoff, = struct.unpack_from("<I", elf, 28)
    phentsize, phnum = struct.unpack_from("<HH", elf, 42)
    out: dict = {}
    for i in range(phnum):
        p_type, p_offset, _vaddr, p_paddr, p_filesz, _memsz, _flags, _align = struct.unpack_from(
            "<8I", elf, phoff + i * phentsize)
        if p_type != PT_LOAD or p_filesz == 0:
            continue
        if not (FLASH_START <= p_paddr and p_paddr + p_filesz <= FLASH_END):
            sys.exit(f"uf2.py: segment at {p_paddr:#010x} (+{p_filesz}) is outside flash")
        data = elf[p_offset:p_offset + p_filesz]
        for n, byte in enumerate(data):
            addr = p_paddr + n
            page = out.setdefault(addr & ~(PAGE - 1), bytearray(PAGE))
            page[addr & (PAGE - 1)] = byte
    if not out:
        sys.exit("uf2.py: no loadable data")
    return out


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1], "rb") as f:
        image = pages(f.read())
    blocks = []
    for n, addr in enumerate(sorted(image)):
        head = struct.pack("<8I", MAGIC_START0, MAGIC_START1, FLAG_FAMILY_ID, addr, PAGE,
                           n, len(image), RP2040_FAMILY)
        blocks.append(head + image[addr] + bytes(476 - PAGE) + struct.pack("<I", MAGIC_END))
    with open(sys.argv[2], "wb") as f:
        f.write(b"".join(blocks))
    print(f"uf2.py: {len(blocks)} blocks ({len(blocks) * PAGE // 1024} KiB of flash) -> {sys.argv[2]}")


if __name__ == "__main__":
    main()
