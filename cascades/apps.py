from django.apps import AppConfig


class CascadesConfig(AppConfig):
    name = "cascades"
    verbose_name = "Cascades"

    def ready(self):
        from cascades import dirty  # the models it names are loaded only now

        dirty.connect()
