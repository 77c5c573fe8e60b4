"""The tutorial's steps, in order (``docs/tutorial.md`` has one section per step).

Each step calls only the endpoints it declares; ``tests/test_walkthrough_unit.py`` checks
that the tutorial's section for the step shows ``curl`` commands for exactly those
endpoints, under a heading equal to the step's title. The steps themselves live with their
example: ``orders``, ``users``, ``images``, ``analytics`` (and ``basics`` around them).
"""

from walkthrough import analytics, basics, images, orders, users
from walkthrough.runner import Step

STEPS: list[Step] = [
    basics.service_is_up,
    basics.dashboard,
    orders.catalogue,
    orders.approved_order,
    orders.declined_order,
    orders.sold_out_order,
    users.register,
    users.verify,
    users.email_outage,
    images.image_ready,
    images.image_failed,
    analytics.analytics_batch,
    analytics.analytics_outage,
    basics.reset,
]
