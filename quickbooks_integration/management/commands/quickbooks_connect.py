"""Connect to the emulator without a browser: the real OAuth flow, with this command playing the user.

Emulator only (DESIGN §3). It asks services/connection.py for the authorization URL (state bound to a local
session dict), GETs the emulator's consent page, submits its Connect form, reads the redirect (not following
it: the web server may not be running) and hands the callback's parameters to the same `connect_complete` the
callback view uses. The consent page is driven with plain `requests`: it is the user's browser, not a QBO call.
"""

import re
from html import unescape
from urllib.parse import parse_qsl, urlsplit

import requests
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from quickbooks_integration import conf
from quickbooks_integration.qbo.errors import OAuthFlowError
from quickbooks_integration.services.connection import connect_complete, connect_start


def _form_fields(html: str) -> dict[str, str]:
    fields = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            fields[unescape(name.group(1))] = unescape(value.group(1)) if value else ""
    return fields


class Command(BaseCommand):
    help = "Run the QuickBooks OAuth flow non-interactively against the emulator (QUICKBOOKS_ENVIRONMENT=emulator)."

    def add_arguments(self, parser):
        parser.add_argument("--username", help="superuser recorded as the one who connected (default: the first)")
        parser.add_argument("--realm", help="emulator company to choose on the consent page")

    def handle(self, *args, **options):
        if not conf.is_emulator():
            raise CommandError("quickbooks_connect only runs with QUICKBOOKS_ENVIRONMENT=emulator.")
        users = get_user_model().objects.filter(is_superuser=True)
        user = users.filter(username=options["username"]).first() if options["username"] else users.first()
        if user is None:
            raise CommandError("No superuser to connect as: run createsuperuser first.")
        session: dict = {}
        timeout = conf.http_timeout()
        authorize_url = connect_start(session=session, user=user)
        page = requests.get(authorize_url, allow_redirects=False, timeout=timeout)
        if page.status_code == 302:
            location = page.headers["Location"]  # the emulator runs with --auto-approve
        else:
            if page.status_code != 200:
                raise CommandError(f"The emulator's consent page answered HTTP {page.status_code}.")
            form = _form_fields(page.text)
            form["decision"] = "connect"
            if options["realm"]:
                form["realmId"] = options["realm"]
            parts = urlsplit(authorize_url)
            answer = requests.post(
                f"{parts.scheme}://{parts.netloc}{parts.path}", data=form, allow_redirects=False, timeout=timeout
            )
            if answer.status_code != 302:
                raise CommandError(f"The emulator's consent form answered HTTP {answer.status_code}.")
            location = answer.headers["Location"]
        params = dict(parse_qsl(urlsplit(location).query))
        try:  # no transaction here: the tokens commit before the first API call (STYLE §2)
            result = connect_complete(session=session, params=params, user=user)
        except OAuthFlowError as exc:
            raise CommandError(str(exc.message)) from None
        connection = result.connection
        self.stdout.write(self.style.SUCCESS(result.message))
        self.stdout.write(
            f"Company: {connection.company_name} (realm {connection.company_id}), status {connection.status}"
        )
