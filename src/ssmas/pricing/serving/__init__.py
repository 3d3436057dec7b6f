"""The ``/v2`` serving side: from a request body to a priced answer, and what it leaves behind.

A body is decoded (``request_bodies``, with the ``msgspec`` structs of ``fast_requests`` first),
scored by the champion or challenger (``service``: the variant split, the encoder, a tree walk
for one row in ``row_scorer``, the timeout and circuit breaker of ``scoring_guard``) and answered
(``responses``). Around it: sampled captures written in bulk (``capture`` into the tables of
``store``), per-variant figures (``stats``), the models kept in step with the registry
(``hot_reload``) and the per-process assembly of all of it (``runtime``). The routes themselves
are ``ssmas.pricing.api`` and ``ssmas.pricing.api_admin``.
"""
