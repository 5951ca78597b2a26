"""Live AWS resources of one stage, through boto3: the only module that imports the AWS SDK.

The stage's resources are found by tag through the Resource Groups Tagging API in every
configured region, then described service by service. Account- and region-level settings
(password policy, root MFA, account S3 public access block, EBS default encryption, the
Config recorder, CloudTrail trails, IAM users and roles and the account's managed policies, and the
alerts: EventBridge rules, metric alarms and metric filters) are read directly, as the tagging
API does not return them.

Fail closed: any call that fails (denied, throttled past its retries, timed out, unreachable)
is recorded as an error of the source, which makes the source incomplete. A resource whose
describe call failed stays in the inventory, and what that call would have told is UNKNOWN in
its payload, so the facts it would have given are absent and controls report errors.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from regops.discovery.live import aws_resource
from regops.model import UNKNOWN, Discovery, Resource, SourceReport
from regops.normalize.aws import PLAINTEXT_PROTOCOLS, environment_without_values, live_rule_categories

Progress = Callable[[str], None]
# boto3 sessions are not thread-safe; clients made from them are.
_CLIENT_LOCK = threading.Lock()


@dataclass(frozen=True)
class AwsSource:
    regions: tuple[str, ...]
    tag_key: str = "stage"
    account_id: str | None = None
    profile: str | None = None
    role_arn: str | None = None
    endpoint_url: str | None = None
    max_workers: int = 8
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    max_attempts: int = 5


class _Failed(Exception):
    """A call failed; the message is the error recorded in the source report."""


def _error_text(region: str, call: str, exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{region} {call}: {error.get('Code', 'ClientError')}: {error.get('Message', '')}".rstrip(": ")
    return f"{region} {call}: {type(exc).__name__}: {exc}"


class _Region:
    """Clients for one region, and a record of every call that failed there."""

    def __init__(self, session: boto3.Session, region: str, source: AwsSource, errors: list[str]) -> None:
        self.session = session
        self.region = region
        self.source = source
        self.errors = errors
        self._clients: dict[str, Any] = {}
        self.config = Config(
            region_name=region,
            retries={"mode": "adaptive", "max_attempts": source.max_attempts},
            connect_timeout=source.connect_timeout,
            read_timeout=source.read_timeout,
            s3={"addressing_style": "path"},
        )

    def client(self, service: str) -> Any:
        with _CLIENT_LOCK:
            if service not in self._clients:
                self._clients[service] = self.session.client(
                    service,
                    region_name=self.region,
                    endpoint_url=self.source.endpoint_url,
                    config=self.config,
                )
            return self._clients[service]

    def call(self, service: str, operation: str, **kwargs: Any) -> Any:
        """One API call; raises _Failed after recording the error."""
        try:
            return getattr(self.client(service), operation)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            message = _error_text(self.region, f"{service}.{operation}", exc)
            self.errors.append(message)
            raise _Failed(message) from None

    def optional(self, service: str, operation: str, absent: set[str], **kwargs: Any) -> Any:
        """A call where some error codes mean "not configured" (None); other errors give UNKNOWN."""
        try:
            return getattr(self.client(service), operation)(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in absent:
                return None
            self.errors.append(_error_text(self.region, f"{service}.{operation}", exc))
            return UNKNOWN
        except BotoCoreError as exc:
            self.errors.append(_error_text(self.region, f"{service}.{operation}", exc))
            return UNKNOWN

    def paginate(self, service: str, operation: str, key: str, **kwargs: Any) -> list[Any]:
        items: list[Any] = []
        try:
            for page in self.client(service).get_paginator(operation).paginate(**kwargs):
                items.extend(page.get(key, []))
        except (ClientError, BotoCoreError) as exc:
            message = _error_text(self.region, f"{service}.{operation}", exc)
            self.errors.append(message)
            raise _Failed(message) from None
        return items

    def read(self, service: str, operation: str, **kwargs: Any) -> Any:
        """A describe call whose failure leaves its part of the payload UNKNOWN."""
        try:
            return self.call(service, operation, **kwargs)
        except _Failed:
            return UNKNOWN


def _session(source: AwsSource) -> boto3.Session:
    session = boto3.Session(profile_name=source.profile) if source.profile else boto3.Session()
    if source.role_arn:
        credentials = session.client("sts", endpoint_url=source.endpoint_url).assume_role(
            RoleArn=source.role_arn, RoleSessionName="regops-discovery"
        )["Credentials"]
        session = boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
    return session


def _tags(items: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    return {str(t["Key"]): str(t["Value"]) for t in items or () if "Key" in t}


@dataclass
class _Found:
    arn: str
    native_type: str
    region: str | None
    tags: dict[str, str]
    payload: dict[str, Any]


def _arn_type(arn: str) -> str | None:
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return None
    service, resource = parts[2], parts[5]
    if service == "s3" and "/" not in resource:
        return "aws_s3_bucket"
    if service == "ec2":
        for prefix, native in (
            ("security-group/", "aws_security_group"),
            ("volume/", "aws_ebs_volume"),
            ("instance/", "aws_instance"),
        ):
            if resource.startswith(prefix):
                return native
    if service == "rds":
        return {"db": "aws_db_instance", "cluster": "aws_rds_cluster"}.get(resource.split(":", 1)[0])
    if service == "dynamodb" and resource.startswith("table/") and "/" not in resource[6:]:
        return "aws_dynamodb_table"
    if service == "kms" and resource.startswith("key/"):
        return "aws_kms_key"
    if service == "elasticloadbalancing" and resource.startswith("loadbalancer/"):
        return "aws_lb"
    if service == "lambda" and resource.startswith("function:"):
        return "aws_lambda_function"
    if service == "logs" and resource.startswith("log-group:"):
        return "aws_cloudwatch_log_group"
    return None


def _last(arn: str, separator: str = "/") -> str:
    return arn.rsplit(separator, 1)[-1]


class _Shared:
    """What regions share: the pool for per-resource calls, and answers worth asking once."""

    def __init__(self, pool: Executor) -> None:
        self.pool = pool
        self.lock = threading.Lock()
        # The tagging API of every region may list every region's buckets.
        self.bucket_regions: dict[str, Any] = {}
        # Many resources share one key.
        self.key_managers: dict[str, Any] = {}
        # Buckets whose location could not be read, reported by the first region that lists them.
        self.unlocated: set[str] = set()

    def remembered(self, cache: dict[str, Any], key: str, ask: Callable[[], Any]) -> Any:
        with self.lock:
            if key in cache:
                return cache[key]
        answer = ask()
        if answer is not UNKNOWN:
            with self.lock:
                cache[key] = answer
        return answer


class _RegionDiscovery:
    """Everything of one region: tagged resources described, plus the region's settings."""

    def __init__(
        self, region: _Region, stage: str, account: str, account_block: Any, shared: _Shared
    ) -> None:
        self.r = region
        self.stage = stage
        self.account = account
        self.account_block = account_block
        self.shared = shared
        self.found: list[_Found] = []

    def _fan_out(
        self, describe: Callable[[str, dict[str, str]], _Found | None], tagged: Mapping[str, dict[str, str]]
    ) -> None:
        """Describe each resource on the shared pool; results keep the tagged order."""
        items = sorted(tagged.items())
        for found in self.shared.pool.map(lambda item: describe(*item), items):
            if found is not None:
                self.found.append(found)

    def run(self) -> list[_Found]:
        try:
            tagged = self.r.paginate(
                "resourcegroupstaggingapi",
                "get_resources",
                "ResourceTagMappingList",
                TagFilters=[{"Key": self.r.source.tag_key, "Values": [self.stage]}],
            )
        except _Failed:
            tagged = []
        by_type: dict[str, dict[str, dict[str, str]]] = {}
        for mapping in tagged:
            native = _arn_type(mapping["ResourceARN"])
            if native is not None:
                by_type.setdefault(native, {})[mapping["ResourceARN"]] = _tags(mapping.get("Tags"))
        describers = {
            "aws_s3_bucket": self._buckets,
            "aws_security_group": self._security_groups,
            "aws_ebs_volume": self._volumes,
            "aws_instance": self._instances,
            "aws_db_instance": self._db_instances,
            "aws_rds_cluster": self._db_clusters,
            "aws_dynamodb_table": self._tables,
            "aws_kms_key": self._keys,
            "aws_lb": self._load_balancers,
            "aws_lambda_function": self._functions,
            "aws_cloudwatch_log_group": self._log_groups,
        }
        for native, tagged_arns in sorted(by_type.items()):
            describers[native](tagged_arns)
        self._region_settings()
        return self.found

    def _add(
        self, arn: str, native: str, tags: dict[str, str], payload: dict[str, Any], region: str | None = None
    ) -> None:
        self.found.append(_Found(arn, native, region or self.r.region, tags, payload))

    def _listed(
        self, service: str, operation: str, key: str, id_key: str, **kwargs: Any
    ) -> dict[str, Any] | None:
        try:
            return {item[id_key]: item for item in self.r.paginate(service, operation, key, **kwargs)}
        except _Failed:
            return None

    def _each(
        self,
        tagged: Mapping[str, dict[str, str]],
        native: str,
        listed: Mapping[str, Any] | None,
        ident: Callable[[str], str],
        extra: Callable[[str, Any], dict[str, Any]] | None = None,
    ) -> None:

        def describe(arn: str, tags: dict[str, str]) -> _Found | None:
            item = UNKNOWN if listed is None else listed.get(ident(arn))
            if item is None:
                return None  # tagged but gone since: not a resource of the stage any more
            payload: dict[str, Any] = {"description": item}
            if extra is not None and item is not UNKNOWN:
                payload.update(extra(arn, item))
            return _Found(arn, native, self.r.region, tags, payload)

        self._fan_out(describe, tagged)

    def _buckets(self, tagged: Mapping[str, dict[str, str]]) -> None:
        self._fan_out(self._bucket, tagged)

    def _bucket(self, arn: str, tags: dict[str, str]) -> _Found | None:
        name = arn.split(":::", 1)[1]
        location = self.shared.remembered(
            self.shared.bucket_regions,
            name,
            lambda: self.r.optional("s3", "get_bucket_location", set(), Bucket=name),
        )
        if location is UNKNOWN:
            # Where the bucket is, and so where to ask about it, is unknown: every part stays unread.
            # Every region's tagging API lists it: the first region to meet it reports it, with no
            # region rather than its own.
            with self.shared.lock:
                if name in self.shared.unlocated:
                    return None
                self.shared.unlocated.add(name)
            unread = (
                "location",
                "encryption",
                "public_access_block",
                "policy",
                "acl",
                "versioning",
                "logging",
            )
            return _Found(
                arn,
                "aws_s3_bucket",
                None,
                tags,
                {**dict.fromkeys(unread, UNKNOWN), "account_public_access_block": self.account_block},
            )
        region = (location or {}).get("LocationConstraint") or "us-east-1"
        if region != self.r.region:
            return None  # the tagging API lists every region's buckets in each region
        payload = {
            "encryption": self.r.optional(
                "s3",
                "get_bucket_encryption",
                {"ServerSideEncryptionConfigurationNotFoundError"},
                Bucket=name,
            ),
            "public_access_block": self.r.optional(
                "s3", "get_public_access_block", {"NoSuchPublicAccessBlockConfiguration"}, Bucket=name
            ),
            "policy": self.r.optional("s3", "get_bucket_policy", {"NoSuchBucketPolicy"}, Bucket=name),
            "acl": self.r.optional("s3", "get_bucket_acl", set(), Bucket=name),
            "versioning": self.r.optional("s3", "get_bucket_versioning", set(), Bucket=name),
            "logging": self.r.optional("s3", "get_bucket_logging", set(), Bucket=name),
            "account_public_access_block": self.account_block,
        }
        return _Found(arn, "aws_s3_bucket", self.r.region, tags, payload)

    def _security_groups(self, tagged: Mapping[str, dict[str, str]]) -> None:
        listed = self._listed(
            "ec2",
            "describe_security_groups",
            "SecurityGroups",
            "GroupId",
            GroupIds=[_last(a) for a in tagged],
        )
        self._each(tagged, "aws_security_group", listed, _last)

    def _volumes(self, tagged: Mapping[str, dict[str, str]]) -> None:
        listed = self._listed(
            "ec2", "describe_volumes", "Volumes", "VolumeId", VolumeIds=[_last(a) for a in tagged]
        )
        self._each(tagged, "aws_ebs_volume", listed, _last, self._key_manager_of("KmsKeyId"))

    def _instances(self, tagged: Mapping[str, dict[str, str]]) -> None:
        try:
            reservations = self.r.paginate(
                "ec2", "describe_instances", "Reservations", InstanceIds=[_last(a) for a in tagged]
            )
            listed: dict[str, Any] | None = {
                i["InstanceId"]: i for reservation in reservations for i in reservation.get("Instances", [])
            }
        except _Failed:
            listed = None

        def volumes(arn: str, item: Any) -> dict[str, Any]:
            ids = [m["Ebs"]["VolumeId"] for m in item.get("BlockDeviceMappings", []) if "Ebs" in m]
            if not ids:
                return {"volumes": []}
            try:
                found: Any = self.r.paginate("ec2", "describe_volumes", "Volumes", VolumeIds=ids)
            except _Failed:
                found = UNKNOWN
            return {"volumes": found}

        self._each(tagged, "aws_instance", listed, _last, volumes)

    def _key_manager_of(self, field: str) -> Callable[[str, Any], dict[str, Any]]:
        def extra(arn: str, item: Any) -> dict[str, Any]:
            key = item.get(field)
            if not key:
                return {"key_manager": None}
            found = self.shared.remembered(
                self.shared.key_managers, key, lambda: self.r.read("kms", "describe_key", KeyId=key)
            )
            return {"key_manager": UNKNOWN if found is UNKNOWN else found["KeyMetadata"].get("KeyManager")}

        return extra

    def _db_instances(self, tagged: Mapping[str, dict[str, str]]) -> None:
        listed = self._listed("rds", "describe_db_instances", "DBInstances", "DBInstanceArn")
        key_manager = self._key_manager_of("KmsKeyId")

        def extra(arn: str, item: Any) -> dict[str, Any]:
            groups = item.get("DBParameterGroups") or []
            name = groups[0]["DBParameterGroupName"] if groups else None
            parameters: Any = None
            if name and not name.startswith("default."):
                try:
                    parameters = self.r.paginate(
                        "rds", "describe_db_parameters", "Parameters", DBParameterGroupName=name
                    )
                except _Failed:
                    parameters = UNKNOWN
            return {"parameters": parameters, **key_manager(arn, item)}

        self._each(tagged, "aws_db_instance", listed, lambda arn: arn, extra)

    def _db_clusters(self, tagged: Mapping[str, dict[str, str]]) -> None:
        listed = self._listed("rds", "describe_db_clusters", "DBClusters", "DBClusterArn")
        self._each(tagged, "aws_rds_cluster", listed, lambda arn: arn, self._key_manager_of("KmsKeyId"))

    def _tables(self, tagged: Mapping[str, dict[str, str]]) -> None:
        def describe(arn: str, tags: dict[str, str]) -> _Found:
            name = arn.split("table/", 1)[1]
            table = self.r.read("dynamodb", "describe_table", TableName=name)
            backups = self.r.read("dynamodb", "describe_continuous_backups", TableName=name)
            payload = {
                "description": table if table is UNKNOWN else table["Table"],
                "continuous_backups": backups
                if backups is UNKNOWN
                else backups["ContinuousBackupsDescription"],
            }
            return _Found(arn, "aws_dynamodb_table", self.r.region, tags, payload)

        self._fan_out(describe, tagged)

    def _keys(self, tagged: Mapping[str, dict[str, str]]) -> None:
        def describe(arn: str, tags: dict[str, str]) -> _Found | None:
            described = self.r.read("kms", "describe_key", KeyId=arn)
            metadata: Any = described if described is UNKNOWN else described["KeyMetadata"]
            if metadata is not UNKNOWN and metadata.get("KeyManager") != "CUSTOMER":
                return None
            rotation = self.r.read("kms", "get_key_rotation_status", KeyId=arn)
            policy = self.r.read("kms", "get_key_policy", KeyId=arn, PolicyName="default")
            payload = {
                "description": metadata,
                "rotation": rotation,
                "policy": policy if policy is UNKNOWN else policy.get("Policy"),
            }
            return _Found(arn, "aws_kms_key", self.r.region, tags, payload)

        self._fan_out(describe, tagged)

    def _load_balancers(self, tagged: Mapping[str, dict[str, str]]) -> None:
        listed = self._listed("elbv2", "describe_load_balancers", "LoadBalancers", "LoadBalancerArn")

        def extra(arn: str, item: Any) -> dict[str, Any]:
            try:
                listeners: Any = self.r.paginate(
                    "elbv2", "describe_listeners", "Listeners", LoadBalancerArn=arn
                )
            except _Failed:
                listeners = UNKNOWN
            for listener in [] if listeners is UNKNOWN else listeners:
                if listener.get("Protocol") in PLAINTEXT_PROTOCOLS:
                    try:
                        listener["Rules"] = self.r.paginate(
                            "elbv2", "describe_rules", "Rules", ListenerArn=listener["ListenerArn"]
                        )
                    except _Failed:
                        listener["Rules"] = UNKNOWN
            attributes = self.r.read("elbv2", "describe_load_balancer_attributes", LoadBalancerArn=arn)
            waf = self.r.read("wafv2", "get_web_acl_for_resource", ResourceArn=arn)
            return {
                "listeners": listeners,
                "attributes": attributes if attributes is UNKNOWN else attributes["Attributes"],
                "web_acl": waf if waf is UNKNOWN else (waf.get("WebACL") or {}).get("ARN"),
            }

        self._each(tagged, "aws_lb", listed, lambda arn: arn, extra)

    def _functions(self, tagged: Mapping[str, dict[str, str]]) -> None:
        listed = self._listed("lambda", "list_functions", "Functions", "FunctionArn")
        if listed is not None:
            for function in listed.values():
                function["Environment"] = environment_without_values(function.get("Environment"))
        self._each(tagged, "aws_lambda_function", listed, lambda arn: arn)

    def _log_groups(self, tagged: Mapping[str, dict[str, str]]) -> None:
        listed = self._listed("logs", "describe_log_groups", "logGroups", "logGroupName")
        self._each(
            tagged,
            "aws_cloudwatch_log_group",
            listed,
            lambda arn: arn.split("log-group:", 1)[1].removesuffix(":*"),
        )

    def _region_settings(self) -> None:
        region, account = self.r.region, self.account
        ebs = self.r.read("ec2", "get_ebs_encryption_by_default")
        self._add(
            f"arn:aws:ec2:{region}:{account}:ebs-encryption-by-default",
            "aws_ebs_encryption_by_default",
            {},
            {"setting": ebs},
        )
        recorders = self.r.read("config", "describe_configuration_recorder_status")
        self._add(
            f"arn:aws:config:{region}:{account}:configuration-recorder",
            "aws_config_configuration_recorder",
            {},
            {"status": recorders},
        )
        self._alerts()

    def _alerts(self) -> None:
        """The region's alerts (MON-003, MON-004): EventBridge rules of the default bus with their
        targets, metric alarms and CloudWatch Logs metric filters. They carry no stage tag: like
        the Config recorder they are the region's. A listing that fails stands as one resource
        whose configuration is unknown, so the estate cannot pass or fail on what was not seen."""
        region, account = self.r.region, self.account
        rules = self._alert_listing(
            "events",
            "list_rules",
            "Rules",
            f"arn:aws:events:{region}:{account}:rule/*",
            "aws_cloudwatch_event_rule",
        )

        def with_targets(rule: dict[str, Any]) -> _Found:
            payload: dict[str, Any] = {"description": rule}
            if live_rule_categories(rule):  # targets matter only for a rule that alerts on something
                try:
                    targets = self.r.paginate("events", "list_targets_by_rule", "Targets", Rule=rule["Name"])
                    # What each target is, not what it is sent: input and HTTP parameters may hold secrets.
                    payload["targets"] = [{"Id": t.get("Id"), "Arn": t.get("Arn")} for t in targets]
                except _Failed:
                    payload["targets"] = UNKNOWN
            return _Found(rule["Arn"], "aws_cloudwatch_event_rule", region, {}, payload)

        self.found.extend(self.shared.pool.map(with_targets, rules))
        alarms = self._alert_listing(
            "cloudwatch",
            "describe_alarms",
            "MetricAlarms",
            f"arn:aws:cloudwatch:{region}:{account}:alarm:*",
            "aws_cloudwatch_metric_alarm",
        )
        for alarm in alarms:
            self._add(alarm["AlarmArn"], "aws_cloudwatch_metric_alarm", {}, {"description": alarm})
        filters = self._alert_listing(
            "logs",
            "describe_metric_filters",
            "metricFilters",
            f"arn:aws:logs:{region}:{account}:log-group:*:metric-filter/*",
            "aws_cloudwatch_log_metric_filter",
        )
        for found in filters:
            group, name = found.get("logGroupName"), found.get("filterName")
            arn = f"arn:aws:logs:{region}:{account}:log-group:{group}:metric-filter/{name}"
            self._add(arn, "aws_cloudwatch_log_metric_filter", {}, {"description": found})

    def _alert_listing(self, service: str, operation: str, key: str, unread: str, native: str) -> list[Any]:
        """One listing of the region's alerts; when it fails, none, and one resource of unknown
        configuration (`unread`) stands for all of them."""
        try:
            return self.r.paginate(service, operation, key)
        except _Failed:
            self._add(unread, native, {}, {"description": UNKNOWN})
            return []


