"""Reputation from sending events: delivery, bounces, complaints, opens and clicks per identity."""
