"""Dynamic floor prices: the seed's formula, the decisions served from it, and their replay.

``formula`` is seed 003's ``calculateDynamicFloor`` (scalar and the one vector form), the
publisher's floor configuration and the sticky control share; ``decisions`` applies it to served
prices (one request or a batch as columns), caches the publishers' configurations and builds the
answers and log rows of ``/v2/floor``; ``simulation`` replays a held-out day's auctions under
floor policies and ``simulation_report`` turns the result into a table, a plot and a JSON file.
"""
