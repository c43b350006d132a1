"""Headers everywhere, input sanity, CSRF and Origin checks, safe redirects, configuration refusals."""

from __future__ import annotations

import pytest
from factories import csrf_token, login, make_operator, make_user

from sakskydd.config import ConfigError, Settings
from sakskydd.web.redirects import is_safe_path

pytestmark = pytest.mark.db


@pytest.mark.parametrize("path", ["/logga-in", "/finns-inte", "/static/css/app.css", "/health"])
def test_security_headers_on_every_response(client, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "max-age" in response.headers["Strict-Transport-Security"]
    if not path.startswith("/static"):
        assert response.headers["Cache-Control"] == "no-store"


def test_error_page_is_generic_with_correlation_id(client):
    response = client.get("/finns-inte")
    body = response.get_data(as_text=True)
    assert response.status_code == 404
    assert response.headers["X-Request-Id"] in body
    assert "Traceback" not in body


@pytest.mark.parametrize("query", ["/logga-in?x=%00", "/logga-in?x=%ff%fe"])
def test_nul_and_invalid_utf8_give_400(client, query):
    assert client.get(query).status_code == 400


def test_nul_in_form_body_gives_400(client):
    token = csrf_token(client, "/logga-in")
    response = client.post("/logga-in", data={"csrf_token": token, "username": "a\x00b", "password": "x"})
    assert response.status_code == 400


def test_post_without_csrf_token_is_refused(client):
    assert client.post("/logga-in", data={"username": "a", "password": "b"}).status_code == 400


def test_foreign_origin_is_refused(client):
    token = csrf_token(client, "/logga-in")
    response = client.post(
        "/logga-in",
        data={"csrf_token": token, "username": "a", "password": "b"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    response = client.post(
        "/logga-in",
        data={"csrf_token": token, "username": "a", "password": "b"},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 403


def test_logout_is_post_only(app, client):
    login(client, make_user(app, make_operator()))
    assert client.get("/logga-ut").status_code == 405
    assert client.get("/").status_code == 200


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/konto", True),
        ("//evil.example", False),
        ("https://evil.example/", False),
        ("/\\evil", False),
        ("/ok\r\nSet-Cookie: x=1", False),
        ("javascript:alert(1)", False),
        ("", False),
    ],
)
def test_safe_redirect_targets(target, safe):
    assert is_safe_path(target) is safe


def test_open_redirect_after_login_is_neutralised(app, client):
    person = make_user(app, make_operator())
    token = csrf_token(client, "/logga-in")
    client.post(
        "/logga-in",
        data={
            "csrf_token": token,
            "username": person.user.username,
            "password": person.password,
            "next": "https://evil.example/",
        },
    )
    from factories import next_code

    token = csrf_token(client, "/logga-in/kod")
    response = client.post("/logga-in/kod", data={"csrf_token": token, "code": next_code(person)})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_production_refuses_weak_secret_and_debug():
    with pytest.raises(ConfigError):
        Settings.from_env({"SAKSKYDD_ENV": "production", "SAKSKYDD_SECRET_KEY": "short"})
    strong = "x9" * 8 + "Qk3vR7mZp2Lw8YtB5nHc1JdF6gS4aE0u"
    with pytest.raises(ConfigError):
        Settings.from_env(
            {"SAKSKYDD_ENV": "production", "SAKSKYDD_SECRET_KEY": strong, "SAKSKYDD_DEBUG": "1"}
        )
    with pytest.raises(ConfigError):
        Settings.from_env(
            {
                "SAKSKYDD_ENV": "demo",
                "SAKSKYDD_DEBUG": "1",
                "SAKSKYDD_DATABASE_URL": "postgresql+psycopg://db/sakskydd",
                "SAKSKYDD_SECRET_KEY": strong,
            }
        )
    with pytest.raises(ConfigError):
        Settings.from_env(
            {
                "SAKSKYDD_ENV": "production",
                "SAKSKYDD_SECRET_KEY": strong,
                "SAKSKYDD_MAX_CLASSIFICATION": "konfidentiell",
            }
        )
    assert Settings.from_env({"SAKSKYDD_ENV": "production", "SAKSKYDD_SECRET_KEY": strong}).is_production


def test_app_refuses_to_start_without_key_file(settings):
    from sakskydd import create_app

    settings.kek_file.unlink()
    with pytest.raises(Exception, match="(?i)kek|key"):
        create_app(settings)
