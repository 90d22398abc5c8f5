"""Image sizes read from their headers, so an image too large to decode is refused before it is.

A 200-byte PNG can declare 20000 x 20000 pixels; TensorFlow's decode_image would then allocate
gigabytes. `--max_image_pixels` bounds what a request may make a model decode.

Which values are checked: the string inputs of a model whose graph decodes images (an op such as
DecodeImage or DecodePng, found once at load), and of those the values that start with a magic
number decode_image recognises (its ClassifyFileFormat: JPEG, PNG, GIF, BMP, WebP, JPEG XL):
the values TensorFlow would decode as images. The size comes from the header alone: PNG IHDR,
JPEG's frame header (SOFn), GIF's logical screen and every frame's descriptor, BMP's header as
TensorFlow reads it, WebP's VP8/VP8L/VP8X chunk (times its frames), JPEG XL's SizeHeader. A
header that cannot be read is left to the decoder, which refuses it too; one whose size lies
past the walk's bounds (below) is refused. An animated WebP without alpha is refused whatever
its size, limit or not: TensorFlow 2.21's decoder overflows a buffer on it and the process dies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from serving.errors import invalid

DEFAULT_MAX_PIXELS = 1 << 24  # 16.8 M: a 4096 x 4096 image, more than a 12 MP phone photo
# The image-decoding ops of TensorFlow (image_ops.cc); a graph with none decodes no images.
DECODE_OPS = frozenset(
    {
        "DecodeImage",
        "DecodePng",
        "DecodeJpeg",
        "DecodeAndCropJpeg",
        "DecodeGif",
        "DecodeBmp",
        "DecodeWebP",
        "DecodeJxl",
    }
)
_MAGIC_FIRST = frozenset(b"\x89\xffGBR\x00")  # the first bytes of the magic numbers below
# Headers are walked segment by segment (JPEG) and block by block (GIF data blocks, WebP chunks,
# JPEG XL boxes), in Python; these bound the walk per request, so that crafted headers cost
# milliseconds, not seconds. Real JPEGs have a few dozen segments before their frame header; a
# 64 MiB GIF in full 255-byte data blocks has 263,000. An image whose size lies beyond them is
# refused (while there is a limit).
MAX_JPEG_SEGMENTS = 10_000
MAX_BLOCKS = 300_000


class Budget:
    """What is left of the per-request bounds: JPEG segments, and blocks of the other formats."""

    def __init__(self) -> None:
        self.segments, self.blocks = MAX_JPEG_SEGMENTS, MAX_BLOCKS


def _beyond(what: str) -> str:
    bound = f"{MAX_JPEG_SEGMENTS} JPEG segments" if what == "JPEG" else f"{MAX_BLOCKS} blocks"
    return f"not within the {bound} read per request"


@dataclass(frozen=True)
class Size:
    format: str
    width: int
    height: int
    frames: int = 1
    pixels: int = 0  # decoded pixels in all; width * height * frames unless a frame is larger
    crashes: str = ""  # why TensorFlow's decoder would crash on it, if it would
    unreadable: str = ""  # why the size could not be read within the header walk's bounds

    @property
    def total(self) -> int:
        return max(self.pixels, self.width * self.height * self.frames)

    def describe(self) -> str:
        frames = f"{self.frames} frames of " if self.frames > 1 else ""
        return f"a {self.format} of {frames}{self.width} x {self.height} = {self.total} pixels"


def image_size(data: bytes, budget: Budget | None = None) -> Size | None:
    """The decoded size an encoded image declares, or None when the bytes are not an image
    decode_image recognises or their header cannot be read. `budget` bounds the walk, shared
    by the images of a request."""
    budget = budget or Budget()
    if data[:3] == b"\xff\xd8\xff":
        return _jpeg(data, budget)
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return _png(data)
    if data[:4] == b"GIF8":
        return _gif(data, budget)
    if data[:2] == b"BM":
        return _bmp(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) > 12:
        return _webp(data, budget)
    if data[:2] == b"\xff\x0a" or data[:12] == b"\x00\x00\x00\x0cJXL \r\n\x87\n":
        return _jxl(data, budget)
    return None


def check_images(inputs: dict[str, np.ndarray], limit: int) -> None:
    """INVALID_ARGUMENT for the first string value that is an image of more than `limit` pixels
    (0: any number), or one TensorFlow's decoder would crash the process on."""
    budget = Budget()
    for key, array in inputs.items():
        if array.dtype != object:
            continue
        for i, value in enumerate(array.ravel().tolist()):
            if not isinstance(value, bytes) or not value or value[0] not in _MAGIC_FIRST:
                continue
            if not limit and value[:4] != b"RIFF":  # no limit: only the WebP that crashes
                continue
            size = image_size(value, budget)
            if size is None:
                continue
            where = f"Image in input '{key}' (value {i})"
            if size.crashes:
                raise invalid(f"{where} is {size.crashes}; refused")
            if limit and size.unreadable:
                raise invalid(
                    f"{where} is {size.unreadable}: its size cannot be checked against "
                    "--max_image_pixels; refused"
                )
            if limit and size.total > limit:
                raise invalid(
                    f"{where} is {size.describe()}, more than the {limit} allowed "
                    "(--max_image_pixels); it was not decoded"
                )


