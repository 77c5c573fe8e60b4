"""The transactional outbox: side effects promised by a state change, stored with it.

A row is written in the same transaction as the change that promises it (an order settled, a
user registered), delivered right away by an ``after_response`` task, and by the sweeper for
rows whose task died with its process. Every delivery carries ``Idempotency-Key: outbox-<id>``,
so a delivery repeated after a crash reaches its recipient once.
"""
