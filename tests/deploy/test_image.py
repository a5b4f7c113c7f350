"""The container image, offline: no container engine runs here or in CI, so these check what a
build or a pod would otherwise find broken. The Dockerfile is read with the `dockerfile`
package (BuildKit's own parser): its stages, user, entrypoint, the gen/ stubs made exactly as
the Makefile makes them, the build context, and how the Deployments run the image."""

from __future__ import annotations

import functools
import importlib.util
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import dockerfile
import pytest
import yaml

from tests.deploy.kustomize import K8S, OVERLAYS, Doc, named, of_kind, render

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "python:3.11-slim"
SERVICES = ("membership", "billing", "notify", "erasure")

Stage = tuple[dockerfile.Command, ...]


@functools.cache
def stages() -> tuple[Stage, ...]:
    """The Dockerfile's instructions, one tuple per stage (each starts with its FROM)."""
    commands = dockerfile.parse_file(str(ROOT / "Dockerfile"))
    assert commands[0].cmd.upper() == "FROM", "an instruction before the first FROM"
    starts = [i for i, command in enumerate(commands) if command.cmd.upper() == "FROM"]
    ends = [*starts[1:], len(commands)]
    return tuple(tuple(commands[start:end]) for start, end in zip(starts, ends, strict=True))


def instructions(stage: Stage, name: str) -> list[dockerfile.Command]:
    return [command for command in stage if command.cmd.upper() == name]


def shell_commands(stage: Stage) -> list[str]:
    """The stage's RUN lines split at `&&`, whitespace normalised."""
    return [
        " ".join(part.split())
        for run in instructions(stage, "RUN")
        for part in run.value[0].split("&&")
    ]


def env(stage: Stage) -> dict[str, str]:
    values = [command.value for command in instructions(stage, "ENV")]
    return {k: v for value in values for k, v in zip(value[::2], value[1::2], strict=True)}


def workdir(stage: Stage) -> str:
    return instructions(stage, "WORKDIR")[-1].value[0]


@functools.cache
def makefile() -> tuple[dict[str, str], dict[str, list[str]]]:
    """The Makefile's variables and each target's recipe lines (continuations joined)."""
    lines = (ROOT / "Makefile").read_text().replace("\\\n", " ").splitlines()
    variables: dict[str, str] = {}
    recipes: dict[str, list[str]] = {}
    target = None
    for line in lines:
        if line.startswith("\t") and target:
            recipes[target].append(" ".join(line.split()))
        elif ":=" in line or "?=" in line:
            name, _, value = line.partition("=")
            variables[name.rstrip(":? ")] = value.strip()
        elif ":" in line and not line.startswith(("#", ".", " ")):
            target = line.split(":")[0]
            recipes[target] = []
    return variables, recipes


def as_in_image(recipe_line: str, build_workdir: str) -> list[str]:
    """A Makefile recipe line as the image's build runs it: the venv's python is on PATH
    there, the shell finds the protos, and the checkout is the WORKDIR."""
    variables, _ = makefile()
    protos = variables["PROTOS"].removeprefix("$(shell ").removesuffix(")")
    line = (
        recipe_line.replace("$(BIN)/", "")
        .replace("$(PROTOS)", f"$({protos})")
        .replace("$(CURDIR)", build_workdir)
        .replace("$$", "$")
    )
    return [" ".join(part.split()) for part in line.split("&&")]


def test_two_stages_on_the_same_python() -> None:
    build, final = stages()
    assert build[0].value == (BASE_IMAGE, "AS", "build")
    # The venv copied from the build stage links to that stage's interpreter path.
    assert final[0].value == (BASE_IMAGE,)


def test_gen_is_generated_exactly_as_the_makefile_does() -> None:
    build, _ = stages()
    _, recipes = makefile()
    # `touch $@` is the Makefile's stamp, nothing the image needs.
    steps = [
        command
        for line in recipes["$(GEN_STAMP)"]
        if line != "touch $@"
        for command in as_in_image(line, workdir(build))
    ]
    assert any("grpc_tools.protoc" in step for step in steps)
    commands = shell_commands(build)
    assert any(commands[i : i + len(steps)] == steps for i in range(len(commands))), (
        f"the Dockerfile does not run the Makefile's {steps}"
    )
    (pth,) = [line for line in recipes["$(STAMP)"] if "kontingent-gen.pth" in line]
    assert as_in_image(pth, workdir(build))[0] in commands


def test_grpc_tools_is_the_dev_extras_and_leaves_before_the_copy() -> None:
    build, _ = stages()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (requirement,) = [
        dep
        for dep in pyproject["project"]["optional-dependencies"]["dev"]
        if dep.startswith("grpcio-tools")
    ]
    commands = shell_commands(build)
    install = next(i for i, c in enumerate(commands) if requirement in shlex.split(c))
    protoc = next(i for i, c in enumerate(commands) if "grpc_tools.protoc" in c)
    uninstall = commands.index("pip uninstall --yes grpcio-tools")
    assert install < protoc < uninstall


