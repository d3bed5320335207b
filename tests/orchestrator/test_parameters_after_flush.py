"""Site parameter definitions survive a flush: a transactional test (or ``manage.py
flush``) empties the rows data migrations wrote; ``post_migrate`` puts the definitions the
services read back, so the next test or the next reconciliation does not fail on a key."""

import pytest
from django.core.management import call_command

from orchestrator.parameters import definitions
from plants.models import SiteParameter
from plants.selectors import site_parameter


@pytest.mark.django_db(transaction=True)
def test_a_flush_keeps_every_definition_the_services_read():
    SiteParameter.objects.filter(key="reconciliation.qty_tolerance_pct").update(default_value="2.5")
    # as a transactional test flushes (ids are not reused: other tests cache by id)
    call_command("flush", interactive=False, verbosity=0, reset_sequences=False)
    keys = {row["key"] for row in definitions()}
    assert {"reconciliation.qty_tolerance_pct", "gate.timeout.default"} <= keys
    assert set(SiteParameter.objects.values_list("key", flat=True)) >= keys
    # the shipped default again (the edited row went with the flush), parsed by its type
    assert str(site_parameter(key="reconciliation.qty_tolerance_pct")) == "0.5"
