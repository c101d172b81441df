"""devd.config: sources, precedence and one-line errors naming source, key and expectation."""

from __future__ import annotations

from pathlib import Path

import pytest

from devd import config
from devd.errors import ConfigError


@pytest.fixture
def root(tmp_path: Path) -> Path:
    project = tmp_path / "shop"
    project.mkdir()
    return project


def write(root: Path, name: str, text: str) -> None:
    (root / name).write_text(text)


def load(root: Path, env: dict[str, str] | None = None, **flags: object) -> config.ProjectConfig:
    return config.load(root, flags or None, environ=env or {})


def error(root: Path, env: dict[str, str] | None = None, **flags: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load(root, env, **flags)
    message = str(caught.value)
    assert "\n" not in message
    return message


# --- sources and precedence ------------------------------------------------------------------


def test_no_configuration_gives_one_app_service(root: Path) -> None:
    """Without any configuration: service ``app`` from ./Dockerfile, context ``.``, named
    after the directory, shipped defaults for the rest."""
    project = load(root)
    assert project.root == root.resolve()
    assert project.name == "shop"
    assert list(project.services) == ["app"]
    app = project.services["app"]
    assert app.context == root.resolve()
    assert app.dockerfile == root.resolve() / "Dockerfile"
    assert app.target is None
    assert app.code_action == "rebuild"
    assert app.ports == ()
    assert project.debounce_ms == 50
    assert project.log_format == "auto"
    assert "**/.git" in project.ignore
    assert "**/4913" in project.ignore


@pytest.mark.parametrize(
    ("dirname", "expected"),
    [
        ("My Shop", "my-shop"),
        ("Shop_API.v2", "shop_api-v2"),
        ("--web--", "web"),
        ("a_ b", "a-b"),
        ("a___b", "a-b"),
        ("a__b--c", "a__b--c"),
        ("x" * 200, "x" * 100),
    ],
)
def test_project_name_from_directory_is_lowercased_and_cleaned(
    tmp_path: Path, dirname: str, expected: str
) -> None:
    """The directory name becomes a usable image/container name: lowercase, cleaned."""
    project_dir = tmp_path / dirname
    project_dir.mkdir()
    assert load(project_dir).name == expected


def test_project_name_that_cleans_to_nothing_is_an_error(root: Path) -> None:
    """A ``project`` with no letters or digits is an error naming its source."""
    write(root, "devd.toml", 'project = "!!!"\n')
    message = error(root)
    assert message.startswith("devd.toml: project:")
    assert "'!!!'" in message


def test_devd_toml(root: Path) -> None:
    """devd.toml sets project values and services; paths resolve against the root."""
    write(
        root,
        "devd.toml",
        'project = "Shop"\ndebounce_ms = 200\n'
        "[services.api]\n"
        'context = "api"\ndockerfile = "docker/Dockerfile.dev"\ntarget = "Dev"\n'
        'ports = ["8000:8000", "127.0.0.1:9229:9229/udp"]\ncode_action = "sync-restart"\n'
        'command = "python -m api --reload"\nbuild_args = { PY = "3.12" }\n'
        "stop_timeout = 2.5\n",
    )
    project = load(root)
    assert project.name == "shop"
    assert project.source == "devd.toml"
    assert project.debounce_ms == 200
    api = project.services["api"]
    assert api.context == root.resolve() / "api"
    assert api.dockerfile == root.resolve() / "api" / "docker" / "Dockerfile.dev"
    assert api.target == "Dev"
    assert api.code_action == "sync-restart"
    assert api.command == ("python", "-m", "api", "--reload")
    assert dict(api.build_args) == {"PY": "3.12"}
    assert api.stop_timeout == 2.5
    assert [(p.host, p.container, p.protocol, p.host_ip) for p in api.ports] == [
        (8000, 8000, "tcp", None),
        (9229, 9229, "udp", "127.0.0.1"),
    ]


def test_pyproject_tool_devd(root: Path) -> None:
    """``[tool.devd]`` in pyproject.toml is read when there is no devd.toml."""
    write(
        root,
        "pyproject.toml",
        '[project]\nname = "shop"\n\n[tool.devd]\nproject = "from-pyproject"\n'
        '[tool.devd.services.web]\ncode_action = "sync"\n',
    )
    project = load(root)
    assert project.name == "from-pyproject"
    assert project.source == "pyproject.toml [tool.devd]"
    assert project.services["web"].code_action == "sync"


def test_pyproject_without_tool_devd_is_no_configuration(root: Path) -> None:
    """A pyproject.toml with no ``[tool.devd]`` leaves the defaults."""
    write(root, "pyproject.toml", '[project]\nname = "shop"\n')
    project = load(root)
    assert list(project.services) == ["app"]
    assert project.name == "shop"


def test_devd_toml_wins_over_pyproject(root: Path) -> None:
    """When both exist, devd.toml is the configuration and pyproject.toml is not read."""
    write(root, "devd.toml", 'project = "from-devd-toml"\n')
    write(root, "pyproject.toml", '[tool.devd]\nproject = "from-pyproject"\nbogus = 1\n')
    project = load(root)
    assert project.name == "from-devd-toml"
    assert project.source == "devd.toml"


def test_environment_overrides_the_file_with_nested_keys(root: Path) -> None:
    """``DEVD_SERVICES__API__CODE_ACTION`` overrides that key only; the rest of the file
    stays."""
    write(root, "devd.toml", '[services.api]\ncode_action = "rebuild"\ntarget = "dev"\n')
    env = {
        "DEVD_SERVICES__API__CODE_ACTION": "sync",
        "DEVD_DEBOUNCE_MS": "300",
        "DEVD_SERVICES__API__PORTS": '["8080:80"]',
        "UNRELATED": "x",
    }
    project = load(root, env)
    api = project.services["api"]
    assert api.code_action == "sync"
    assert api.target == "dev"
    assert api.ports[0].host == 8080
    assert project.debounce_ms == 300


def test_environment_variable_names_are_case_insensitive(root: Path) -> None:
    """``devd_log_format`` works like ``DEVD_LOG_FORMAT``."""
    assert load(root, {"devd_log_format": "json"}).log_format == "json"


def test_flags_override_environment_and_file(root: Path) -> None:
    """Command-line flags beat DEVD_* variables, which beat the file; ``None`` is no flag."""
    write(root, "devd.toml", 'log_format = "console"\nverbose = false\n')
    env = {"DEVD_LOG_FORMAT": "json", "DEVD_VERBOSE": "true"}
    assert load(root, env).log_format == "json"
    project = load(root, env, log_format="console", verbose=None)
    assert project.log_format == "console"
    assert project.verbose is True


def test_ignore_in_the_file_replaces_the_shipped_list(root: Path) -> None:
    """Setting ``ignore`` replaces devd's whole list (it is not merged)."""
    write(root, "devd.toml", 'ignore = ["**/*.bak"]\n')
    assert load(root).ignore == ("**/*.bak",)


def test_missing_project_directory_is_an_error(tmp_path: Path) -> None:
    """A project directory that does not exist is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(tmp_path / "nope", environ={})


# --- invalid values: source, dotted key, what is expected ------------------------------------


@pytest.mark.parametrize("port", ["80:99999", "abc", "0:80", "8000"])
def test_bad_port(root: Path, port: str) -> None:
    """A port that is not HOST:CONTAINER in 1-65535 names file, key and the expected form."""
    write(root, "devd.toml", f'[services.api]\nports = ["{port}"]\n')
    message = error(root)
    assert message.startswith("devd.toml: services.api.ports:")
    assert "HOST:CONTAINER" in message
    assert repr(port) in message


def test_unknown_key_lists_the_known_ones(root: Path) -> None:
    """A misspelt top-level key is an error listing the keys there are."""
    write(root, "devd.toml", "debounce = 10\n")
    message = error(root)
    assert message.startswith("devd.toml: debounce: unknown key")
    assert "debounce_ms" in message
    assert "services" in message


def test_unknown_service_key_lists_the_service_keys(root: Path) -> None:
    """A misspelt service key lists the service keys."""
    write(root, "devd.toml", '[services.api]\ndockerfle = "Dockerfile"\n')
    message = error(root)
    assert message.startswith("devd.toml: services.api.dockerfle: unknown key")
    assert "dockerfile" in message
    assert "code_action" in message


def test_bad_code_action(root: Path) -> None:
    """``code_action`` outside rebuild/sync-restart/sync names the choices and the value."""
    write(root, "devd.toml", '[services.api]\ncode_action = "hot"\n')
    message = error(root)
    assert message.startswith("devd.toml: services.api.code_action:")
    assert "'rebuild'" in message
    assert "'sync-restart'" in message
    assert "'hot'" in message


def test_bad_toml_syntax_names_the_file_and_line(root: Path) -> None:
    """A TOML syntax error names the file and the line."""
    write(root, "devd.toml", 'project = "shop"\n[services.api\n')
    message = error(root)
    assert message.startswith("devd.toml: not valid TOML")
    assert "line 2" in message


def test_bad_toml_in_pyproject_names_pyproject(root: Path) -> None:
    """A syntax error in pyproject.toml is reported against pyproject.toml."""
    write(root, "pyproject.toml", "[tool.devd\n")
    message = error(root)
    assert message.startswith("pyproject.toml: not valid TOML")
    assert "line 1" in message


def test_tool_devd_that_is_not_a_table(root: Path) -> None:
    """``tool.devd = 3`` is an error naming pyproject.toml and the key."""
    write(root, "pyproject.toml", "[tool]\ndevd = 3\n")
    assert error(root).startswith("pyproject.toml: tool.devd: expected a table")


def test_negative_stop_timeout(root: Path) -> None:
    """``stop_timeout`` below 0 names the key and the bound."""
    write(root, "devd.toml", "[services.api]\nstop_timeout = -1\n")
    message = error(root)
    assert message.startswith("devd.toml: services.api.stop_timeout:")
    assert "greater than or equal to 0" in message
    assert "-1" in message


def test_stop_signal_is_read_and_checked(root: Path) -> None:
    """``stop_signal`` sets what stops a service's container (the image's when unset); a
    signal the engine would refuse names the key."""
    write(root, "devd.toml", '[services.api]\nstop_signal = "SIGINT"\n[services.web]\n')
    services = load(root).services
    assert (services["api"].stop_signal, services["web"].stop_signal) == ("SIGINT", None)
    write(root, "devd.toml", '[services.api]\nstop_signal = "SIGNOPE"\n')
    assert error(root).startswith(
        'devd.toml: services.api.stop_signal: expected a signal such as "SIGINT"'
    )


def test_invalid_service_name(root: Path) -> None:
    """A service name that cannot name a container is rejected with the rule."""
    write(root, "devd.toml", '[services."my api"]\n')
    message = error(root)
    assert message.startswith("devd.toml: services:")
    assert "'my api'" in message
    assert "letter or digit" in message


@pytest.mark.parametrize("name", ["a..b", "api_", "a.-b", "a_-b", "a___b", "x" * 101])
def test_service_name_that_cannot_be_part_of_an_image_name(root: Path, name: str) -> None:
    """A service name the engine would refuse in ``devd-PROJECT-SERVICE:latest`` (checked
    against ``docker tag``: invalid reference format) is rejected at start, naming it."""
    write(root, "devd.toml", f'[services."{name}"]\n')
    message = error(root)
    assert message.startswith("devd.toml: services:")
    assert f"{name!r} cannot be part of an image name" in message


def test_error_in_pyproject_names_the_table(root: Path) -> None:
    """An invalid value in ``[tool.devd]`` names pyproject.toml as the source."""
    write(root, "pyproject.toml", '[tool.devd]\nlog_format = "xml"\n')
    message = error(root)
    assert message.startswith("pyproject.toml [tool.devd]: log_format:")
    assert "'xml'" in message


def test_invalid_json_in_an_environment_variable(root: Path) -> None:
    """A DEVD_* list/dict value that is not JSON names the variable and shows an example."""
    message = error(root, {"DEVD_SERVICES__APP__PORTS": '["8000:8000"'})
    assert message.startswith("environment DEVD_SERVICES__APP__PORTS: services.app.ports:")
    assert "expected JSON" in message


def test_non_json_list_in_an_environment_variable(root: Path) -> None:
    """A list key set to plain text (not JSON) names the variable, the key and the value."""
    message = error(root, {"DEVD_IGNORE": "*.bak", "DEVD_DEBOUNCE_MS": "10"})
    assert message.startswith("environment DEVD_IGNORE: ignore: expected JSON")
    assert "'*.bak'" in message


def test_invalid_environment_value_names_the_variable(root: Path) -> None:
    """A bad value from the environment names the DEVD_* variable, not the file."""
    write(root, "devd.toml", '[services.api]\ncode_action = "rebuild"\n')
    message = error(root, {"DEVD_SERVICES__API__CODE_ACTION": "instant"})
    assert message.startswith("environment DEVD_SERVICES__API__CODE_ACTION:")
    assert "services.api.code_action" in message
    assert "'instant'" in message


def test_invalid_environment_integer(root: Path) -> None:
    """A non-integer ``DEVD_DEBOUNCE_MS`` names the variable and the value."""
    message = error(root, {"DEVD_DEBOUNCE_MS": "soon"})
    assert message.startswith("environment DEVD_DEBOUNCE_MS: debounce_ms:")
    assert "'soon'" in message


def test_invalid_flag_value_names_the_command_line(root: Path) -> None:
    """A bad flag value is reported against the command line."""
    message = error(root, log_format="xml")
    assert message.startswith("command line: log_format:")


# --- the builder ---------------------------------------------------------------------------


def test_builder_is_auto_unless_the_project_or_a_service_says_otherwise(root: Path) -> None:
    """``builder`` at the top sets every service's; a service's own wins; default auto."""
    assert load(root).services["app"].builder == "auto"
    write(
        root,
        "devd.toml",
        'builder = "classic"\n[services.web]\n[services.api]\nbuilder = "buildkit"\n'
        'build_network = "host"\n',
    )
    services = load(root).services
    assert (services["web"].builder, services["api"].builder) == ("classic", "buildkit")
    assert (services["web"].build_network, services["api"].build_network) == (None, "host")


def test_devd_builder_in_the_environment_sets_the_projects_builder(root: Path) -> None:
    """``DEVD_BUILDER`` overrides the file's project-wide builder."""
    write(root, "devd.toml", 'builder = "buildkit"\n')
    assert load(root, {"DEVD_BUILDER": "classic"}).services["app"].builder == "classic"


