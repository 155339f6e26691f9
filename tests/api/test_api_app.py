"""Settings, the command line, problem documents and the OpenAPI description."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_helpers import SECRET, World
from fastapi.testclient import TestClient

from api import cli
from api.app import create_app
from api.settings import ApiSettings, load_settings


def test_settings_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text(f'jwt_secret = "{SECRET}"\napi_port = 9001\ndatabase_url = "postgresql:///a"\n')
    monkeypatch.setenv("VIGIL_DATABASE_URL", "postgresql:///from-env")
    settings = load_settings(config, api_port=9002)
    assert settings.api_port == 9002  # flag beats file
    assert settings.database_url == "postgresql:///from-env"  # environment beats file
    assert settings.jwt_secret.get_secret_value() == SECRET
    assert SECRET not in repr(settings)


def test_short_secret_is_refused(capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_JWT_SECRET", "short")
    assert cli.main(["--port", "0"]) == 2
    assert "jwt_secret" in capsys.readouterr().err


def test_cli_prints_openapi(capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_JWT_SECRET", SECRET)
    assert cli.main(["--print-openapi"]) == 0
    assert '"/alerts/{alert_id}/acknowledge"' in capsys.readouterr().out


def test_openapi_documents_problems_and_models() -> None:
    schema = create_app(ApiSettings(jwt_secret=SECRET)).openapi()  # type: ignore[arg-type]
    assert "Problem" in schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            ok = operation["responses"].get("200") or operation["responses"].get("201") \
                or operation["responses"].get("204")
            assert ok is not None, (method, path)
            for code, response in operation["responses"].items():
                if code.startswith(("4", "5")) and path != "/healthz":
                    assert list(response["content"]) == ["application/problem+json"], (
                        method, path, code)
            if path not in ("/healthz", "/auth/token"):
                assert "401" in operation["responses"], (method, path)
            if "{patient_id}" in path or "{alert_id}" in path:
                assert "404" in operation["responses"], (method, path)


def test_unknown_route_and_method_are_problems(client: TestClient, world: World) -> None:
    missing = client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    wrong = client.delete("/alerts", headers=world.headers("alice"))
    assert wrong.status_code == 405 and wrong.json()["status"] == 405


def test_validation_problem_lists_fields(client: TestClient, world: World) -> None:
    response = client.get("/alerts?limit=0&severity=urgent", headers=world.headers("alice"))
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == "https://vigil.example/problems/invalid-request"
    assert {tuple(e["location"]) for e in problem["errors"]} == {
        ("query", "limit"), ("query", "severity", 0)}


def test_health_and_request_ids(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["database"] == "ok"
    assert len(response.headers["x-request-id"]) == 16


def test_health_reports_an_unreachable_database() -> None:
    from devstack.ports import free_port

    settings = ApiSettings(jwt_secret=SECRET,  # type: ignore[arg-type]
                           database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/x")
    with TestClient(create_app(settings)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["status"] == "unavailable"
