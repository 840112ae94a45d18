"""Property-based fuzzing of every route from the served OpenAPI document: never a 5xx.

Runs in-process (Lambda handlers behind a WSGI adapter) against the moto tables; bounded examples.
Operator routes are called with a valid operator token from the local issuer, so fuzzing reaches their
validation and storage rather than stopping at the 401.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.functions.lambda_wsgi import lambda_wsgi_app
from tests.support.operator import Operator

APP = lambda_wsgi_app()


# Loading the document needs no AWS; the calls below do (the local_aws fixture).
schema = schemathesis.openapi.from_wsgi("/openapi.json", APP)


@pytest.mark.usefixtures("local_aws")
@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case: schemathesis.Case, operator: Operator) -> None:
    secured = bool(case.operation.definition.raw.get("security"))
    response = case.call(headers=operator.headers()) if secured else case.call()
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
    # JSON, or a content type the operation documents for that status (the export's JSON Lines / CSV)
    content_type = (response.headers.get("content-type") or [""])[0]
    documented = case.operation.definition.raw["responses"].get(str(response.status_code), {})
    allowed = {"application/json", *documented.get("content", {})}
    assert content_type.split(";")[0] in {a.split(";")[0] for a in allowed}, (content_type, allowed)
    if response.status_code >= 400:
        assert "error" in response.json(), response.text[:300]
    if secured:
        # The token holds every operator scope: fuzzing must get past authentication.
        assert response.status_code not in (401, 403), (case.formatted_path, response.text[:300])
