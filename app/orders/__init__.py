"""Example 1: e-commerce order processing (payment, inventory, notifications)."""
