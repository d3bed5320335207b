"""Admin of the rules app: where the governance board authors, reviews and rolls out rules.

Nothing here writes around :mod:`rules.services`. A version is created and edited through
the authoring services, and every governance step (run tests, simulate, submit, approve,
reject, publish, widen, schedule, roll back, new draft) is a button that calls the same
service as the API, with ``request.user`` as the actor. Everything else (rule sets,
activations, scheduled publishes, simulation reports) is read-only, and no governed
record can be deleted here.
"""

from . import governed, versions  # noqa: F401 - importing registers the ModelAdmins