def test_compose_services_take_the_projects_builder(root: Path) -> None:
    """A compose project's services are built with devd's ``builder``; ``build.network``
    is the network of their RUN steps."""
    write(
        root,
        "compose.yaml",
        "services:\n  web:\n    build:\n      context: .\n      network: host\n",
    )
    (root / "Dockerfile").write_text("FROM scratch\n")
    web = load(root, {"DEVD_BUILDER": "classic"}).services["web"]
    assert (web.builder, web.build_network) == ("classic", "host")


@pytest.mark.parametrize(
    ("text", "env", "where"),
    [
        ('builder = "kaniko"\n', {}, "devd.toml: builder:"),
        ('[services.app]\nbuilder = "v2"\n', {}, "devd.toml: services.app.builder:"),
        ("", {"DEVD_BUILDER": "docker"}, "environment DEVD_BUILDER: builder:"),
    ],
)
def test_an_unknown_builder_names_the_key_and_the_choices(
    root: Path, text: str, env: dict[str, str], where: str
) -> None:
    """An unknown ``builder`` is one line naming the source and key, the choices, the value."""
    write(root, "devd.toml", text)
    message = error(root, env)
    assert message.startswith(where), message
    assert "'auto', 'buildkit' or 'classic'" in message


def test_dependency_action_from_devd_toml_pyproject_and_environment(root: Path) -> None:
    """``dependency_action`` is ``rebuild`` unless a service says ``exec`` (devd.toml,
    ``[tool.devd]`` or ``DEVD_SERVICES__NAME__DEPENDENCY_ACTION``); other values are one line."""
    assert load(root).services["app"].dependency_action == "rebuild"
    write(root, "pyproject.toml", '[tool.devd.services.web]\ndependency_action = "exec"\n')
    assert load(root).services["web"].dependency_action == "exec"
    write(root, "devd.toml", '[services.web]\ndependency_action = "rebuild"\n')
    env = {"DEVD_SERVICES__WEB__DEPENDENCY_ACTION": "exec"}
    assert load(root, env).services["web"].dependency_action == "exec"
    write(root, "devd.toml", '[services.web]\ndependency_action = "install"\n')
    with pytest.raises(ConfigError, match=r"devd.toml: services.web.dependency_action: .*'exec'"):
        load(root)


