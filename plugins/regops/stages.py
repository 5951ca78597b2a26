"""Stages, layers and the stage configuration in `[tool.regops]` of pyproject.toml."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, field_validator

from regops.frameworks import FRAMEWORK_GROUPS, expand_framework, load_frameworks
from regops.model import SEVERITIES, STAGES

Severity = Literal["low", "medium", "high", "critical"]


class ConfigError(Exception):
    """The configuration or the options cannot be used; the message says where and why."""


class Parameters(BaseModel):
    """Values controls compare against, set for all stages and overridden per stage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed_regions: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "aws": ["eu-central-1", "eu-west-1", "eu-west-3", "eu-south-1", "eu-south-2", "eu-north-1"],
            "azure": [
                "germanywestcentral",
                "germanynorth",
                "westeurope",
                "northeurope",
                "francecentral",
                "swedencentral",
            ],
            "gcp": [
                "europe-west3",
                "europe-west10",
                "europe-west1",
                "europe-west4",
                "europe-west9",
                "europe-north1",
                "eu",
                "eur4",
            ],
        }
    )
    required_tags: list[str] = Field(
        default_factory=lambda: ["owner", "stage", "data_classification", "service", "criticality"]
    )
    cmk_required_for: list[str] = Field(default_factory=lambda: ["confidential", "cde"])
    classification_tag: str = "data_classification"
    # The classification value that marks cardholder-data-environment resources.
    cde_classification: str = "cde"
    edge_tag: str = "tier"
    edge_tag_value: str = "edge"
    # The tag naming a resource's stage: an asset (AST-001) or identity (ENV-001) of another
    # stage does not belong.
    stage_tag: str = "stage"
    # The stage's own cloud accounts, by provider (`aws`: account ids): ENV-001 fails a role
    # that lets any other account assume it. Set per stage; unset, such a role is an error.
    stage_accounts: dict[str, list[str]] = Field(default_factory=dict)
    # The OpenID Connect subjects of the stage's pipelines (globs): ENV-001 fails a role that
    # admits any other (a pull request's workflow assuming a production role). Set per stage;
    # unset, a role that admits subjects is an error.
    stage_subjects: list[str] = Field(default_factory=list)
    # CHG-001: approvals every change to a repository's branch needs, and the status checks
    # (this gate's CI job, say) it must pass.
    required_approvals: int = Field(default=1, ge=1)
    required_status_checks: list[str] = Field(default_factory=list)
    admin_ports: list[int] = Field(default_factory=lambda: [22, 3389, 5985, 5986])
    edge_ports: list[int] = Field(default_factory=lambda: [80, 443])
    audit_log_retention_days: int = 365
    backup_retention_days: int = 35
    key_rotation_max_days: dict[str, int] = Field(
        default_factory=lambda: {"aws": 365, "azure": 365, "gcp": 90}
    )
    tls_min_version: str = "1.2"
    password_min_length: int = 14
    credential_max_age_days: int = 90
    certificate_min_days: int = 30
    deprecated_runtimes: list[str] = Field(
        default_factory=lambda: [
            "python2.7",
            "python3.6",
            "python3.7",
            "python3.8",
            "nodejs12.x",
            "nodejs14.x",
            "nodejs16.x",
            "java8",
            "go1.x",
            "ruby2.7",
            "dotnetcore3.1",
            "dotnet6",
        ]
    )
    # An SSH algorithm whose name contains one of these is weak (CBC modes, RC4, 3DES, MD5, SHA-1).
    ssh_weak_algorithms: list[str] = Field(
        default_factory=lambda: ["cbc", "arcfour", "3des", "blowfish", "cast128", "md5", "sha1", "umac-64"]
    )


