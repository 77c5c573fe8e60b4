"""Mock-mode extras: look inside the fake systems and the task registry."""
