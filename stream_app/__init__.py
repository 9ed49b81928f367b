"""The streaming edge: Faust app, agents, sinks, serving, local services and the CLI.

The only package that imports faust, redis, kafka or aiokafka.
"""

__version__ = "0.1.0"
