"""The CPM model: what it learns from and how it is built, judged and stored.

Lake rows become training data (``dataset``), columns of any frame type become the feature
vector (``frame_columns``, ``features``), XGBoost learns the clearing CPM with a conformal 80%
interval around it (``training``, ``intervals``), it is judged against honest baselines
(``evaluation``), bundled with its feature schema for the registry (``bundle``) and, at scale,
trained on Dask (``distributed``). Nothing here serves requests or touches the serving tables.
"""
