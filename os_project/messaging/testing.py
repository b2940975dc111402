"""A publisher for tests: set ``OS_MESSAGE_PUBLISHER = "messaging.testing.recording_publisher"``."""
from oficina_common.messaging import RecordingPublisher

PUBLISHED = RecordingPublisher()


def recording_publisher() -> RecordingPublisher:
    return PUBLISHED
