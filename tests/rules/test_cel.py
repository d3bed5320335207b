def test_duration_parameters_reach_rules_as_seconds():
    import datetime as dt

    from rules.cel import to_cel_value

    assert to_cel_value({"scrap.spike_window": dt.timedelta(minutes=15)}) == {
        "scrap.spike_window": 900.0
    }