def _be(data: bytes, at: int, n: int) -> int:
    return int.from_bytes(data[at : at + n], "big")


def _le(data: bytes, at: int, n: int, signed: bool = False) -> int:
    return int.from_bytes(data[at : at + n], "little", signed=signed)


def _png(data: bytes) -> Size | None:
    # the first chunk must be IHDR (13 bytes): width and height, 4 bytes each, big-endian
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    return Size("PNG", _be(data, 16, 4), _be(data, 20, 4))


# SOF0-SOF15 start a frame; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length field


def _jpeg(data: bytes, budget: Budget) -> Size | None:
    """The first frame header's size, found by hopping from marker to marker as libjpeg reads
    them (garbage and 0xFF fill bytes skipped); None if a scan (SOS) or the end comes first."""
    i, n = 2, len(data)
    while budget.segments > 0:
        budget.segments -= 1
        i = data.find(b"\xff", i)
        while 0 <= i < n - 1 and data[i + 1] == 0xFF:
            i += 1
        if not 0 <= i < n - 1:
            return None
        marker = data[i + 1]
        if marker in _SOF:
            if i + 9 > n:
                return None
            return Size("JPEG", _be(data, i + 7, 2), _be(data, i + 5, 2))
        if marker in (0xD9, 0xDA):  # EOI or SOS before any frame: libjpeg refuses it
            return None
        if marker in _STANDALONE or marker == 0x00:
            i += 2
        elif i + 4 > n:
            return None
        else:
            i += 2 + (data[i + 2] << 8 | data[i + 3])
    return Size("JPEG", 0, 0, unreadable=f"a JPEG whose frame header is {_beyond('JPEG')}")


def _gif(data: bytes, budget: Budget) -> Size | None:
    """The logical screen, and every frame's descriptor: giflib's DGifSlurp allocates each
    frame's pixels, and decode_image with expand_animations returns frames x screen."""
    n = len(data)
    if n < 13:
        return None
    width, height = _le(data, 6, 2), _le(data, 8, 2)
    i = 13
    if data[10] & 0x80:  # global color table
        i += 3 << ((data[10] & 0x07) + 1)
    frames = frame_pixels = 0
    while 0 <= i < n:
        block = data[i]
        if block == 0x21:  # extension: label, then data sub-blocks
            i = _skip_sub_blocks(data, i + 2, budget)
        elif block == 0x2C and i + 10 <= n:  # image descriptor
            frames += 1
            frame_pixels += _le(data, i + 5, 2) * _le(data, i + 7, 2)
            flags = data[i + 9]
            i += 10
            if flags & 0x80:  # local color table
                i += 3 << ((flags & 0x07) + 1)
            i = _skip_sub_blocks(data, i + 1, budget)  # after the LZW minimum code size
        else:  # the trailer (0x3B), or bytes giflib would refuse
            break
    if budget.blocks < 0:
        return Size("GIF", width, height, unreadable=f"a GIF whose frames are {_beyond('GIF')}")
    return Size("GIF", width, height, max(frames, 1), frame_pixels)


def _skip_sub_blocks(data: bytes, i: int, budget: Budget) -> int:
    """The index after a chain of data sub-blocks (length byte, bytes; a zero length ends it);
    -1 at the end of the data, or once the blocks run out (then left below zero)."""
    n, left = len(data), budget.blocks
    while i < n and left >= 0:
        length = data[i]
        i += length + 1
        left -= 1
        if not length:
            budget.blocks = left
            return i
    budget.blocks = left
    return -1


