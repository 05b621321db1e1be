"""Twisted reactor plugin: `twistd --reactor=fastreactor`, `trial --reactor=fastreactor`.

Installed as site-packages/twisted/plugins/fastreactor_plugin.py (there is deliberately no
twisted/__init__.py or twisted/plugins/__init__.py in this project: Twisted finds plugin modules
in every twisted/plugins directory on sys.path).
"""
from twisted.application.reactors import Reactor

fastreactor = Reactor(
    "fastreactor",
    "fastreactor.twisted",
    "fastreactor's compiled (Cython) event loop with Twisted's reactor interfaces",
)
