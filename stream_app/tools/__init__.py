"""Tools around the worker: replay and record of event logs, the eval report, bench and chaos."""
