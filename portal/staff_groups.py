"""The staff groups and what each may do in the admin.

Applied by data migrations (`sync_staff_groups`). A model that a later
migration creates is skipped until then: the migration that adds a model
named here calls `sync_staff_groups` again.
"""

GROUP_PERMISSIONS = {
    "Partner operations": {
        "portal.partner": ["view", "add", "change"],
        "portal.tierchange": ["view", "add"],
        "portal.partnerstatuschange": ["view"],
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
