"""The predictive dialer (pds): decides how many customers a campaign dials for its agents.

A campaign's skill group has agents; the dialer places calls so that each customer who answers
reaches an idle agent within 2 seconds, keeping agents busy and abandonment under the
campaign's limit (3 % by default, over a rolling window and over the day).

The decision parts are pure: no asyncio, sockets, database or clock; time is passed in as
``now`` (seconds). :mod:`~pycc.pds.stats` holds the live measurements (`DialerStats`: answer
rate, answer delay, handle time, abandonment), fed with every call outcome;
:mod:`~pycc.pds.pacing` the dial modes (`Pacer`: preview, progressive, VICIdial's RATIO and
ADAPT methods as baselines, and the model-based predictive pacer) and the `DialerState` they
read; :mod:`~pycc.pds.simulate` a discrete-event simulation that runs the same pacers on a
simulated clock, and :mod:`~pycc.pds.simulate_command` the ``pycc campaign simulate`` command
on top of it. The package's other modules keep campaign contacts and results, map call progress
to results, detect answering machines, and run the live dialer service that ties these to the
router and the ACD.
"""