class AwsConfig(BaseModel):
    """Live AWS discovery for a stage: `[tool.regops.stages.<stage>.aws]`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    regions: list[str] = Field(min_length=1)
    tag_key: str = "stage"
    account_id: str | None = Field(default=None, pattern=r"^[0-9]{12}$")
    profile: str | None = None
    role_arn: str | None = None
    endpoint_url: str | None = None
    max_workers: int = Field(default=8, ge=1, le=64)


class AzureConfig(BaseModel):
    """Live Azure discovery for a stage: `[tool.regops.stages.<stage>.azure]`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subscriptions: list[str] = Field(min_length=1)
    tag_key: str = "stage"
    endpoint: str = Field(default="https://management.azure.com", pattern=r"^https://")
    # An environment variable with an ARM access token; otherwise DefaultAzureCredential.
    token_env: str | None = None
    ca_bundle: str | None = None
    max_workers: int = Field(default=8, ge=1, le=64)


class GcpConfig(BaseModel):
    """Live GCP discovery for a stage: `[tool.regops.stages.<stage>.gcp]`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: str = Field(pattern=r"^(projects|folders|organizations)/[A-Za-z0-9._:-]+$")
    label_key: str = "stage"
    endpoint: str | None = None
    # An environment variable with an OAuth access token; otherwise Application Default Credentials.
    token_env: str | None = None


class GithubConfig(BaseModel):
    """Live GitHub for a stage: `[tool.regops.stages.<stage>.github]`, the repositories whose
    branch rules CHG-001 judges."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repositories: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")]] = Field(
        min_length=1
    )
    # GitHub Enterprise Server: https://HOST/api/v3
    api_url: str = Field(default="https://api.github.com", pattern=r"^https?://")
    # The environment variable holding the token (a GitHub App installation token or a
    # fine-grained token with Administration: read).
    token_env: str = "GITHUB_TOKEN"
    # Unset: each repository's default branch.
    branch: str | None = None

    @field_validator("api_url")
    @classmethod
    def _no_token_over_plain_http(cls, value: str) -> str:
        return _https_or_loopback(value)


class GitlabConfig(BaseModel):
    """Live GitLab for a stage: `[tool.regops.stages.<stage>.gitlab]`, the projects whose branch
    rules CHG-001 judges."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Full paths, groups and subgroups included: payments/platform/infrastructure
    projects: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")]] = Field(
        min_length=1
    )
    # A self-managed instance: https://HOST/api/v4
    api_url: str = Field(default="https://gitlab.com/api/v4", pattern=r"^https?://")
    # The environment variable holding the token (read_api, a Maintainer's role).
    token_env: str = "GITLAB_TOKEN"
    # Unset: each project's default branch.
    branch: str | None = None

    @field_validator("api_url")
    @classmethod
    def _no_token_over_plain_http(cls, value: str) -> str:
        return _https_or_loopback(value)


def _https_or_loopback(url: str) -> str:
    if url.startswith("http://") and not _loopback(url):
        raise ValueError("the token would go over plain HTTP: use https:// (http:// only to 127.0.0.1)")
    return url


GitHostConfig = TypeVar("GitHostConfig", GithubConfig, GitlabConfig)


class CheckovConfig(BaseModel):
    """checkov in the same run: `[tool.regops.checkov]`; every stage, unless one says `checkov = false`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Terraform folders to scan besides the stage's plans (relative to pyproject.toml).
    directories: list[str] = Field(default_factory=list)
    checks: list[str] = Field(default_factory=list)
    skip_checks: list[str] = Field(default_factory=list)
    # Only the checks regops maps to its controls: checkov as a second opinion on them.
    only_mapped: bool = False
    # Severity of the checks regops does not map (mapped ones take their control's).
    severity: Severity = "low"
    cache_dir: str | None = None


