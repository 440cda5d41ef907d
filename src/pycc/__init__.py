"""pycc: a call center soft switch in one Python package.

Phones register to it over SIP; it routes and bridges their calls, anchors their media,
runs IVR menus, distributes calls to agents and dials customers for them. See DESIGN.md
for the layers; the public entry points are :class:`pycc.switch.Switch` and :mod:`pycc.ua`.
"""

from pycc import accel as _accel

# Before any other module of pycc: the compiled SIP core, when it was built from these sources.
_accel.install()

__version__ = "0.1.0"
