"""How long the steps wait for outcomes that arrive in the background.

Generous: the server may run with its default settings (e-mail retries after 1, 2 and 4 s;
analytics flushed after 5 s). Read as ``timing.NAME`` at call time, so a test can shorten one.
"""

SETTLE_DEADLINE_S = 15.0
EMAIL_OUTAGE_DEADLINE_S = 40.0
ANALYTICS_DEADLINE_S = 20.0