class HostsConfig(BaseModel):
    """Hosts and TLS endpoints of a stage: `[tool.regops.stages.<stage>.hosts]`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # testinfra host specs: "ssh://user@host:22", "paramiko://…", "local://".
    targets: list[str] = Field(default_factory=list)
    ansible_inventory: str | None = None
    # Also every compute instance live discovery found for the stage, over SSH as this user.
    live_instances: bool = False
    ssh_user: str | None = None
    ssh_config: str | None = None
    ssh_identity_file: str | None = None
    sudo: bool = False
    sshd_config: str = "/etc/ssh/sshd_config"
    # "host:port", probed from where regops runs.
    tls_endpoints: list[str] = Field(default_factory=list)

    @field_serializer("targets")
    def _targets_without_passwords(self, targets: list[str]) -> list[str]:
        from regops.discovery.hosts import spec_without_password

        return [spec_without_password(spec) for spec in targets]


class StageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    plans: list[str] = Field(default_factory=list)
    # Saved inventories (inventory.json) to judge instead of calling the clouds.
    inventories: list[str] = Field(default_factory=list)
    waivers: list[str] = Field(default_factory=list)
    promotion_from: list[Literal["system", "acceptance"]] | None = None
    gate_on: Literal["all", "new"] = "all"
    anomalies: bool = False
    aws: AwsConfig | None = None
    azure: AzureConfig | None = None
    gcp: GcpConfig | None = None
    github: GithubConfig | None = None
    gitlab: GitlabConfig | None = None
    hosts: HostsConfig | None = None
    checkov: bool | None = None
    fail_on: Severity | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)


class ToolConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    evidence_dir: str = "reports"
    fail_on: Severity = "low"
    signing_key: str | None = None
    waiver_max_days: int = Field(default=90, ge=1)
    iac_repo: str | None = None
    iac_paths: list[str] = Field(default_factory=lambda: ["*.tf", "*.tfvars", "*.tf.json", "*.hcl"])
    release_tag_pattern: str = "release-production-*"
    evidence_archive: str | None = None
    archive_retention_days: int = Field(default=400, ge=1)
    anomaly_window: int = Field(default=20, ge=1)
    anomaly_min_runs: int = Field(default=5, ge=1)
    anomaly_severity: Severity = "medium"
    checkov: CheckovConfig | None = None
    item_per: Literal["resource", "control"] = "resource"
    parameters: dict[str, Any] = Field(default_factory=dict)
    stages: dict[Literal["system", "acceptance", "production"], StageConfig] = Field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    """Everything a run needs, resolved once from options and pyproject; no pytest types."""

    stage: str
    plans: tuple[Path, ...]
    evidence_dir: Path
    fail_on: str
    inventories: tuple[Path, ...] = ()
    aws: AwsConfig | None = None
    aws_endpoint: str | None = None
    azure: AzureConfig | None = None
    gcp: GcpConfig | None = None
    github: GithubConfig | None = None
    gitlab: GitlabConfig | None = None
    hosts: HostsConfig | None = None
    # Resolved: folders absolute, cache_dir set; None when checkov does not run for the stage.
    checkov: CheckovConfig | None = None
    signing_key: Path | None = None
    waivers: tuple[Path, ...] = ()
    waiver_max_days: int = 90
    iac_repo: Path | None = None
    iac_range: str | None = None
    iac_paths: tuple[str, ...] = ("*.tf", "*.tfvars", "*.tf.json", "*.hcl")
    release_tag_pattern: str = "release-production-*"
    review_export: Path | None = None
    promotion_from: tuple[str, ...] = ()
    promotion_archive: Path | None = None
    evidence_archive: str | None = None
    archive_retention_days: int = 400
    baseline: str | None = None
    gate_on: str = "all"
    anomalies: bool = False
    anomaly_window: int = 20
    anomaly_min_runs: int = 5
    anomaly_severity: str = "medium"
    controls: tuple[str, ...] = ()
    frameworks: tuple[str, ...] = ()
    # "resource": a pytest item per control and resource; "control": one item per control.
    item_per: str = "resource"
    parameters: Parameters = field(default_factory=Parameters)
    rootdir: Path = Path(".")

    def selects(self, control_id: str, frameworks: Mapping[str, Any]) -> bool:
        if self.controls and control_id not in self.controls:
            return False
        return not self.frameworks or bool(set(self.frameworks) & set(frameworks))

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "plans": [str(p) for p in self.plans],
            "inventories": [str(p) for p in self.inventories],
            "aws": self.aws.model_dump() if self.aws else None,
            "aws_endpoint": self.aws_endpoint,
            "azure": self.azure.model_dump() if self.azure else None,
            "gcp": self.gcp.model_dump() if self.gcp else None,
            "github": self.github.model_dump() if self.github else None,
            "gitlab": self.gitlab.model_dump() if self.gitlab else None,
            "hosts": self.hosts.model_dump() if self.hosts else None,
            "checkov": self.checkov.model_dump() if self.checkov else None,
            "signing_key": str(self.signing_key) if self.signing_key else None,
            "waivers": [str(p) for p in self.waivers],
            "waiver_max_days": self.waiver_max_days,
            "iac_repo": str(self.iac_repo) if self.iac_repo else None,
            "iac_range": self.iac_range,
            "iac_paths": list(self.iac_paths),
            "release_tag_pattern": self.release_tag_pattern,
            "review_export": str(self.review_export) if self.review_export else None,
            "promotion_from": list(self.promotion_from),
            "promotion_archive": str(self.promotion_archive) if self.promotion_archive else None,
            "evidence_archive": self.evidence_archive,
            "archive_retention_days": self.archive_retention_days,
            "baseline": self.baseline,
            "gate_on": self.gate_on,
            "anomalies": self.anomalies,
            "anomaly_window": self.anomaly_window,
            "anomaly_min_runs": self.anomaly_min_runs,
            "anomaly_severity": self.anomaly_severity,
            "evidence_dir": str(self.evidence_dir),
            "fail_on": self.fail_on,
            "controls": list(self.controls),
            "frameworks": list(self.frameworks),
            "item_per": self.item_per,
            "parameters": self.parameters.model_dump(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Settings:
        return cls(
            stage=data["stage"],
            plans=tuple(Path(p) for p in data["plans"]),
            inventories=tuple(Path(p) for p in data["inventories"]),
            aws=AwsConfig(**data["aws"]) if data.get("aws") else None,
            aws_endpoint=data.get("aws_endpoint"),
            azure=AzureConfig(**data["azure"]) if data.get("azure") else None,
            gcp=GcpConfig(**data["gcp"]) if data.get("gcp") else None,
            github=GithubConfig(**data["github"]) if data.get("github") else None,
            gitlab=GitlabConfig(**data["gitlab"]) if data.get("gitlab") else None,
            hosts=HostsConfig(**data["hosts"]) if data.get("hosts") else None,
            checkov=CheckovConfig(**data["checkov"]) if data.get("checkov") else None,
            signing_key=Path(data["signing_key"]) if data.get("signing_key") else None,
            waivers=tuple(Path(p) for p in data["waivers"]),
            waiver_max_days=data["waiver_max_days"],
            iac_repo=Path(data["iac_repo"]) if data.get("iac_repo") else None,
            iac_range=data.get("iac_range"),
            iac_paths=tuple(data["iac_paths"]),
            release_tag_pattern=data["release_tag_pattern"],
            review_export=Path(data["review_export"]) if data.get("review_export") else None,
            promotion_from=tuple(data["promotion_from"]),
            promotion_archive=Path(data["promotion_archive"]) if data.get("promotion_archive") else None,
            evidence_archive=data.get("evidence_archive"),
            archive_retention_days=data["archive_retention_days"],
            baseline=data.get("baseline"),
            gate_on=data["gate_on"],
            anomalies=data["anomalies"],
            anomaly_window=data["anomaly_window"],
            anomaly_min_runs=data["anomaly_min_runs"],
            anomaly_severity=data["anomaly_severity"],
            evidence_dir=Path(data["evidence_dir"]),
            fail_on=data["fail_on"],
            controls=tuple(data["controls"]),
            frameworks=tuple(data["frameworks"]),
            item_per=data["item_per"],
            parameters=Parameters(**data["parameters"]),
        )


def parse_stage(value: str) -> str:
    stage = value.strip().lower()
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {value!r}; choose one of: {', '.join(STAGES)}")
    return stage


def parse_severity(value: str) -> str:
    severity = value.strip().lower()
    if severity not in SEVERITIES:
        raise ConfigError(f"unknown severity {value!r}; choose one of: {', '.join(SEVERITIES)}")
    return severity


def parse_framework(value: str) -> str:
    if not expand_framework(value):
        known = ", ".join([*load_frameworks(), *FRAMEWORK_GROUPS])
        raise ConfigError(f"unknown framework {value!r}; choose one of: {known}")
    return value.strip().lower()


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        problems.append(f"{where}: {item['msg']}")
    return "; ".join(problems)


def _require_file(kind: str, path: Path) -> None:
    if path.is_dir():
        raise ConfigError(f"{kind} file {path} is a directory")
    if not path.is_file():
        raise ConfigError(f"{kind} file not found: {path}")


def load_tool_config(pyproject: Path | None) -> ToolConfig:
    if pyproject is None or not pyproject.is_file():
        return ToolConfig()
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{pyproject}: cannot read [tool.regops]: {exc}") from None
    tool = data.get("tool", {})
    section = tool.get("regops", {}) if isinstance(tool, dict) else None
    if not isinstance(section, dict):
        raise ConfigError(f"{pyproject}: [tool.regops] is not a table")
    try:
        return ToolConfig(**section)
    except ValidationError as exc:
        raise ConfigError(f"{pyproject}: invalid [tool.regops]: {_describe(exc)}") from None


def _azure(config: AzureConfig | None, base: Path) -> AzureConfig | None:
    """The stage's Azure settings; REGOPS_AZURE_ENDPOINT and REGOPS_AZURE_CA_BUNDLE override
    pyproject (a proxy, a sovereign cloud, a recorded API)."""
    if config is None:
        return None
    endpoint = os.environ.get("REGOPS_AZURE_ENDPOINT") or config.endpoint
    ca_bundle = os.environ.get("REGOPS_AZURE_CA_BUNDLE") or config.ca_bundle
    if ca_bundle is not None:
        ca_bundle = str((base / ca_bundle).expanduser().resolve())
        if not Path(ca_bundle).is_file():
            raise ConfigError(f"Azure CA bundle not found: {ca_bundle}")
    try:
        return AzureConfig(**{**config.model_dump(), "endpoint": endpoint, "ca_bundle": ca_bundle})
    except ValidationError as exc:
        raise ConfigError(f"REGOPS_AZURE_ENDPOINT: {_describe(exc)}") from None


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _git_host(config: GitHostConfig | None, variable: str) -> GitHostConfig | None:
    """A stage's GitHub or GitLab settings; `variable` in the environment overrides the API's
    address (the demo's recorded API, a test's)."""
    url = os.environ.get(variable)
    if config is None or not url:
        return config
    try:
        return config.model_validate({**config.model_dump(), "api_url": url})
    except ValidationError as exc:
        raise ConfigError(f"{variable}: {_describe(exc)}") from None


def _gcp(config: GcpConfig | None) -> GcpConfig | None:
    """The stage's GCP settings; REGOPS_GCP_ENDPOINT overrides the Cloud Asset API endpoint."""
    if config is None:
        return None
    endpoint = os.environ.get("REGOPS_GCP_ENDPOINT") or config.endpoint
    return config.model_copy(update={"endpoint": endpoint})


