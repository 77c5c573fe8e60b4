"""Registration and e-mail verification (example 2 of the seed)."""
