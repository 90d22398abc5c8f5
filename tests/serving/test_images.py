"""Image sizes from headers (serving/images.py): what TensorFlow's decoder would make, unread."""

from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from serving.errors import ServingError
from serving.images import Size, check_images, image_size
from serving.servable import decodes_images, read_meta_graph

WIDTH, HEIGHT = 37, 23  # odd and different, so a swapped width and height shows


def encoded(fmt: str, mode: str = "RGB", **options) -> bytes:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(out, fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (encoded("PNG"), "PNG"),
        (encoded("PNG", "L"), "PNG"),
        (encoded("JPEG"), "JPEG"),
        (encoded("JPEG", progressive=True), "JPEG"),  # SOF2
        (encoded("JPEG", exif=b"Exif\x00\x00" + b"\x00" * 4000), "JPEG"),  # APP1 before SOF
        (encoded("GIF"), "GIF"),
        (encoded("BMP"), "BMP"),
        (encoded("WEBP"), "WebP"),  # VP8
        (encoded("WEBP", lossless=True), "WebP"),  # VP8L
    ],
    ids=[
        "png",
        "png-grey",
        "jpeg",
        "jpeg-progressive",
        "jpeg-exif",
        "gif",
        "bmp",
        "webp",
        "webp-lossless",
    ],
)
def test_header_size_is_what_decode_image_makes(data, fmt):
    size = image_size(data)
    assert (size.format, size.width, size.height, size.frames) == (fmt, WIDTH, HEIGHT, 1)
    decoded = tf.io.decode_image(data, expand_animations=False)
    assert decoded.shape[:2] == (HEIGHT, WIDTH)


def animated(fmt: str, mode: str) -> bytes:
    colors = [(255, 0, 0, 200), (0, 255, 0, 100), (0, 0, 255, 50)]
    frames = [Image.new(mode, (WIDTH, HEIGHT), color[: len(mode)]) for color in colors]
    out = io.BytesIO()
    frames[0].save(out, fmt, save_all=True, append_images=frames[1:], optimize=False)
    return out.getvalue()


@pytest.mark.parametrize(("fmt", "mode"), [("GIF", "RGB"), ("WEBP", "RGBA")])
def test_animated_gif_and_webp_count_every_frame(fmt, mode):
    data = animated(fmt, mode)
    size = image_size(data)
    assert (size.frames, size.total, size.crashes) == (3, 3 * WIDTH * HEIGHT, "")
    assert tf.io.decode_image(data).shape[:3] == (3, HEIGHT, WIDTH)


def test_an_animated_webp_without_alpha_is_refused_at_any_size():
    # TF 2.21's decode_image(channels=0) aborts the process on it (a heap overflow); not run here
    data = animated("WEBP", "RGB")
    with pytest.raises(ServingError) as caught:
        check_images({"image_bytes": np.array([data], dtype=object)}, 0)
    assert caught.value.message == (
        "Image in input 'image_bytes' (value 0) is an animated WebP without alpha, which "
        "TensorFlow's decoder cannot take; refused"
    )


