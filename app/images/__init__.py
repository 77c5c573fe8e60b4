"""Image pipeline (example 3): upload, verify, optimize, thumbnail, CDN."""
