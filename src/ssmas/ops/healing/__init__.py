"""Self-healing for ``ssmas up``: its workers as supervised processes (issue 18, item 2).

:class:`~ssmas.ops.healing.supervisor.Supervisor` runs each product worker as a process, reads
each one's ``/metrics`` (:mod:`ssmas.ops.healing.probe`) and heals it by
:class:`~ssmas.ops.healing.supervisor.HealingPolicy`; every action is logged, counted and
journalled (:mod:`ssmas.ops.healing.journal`) and listed at ``GET /ops/healing``
(:mod:`ssmas.ops.healing.api`).
"""
