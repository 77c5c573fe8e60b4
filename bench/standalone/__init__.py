"""Scripts that run in their own processes, possibly under another interpreter.

Nothing here may import from ``bench`` or from the repository: these files also run
under ``bench/.venv-published`` with ``python -I``, with this folder as the only
project path on ``sys.path``.
"""
