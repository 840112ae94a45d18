"""CI's deployment checks: `osls package` works offline, cfn-lint passes, the packaged tables create in moto,
and the template keeps the promises of serverless.yml (least privilege, throttling, TTL, indexes, and
operator access: the JWT authorizer checks what the functions check, from functions/operator_access.json)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest

from functions.app import openapi_document
from functions.operator_auth import operator_access
from infra.local_aws import create_resources, packaged_template, start_local_aws
from infra.local_aws.tables import osls

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("package")
    osls(["package", "--stage", "ci", "--region", "us-east-1", "--package", str(out)], ROOT, timeout=540)
    return out


@pytest.fixture(scope="module")
def template(packaged: Path) -> dict[str, Any]:
    return packaged_template(packaged / "cloudformation-template-update-stack.json")


def _resources(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def test_cfn_lint_passes(packaged: Path) -> None:
    cfn_lint = shutil.which("cfn-lint") or str(Path(sys.executable).parent / "cfn-lint")
    result = subprocess.run(
        [
            cfn_lint,
            "--ignore-checks",
            "W3005",
            "--",
            str(packaged / "cloudformation-template-update-stack.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_package_holds_the_data_files_the_functions_read(packaged: Path) -> None:
    """Not only Python: the operator access definition and the default assistant are read at run time."""
    (archive,) = packaged.glob("*.zip")
    with zipfile.ZipFile(archive) as package:
        names = set(package.namelist())
        assert {
            "functions/operator_access.json",
            "functions/default_assistant.json",
            "functions/handlers/assistants.py",
        } <= names
        shipped = json.loads(package.read("functions/default_assistant.json"))
    assert shipped == json.loads((ROOT / "functions" / "default_assistant.json").read_text(encoding="utf-8"))
    assert not any("__pycache__" in n or n.startswith(("agent_worker/", "web/", "tests/")) for n in names)


def test_packaged_tables_create_in_moto(template: dict[str, Any]) -> None:
    local = start_local_aws(port=0)
    try:
        names = create_resources(local.url, stage="ci", template=template)
        assert sorted(names) == [
            "voicecall-ci-assistants",
            "voicecall-ci-idempotency",
            "voicecall-ci-rate-limits",
            "voicecall-ci-session-events",
            "voicecall-ci-sessions",
        ]
        client = boto3.client("dynamodb", endpoint_url=local.url, region_name="us-east-1")
        sessions = client.describe_table(TableName="voicecall-ci-sessions")["Table"]
        assert [i["IndexName"] for i in sessions["GlobalSecondaryIndexes"]] == ["by_start_day"]
        events = client.describe_table(TableName="voicecall-ci-session-events")["Table"]
        assert [i["IndexName"] for i in events["GlobalSecondaryIndexes"]] == ["by_kind_day"]
        ttl = client.describe_time_to_live(TableName="voicecall-ci-session-events")["TimeToLiveDescription"]
        assert ttl["AttributeName"] == "expires_at"
        assistants = client.describe_table(TableName="voicecall-ci-assistants")["Table"]
        assert [(k["AttributeName"], k["KeyType"]) for k in assistants["KeySchema"]] == [
            ("assistant_id", "HASH"),
            ("version", "RANGE"),
        ]
        (by_name,) = assistants["GlobalSecondaryIndexes"]
        assert by_name["IndexName"] == "by_name"
        assert [k["AttributeName"] for k in by_name["KeySchema"]] == ["listed", "name_key"]
    finally:
        local.stop()


def test_functions_run_python312_with_their_own_least_privilege_role(template: dict[str, Any]) -> None:
    functions = _resources(template, "AWS::Lambda::Function")
    assert len(functions) == 7
    roles = _resources(template, "AWS::IAM::Role")
    used_roles = set()
    for name, function in functions.items():
        props = function["Properties"]
        assert props["Runtime"] == "python3.12"
        role = props["Role"]["Fn::GetAtt"][0]
        assert role.startswith(name.removesuffix("LambdaFunction")), (name, role)
        used_roles.add(role)
        env = props["Environment"]["Variables"]
        assert env["SESSIONS_TABLE"] == "voicecall-ci-sessions"
    assert len(used_roles) == 7
    for role in used_roles:
        for policy in roles[role]["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                for action in actions:
                    assert "*" not in action and action != "dynamodb:Scan", (role, action)
                if any(a.startswith("dynamodb:") for a in actions):
                    assert statement["Resource"] != "*", (role, statement)
    api_docs = json.dumps(roles["ApiDocsIamRoleLambdaExecution"])
    assert "dynamodb" not in api_docs and "ssm" not in api_docs
    # The worker's signed assistant route needs the session-log secret, and nothing but that from SSM.
    assistants = json.dumps(roles["AssistantsIamRoleLambdaExecution"])
    assert "AssistantsTable" in assistants and "session-log-secret" in assistants
    assert "livekit-api-secret" not in assistants and "access-code" not in assistants
    for role in roles.values():
        assert "cognito" not in json.dumps(role).lower(), "no function administers the operators' pool"


def test_http_api_is_throttled_and_cors_configured(template: dict[str, Any]) -> None:
    stage = template["Resources"]["HttpApiStage"]["Properties"]
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
    assert stage["RouteSettings"]["POST /token"]["ThrottlingBurstLimit"] > 0
    cors = template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]
    assert "X-Signature" in cors["AllowHeaders"]
    assert "Idempotency-Key" in cors["AllowHeaders"], "POST /assistants from the web app"
    assert {"PUT", "DELETE"} <= set(cors["AllowMethods"]), "the web app edits and archives assistants"
    assert "X-Next-Cursor" in cors["ExposeHeaders"], "the web app reads the export's next cursor"
    routes = {r["Properties"]["RouteKey"] for r in _resources(template, "AWS::ApiGatewayV2::Route").values()}
    assert routes == {
        "POST /token",
        "POST /sessions/{session_id}/events",
        "POST /sessions/{session_id}/claim",
        "POST /sessions/{session_id}/recording",
        "GET /calls/{session_id}/transcript",
        "GET /sessions",
        "GET /sessions/{session_id}",
        "GET /sessions/{session_id}/recording",
        "DELETE /sessions/{session_id}",
        "GET /export/sessions",
        "GET /analytics",
        "GET /assistants",
        "POST /assistants",
        "GET /assistants/{assistant_id}",
        "PUT /assistants/{assistant_id}",
        "DELETE /assistants/{assistant_id}",
        "POST /assistants/{assistant_id}/restore",
        "GET /assistants/{assistant_id}/versions",
        "GET /assistants/{assistant_id}/versions/{version}",
        "GET /agent/assistants/{assistant_id}/versions/{version}",
        "POST /voice-preview",
        "POST /livekit/webhook",
        "GET /openapi.json",
        "$default",
    }


def test_the_recordings_bucket_is_private_encrypted_and_expires(template: dict[str, Any]) -> None:
    (bucket,) = [
        b["Properties"]
        for b in _resources(template, "AWS::S3::Bucket").values()
        if "BucketName" in b["Properties"]
    ]
    assert bucket["BucketName"] == "voicecall-ci-recordings"
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    (expiry,) = bucket["LifecycleConfiguration"]["Rules"]
    assert expiry["ExpirationInDays"] == 90 and expiry["Prefix"] == "recordings/"


def test_tables_have_ttl_and_one_item_per_event(template: dict[str, Any]) -> None:
    tables = {
        t["Properties"]["TableName"]: t["Properties"]
        for t in _resources(template, "AWS::DynamoDB::Table").values()
    }
    for name, props in tables.items():
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["SSESpecification"]["SSEEnabled"] is True
        if name == "voicecall-ci-assistants":
            # Kept: calls name the versions they ran. Point-in-time recovery like the other kept tables.
            assert "TimeToLiveSpecification" not in props
            assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
            continue
        assert props["TimeToLiveSpecification"]["Enabled"] is True
    keys = [k["AttributeName"] for k in tables["voicecall-ci-session-events"]["KeySchema"]]
    assert keys == ["session_id", "event_id"]


def test_deployed_stages_read_secrets_at_run_time() -> None:
    assert "${ssm:" not in (ROOT / "serverless.yml").read_text()
    printed = osls(
        [
            "print",
            "--stage",
            "prod",
            "--region",
            "eu-west-1",
            "--format",
            "json",
            "--path",
            "provider.environment",
        ],
        ROOT,
    )
    env = json.loads(printed[printed.index("{") :])
    assert env["SECRETS_SSM_PREFIX"] == "/voicecall/prod"
    assert env["LIVEKIT_API_SECRET"] == "" and env["SESSION_LOG_SECRET"] == "" and env["ACCESS_CODE"] == ""


def test_operator_routes_are_behind_the_jwt_authorizer_the_functions_mirror(template: dict[str, Any]) -> None:
    """The packaged authorizer, route by route, equals what functions/operator_auth.py enforces: same
    issuer and audience (one expression, in the authorizer and in every function's environment), and
    per route the scopes of functions/operator_access.json with the stage's prefix."""
    access = operator_access()
    authorizers = _resources(template, "AWS::ApiGatewayV2::Authorizer")
    assert len(authorizers) == 1
    ((authorizer_id, authorizer),) = authorizers.items()
    props = authorizer["Properties"]
    assert props["Name"] == access.authorizer and props["AuthorizerType"] == "JWT"
    assert props["IdentitySource"] == [access.identity_source]
    issuer, audience = props["JwtConfiguration"]["Issuer"], props["JwtConfiguration"]["Audience"]

    functions = _resources(template, "AWS::Lambda::Function")
    prefixes = set()
    for name, function in functions.items():
        env = function["Properties"]["Environment"]["Variables"]
        assert env["OPERATOR_ISSUER"] == issuer, name
        assert [env["OPERATOR_AUDIENCE"]] == audience, name
        prefixes.add(env["OPERATOR_SCOPE_PREFIX"])
    assert len(prefixes) == 1
    prefix = prefixes.pop()

    protected = {}
    for route in _resources(template, "AWS::ApiGatewayV2::Route").values():
        rp = route["Properties"]
        if rp.get("AuthorizationType") == "JWT":
            assert rp["AuthorizerId"] == {"Ref": authorizer_id}
            protected[rp["RouteKey"]] = rp["AuthorizationScopes"]
        else:
            assert "AuthorizerId" not in rp and rp.get("AuthorizationType", "NONE") == "NONE", rp
    assert protected == {key: access.required_scopes(key, prefix) for key in access.routes}
    assert set(protected) >= {"GET /sessions", "GET /sessions/{session_id}", "GET /analytics"}

    # The OpenAPI document declares the same routes with the same scope names.
    documented = {
        f"{method.upper()} {path}": op["security"]
        for path, item in openapi_document()["paths"].items()
        for method, op in item.items()
        if op.get("security")
    }
    assert documented == {key: [{"operator": access.scope_names(key)}] for key in access.routes}


def test_cognito_is_the_default_operator_issuer(template: dict[str, Any]) -> None:
    access = operator_access()
    assert template["Parameters"]["OperatorIdentityProvider"]["Default"] == "cognito"
    assert template["Conditions"]["OperatorsInCognito"] == {
        "Fn::Equals": [{"Ref": "OperatorIdentityProvider"}, "cognito"]
    }
    resources = template["Resources"]
    for name in ("OperatorUserPool", "OperatorResourceServer", "OperatorWebClient", "OperatorHostedUiDomain"):
        assert resources[name]["Condition"] == "OperatorsInCognito", name
    pool = resources["OperatorUserPool"]["Properties"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["MfaConfiguration"] == "ON"
    server = resources["OperatorResourceServer"]["Properties"]
    assert [s["ScopeName"] for s in server["Scopes"]] == [s.name for s in access.scopes.values()]
    client = resources["OperatorWebClient"]["Properties"]
    assert client["GenerateSecret"] is False and client["AllowedOAuthFlows"] == ["code"]
    assert "ALLOW_USER_PASSWORD_AUTH" not in client["ExplicitAuthFlows"]
    prefix = resources["SessionsLambdaFunction"]["Properties"]["Environment"]["Variables"][
        "OPERATOR_SCOPE_PREFIX"
    ]
    assert prefix == server["Identifier"] + "/"
    for key in access.routes:
        assert set(access.required_scopes(key, prefix)) <= set(client["AllowedOAuthScopes"])
    jwt_config = _resources(template, "AWS::ApiGatewayV2::Authorizer").popitem()[1]["Properties"][
        "JwtConfiguration"
    ]
    assert jwt_config["Issuer"] == {
        "Fn::If": [
            "OperatorsInCognito",
            {"Fn::Sub": "https://cognito-idp.${AWS::Region}.amazonaws.com/${OperatorUserPool}"},
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert jwt_config["Audience"] == [
        {"Fn::If": ["OperatorsInCognito", {"Ref": "OperatorWebClient"}, {"Ref": "AWS::NoValue"}]}
    ]


def test_another_oidc_issuer_replaces_cognito_by_stage_params() -> None:
    printed = osls(
        [
            "print",
            "--stage",
            "prod",
            "--region",
            "eu-west-1",
            "--format",
            "json",
            "--param=operatorIdentityProvider=oidc",
            "--param=operatorIssuer=https://login.example.com/",
            "--param=operatorAudience=voicecall-web",
        ],
        ROOT,
    )
    config = json.loads(printed[printed.index("{") :])
    authorizer = config["provider"]["httpApi"]["authorizers"][operator_access().authorizer]
    assert authorizer["issuerUrl"] == "https://login.example.com/"
    audience = authorizer["audience"]
    assert (audience if isinstance(audience, list) else [audience]) == ["voicecall-web"]
    env = config["provider"]["environment"]
    assert (env["OPERATOR_ISSUER"], env["OPERATOR_AUDIENCE"]) == (
        "https://login.example.com/",
        "voicecall-web",
    )
    assert config["resources"]["Parameters"]["OperatorIdentityProvider"]["Default"] == "oidc"
    scopes = [
        event["httpApi"]["authorizer"]["scopes"]
        for event in config["functions"]["analytics"]["events"]
        if isinstance(event["httpApi"], dict)
    ]
    assert scopes == [["analytics:read"]]