def resolve(
    *,
    stage: str | None,
    ini_stage: str | None = None,
    plans: Sequence[str],
    inventories: Sequence[str] = (),
    aws_endpoint: str | None = None,
    signing_key: str | None = None,
    waivers: Sequence[str] = (),
    iac_repo: str | None = None,
    iac_range: str | None = None,
    review_export: str | None = None,
    promotion_archive: str | None = None,
    evidence_archive: str | None = None,
    baseline: str | None = None,
    anomalies: bool = False,
    checkov: bool = False,
    evidence_dir: str | None,
    fail_on: str | None,
    controls: Sequence[str],
    frameworks: Sequence[str],
    item_per: str | None = None,
    rootdir: Path,
    pyproject: Path | None,
) -> Settings:
    """Settings for a run: command line over environment over pyproject; raises ConfigError."""
    stage = stage or os.environ.get("REGOPS_STAGE") or ini_stage or None
    if stage is None:
        raise ConfigError("no stage given: use --stage, ini regops_stage or REGOPS_STAGE")
    stage = parse_stage(stage)
    tool = load_tool_config(pyproject)
    stage_config = tool.stages.get(stage, StageConfig())  # type: ignore[call-overload]
    base = pyproject.parent if pyproject is not None else rootdir
    if plans:
        plan_paths = tuple(Path(p).expanduser().resolve() for p in plans)
    else:
        plan_paths = tuple((base / p).resolve() for p in stage_config.plans)
    aws = stage_config.aws
    aws_endpoint = aws_endpoint or os.environ.get("REGOPS_AWS_ENDPOINT") or None
    if aws is not None and aws_endpoint:
        aws = aws.model_copy(update={"endpoint_url": aws_endpoint})
    azure, gcp = _azure(stage_config.azure, base), _gcp(stage_config.gcp)
    github = _git_host(stage_config.github, "REGOPS_GITHUB_API_URL")
    gitlab = _git_host(stage_config.gitlab, "REGOPS_GITLAB_API_URL")
    hosts = _hosts(stage_config.hosts, base)
    inventory_paths = tuple(Path(p).expanduser().resolve() for p in inventories) or tuple(
        (base / p).resolve() for p in stage_config.inventories
    )
    if inventories:
        # A replay judges what was saved: no cloud is called, and only plans given with it count.
        aws = azure = gcp = github = gitlab = hosts = None
        plan_paths = tuple(Path(p).expanduser().resolve() for p in plans)
    if not plan_paths and not inventory_paths and (aws, azure, gcp, github, gitlab, hosts) == (None,) * 6:
        raise ConfigError(
            f"stage {stage!r} has no sources: pass --plan PATH or --inventory FILE, or set plans (or"
            f" inventories, aws, azure, gcp, github, gitlab, hosts) in [tool.regops.stages.{stage}] of"
            " pyproject.toml"
        )
    for kind, paths in (("plan", plan_paths), ("inventory", inventory_paths)):
        for path in paths:
            _require_file(kind, path)
    try:
        parameters = Parameters(**{**tool.parameters, **stage_config.parameters})
    except ValidationError as exc:
        raise ConfigError(f"{pyproject}: invalid regops parameters: {_describe(exc)}") from None
    directory = Path(evidence_dir) if evidence_dir else base / tool.evidence_dir
    if directory.exists() and not directory.is_dir():
        # Found before discovery, which may take minutes against live clouds.
        raise ConfigError(f"evidence directory {directory} is not a directory")
    waiver_paths = tuple(Path(p).expanduser().resolve() for p in waivers) or tuple(
        (base / p).resolve() for p in stage_config.waivers
    )
    for path in waiver_paths:
        _require_file("waiver", path)
    repo_text = iac_repo or tool.iac_repo
    repo_path = (base / repo_text).expanduser().resolve() if repo_text else None
    if repo_path is not None and not (repo_path / ".git").exists():
        raise ConfigError(f"--iac-repo is not a git repository: {repo_path}")
    export_path = Path(review_export).expanduser().resolve() if review_export else None
    if export_path is not None and not export_path.is_file():
        raise ConfigError(f"review export not found: {export_path}")
    # Production takes only what passed system and acceptance, unless the stage says otherwise.
    if stage_config.promotion_from is not None:
        promotion_from = tuple(stage_config.promotion_from)
    else:
        promotion_from = ("system", "acceptance") if stage == "production" else ()
    archive = evidence_archive or tool.evidence_archive
    if archive and not archive.startswith("s3://"):
        archive = str((base / archive).expanduser().resolve())
    checkov_config = _checkov(tool, stage_config, checkov, base, directory)
    key_text = signing_key or os.environ.get("REGOPS_SIGNING_KEY") or tool.signing_key
    key_path = (base / key_text).expanduser().resolve() if key_text else None
    if key_path is not None and not key_path.is_file():
        raise ConfigError(f"signing key not found: {key_path}")
    return Settings(
        stage=stage,
        plans=plan_paths,
        inventories=inventory_paths,
        aws=aws,
        aws_endpoint=aws_endpoint,
        azure=azure,
        gcp=gcp,
        github=github,
        gitlab=gitlab,
        hosts=hosts,
        checkov=checkov_config,
        signing_key=key_path,
        waivers=waiver_paths,
        waiver_max_days=tool.waiver_max_days,
        iac_repo=repo_path,
        iac_range=iac_range,
        iac_paths=tuple(tool.iac_paths),
        release_tag_pattern=tool.release_tag_pattern,
        review_export=export_path,
        promotion_from=promotion_from,
        promotion_archive=Path(promotion_archive).expanduser().resolve() if promotion_archive else None,
        evidence_archive=archive,
        archive_retention_days=tool.archive_retention_days,
        baseline=baseline
        if baseline in (None, "latest")
        else str(Path(str(baseline)).expanduser().resolve()),
        gate_on=stage_config.gate_on,
        anomalies=anomalies or stage_config.anomalies,
        anomaly_window=tool.anomaly_window,
        anomaly_min_runs=tool.anomaly_min_runs,
        anomaly_severity=tool.anomaly_severity,
        evidence_dir=directory.expanduser().resolve(),
        fail_on=parse_severity(fail_on) if fail_on else (stage_config.fail_on or tool.fail_on),
        controls=tuple(dict.fromkeys(c.strip() for c in controls)),
        frameworks=tuple(dict.fromkeys(k for f in frameworks for k in expand_framework(f))),
        item_per=item_per or tool.item_per,
        parameters=parameters,
        rootdir=rootdir,
    )


