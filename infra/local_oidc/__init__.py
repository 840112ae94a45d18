"""Local stand-in for the operators' OpenID Connect issuer (Cognito in production): oidc-provider (node)
with one seeded operator, started by the run command and by tests. See docs/security.md."""

from infra.local_oidc.launcher import LocalOidc, local_oidc
from infra.local_oidc.login import sign_in
from infra.local_oidc.settings import LocalOidcSettings

__all__ = ["LocalOidc", "LocalOidcSettings", "local_oidc", "sign_in"]
