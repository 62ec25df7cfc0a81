from django.apps import AppConfig


class AttestationsConfig(AppConfig):
    name = "attestations"

    def ready(self):
        from attestations import changes  # the models it names are loaded only now

        changes.connect()
