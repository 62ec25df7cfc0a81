"""The staff groups and what each may do in the admin, over models and over other users.

Applied by data migrations (`sync_staff_groups`). A model that a later
migration creates is skipped until then: the migration that adds a model
named here calls `sync_staff_groups` again.
"""

GROUP_PERMISSIONS = {
    "Partner operations": {
        "portal.partner": ["view", "add", "change"],
        "portal.tierchange": ["view", "add"],
        "portal.partnerstatuschange": ["view"],
        "portal.event": ["view"],
        "portal.user": ["view", "add", "change"],
        "cascades.customer": ["view", "add", "change"],
        "cascades.engagement": ["view", "add", "change"],
        "cascades.cascadestructure": ["view", "add", "change"],
        "cascades.signal": ["view"],
        "cascades.reward": ["view"],
        "cascades.clawback": ["view"],
        "cascades.evaluationrun": ["view"],
        "attestations.outcomeagreement": ["view", "add", "change"],
        "attestations.outcome": ["view", "add", "change"],
        "attestations.signingrequest": ["view", "change"],
        "attestations.attestation": ["view", "change"],
        "attestations.verification": ["view", "add"],
        "attestations.decision": ["view"],
        "payouts.ledgerentry": ["view"],
        "payouts.statement": ["view"],
    },
    "Finance": {
        "portal.partner": ["view"],
        "portal.tierchange": ["view"],
        "portal.partnerstatuschange": ["view"],
        "portal.event": ["view"],
        "cascades.customer": ["view"],
        "cascades.engagement": ["view"],
        "cascades.cascadestructure": ["view"],
        "cascades.reward": ["view"],
        "cascades.clawback": ["view"],
        "payouts.ledgerentry": ["view", "add"],
        "payouts.statementperiod": ["view", "add", "change"],
        "payouts.payoutrun": ["view", "add", "change"],
        "payouts.payoutrunstatuschange": ["view"],
        "payouts.statement": ["view"],
        "payouts.statementline": ["view"],
    },
    "Risk": {
        "portal.partner": ["view", "change"],
        "portal.tierchange": ["view"],
        "portal.partnerstatuschange": ["view"],
        "portal.event": ["view"],
        "cascades.customer": ["view"],
        "cascades.engagement": ["view"],
        "cascades.signal": ["view"],
        "cascades.reward": ["view"],
        "cascades.clawback": ["view"],
        "cascades.evaluationrun": ["view"],
        "attestations.outcomeagreement": ["view", "change"],
        "attestations.outcome": ["view", "change"],
        "attestations.signingrequest": ["view", "change"],
        "attestations.attestation": ["view", "change"],
        "attestations.verification": ["view", "add"],
        "attestations.decision": ["view"],
        "payouts.ledgerentry": ["view"],
    },
}


# Rights over other people's accounts (object level; portal.admin.UserAdmin applies them).
# The model permissions above only open the user admin: Partner operations may view, add
# and change users, Finance and Risk may not touch users at all. Within that:
#
# - A superuser manages every account: staff rights, groups, permissions, email, password.
# - Other staff (whatever permissions a group gives them) manage partner users only, that is
#   users who are neither staff nor superuser: they create them (email, name, partner,
#   role; no password) and edit PARTNER_USER_FIELDS_STAFF_MAY_EDIT. Staff accounts, their
#   own included, are not listed to them and cannot be opened, created or changed.
# - Nobody but a superuser sets or unsets a password or changes an email address, in the
#   user admin or in allauth's email address admin (which is superuser-only): a forgotten
#   password is reset by its user, through allauth, at the address the account has. A
#   partner user created by Partner operations sets a first password that way.
# - Staff change their own password, email and two-factor settings on allauth's pages.
PARTNER_USER_FIELDS_STAFF_MAY_EDIT = ["full_name", "partner", "partner_role", "is_active"]
PARTNER_USER_FIELDS_STAFF_MAY_CREATE = ["email", "full_name", "partner", "partner_role"]


def staff_may_manage_user(*, staff, user) -> bool:
    """May `staff` (who holds the user admin's permissions) see and manage `user` at all?"""
    return staff.is_superuser or not (user.is_staff or user.is_superuser)


def users_staff_may_manage(users, *, staff):
    """The accounts of the queryset `users` that `staff` may see and manage."""
    return users if staff.is_superuser else users.filter(is_staff=False, is_superuser=False)


def staff_may_set_credentials(*, staff) -> bool:
    """May `staff` set passwords, email addresses, staff rights, groups and permissions?"""
    return staff.is_superuser


def sync_staff_groups(apps, schema_editor=None):
    """Create the groups and give each exactly the permissions listed above."""
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after `migrate` finishes; make sure the
    # ones named here exist already on a fresh database.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, models in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = []
        for label, actions in models.items():
            app_label, model = label.split(".")
            try:
                apps.get_model(app_label, model)
            except LookupError:
                continue
            for action in actions:
                wanted.append(
                    Permission.objects.get(
                        content_type__app_label=app_label,
                        codename=f"{action}_{model}",
                    )
                )
        group.permissions.set(wanted)


def remove_staff_groups(apps, schema_editor=None):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUP_PERMISSIONS).delete()
