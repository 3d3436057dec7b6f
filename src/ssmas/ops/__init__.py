"""Ops: the platform's production side — alerting on Prometheus and Alertmanager, the local
alerting stack (``ssmas ops stack``), and the health and alerts page of the dashboard.

The deployment files (Prometheus rules, Alertmanager routing, Dockerfile, compose, Kubernetes
manifests, Grafana dashboards) live in the repository's ``deploy/`` folder.
"""
