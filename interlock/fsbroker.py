"""kombu's filesystem transport (the demo's broker without a server), with whole messages.

kombu writes a message into its final file name in place, and a worker that lists the
folder at that moment reads an empty or half-written file: ``JSONDecodeError``, and the
worker's consumer dies ("Unrecoverable error"), dropping every task it had reserved. With
a worker that polls often and reserves ahead (issue 12), a 13-minute demo run lost its
worker three times that way. Here a message is written under a name no reader looks at
and renamed into place (a rename is atomic within a folder); a file that still cannot be
read (written by another client) is logged and skipped instead of stopping the worker.

Selected by ``CELERY_BROKER_TRANSPORT`` in the settings whenever the broker URL is
``filesystem://``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

logger = logging.getLogger(__name__)


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put ``payload`` onto ``queue``: written aside, then renamed into place."""
        # The same name as kombu's (readers take files in name order: by time).
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        folder = self.data_folder_out
        partial = os.path.join(folder, f".{uuid.uuid4().hex}.partial")  # no ".<queue>.msg"
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, os.path.join(folder, name))
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.remove(partial)
            raise ChannelError(f"Cannot add file {name!r} to directory {folder!r}") from exc

    def _get(self, queue):
        """The next message of ``queue``; an unreadable file is logged and skipped."""
        while True:
            try:
                return super()._get(queue)
            except ValueError as exc:  # kombu has already taken the file out of the queue
                logger.error("skipped an unreadable message file in queue %s: %s", queue, exc)


class Transport(filesystem.Transport):
    Channel = Channel
