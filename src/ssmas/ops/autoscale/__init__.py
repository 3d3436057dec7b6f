"""Predictive autoscaling advisor: forecast each service's hourly load (hour-of-week profile +
trend, with intervals), advise replicas and concurrency, export HPA / KEDA settings, backtest.

``forecast`` fits and predicts; ``traffic`` gives the load histories (simulated from the
exchange's traffic, or a CSV of a live platform's); ``advisor`` turns forecasts into replicas and
backtests them; ``export`` writes Kubernetes YAML; ``commands`` is ``ssmas ops autoscale``;
``web`` is the dashboard page.
"""
