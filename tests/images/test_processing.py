from pathlib import Path

import pytest
from PIL import Image

from app.images.processing import (
    ImageInfo,
    InvalidImageError,
    RenderedImage,
    inspect_image,
    render_variants,
)

from .imagegen import (
    animated_gif_bytes,
    bmp_bytes,
    bomb_png_bytes,
    jpeg_bytes,
    png_bytes,
    rgba_png_bytes,
    truncated_jpeg_bytes,
    webp_bytes,
)

LIMIT = 50_000_000


def write(tmp_path: Path, data: bytes, name: str = "upload") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def render(tmp_path: Path, data: bytes) -> tuple[Path, Path, RenderedImage]:
    source = write(tmp_path, data)
    optimized, thumbnail = tmp_path / "opt", tmp_path / "thumb"
    result = render_variants(source, optimized=optimized, thumbnail=thumbnail)
    return optimized, thumbnail, result


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (png_bytes((640, 480)), ImageInfo("PNG", 640, 480, 1)),
        (jpeg_bytes((800, 600)), ImageInfo("JPEG", 800, 600, 1)),
        (animated_gif_bytes((500, 250), frames=3), ImageInfo("GIF", 500, 250, 3)),
        (webp_bytes((320, 240)), ImageInfo("WEBP", 320, 240, 1)),
    ],
    ids=["png", "jpeg", "gif", "webp"],
)
def test_inspect_image_sniffs_accepted_formats(
    tmp_path: Path, data: bytes, expected: ImageInfo
) -> None:
    assert inspect_image(write(tmp_path, data), max_pixels=LIMIT) == expected


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"%PDF-1.7 this is not an image", "not a PNG, JPEG, GIF or WebP"),
        (b"", "not a PNG, JPEG, GIF or WebP"),
        (bmp_bytes(), "not a PNG, JPEG, GIF or WebP"),
        (truncated_jpeg_bytes(), "truncated or corrupt"),
        (png_bytes((300, 300))[:200], "truncated or corrupt"),
        (bomb_png_bytes(), "too many pixels"),
    ],
    ids=["text", "empty", "bmp", "truncated-jpeg", "truncated-png", "header-bomb"],
)
def test_inspect_image_rejects_unfit_files(
    tmp_path: Path, data: bytes, reason: str
) -> None:
    with pytest.raises(InvalidImageError, match=reason):
        inspect_image(write(tmp_path, data), max_pixels=LIMIT)


def test_inspect_image_applies_the_configured_pixel_limit(tmp_path: Path) -> None:
    path = write(tmp_path, png_bytes((101, 100)))
    assert inspect_image(path, max_pixels=10_100).width == 101
    with pytest.raises(InvalidImageError, match="too many pixels"):
        inspect_image(path, max_pixels=10_099)


def test_inspect_image_counts_every_frame_of_an_animation(tmp_path: Path) -> None:
    path = write(tmp_path, animated_gif_bytes((100, 100), frames=4))
    with pytest.raises(InvalidImageError, match="too many pixels"):
        inspect_image(path, max_pixels=30_000)


def test_render_png_makes_jpeg_copy_and_bounded_thumbnail(tmp_path: Path) -> None:
    optimized, thumbnail, result = render(tmp_path, png_bytes((640, 480)))
    assert result == render_result(640, 480, "JPEG", "JPEG")
    with Image.open(optimized) as image:
        assert (image.format, image.size, image.mode) == ("JPEG", (640, 480), "RGB")
    with Image.open(thumbnail) as image:
        assert (image.format, image.size) == ("JPEG", (300, 225))


def test_render_applies_exif_orientation_before_thumbnailing(tmp_path: Path) -> None:
    # stored landscape 800x600, Orientation=6: displayed rotated 90 degrees clockwise
    optimized, thumbnail, result = render(
        tmp_path, jpeg_bytes((800, 600), orientation=6)
    )
    assert result == render_result(600, 800, "JPEG", "JPEG")
    with Image.open(thumbnail) as image:
        assert image.size == (225, 300)  # portrait, aspect kept, within 300x300
        assert image.getexif().get(0x0112) is None
        # the red band that was on top of the stored image is now on the right
        right = image.convert("RGB").getpixel((image.width - 3, image.height // 2))
        left = image.convert("RGB").getpixel((3, image.height // 2))
    assert is_color(right, (255, 0, 0))
    assert is_color(left, (0, 0, 255))
    with Image.open(optimized) as image:
        assert image.size == (600, 800)
        assert image.getexif().get(0x0112) is None  # no EXIF carried over


def test_render_keeps_transparency_as_png(tmp_path: Path) -> None:
    optimized, thumbnail, result = render(tmp_path, rgba_png_bytes((400, 200)))
    assert result == render_result(400, 200, "PNG", "PNG")
    with Image.open(thumbnail) as image:
        assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (300, 150))
        assert image.getpixel((image.width - 1, 0)) == (0, 0, 0, 0)
    with Image.open(optimized) as image:
        assert (image.format, image.mode) == ("PNG", "RGBA")


def test_render_flattens_opaque_rgba_onto_white_jpeg(tmp_path: Path) -> None:
    optimized, _, result = render(
        tmp_path, png_bytes((50, 40), mode="RGBA", color=(9, 9, 9, 255))
    )
    assert result == render_result(50, 40, "JPEG", "JPEG")
    with Image.open(optimized) as image:
        assert image.mode == "RGB"


def test_render_animated_gif_keeps_frames_and_thumbnails_the_first(
    tmp_path: Path,
) -> None:
    optimized, thumbnail, result = render(
        tmp_path, animated_gif_bytes((500, 250), frames=3)
    )
    assert result == render_result(500, 250, "GIF", "JPEG")
    with Image.open(optimized) as image:
        assert (image.format, getattr(image, "n_frames", 1)) == ("GIF", 3)
    with Image.open(thumbnail) as image:
        assert image.size == (300, 150)
        assert is_color(image.convert("RGB").getpixel((150, 75)), (255, 0, 0))


def test_render_small_image_is_not_enlarged(tmp_path: Path) -> None:
    _, thumbnail, _ = render(tmp_path, png_bytes((120, 80)))
    with Image.open(thumbnail) as image:
        assert image.size == (120, 80)


def test_render_16_bit_greyscale_does_not_clip_to_white(tmp_path: Path) -> None:
    _, thumbnail, _ = render(tmp_path, png_bytes((20, 20), mode="I;16", color=32768))
    with Image.open(thumbnail) as image:
        value = image.convert("L").getpixel((10, 10))
    assert isinstance(value, int)
    assert 100 < value < 156


def render_result(
    width: int, height: int, optimized: str, thumbnail: str
) -> RenderedImage:
    return RenderedImage(
        width=width,
        height=height,
        optimized_format=optimized,
        thumbnail_format=thumbnail,
    )


def is_color(
    pixel: object, expected: tuple[int, int, int], tolerance: int = 60
) -> bool:
    """Close enough to ``expected`` (JPEG and GIF quantisation move colours a little)."""
    assert isinstance(pixel, tuple)
    return all(
        abs(int(got) - want) <= tolerance
        for got, want in zip(pixel, expected, strict=True)
    )
