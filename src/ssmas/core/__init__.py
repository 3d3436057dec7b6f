"""The shared operational core: knows no product.

Ports (small protocols) and their adapters live here: database, bus, cache, model registry,
LLM, notifier, metrics, security, and the API app factory.
"""
