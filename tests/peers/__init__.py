"""Harnesses that start real SIP peers on 127.0.0.1 for the integration tests and benchmarks.

``sipp`` (SIPp scenarios from ``tests/scenarios``), ``baresip`` (a softphone that plays and
records WAV audio), ``kamailio`` (a stateful proxy to compare pycc with), ``sipvicious``
(extension and password scans), ``audio`` (test tones and their measurement) and ``net``
(free loopback ports). ``tests/conftest.py`` puts ``tests/`` on ``sys.path``, so tests import
them as ``peers.sipp`` and so on.
"""
