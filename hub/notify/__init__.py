"""Subscribe and notify: partners subscribe in their contract (``[notify]``) to events that concern their
data; the hub queues a webhook in the transaction of the change (:mod:`hub.notify.outbox`), signs it with
its ``webhooks`` key (:mod:`hub.notify.signature`) and delivers it with retries and a dead-letter state
(:mod:`hub.notify.delivery`). See ``docs/notify.md``."""
