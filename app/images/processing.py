"""Pillow work for uploads: sniff and verify, then the optimized copy and the thumbnail.

Every function here is synchronous and CPU-bound. Callers run it with
``anyio.to_thread.run_sync`` so that no image is ever decoded on the event loop.

Output formats (documented in docs/images.md):
- still images without visible transparency: JPEG (RGB, alpha flattened onto white,
  quality 85, optimized, progressive, no EXIF);
- still images with visible transparency: PNG (RGBA, ``optimize=True``), because JPEG
  has no alpha channel and flattening would destroy the cut-out;
- animated GIF/WebP: the optimized copy keeps every frame in the source format; the
  thumbnail is the first frame.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from PIL import Image, ImageOps, UnidentifiedImageError

ALLOWED_FORMATS: Final = ("PNG", "JPEG", "GIF", "WEBP")
THUMBNAIL_BOX: Final = (300, 300)
JPEG_QUALITY: Final = 85

CONTENT_TYPES: Final = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "GIF": "image/gif",
    "WEBP": "image/webp",
}
EXTENSIONS: Final = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "WEBP": "webp"}


class InvalidImageError(Exception):
    """The bytes are not an image this service accepts; ``reason`` is safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the upload turned out to be (size as stored, before EXIF orientation)."""

    format: str
    width: int
    height: int
    frames: int

    @property
    def animated(self) -> bool:
        return self.frames > 1


@dataclass(frozen=True, slots=True)
class RenderedImage:
    """The outcome of rendering: the oriented size and the formats written."""

    width: int
    height: int
    optimized_format: str
    thumbnail_format: str


def inspect_image(path: Path, *, max_pixels: int) -> ImageInfo:
    """Sniff, verify and fully decode ``path``; raise ``InvalidImageError`` if unfit.

    The format comes from the bytes, never from the client's content type or name.
    ``verify()`` misses truncated JPEGs, so the file is re-opened and decoded too.
    Pixel limits are checked from the header, before anything is decoded.
    """
    try:
        with Image.open(path, formats=ALLOWED_FORMATS) as probe:
            _check_pixels(probe.size, max_pixels)
            probe.verify()
        with Image.open(path, formats=ALLOWED_FORMATS) as image:
            _check_pixels(image.size, max_pixels)
            frames = int(getattr(image, "n_frames", 1))
            # every frame of an animation is decoded later: bound the total work too
            _check_pixels(image.size, max_pixels, frames=frames)
            image.load()
            fmt = image.format
            width, height = image.size
    except InvalidImageError:
        raise
    except UnidentifiedImageError as exc:
        raise InvalidImageError(
            "The file is not a PNG, JPEG, GIF or WebP image"
        ) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImageError(_TOO_MANY_PIXELS) from exc
    except Exception as exc:  # truncated or corrupt data surfaces as many types
        raise InvalidImageError("The image data is truncated or corrupt") from exc
    if fmt not in ALLOWED_FORMATS:  # pragma: no cover - formats= already ensures it
        raise InvalidImageError("The file is not a PNG, JPEG, GIF or WebP image")
    return ImageInfo(format=fmt, width=width, height=height, frames=frames)


def render_variants(source: Path, *, optimized: Path, thumbnail: Path) -> RenderedImage:
    """Write the optimized copy and the 300x300-bounded thumbnail of ``source``.

    EXIF orientation is applied first, so width and height are those a viewer shows.
    """
    with Image.open(source, formats=ALLOWED_FORMATS) as image:
        source_format = image.format or "PNG"
        animated = bool(getattr(image, "is_animated", False))
        if animated:
            image.save(optimized, format=source_format, save_all=True, optimize=True)
            image.seek(0)
        first = ImageOps.exif_transpose(image)
    width, height = first.size
    optimized_format = source_format if animated else _save_for_web(first, optimized)
    small = first.copy()
    small.thumbnail(THUMBNAIL_BOX)
    thumbnail_format = _save_for_web(small, thumbnail)
    return RenderedImage(
        width=width,
        height=height,
        optimized_format=optimized_format,
        thumbnail_format=thumbnail_format,
    )


_TOO_MANY_PIXELS = "The image has too many pixels"


def _check_pixels(size: tuple[int, int], max_pixels: int, *, frames: int = 1) -> None:
    width, height = size
    if width * height * frames > max_pixels:
        raise InvalidImageError(_TOO_MANY_PIXELS)


def _save_for_web(image: Image.Image, target: Path) -> str:
    """Save as PNG when transparency is visible, else as JPEG; return the format."""
    image = _to_8bit(image)
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        lowest_alpha = rgba.getchannel("A").getextrema()[0]
        if isinstance(lowest_alpha, int | float) and lowest_alpha < 255:
            rgba.save(target, format="PNG", optimize=True)
            return "PNG"
        image = rgba
    _flatten_on_white(image).save(
        target,
        format="JPEG",
        quality=JPEG_QUALITY,
        optimize=True,
        progressive=True,
        icc_profile=image.info.get("icc_profile"),
    )
    return "JPEG"


def _to_8bit(image: Image.Image) -> Image.Image:
    # 16-bit and float greyscale would clip to white if converted directly
    if image.mode.startswith("I;16"):
        image = image.convert("I")
    if image.mode in ("I", "F"):
        return image.point(lambda value: value / 256).convert("L")
    return image


def _flatten_on_white(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA", "P") and image.has_transparency_data:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")
