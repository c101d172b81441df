"""devd.doctor.env_values: which variables of an env file look like secrets."""

from __future__ import annotations

import pytest

from devd.doctor.env_values import secret_looking


def test_plain_settings_are_not_secrets() -> None:
    """URLs without a password, words, ports, flags, hostnames, a project name: plain."""
    text = (
        "# settings\nVITE_API_URL=http://localhost:8000\nNODE_ENV=development\nDEBUG=1\n"
        "PORT=8000\nDJANGO_ALLOWED_HOSTS=localhost 127.0.0.1 [::1]\n"
        "STACK_NAME=full-stack-fastapi-project\nDOMAIN=localhost\n\nexport LANG=C.UTF-8\n"
    )
    assert secret_looking(text) == []


@pytest.mark.parametrize(
    "line",
    [
        "SECRET_KEY=change-me",
        "GITHUB_TOKEN=x",
        "POSTGRES_PASSWORD=postgres",
        "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
        "export API_KEY='abc'",
        "DATABASE_URL=postgres://app:hunter2@db:5432/app",
        "STRIPE=sk4eC39HqLyjWDarjtT1zdp7dcXq",
        "SENTRY_DSN=https://abc@o1.ingest.sentry.io/1",
    ],
)
def test_secret_names_password_urls_and_random_values_are_secrets(line: str) -> None:
    assert secret_looking(line + "\n") == [line.removeprefix("export ").partition("=")[0]]


def test_an_empty_secret_is_not_one() -> None:
    """A secret-named variable left empty (a template's) holds nothing to leak."""
    assert secret_looking("SECRET_KEY=\nSMTP_PASSWORD=''\n") == []
