"""The page the e-mailed link opens: one button that POSTs the token.

A GET never changes state: mail scanners and link previews fetch links, and would
otherwise use up the token before the person clicks.
"""

from html import escape
from urllib.parse import urlencode

from fastapi.responses import HTMLResponse

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Verify your e-mail</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body {{ font: 16px system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem; }}
button {{ font: inherit; padding: .6rem 1.2rem; cursor: pointer; }}</style></head>
<body>
<h1>Verify your e-mail</h1>
<p>Confirm that this address is yours. The link works once.</p>
<form method="post" action="verify?{query}"><button type="submit">Verify my e-mail</button></form>
</body>
</html>
"""

# The URL holds the token: no caching, no referrer, and nothing but this page's own CSS.
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


def verify_page(token: str) -> HTMLResponse:
    """The page for ``token`` (escaped; it only travels back in the form's action)."""
    query = escape(urlencode({"token": token}), quote=True)
    return HTMLResponse(PAGE.format(query=query), headers=HEADERS)