def _bmp(data: bytes) -> Size | None:
    """Width and height where TensorFlow's BMP decoder reads them, only for bytes it would
    decode: it needs the size to match the header exactly, so text starting "BM" is no image."""
    if len(data) < 32:
        return None
    header = _le(data, 10, 4, signed=True)
    width, height = _le(data, 18, 4, signed=True), abs(_le(data, 22, 4, signed=True))
    channels = _le(data, 28, 2, signed=True) // 8
    if channels not in (1, 3, 4) or width <= 0 or not height or header < 0:
        return None
    if len(data) != header + (channels * width + 3) // 4 * 4 * height:
        return None
    return Size("BMP", width, height)


def _webp(data: bytes, budget: Budget) -> Size | None:
    """The first chunk's size (VP8: 14-bit fields; VP8L: 14-bit minus one; VP8X: the canvas,
    24-bit minus one), times the animation frames (ANMF chunks) of a VP8X file."""
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        return Size("WebP", _le(data, 26, 2) & 0x3FFF, _le(data, 28, 2) & 0x3FFF)
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = _le(data, 21, 4)
        return Size("WebP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X" and len(data) >= 30:
        width, height = _le(data, 24, 3) + 1, _le(data, 27, 3) + 1
        if data[20] & 0x02 and not data[20] & 0x10:  # animation flag without the alpha flag
            # decode_image_op.cc (TF 2.21) sizes the output for the header's 3 channels when
            # asked for channels=0, then the animation decoder writes 4: a heap overflow that
            # aborts the server. Asked for 3 or 4 it refuses such a file, so nothing is lost.
            crashes = "an animated WebP without alpha, which TensorFlow's decoder cannot take"
            return Size("WebP", width, height, crashes=crashes)
        frames, i, n = 0, 12, len(data)
        while i + 8 <= n:
            budget.blocks -= 1
            if budget.blocks < 0:
                beyond = _beyond("WebP")
                return Size("WebP", width, height, unreadable=f"a WebP whose frames are {beyond}")
            frames += data[i : i + 4] == b"ANMF"
            size = _le(data, i + 4, 4)
            i += 8 + size + (size & 1)  # chunks pad to an even size
        return Size("WebP", width, height, max(frames, 1))
    return None


_JXL_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}


def _jxl(data: bytes, budget: Budget) -> Size | None:
    """JPEG XL's SizeHeader, from the bare codestream or from the first jxlc/jxlp box."""
    if data[:2] != b"\xff\x0a":
        data = _jxl_codestream(data, budget)
        if data is None or data[:2] != b"\xff\x0a":
            return None
    bits = _Bits(data, 2)
    try:
        small = bits.read(1)
        height = (bits.read(5) + 1) * 8 if small else bits.u32()
        ratio = bits.read(3)
        if ratio:
            num, den = _JXL_RATIOS[ratio]
            width = height * num // den
        else:
            width = (bits.read(5) + 1) * 8 if small else bits.u32()
    except IndexError:
        return None
    return Size("JPEG XL", width, height)


def _jxl_codestream(data: bytes, budget: Budget) -> bytes | None:
    """The start of the codestream in a JPEG XL container: the first jxlc or jxlp box."""
    i, n = 0, len(data)
    while i + 8 <= n and budget.blocks > 0:
        budget.blocks -= 1
        size, kind, head = _be(data, i, 4), data[i + 4 : i + 8], 8
        if size == 1:
            size, head = _be(data, i + 8, 8), 16
        elif size == 0:
            size = n - i
        if kind in (b"jxlc", b"jxlp"):
            start = i + head + (4 if kind == b"jxlp" else 0)  # a part starts with its index
            return data[start : min(i + size, start + 64)]  # the SizeHeader is in the first bytes
        if size < head:
            return None
        i += size
    return None


class _Bits:
    """JPEG XL's bit reader: least significant bit first."""

    def __init__(self, data: bytes, start: int):
        self.data, self.pos = data, start * 8

    def read(self, n: int) -> int:
        value = 0
        for k in range(n):
            byte = self.data[self.pos >> 3]  # IndexError past the end: a truncated header
            value |= ((byte >> (self.pos & 7)) & 1) << k
            self.pos += 1
        return value

    def u32(self) -> int:  # U32(Bits(9) + 1, Bits(13) + 1, Bits(18) + 1, Bits(30) + 1)
        return self.read((9, 13, 18, 30)[self.read(2)]) + 1
