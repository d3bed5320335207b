"""The demo's filesystem broker hands out whole messages only (issue 12: a worker that
read a half-written message file died, three times in a 13-minute demo run)."""

from __future__ import annotations

import pytest
from celery import Celery
from kombu.transport import filesystem
from kombu.transport.virtual import Empty

from interlock import fsbroker


def _app(tmp_path, transport):
    folder = tmp_path / "queue"
    folder.mkdir(exist_ok=True)
    app = Celery("fsbroker-test", broker="filesystem://")
    app.conf.broker_transport = transport
    app.conf.broker_transport_options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "processed_folder": str(tmp_path),
        "control_folder": str(tmp_path / "control"),  # not ./control
    }
    return app


def _reader_arrives_mid_write(tmp_path, monkeypatch, module, transport):
    """Put one message; while it is being written, another process looks at the queue."""
    app = _app(tmp_path, transport)
    seen = []
    with app.connection_for_write() as writer, app.connection_for_read() as reader:
        channel = reader.default_channel
        real_dumps = module.dumps

        def slow_dumps(payload):
            try:
                seen.append(channel._get("interlock"))
            except Empty:
                seen.append("empty")
            except ValueError as exc:
                seen.append(exc)
            return real_dumps(payload)

        monkeypatch.setattr(module, "dumps", slow_dumps)
        writer.default_channel._put("interlock", {"body": "whole"})
        monkeypatch.setattr(module, "dumps", real_dumps)
        try:
            after = channel._get("interlock")
        except Empty:
            after = None  # the reader took the file while it was being written: lost
    return seen, after


def test_a_message_is_invisible_until_it_is_whole(tmp_path, monkeypatch):
    seen, after = _reader_arrives_mid_write(
        tmp_path, monkeypatch, fsbroker, "interlock.fsbroker:Transport"
    )
    assert seen == ["empty"]
    assert after == {"body": "whole"}


def test_kombus_own_transport_hands_out_the_half_written_file(tmp_path, monkeypatch):
    # Why the transport above exists: kombu's reader takes the file being written.
    seen = _reader_arrives_mid_write(
        tmp_path, monkeypatch, filesystem, "kombu.transport.filesystem:Transport"
    )
    seen, after = seen
    assert isinstance(seen[0], ValueError)
    assert after is None


def test_an_unreadable_file_is_skipped_not_fatal(tmp_path, caplog):
    app = _app(tmp_path, "interlock.fsbroker:Transport")
    (tmp_path / "queue" / "1_broken.interlock.msg").write_bytes(b"")
    with app.connection_for_write() as conn:
        conn.default_channel._put("interlock", {"body": "next"})
        assert conn.default_channel._get("interlock") == {"body": "next"}
        with pytest.raises(Empty):
            conn.default_channel._get("interlock")
    assert "skipped an unreadable message file" in caplog.text


def test_tasks_go_round_trip_and_no_partial_file_stays(tmp_path):
    app = _app(tmp_path, "interlock.fsbroker:Transport")
    for i in range(5):
        app.send_task("interlock.ping", args=[str(i)], queue="interlock")
    with app.connection_for_read() as conn:
        channel = conn.default_channel
        assert channel._size("interlock") == 5
        got = [channel._get("interlock")["headers"]["argsrepr"] for _ in range(5)]
    # (in name order, i.e. by the millisecond they were sent; within one, in any order)
    assert sorted(got) == [f"['{i}']" for i in range(5)]
    assert not any(p.name.endswith(".partial") for p in (tmp_path / "queue").iterdir())


def test_the_settings_choose_it_for_the_filesystem_broker():
    from django.conf import settings

    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        assert settings.CELERY_BROKER_TRANSPORT == "interlock.fsbroker:Transport"
    else:
        assert not getattr(settings, "CELERY_BROKER_TRANSPORT", None)
