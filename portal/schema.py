"""OpenAPI (drf-spectacular) descriptions of the APIs' bearer tokens."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class OpsTokenScheme(OpenApiAuthenticationExtension):
    target_class = "portal.tokens.BearerOpsTokenAuthentication"
    name = "opsToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A staff service token from `manage.py issue_ops_token NAME`.",
        }
