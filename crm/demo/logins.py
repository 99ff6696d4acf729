"""The demo logins, one per role, so a visitor can see what each role can and cannot do.

Idempotent and quiet: a user is saved only when something differs, and the password is reset only when it no
longer matches, so a second ``load_demo`` changes nothing (and pays for at most one hash check per login).
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from crm.roles import BOOKKEEPER, OWNER, STAFF

# (username, password, group or None for the superuser, what the role is for)
DEMO_LOGINS = (
    ("bookkeeper", "bookkeeper-demo", BOOKKEEPER, "review queues, failed syncs, invoices and payments"),
    ("staff", "staff-demo", STAFF, "contacts, quotes, pushing quotes and sending invoices"),
    ("owner", "owner-demo", OWNER, "dashboards, reads everything"),
    ("admin", "admin-demo", None, "connects QuickBooks, settings, everything"),
)


def logins_ensure() -> list[tuple[str, str, str]]:
    """Create or repair the four demo users; returns (username, password, role) rows for printing."""
    User = get_user_model()
    groups = {group.name: group for group in Group.objects.filter(name__in=[BOOKKEEPER, STAFF, OWNER])}
    missing = {BOOKKEEPER, STAFF, OWNER} - set(groups)
    if missing:
        raise LookupError(f"groups {sorted(missing)} are missing: run `manage.py migrate` first")
    rows = []
    for username, password, group_name, role in DEMO_LOGINS:
        user, created = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
        changed = created or not user.check_password(password)
        if changed:
            user.set_password(password)
        wanted = {"is_staff": True, "is_active": True, "is_superuser": group_name is None}
        for field, value in wanted.items():
            if getattr(user, field) != value:
                setattr(user, field, value)
                changed = True
        if changed:
            user.save()
        if group_name and not user.groups.filter(pk=groups[group_name].pk).exists():
            user.groups.add(groups[group_name])
        rows.append((username, password, group_name or "superuser", role))
    return rows
