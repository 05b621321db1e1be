"""`fastreactor serve`: run a factory or service on every core under a supervisor.

One concern per module: `cli` (the command line and exit statuses), `listeners` (the listening
sockets the supervisor opens and hands to workers), `channel` (the worker -> supervisor report
pipe), `supervisor` (starting, restarting, reloading and stopping workers), `worker` (loading the
target and running it on a reactor, draining on stop), `metrics` (loop statistics and their
Prometheus text).
"""