def _checkov(
    tool: ToolConfig, stage_config: StageConfig, forced: bool, base: Path, evidence_dir: Path
) -> CheckovConfig | None:
    if stage_config.checkov is False and not forced:
        return None
    if tool.checkov is None and not forced and not stage_config.checkov:
        return None
    config = tool.checkov or CheckovConfig()
    directories = [(base / d).resolve() for d in config.directories]
    for directory in directories:
        if not directory.is_dir():
            raise ConfigError(f"checkov folder not found: {directory}")
    cache_dir = (base / config.cache_dir) if config.cache_dir else evidence_dir / ".cache" / "checkov"
    return config.model_copy(
        update={
            "directories": [str(d) for d in directories],
            "cache_dir": str(cache_dir.expanduser().resolve()),
        }
    )


def _hosts(config: HostsConfig | None, base: Path) -> HostsConfig | None:
    if config is None:
        return None
    paths = {}
    for name in ("ansible_inventory", "ssh_config", "ssh_identity_file"):
        value = getattr(config, name)
        if value is not None:
            path = (base / value).expanduser().resolve()
            if not path.is_file():
                raise ConfigError(f"hosts {name} not found: {path}")
            paths[name] = str(path)
    if not (config.targets or config.ansible_inventory or config.live_instances or config.tls_endpoints):
        raise ConfigError("[hosts] names no targets, ansible_inventory, live_instances or tls_endpoints")
    for endpoint in config.tls_endpoints:
        host, _, port = endpoint.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"hosts tls_endpoints: {endpoint!r} is not host:port")
    return config.model_copy(update=paths)
