from django.apps import AppConfig


class CascadesConfig(AppConfig):
    name = "cascades"
    verbose_name = "Cascades"
