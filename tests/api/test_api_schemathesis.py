"""Property-based API testing from the OpenAPI document (schemathesis, in-process over ASGI):
generated requests, valid and invalid, never cause a server error, and every response
conforms to the documented status codes, content types and schemas; invalid requests are
rejected. (Not checked: that every schema-valid request is accepted -- NHS check digits,
an organisation's own team ids, sensible time ranges and rule-set consistency are validated
beyond what JSON Schema can say, and answered 422.)

Driven per operation with hypothesis directly (schemathesis' lazy pytest loader does not run
under this pytest), bounded at 20 examples per operation."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from api_helpers import SECRET, World, settings_for
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.app import create_app
from api.settings import ApiSettings

# The live stream never ends by design; it has its own tests (test_api_stream.py).
SKIPPED = {"/alerts/stream"}
OPERATIONS = [
    (method.upper(), path)
    for path, operations in create_app(
        ApiSettings(jwt_secret=SECRET)).openapi()["paths"].items()  # type: ignore[arg-type]
    for method in operations if path not in SKIPPED
]


@pytest.fixture(scope="module")
def api_schema(world: World) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(settings_for(world.url)))


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_operation_conforms_to_the_schema(api_schema: Any, world: World, method: str,
                                          path: str) -> None:
    operation = api_schema[path][method]
    headers = world.headers("admin")

    @given(case=operation.as_strategy())
    @settings(max_examples=20, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

    check()
