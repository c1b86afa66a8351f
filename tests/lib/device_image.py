"""device_image.py: reads a device's flash image as device-agent/IMAGES.md documents it, and opens
its sealed keys as device-agent/peculiar_key.h documents the peculiar key -- written from those
documents, independently of device-agent's C code, so the tests check the documented format and
not only the program's own view of it."""

import struct
import zlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FLASH_SIZE = 151552
PROGRAM, SLOTS, COMMON, FIXED = 0x01000, (0x0A000, 0x14000), 0x1E000, 0x24000
AREA_SIZE = {PROGRAM: 36 * 1024, SLOTS[0]: 40 * 1024, SLOTS[1]: 40 * 1024, COMMON: 24 * 1024,
             FIXED: 4 * 1024}


class ImageError(Exception):
    pass


def _area(image, offset, magic, index=0):
    """The body of a valid area at offset, its sequence; None if empty."""
    header = image[offset:offset + 32]
    if header == b"\xff" * 32:
        return None, 0
    if header[:4] != magic:
        raise ImageError("area at 0x%X: magic %r" % (offset, header[:4]))
    version, idx, sequence, length, body_crc, reserved, header_crc = struct.unpack(
        "<HHQIIII", header[4:32])
    if zlib.crc32(header[:28]) != header_crc:
        raise ImageError("area at 0x%X: header CRC" % offset)
    if version != 1 or idx != index or length > AREA_SIZE[offset] - 32:
        raise ImageError("area at 0x%X: version %d index %d length %d" % (offset, version, idx,
                                                                         length))
    body = image[offset + 32:offset + 32 + length]
    if zlib.crc32(body) != body_crc:
        raise ImageError("area at 0x%X: body CRC" % offset)
    return body, sequence


def _text(body, offset, size):
    n = body[offset]
    if n > size - 1:
        raise ImageError("text field at %d too long" % offset)
    return body[offset + 1:offset + 1 + n].decode("ascii")


def read_flash(path):
    """What the flash image holds: program secrets, fixed parameters and the current certificate
    (None on a blank board)."""
    with open(path, "rb") as f:
        image = f.read()
    if len(image) != FLASH_SIZE or image[:8] != b"CLFLASH\0":
        raise ImageError("%s: not a version-1 flash image" % path)
    if zlib.crc32(image[:28]) != struct.unpack("<I", image[28:32])[0]:
        raise ImageError("%s: image header CRC" % path)
    program, _ = _area(image, PROGRAM, b"PROG")
    fixed, _ = _area(image, FIXED, b"FIXD")
    if program is None or fixed is None:
        raise ImageError("%s: program or fixed area empty" % path)
    result = {
        "model": _text(program, 0, 16),
        "generator": program[129:161],
        "mac": fixed[0:6],
        "certificate": None,
    }
    best = None
    for index, offset in enumerate(SLOTS):
        try:
            body, sequence = _area(image, offset, b"CERT", index)
        except ImageError:
            continue  # an interrupted write: the other slot decides
        if body is not None and (best is None or sequence > best[1]):
            best = (body, sequence, index)
    if best is not None:
        body, sequence, index = best
        if struct.unpack("<Q", body[0:8])[0] != sequence:
            raise ImageError("slot %d: record sequence differs from its header" % index)
        a, b, k = struct.unpack("<III", body[186:198])
        if 198 + a + b + k != len(body):
            raise ImageError("slot %d: lengths do not add up" % index)
        result["certificate"] = {
            "slot": index,
            "sequence": sequence,
            "device_number": _text(body, 8, 32),
            "serial": _text(body, 56, 41),
            "device_value": _text(body, 113, 65),
            "pem": body[198:198 + a].decode("ascii"),
            "sealed_key": body[198 + a + b:198 + a + b + k],
        }
    return result


def open_sealed_key(flash, device_number):
    """The device private key (DER) of the current certificate, opened with the board's peculiar
    key; raises if it does not authenticate."""
    cert = flash["certificate"]
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"certline peculiar-key v1",
               info=flash["mac"] + device_number.encode()).derive(flash["generator"])
    sealed = cert["sealed_key"]
    if sealed[0] != 1:
        raise ImageError("sealed key version %d" % sealed[0])
    aad = b"certline peculiar-seal v1\0device-key\0" + device_number.encode() + b"\0" + \
        cert["serial"].encode()
    return AESGCM(key).decrypt(sealed[1:13], sealed[13:], aad)
