"""Background work on RQ: queues, enqueueing after commit, retries with back-off."""
