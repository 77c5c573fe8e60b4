"""The CDN that serves uploaded images: ``PUT /upload/{path}`` returns the public URL."""

from pathlib import Path

import anyio
from pydantic import BaseModel

from app.clients._base import ServiceClient


class CdnUpload(BaseModel):
    """The CDN's answer to an upload."""

    url: str


class CdnClient(ServiceClient):
    """Uploads files to the CDN under paths the service chooses (never client input)."""

    async def upload(self, *, path: str, source: Path, content_type: str) -> str:
        """Upload ``source`` to ``path`` and return its public URL."""
        # open, read and close in one worker-thread call: a cancelled upload
        # (another one failed) cannot leave the file open
        content = await anyio.Path(source).read_bytes()
        response = await self._http.put(
            f"{self.base_url}/upload/{path}",
            content=content,
            headers={**self._headers, "Content-Type": content_type},
            timeout=self._timeout,
        )
        response.raise_for_status()
        return CdnUpload.model_validate(response.json()).url