def _account_resources(home: _Region, account: str, stage: str) -> tuple[list[_Found], Any]:
    """Account-wide settings, CloudTrail trails and the stage's IAM users, roles and policies, read
    in the home region."""
    found: list[_Found] = []
    policy = home.optional("iam", "get_account_password_policy", {"NoSuchEntity"})
    found.append(
        _Found(
            f"arn:aws:iam::{account}:account-password-policy",
            "aws_iam_account",
            None,
            {},
            {
                "password_policy": policy if policy in (None, UNKNOWN) else policy["PasswordPolicy"],
                "summary": _summary(home),
            },
        )
    )
    block = home.optional(
        "s3control", "get_public_access_block", {"NoSuchPublicAccessBlockConfiguration"}, AccountId=account
    )
    account_block = block if block in (None, UNKNOWN) else block["PublicAccessBlockConfiguration"]
    found.append(
        _Found(
            f"arn:aws:s3:::account/{account}/public-access-block",
            "aws_s3_account_public_access_block",
            None,
            {},
            {"configuration": account_block},
        )
    )
    try:
        trails = home.call("cloudtrail", "describe_trails", includeShadowTrails=False)["trailList"]
    except _Failed:
        trails = []
    for trail in trails:
        arn = trail["TrailARN"]
        status = home.read("cloudtrail", "get_trail_status", Name=arn)
        selectors = home.read("cloudtrail", "get_event_selectors", TrailName=arn)
        listed = home.read("cloudtrail", "list_tags", ResourceIdList=[arn])
        entries = [] if listed is UNKNOWN else listed.get("ResourceTagList", [])
        tags = _tags(entries[0].get("TagsList")) if entries else {}
        payload = {"description": trail, "status": status, "event_selectors": selectors}
        found.append(_Found(arn, "aws_cloudtrail", trail.get("HomeRegion"), tags, payload))
    for user, tags in _tagged_for_stage(
        home, stage, "list_users", "Users", ("list_user_tags", "UserName", "UserName")
    ):
        payload = _user_payload(home, user["UserName"], user)
        found.append(_Found(user["Arn"], "aws_iam_user", None, tags, payload))
    found += _stage_roles(home, stage)
    found += _stage_policies(home, stage)
    return found, account_block


