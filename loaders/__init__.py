"""Reading data from files: the product catalog, Instacart orders (the merged file or the
public release folder) and their conversion to events, synthetic search queries, event logs.

Bad input is :class:`schemas.errors.InvalidData` naming ``file:line``. Imports only
:mod:`schemas`; :mod:`scorers` and :mod:`stream_app` read data through here.
"""