def test_final_stage_copies_the_venv_and_gen_to_the_same_paths() -> None:
    build, final = stages()
    (venv,) = [c.split()[-1] for c in shell_commands(build) if c.startswith("python -m venv ")]
    copies = {
        tuple(command.value)
        for command in instructions(final, "COPY")
        if "--from=build" in command.flags
    }
    # Same paths: the venv's scripts and the .pth name them.
    assert copies == {(venv, venv), (f"{workdir(build)}/gen", f"{workdir(build)}/gen")}
    (entrypoint,) = instructions(final, "ENTRYPOINT")
    assert entrypoint.value[0] == f"{venv}/bin/python"


def test_runs_as_the_numeric_non_root_user_of_the_deployments() -> None:
    _, final = stages()
    user = instructions(final, "USER")[-1].value[0]
    uid, _, gid = user.partition(":")
    # Numeric: the kubelet cannot check runAsNonRoot against a user name.
    assert uid.isdigit() and gid.isdigit(), user
    assert int(uid) != 0 and int(gid) != 0
    for overlay in OVERLAYS:
        for service in SERVICES:
            pod = named(render(overlay), "Deployment", service)["spec"]["template"]["spec"]
            context = pod["securityContext"]
            assert (context["runAsUser"], context["runAsGroup"]) == (int(uid), int(gid))


def test_writes_go_to_the_emptydirs_only() -> None:
    _, final = stages()
    variables = env(final)
    # The root filesystem is read-only: no __pycache__, data under DATA_DIR.
    assert variables["PYTHONDONTWRITEBYTECODE"] == "1"
    for overlay in OVERLAYS:
        docs = render(overlay)
        for service in SERVICES:
            pod = named(docs, "Deployment", service)["spec"]["template"]["spec"]
            config = named(docs, "ConfigMap", f"{service}-config")["data"]
            assert config["DATA_DIR"] == variables["DATA_DIR"]
            mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
            volumes = {volume["name"]: volume for volume in pod["volumes"]}
            for path in (variables["DATA_DIR"], "/tmp"):
                assert "emptyDir" in volumes[mounts[path]], f"{service}: {path}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_deployment_runs_its_own_service_module(overlay: str) -> None:
    _, final = stages()
    (entrypoint,) = instructions(final, "ENTRYPOINT")
    # Exec form: no shell, and SIGTERM goes to Python itself.
    assert entrypoint.json
    assert not instructions(final, "CMD")
    for service in SERVICES:
        container = named(render(overlay), "Deployment", service)["spec"]["template"]["spec"][
            "containers"
        ][0]
        # A `command` would replace the entrypoint.
        assert "command" not in container, service
        argv = [*entrypoint.value, *container["args"]]
        assert argv[1:] == ["-m", f"services.{service}"], argv
        assert importlib.util.find_spec(f"services.{service}.__main__"), service


def overlay_image(overlay: str) -> str:
    kustomization = yaml.safe_load((K8S / "overlays" / overlay / "kustomization.yaml").read_text())
    (image,) = kustomization["images"]
    assert image["newTag"] not in ("", "latest"), overlay
    return f"{image['name']}:{image['newTag']}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_runs_the_one_image_at_the_overlays_tag(overlay: str) -> None:
    expected = overlay_image(overlay)
    deployments: list[Doc] = of_kind(render(overlay), "Deployment")
    assert {d["metadata"]["name"] for d in deployments} == set(SERVICES)
    for deployment in deployments:
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == expected, deployment["metadata"]["name"]


def dockerignore_includes() -> list[str]:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    # Everything out first, then only what the build copies back in: nothing else (the
    # developer's .venv, data, local secrets) reaches the build context.
    assert lines[0] == "*"
    return [line[1:] for line in lines if line.startswith("!")]


def test_build_context_is_exactly_what_the_build_copies() -> None:
    build, _ = stages()
    sources = {
        source
        for command in instructions(build, "COPY")
        if not any(flag.startswith("--from") for flag in command.flags)
        for source in command.value[:-1]
    }
    assert sources == set(dockerignore_includes())


def test_the_package_built_from_the_context_holds_every_file_under_its_packages(
    tmp_path: Path,
) -> None:
    # `pip install .` in the build stage: a file the wheel leaves out (package-data in
    # pyproject.toml) is missing in the image only, where the service then fails at start.
    packages = [name for name in dockerignore_includes() if (ROOT / name / "__init__.py").exists()]
    for name in dockerignore_includes():
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    backend = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["build-backend"]
    subprocess.run(
        [sys.executable, "-c", f"import {backend} as b; b.build_wheel('dist')"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    packaged = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        path.relative_to(tmp_path).as_posix()
        for package in packages
        for path in (tmp_path / package).rglob("*")
        if path.is_file()
    }
    assert packages and expected
    assert sorted(expected - packaged) == []
