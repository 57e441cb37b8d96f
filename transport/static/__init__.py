"""The browser call page (``index.html``, ``call.js``, ``call.css``) served at ``/``."""

from importlib.resources import files
from pathlib import Path

STATIC_DIR = Path(str(files(__package__)))
