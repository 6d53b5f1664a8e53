"""Notifications to the on-call people: PagerDuty, Opsgenie, Slack and a generic webhook."""

from trunkguard.notify.base import Alert, NotifyError, Sender
from trunkguard.notify.dispatcher import Dispatcher

__all__ = ["Alert", "Dispatcher", "NotifyError", "Sender"]
