"""The streaming edge, one folder per job; the only package that imports faust, redis, kafka
or aiokafka.

* :mod:`stream_app.worker`: the Faust worker (app, batch intake, pipeline steps, table
  changelog, sinks, dead letters, Redis rematerialisation);
* :mod:`stream_app.serving`: reading answers (library and HTTP), nothing else;
* :mod:`stream_app.stack`: a local Kafka + Redis for development, tests and the demo, and the
  worker subprocess helper;
* :mod:`stream_app.tools`: replay and record of event logs, the eval report, bench and chaos;
* :mod:`stream_app.cli`: ``stream-app`` and one module per subcommand;
* :mod:`stream_app.settings`: the one settings object all of them take.
"""

__version__ = "0.1.0"
