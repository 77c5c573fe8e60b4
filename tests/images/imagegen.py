"""Images made with Pillow for the tests (no binary fixtures in the repository)."""

import io
import struct
import zlib

from PIL import Image

ORIENTATION_TAG = 0x0112


def png_bytes(
    size: tuple[int, int] = (640, 480), *, mode: str = "RGB", color: object = "teal"
) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format="PNG")  # type: ignore[arg-type]
    return buffer.getvalue()


def rgba_png_bytes(size: tuple[int, int] = (400, 200)) -> bytes:
    """Half opaque red, half fully transparent."""
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (0, 0, size[0] // 2, size[1]))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(
    size: tuple[int, int] = (800, 600), *, orientation: int | None = None
) -> bytes:
    """A JPEG whose top 20% is red and the rest blue; optionally with EXIF Orientation."""
    width, height = size
    image = Image.new("RGB", size, (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, width, height // 5))
    buffer = io.BytesIO()
    if orientation is None:
        image.save(buffer, format="JPEG", quality=90)
    else:
        exif = Image.Exif()
        exif[ORIENTATION_TAG] = orientation
        image.save(buffer, format="JPEG", quality=90, exif=exif)
    return buffer.getvalue()


def animated_gif_bytes(size: tuple[int, int] = (500, 250), frames: int = 3) -> bytes:
    colors = ["red", "green", "blue", "yellow", "purple"]
    images = [Image.new("RGB", size, colors[i % len(colors)]) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=80,
        loop=0,
    )
    return buffer.getvalue()


def webp_bytes(size: tuple[int, int] = (320, 240)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "orange").save(buffer, format="WEBP")
    return buffer.getvalue()


def truncated_jpeg_bytes() -> bytes:
    """A real JPEG cut in half: ``verify()`` accepts it, decoding does not."""
    data = jpeg_bytes((600, 400))
    return data[: len(data) // 2]


def bomb_png_bytes(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    pixels = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


def bmp_bytes(size: tuple[int, int] = (50, 50)) -> bytes:
    """A valid image in a format we do not accept."""
    buffer = io.BytesIO()
    Image.new("RGB", size, "white").save(buffer, format="BMP")
    return buffer.getvalue()


def image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size
