"""Issue 13, production defaults: docker-compose serves HTTPS-only settings, and Django's
deployment checks pass under exactly that environment."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys

from django.conf import settings

COMPOSE = settings.BASE_DIR / "docker-compose.yml"


def _compose_default(name: str) -> str:
    match = re.search(rf"^\s+{name}: \$\{{{name}:-([^}}]*)\}}", COMPOSE.read_text(), re.M)
    assert match, f"{name} is not set in docker-compose.yml"
    return match.group(1)


def test_docker_compose_turns_https_only_settings_on_by_default() -> None:
    assert _compose_default("SECURE_HTTPS") == "1"


def test_check_deploy_is_clean_with_the_compose_environment(tmp_path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in (
            "DEBUG",
            "DJANGO_SETTINGS_MODULE",
            "ALLOW_PRIVATE_ORIGINS",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        )
    }
    env.update(
        SECURE_HTTPS=_compose_default("SECURE_HTTPS"),
        SECRET_KEY=secrets.token_urlsafe(60),
        ALLOWED_HOSTS="reviewer.example",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        REVIEWER_VAR_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="reviewer.settings",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "identified no issues" in result.stdout