def _tagged_for_stage(
    home: _Region,
    stage: str,
    operation: str,
    key: str,
    tags_by: tuple[str, str, str],
    **kwargs: str,
) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """The IAM users, roles or policies of a listing that are tagged for the stage, with their
    tags, read by `tags_by`: the operation, its parameter and the listing's field that fills it.
    One whose tags cannot be read stays: it is not known to be another stage's."""
    try:
        entities = home.paginate("iam", operation, key, **kwargs)
    except _Failed:
        return []
    tag_operation, parameter, field = tags_by
    kept = []
    for entity in entities:
        read = home.read("iam", tag_operation, **{parameter: entity[field]})
        tags = {} if read is UNKNOWN else _tags(read.get("Tags"))
        if read is UNKNOWN or tags.get(home.source.tag_key) == stage:
            kept.append((entity, tags))
    return kept


def _stage_roles(home: _Region, stage: str) -> list[_Found]:
    """The roles tagged for the stage, with the documents of every policy they hold."""
    found = []
    for role, tags in _tagged_for_stage(
        home, stage, "list_roles", "Roles", ("list_role_tags", "RoleName", "RoleName")
    ):
        name = role["RoleName"]
        attached = _iam_listing(home, "list_attached_role_policies", "AttachedPolicies", RoleName=name)
        inline = _iam_listing(home, "list_role_policies", "PolicyNames", RoleName=name)
        documents = [
            _managed_documents(home, attached),
            _inline_documents(home, inline, "get_role_policy", RoleName=name),
        ]
        payload = {
            "description": role,
            "attached_policies": attached,
            "policy_documents": _all_documents(documents),
        }
        found.append(_Found(role["Arn"], "aws_iam_role", None, tags, payload))
    return found


