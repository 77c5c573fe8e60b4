"""Image tests: small limits so oversize and bomb cases stay cheap."""

from pathlib import Path

import pytest

from app.config import Settings

MAX_UPLOAD_BYTES = 256 * 1024
MAX_PIXELS = 4_000_000


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "max_upload_bytes": MAX_UPLOAD_BYTES,
            "image_max_pixels": MAX_PIXELS,
            "image_jobs_limit": 2,
            "public_base_url": "http://test",
        }
    )


def files_under(directory: Path) -> list[Path]:
    """Every file below ``directory`` (empty if it does not exist)."""
    if not directory.exists():
        return []
    return sorted(p for p in directory.rglob("*") if p.is_file())
