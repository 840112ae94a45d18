"""The node command line of the local issuer (infra/local_oidc/server.mjs) from its settings."""

from __future__ import annotations

import shutil
import subprocess

from infra.local_oidc.settings import REPO_ROOT, SERVER, LocalOidcSettings


def node_command(s: LocalOidcSettings, redirect_uris: list[str], extra_clients: list[str]) -> list[str]:
    node = shutil.which("node")
    if node is None:
        raise SystemExit("configuration error: node is required for the local issuer (Node 20+)")
    cmd = [node, str(SERVER), "--host", s.host, "--port", str(s.port), "--client", s.client_id]
    for client in extra_clients:
        cmd += ["--client", client]
    for uri in redirect_uris:
        cmd += ["--redirect-uri", uri]
    cmd += ["--username", s.operator_username, "--access-token-ttl", str(s.access_token_ttl_s)]
    cmd += ["--scope-prefix", s.scope_prefix]
    if s.jwks_file:
        cmd += ["--jwks-file", str(s.jwks_file)]
    return cmd


def ensure_node_modules() -> None:
    if (REPO_ROOT / "node_modules" / "oidc-provider").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("configuration error: npm is required to install oidc-provider")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=REPO_ROOT, check=True, timeout=600)
