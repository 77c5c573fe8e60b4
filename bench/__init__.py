"""Side-by-side benchmark of the repository's ``fastapi_tasks`` (``python -m bench``).

See ``bench/README.md``. ``python -m bench.profile`` profiles ours in-process.
"""
