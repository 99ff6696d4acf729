"""An e-mail backend whose server is down: a real SMTP failure as the alert service sees it."""

from django.core.mail.backends.base import BaseEmailBackend


class BrokenBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise ConnectionRefusedError("the SMTP server is down")