def _stage_policies(home: _Region, stage: str) -> list[_Found]:
    """The account's own managed policies tagged for the stage, with their default version."""
    found = []
    tags_by = ("list_policy_tags", "PolicyArn", "Arn")
    listed = _tagged_for_stage(home, stage, "list_policies", "Policies", tags_by, Scope="Local")
    for policy, tags in listed:
        documents = _managed_documents(home, [{"PolicyArn": policy["Arn"]}])
        payload = {"description": policy, "document": UNKNOWN if documents is UNKNOWN else documents[0]}
        found.append(_Found(policy["Arn"], "aws_iam_policy", None, tags, payload))
    return found


def _summary(home: _Region) -> Any:
    summary = home.read("iam", "get_account_summary")
    return summary if summary is UNKNOWN else summary["SummaryMap"]


def _user_payload(home: _Region, name: str, user: Mapping[str, Any]) -> dict[str, Any]:
    def listing(operation: str, key: str, **kwargs: str) -> Any:
        return _iam_listing(home, operation, key, **(kwargs or {"UserName": name}))

    attached = listing("list_attached_user_policies", "AttachedPolicies")
    documents = [
        _managed_documents(home, attached),
        _inline_documents(
            home, listing("list_user_policies", "PolicyNames"), "get_user_policy", UserName=name
        ),
    ]
    # Rights a user holds through a group are the user's rights.
    groups = listing("list_groups_for_user", "Groups")
    for group in [] if groups is UNKNOWN else groups:
        group_name = group["GroupName"]
        documents += [
            _managed_documents(
                home, listing("list_attached_group_policies", "AttachedPolicies", GroupName=group_name)
            ),
            _inline_documents(
                home,
                listing("list_group_policies", "PolicyNames", GroupName=group_name),
                "get_group_policy",
                GroupName=group_name,
            ),
        ]
    return {
        "description": user,
        "mfa_devices": listing("list_mfa_devices", "MFADevices"),
        "access_keys": listing("list_access_keys", "AccessKeyMetadata"),
        "login_profile": home.optional("iam", "get_login_profile", {"NoSuchEntity"}, UserName=name),
        "attached_policies": attached,
        "groups": groups,
        "policy_documents": UNKNOWN if groups is UNKNOWN else _all_documents(documents),
        "now": datetime.now(UTC),
    }


