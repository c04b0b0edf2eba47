"""Mail: compose alert emails, queue them in the site state, deliver them by SMTP or to an outbox folder."""

from pvs6_cloud.alerting.notify.queue import deliver_pending, queue_mail
from pvs6_cloud.alerting.notify.transport import (
    MailTransport,
    OutboxTransport,
    OutgoingMail,
    SmtpTransport,
    transport_from_config,
)

__all__ = [
    "MailTransport",
    "OutboxTransport",
    "OutgoingMail",
    "SmtpTransport",
    "deliver_pending",
    "queue_mail",
    "transport_from_config",
]
