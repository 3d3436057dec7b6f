"""A served model's life after training: watched, retrained, replaced.

``drift`` holds the statistics (KS / total variation / PSI against the training baselines a
feature schema carries), ``monitoring`` computes them from captured traffic on a schedule and
prunes the serving tables, ``retraining`` is seed 003's retraining workflow and its worker loop,
and ``retrain_decisions`` the table and events every run of that workflow leaves behind. New
champions reach the servers through the registry's aliases and the ``pricing.models`` topic.
"""