def _all_documents(parts: list[Any]) -> Any:
    """The policy documents of every part (managed, inline, a group's), or UNKNOWN when any part
    could not be read: rights held through an unread policy are unknown, not absent."""
    if any(part is UNKNOWN for part in parts):
        return UNKNOWN
    return [document for part in parts for document in part]


def _iam_listing(home: _Region, operation: str, key: str, **kwargs: str) -> Any:
    """A paginated IAM listing; UNKNOWN when it failed (the error is recorded)."""
    try:
        return home.paginate("iam", operation, key, **kwargs)
    except _Failed:
        return UNKNOWN


def _managed_documents(home: _Region, attached: Any) -> Any:
    """The default versions of attached managed policies; UNKNOWN when any could not be read."""
    if attached is UNKNOWN:
        return UNKNOWN
    documents = []
    for policy in attached:
        meta = home.read("iam", "get_policy", PolicyArn=policy["PolicyArn"])
        if meta is UNKNOWN:
            return UNKNOWN
        version = home.read(
            "iam",
            "get_policy_version",
            PolicyArn=policy["PolicyArn"],
            VersionId=meta["Policy"]["DefaultVersionId"],
        )
        if version is UNKNOWN:
            return UNKNOWN
        document = version["PolicyVersion"]["Document"]
        documents.append(json.loads(document) if isinstance(document, str) else document)
    return documents