# --- build secrets and SSH agents ------------------------------------------------------------


def test_secrets_and_ssh(root: Path) -> None:
    """``secrets`` of a service: each from a file (relative to the project) or a variable;
    ``ssh``: ``default`` (SSH_AUTH_SOCK at build time) or ``ID=SOCKET``."""
    write(
        root,
        "devd.toml",
        "[services.app.secrets]\n"
        'pip_token = { file = "secrets/pip.txt" }\n'
        'npm = { env = "NPM_TOKEN" }\n'
        "[services.app]\n"
        'ssh = ["default", "deploy=/run/deploy.sock"]\n',
    )
    app = load(root).services["app"]
    assert app.secrets == (
        config.BuildSecret(
            "pip_token",
            "devd.toml: services.app.secrets.pip_token",
            file=root.resolve() / "secrets/pip.txt",
        ),
        config.BuildSecret("npm", "devd.toml: services.app.secrets.npm", env="NPM_TOKEN"),
    )
    assert app.ssh == (
        config.SshAgent("default"),
        config.SshAgent("deploy", Path("/run/deploy.sock")),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[services.app.secrets]\ntok = { file = "a", env = "B" }\n',
            'devd.toml: services.app.secrets.tok: expected one of file = "PATH" or '
            'env = "VARIABLE"',
        ),
        (
            "[services.app.secrets]\ntok = {}\n",
            'devd.toml: services.app.secrets.tok: expected one of file = "PATH" or '
            'env = "VARIABLE"',
        ),
        (
            '[services.app.secrets]\ntok = { path = "a" }\n',
            "devd.toml: services.app.secrets.tok.path: unknown key",
        ),
        (
            '[services.app]\nssh = ["deploy="]\n',
            "devd.toml: services.app.ssh: ssh 'deploy=': expected ID=SOCKET, the agent's "
            "socket after '='",
        ),
        (
            '[services.app.secrets]\n"-x" = { env = "A" }\n',
            "devd.toml: services.app.secrets: secret id '-x': expected a letter or digit",
        ),
    ],
)
def test_bad_secrets_and_ssh_are_one_line(root: Path, text: str, expected: str) -> None:
    """A secret with both or neither source, an unknown key in it, an ssh entry without its
    socket, a bad id: one line naming devd.toml and the key."""
    write(root, "devd.toml", text)
    assert error(root).startswith(expected)