def png_header(width: int, height: int, rows: int = 4) -> bytes:
    """A valid PNG start declaring width x height grey pixels, with a few rows of data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * ((width + 1) * rows), 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)


def jxl_codestream(width: int, height: int) -> bytes:
    """FF 0A and a SizeHeader in its large form (U32 selector 2: 18 bits + 1), ratio 0."""

    def u32(value: int) -> list[int]:  # selector 2 (bits 0, 1: least significant first), 18 bits
        return [0, 1] + [(value - 1) >> k & 1 for k in range(18)]

    bits = [0, *u32(height), 0, 0, 0, *u32(width)]  # not small; height; ratio 0; width
    data = bytearray(b"\xff\x0a")
    for start in range(0, len(bits), 8):
        data.append(sum(b << k for k, b in enumerate(bits[start : start + 8])))
    return bytes(data)


def test_jpeg_xl_codestream_and_container():
    stream = jxl_codestream(30000, 20000)
    assert image_size(stream) == Size("JPEG XL", 30000, 20000)
    box = lambda kind, body: struct.pack(">I", 8 + len(body)) + kind + body  # noqa: E731
    container = (
        b"\x00\x00\x00\x0cJXL \r\n\x87\n" + box(b"ftyp", b"jxl \x00\x00\x00\x00jxl ")
    ) + box(b"jxlc", stream)
    assert image_size(container) == Size("JPEG XL", 30000, 20000)
    small = bytes([0xFF, 0x0A, 0b0101_1111, 0])  # small, height (15 + 1) * 8, ratio 1 (1:1)
    assert image_size(small) == Size("JPEG XL", 128, 128)


def test_a_tiny_png_can_declare_a_huge_image():
    data = png_header(20000, 20000)
    assert len(data) < 200
    assert image_size(data) == Size("PNG", 20000, 20000)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello",
        b"BMW is a maker of cars, from Bavaria in the south of Germany",  # "BM", but no BMP
        b"\x89PNG\r\n\x1a\n\x00\x00",  # truncated: left to the decoder
        b"\xff\xd8\xff\xe0\x00\x10JFIF",  # JPEG without a frame header
    ],
)
def test_what_is_no_readable_image_is_left_alone(data):
    assert image_size(data) is None


def test_check_images_names_the_input_the_pixels_and_the_limit():
    huge = png_header(20000, 20000)
    small = encoded("PNG")
    check_images({"image_bytes": np.array([small, b"text"], dtype=object)}, 1 << 24)
    check_images({"x": np.zeros((2, 3), np.float32)}, 1)  # numbers are never images
    with pytest.raises(ServingError) as caught:
        check_images({"image_bytes": np.array([small, huge], dtype=object)}, 1 << 24)
    assert caught.value.message == (
        "Image in input 'image_bytes' (value 1) is a PNG of 20000 x 20000 = 400000000 pixels, "
        "more than the 16777216 allowed (--max_image_pixels); it was not decoded"
    )


def test_only_graphs_that_decode_images_are_checked(saved_model, repo):
    assert decodes_images(read_meta_graph(saved_model))  # predict_image decodes PNG/JPEG
    assert not decodes_images(read_meta_graph(repo.base("examples") / "1"))


def jpeg_with_segments(count: int, width: int = 20000, height: int = 20000) -> bytes:
    """SOI, `count` empty COM segments, then a baseline frame header (SOF0)."""
    sof = b"\xff\xc0\x00\x11\x08" + struct.pack(">HH", height, width) + b"\x01\x01\x11\x00"
    return b"\xff\xd8" + b"\xff\xfe\x00\x02" * count + sof


def test_the_header_walk_is_bounded_per_request():
    assert image_size(jpeg_with_segments(100)) == Size("JPEG", 20000, 20000)
    huge = png_header(20000, 20000)
    check_images({"image_bytes": np.array([huge], dtype=object)}, 0)  # 0: no pixel limit
    walks = {
        "JPEG": ([jpeg_with_segments(6_000, 10, 10)] * 2, "the 10000 JPEG segments"),  # 12,000
        "GIF": (
            [
                b"GIF89a\x01\x00\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02"
                + b"\x01\x00" * 300_001
                + b"\x00;"
            ],
            "the 300000 blocks",
        ),
    }
    for fmt, (values, bound) in walks.items():
        start = time.perf_counter()
        with pytest.raises(ServingError) as caught:
            check_images({"image_bytes": np.array(values, dtype=object)}, 1 << 24)
        assert time.perf_counter() - start < 0.5, fmt
        assert f"whose {'frame header is' if fmt == 'JPEG' else 'frames are'} not within" in (
            caught.value.message
        )
        assert f"{bound} read per request: its size cannot be checked" in caught.value.message