def _inline_documents(home: _Region, names: Any, operation: str, **owner: str) -> Any:
    """A user's or a group's inline policies; UNKNOWN when any could not be read."""
    if names is UNKNOWN:
        return UNKNOWN
    documents = []
    for policy_name in names:
        found = home.read("iam", operation, PolicyName=policy_name, **owner)
        if found is UNKNOWN:
            return UNKNOWN
        document = found["PolicyDocument"]
        documents.append(json.loads(document) if isinstance(document, str) else document)
    return documents


def _strip_host_prefix(request: Any, **_: Any) -> None:
    # Against a custom endpoint (moto, LocalStack) s3control would send the account id as a
    # host prefix ("123456789012.127.0.0.1"), which resolves nowhere.
    head, rest = request.url.split("//", 1)
    host, _, path = rest.partition("/")
    label, dot, bare_host = host.partition(".")
    if dot and label.isdigit() and len(label) == 12:
        request.url = f"{head}//{bare_host}/{path}"


def discover_aws(
    source: AwsSource,
    stage: str,
    progress: Progress | None = None,
    *,
    session_factory: Callable[[], boto3.Session] | None = None,
) -> Discovery:
    """The stage's live AWS resources, normalised; `session_factory` lets tests hook botocore events."""
    errors: list[str] = []
    location = f"aws:{source.account_id or 'account'}@{source.endpoint_url or 'aws'}"
    try:
        session = session_factory() if session_factory is not None else _session(source)
    except (ClientError, BotoCoreError) as exc:
        return _incomplete(location, [_error_text("-", "sts.assume_role", exc)])
    if source.endpoint_url:
        session.events.register("before-send.s3-control", _strip_host_prefix)
    home = _Region(session, source.regions[0], source, errors)
    try:
        account = home.call("sts", "get_caller_identity")["Account"]
    except _Failed:
        return _incomplete(location, errors)
    if source.account_id and account != source.account_id:
        return _incomplete(
            location, [f"credentials belong to account {account}, not the stage's {source.account_id}"]
        )
    location = f"aws:{account}@{source.endpoint_url or 'aws'}"
    found, account_block = _account_resources(home, account, stage)

    def one_region(name: str) -> tuple[list[_Found], list[str]]:
        region_errors: list[str] = []
        region = _Region(session, name, source, region_errors)
        result = _RegionDiscovery(region, stage, account, account_block, shared).run()
        if progress is not None:
            progress(
                f"aws {name}: {len(result)} resources"
                + (f", {len(region_errors)} errors" if region_errors else "")
            )
        return result, region_errors

    # Regions on one pool, their per-resource calls on another: a region thread waiting for its
    # resources must never hold the slot a resource call needs.
    with (
        ThreadPoolExecutor(max_workers=min(source.max_workers, len(source.regions))) as regions,
        ThreadPoolExecutor(max_workers=source.max_workers) as resources_pool,
    ):
        shared = _Shared(resources_pool)
        for region_found, region_errors in regions.map(one_region, source.regions):
            found.extend(region_found)
            errors.extend(region_errors)
    notes = [f"regions: {', '.join(source.regions)}; tag {source.tag_key}={stage}"]
    if not any(item.tags.get(source.tag_key) == stage for item in found):
        # Account settings alone are no stage: report nothing, so the gate fails closed.
        found = []
        notes.append(f"no resource is tagged {source.tag_key}={stage}")
    resources = [_resource(item, stage, location) for item in found]
    resources.sort(key=lambda r: r.id)
    report = SourceReport(
        kind="aws",
        location=location,
        sha256=None,
        resource_count=len(resources),
        complete=not errors,
        errors=tuple(errors),
        notes=tuple(notes),
    )
    return Discovery(tuple(resources), report)


def _incomplete(location: str, errors: list[str]) -> Discovery:
    report = SourceReport("aws", location, None, 0, False, tuple(errors))
    return Discovery((), report)


def _resource(found: _Found, stage: str, location: str) -> Resource:
    return aws_resource(
        arn=found.arn,
        native_type=found.native_type,
        region=found.region,
        tags=found.tags,
        payload=found.payload,
        stage=stage,
        source=location,
    )
