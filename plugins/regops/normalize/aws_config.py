"""AWS Config configuration items as the payloads live AWS discovery gathers, so one set of
live normalisers (normalize/aws.py) establishes the same facts from either.

Config records most of what the describe calls return, in its own spelling: camelCase keys
(`dBInstanceIdentifier`, `multiAZ`), some acronyms lower-cased whole (`ssedescription`), and
the S3 bucket's sub-configurations under `supplementaryConfiguration`. What Config does not
record stays UNKNOWN, so the facts that need it are absent and their controls report errors
rather than pass: an RDS parameter group's values (TLS enforcement), a KMS key's policy, a
trail's logging status, a key manager when the key is not in the same snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from regops.model import UNKNOWN
from regops.normalize.aws import PUBLIC_GRANTEES, environment_without_values

# The names the live normalisers read whose Config spelling is not the boto3 name with its
# first letter lower-cased.
_BOTO_NAMES = {
    name.lower(): name
    for name in (
        "SSEDescription",
        "SSEType",
        "KMSMasterKeyArn",
        "KMSMasterKeyID",
        "SSEAlgorithm",
        "KMSKeyArn",
        "MultiAZ",
        "DBInstanceIdentifier",
        "DBClusterIdentifier",
        "DBParameterGroups",
        "DBParameterGroupName",
        "CidrIp",
        "CidrIpv6",
        "IpProtocol",
    )
}
# Config names a public group by the last part of the URI the S3 API gives it.
_PUBLIC_GROUPS = {uri.rsplit("/", 1)[-1]: uri for uri in PUBLIC_GRANTEES}
_ACCOUNT_BLOCK = "AWS::S3::AccountPublicAccessBlock"
# A deleted resource is no longer part of the stage; one Config does not record has no item.
SKIPPED_STATUSES = frozenset({"ResourceDeleted", "ResourceDeletedNotRecorded", "ResourceNotRecorded"})


def boto_keys(value: Any) -> Any:
    """A Config structure with its keys spelled as boto3 spells them."""
    if isinstance(value, Mapping):
        return {
            _BOTO_NAMES.get(str(k).lower(), str(k)[:1].upper() + str(k)[1:]): boto_keys(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [boto_keys(v) for v in value]
    return value


def _decoded(value: Any) -> Any:
    # The Config API returns `configuration` and supplementary values as JSON text; snapshot
    # files hold most of them as objects, but the bucket ACL as text.
    if value in ("true", "false"):
        return value == "true"
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return UNKNOWN
    return value


@dataclass(frozen=True)
class ConfigItem:
    """One configuration item, with what the snapshot knows about its neighbours."""

    item: Mapping[str, Any]
    # KMS key ARN or id -> key manager, from the snapshot's AWS::KMS::Key items.
    key_managers: Mapping[str, str]
    # The account's S3 public access block, when the snapshot holds it.
    account_public_access_block: Any

    @property
    def configuration(self) -> Any:
        found = _decoded(self.item.get("configuration"))
        return found if isinstance(found, Mapping) else UNKNOWN

    def supplementary(self, name: str) -> Any:
        extra = _decoded(self.item.get("supplementaryConfiguration")) or {}
        return _decoded(extra.get(name)) if isinstance(extra, Mapping) else UNKNOWN

    def key_manager(self, key: Any) -> Any:
        if not key:
            return None
        return self.key_managers.get(str(key), UNKNOWN)


def _described(item: ConfigItem) -> Any:
    configuration = item.configuration
    return configuration if configuration is UNKNOWN else boto_keys(configuration)


def _s3_bucket(item: ConfigItem) -> dict[str, Any]:
    encryption = item.supplementary("ServerSideEncryptionConfiguration")
    block = item.supplementary("PublicAccessBlockConfiguration")
    policy = item.supplementary("BucketPolicy")
    versioning = item.supplementary("BucketVersioningConfiguration")
    logging = item.supplementary("BucketLoggingConfiguration")
    return {
        "encryption": {"ServerSideEncryptionConfiguration": boto_keys(encryption)} if encryption else None,
        "public_access_block": {"PublicAccessBlockConfiguration": boto_keys(block)} if block else None,
        "policy": _policy(policy),
        "acl": _acl(item.supplementary("AccessControlList")),
        "versioning": {"Status": versioning.get("status")} if isinstance(versioning, Mapping) else UNKNOWN,
        "logging": {"LoggingEnabled": {"TargetBucket": logging["destinationBucketName"]}}
        if isinstance(logging, Mapping) and logging.get("destinationBucketName")
        else {},
        "account_public_access_block": item.account_public_access_block,
    }


def _policy(recorded: Any) -> Any:
    if recorded is UNKNOWN:
        return UNKNOWN  # unreadable text: the bucket may well have a public policy
    if isinstance(recorded, Mapping) and recorded.get("policyText"):
        return {"Policy": recorded["policyText"]}
    return None


def _acl(recorded: Any) -> Any:
    if not isinstance(recorded, Mapping):
        return UNKNOWN
    grants = []
    for grant in recorded.get("grantList") or []:
        grantee = grant.get("grantee") if isinstance(grant, Mapping) else None
        if isinstance(grantee, str) and grantee in _PUBLIC_GROUPS:
            uri = _PUBLIC_GROUPS[grantee]
            grants.append({"Grantee": {"URI": uri}, "Permission": grant.get("permission")})
    return {"Grants": grants}


def _security_group(item: ConfigItem) -> dict[str, Any]:
    configuration = item.configuration
    if configuration is UNKNOWN:
        return {"description": UNKNOWN}
    permissions = []
    for permission in configuration.get("ipPermissions") or []:
        ranges = [{"CidrIp": r.get("cidrIp")} for r in permission.get("ipv4Ranges") or []]
        # Older items list IPv4 ranges as plain strings under ipRanges.
        ranges += [{"CidrIp": r} for r in permission.get("ipRanges") or [] if isinstance(r, str)]
        permissions.append(
            {
                "IpProtocol": permission.get("ipProtocol"),
                "FromPort": permission.get("fromPort"),
                "ToPort": permission.get("toPort"),
                "IpRanges": ranges,
                "Ipv6Ranges": [{"CidrIpv6": r.get("cidrIpv6")} for r in permission.get("ipv6Ranges") or []],
            }
        )
    return {"description": {"GroupId": configuration.get("groupId"), "IpPermissions": permissions}}


def _encrypted_with_key(item: ConfigItem) -> dict[str, Any]:
    described = _described(item)
    key = None if described is UNKNOWN else described.get("KmsKeyId")
    return {"description": described, "key_manager": item.key_manager(key)}


def _db_instance(item: ConfigItem) -> dict[str, Any]:
    # Config records the parameter group's name, not its values.
    return {**_encrypted_with_key(item), "parameters": UNKNOWN}


def _dynamodb_table(item: ConfigItem) -> dict[str, Any]:
    backups = item.supplementary("ContinuousBackupsDescription")
    return {
        "description": _described(item),
        "continuous_backups": boto_keys(backups) if isinstance(backups, Mapping) else UNKNOWN,
    }


def _kms_key(item: ConfigItem) -> dict[str, Any]:
    rotation = item.supplementary("KeyRotationStatus")
    return {
        "description": _described(item),
        "rotation": {"KeyRotationEnabled": rotation} if isinstance(rotation, bool) else UNKNOWN,
        "policy": UNKNOWN,
    }


def _trail(item: ConfigItem) -> dict[str, Any]:
    return {"description": _described(item), "status": UNKNOWN}


def _described_only(item: ConfigItem) -> dict[str, Any]:
    return {"description": _described(item)}


def _lambda_function(item: ConfigItem) -> dict[str, Any]:
    # Values withheld as in live discovery, and the variable names as Config spells them (as
    # they are), not given boto3's capital. No environment in the item is one not recorded; one
    # of another shape is unknown and none of it is kept.
    configuration = item.configuration
    described = _described(item)
    environment = configuration.get("environment") if isinstance(configuration, Mapping) else None
    if environment is not None:
        variables = environment.get("variables") if isinstance(environment, Mapping) else UNKNOWN
        described["Environment"] = (
            environment_without_values({"Variables": variables, "Error": environment.get("error")})
            if variables is None or isinstance(variables, Mapping)
            else UNKNOWN
        )
    return {"description": described}


def _account_block(item: ConfigItem) -> dict[str, Any]:
    return {"configuration": _described(item)}


# Config resource type -> (the live native type, its payload from the item).
CONFIG_TYPES: dict[str, tuple[str, Callable[[ConfigItem], dict[str, Any]]]] = {
    "AWS::S3::Bucket": ("aws_s3_bucket", _s3_bucket),
    "AWS::EC2::SecurityGroup": ("aws_security_group", _security_group),
    "AWS::RDS::DBInstance": ("aws_db_instance", _db_instance),
    "AWS::RDS::DBCluster": ("aws_rds_cluster", _encrypted_with_key),
    "AWS::DynamoDB::Table": ("aws_dynamodb_table", _dynamodb_table),
    "AWS::KMS::Key": ("aws_kms_key", _kms_key),
    "AWS::CloudTrail::Trail": ("aws_cloudtrail", _trail),
    "AWS::EC2::Volume": ("aws_ebs_volume", _encrypted_with_key),
    "AWS::EC2::Instance": ("aws_instance", _described_only),
    "AWS::Lambda::Function": ("aws_lambda_function", _lambda_function),
    _ACCOUNT_BLOCK: ("aws_s3_account_public_access_block", _account_block),
}
# Account-wide settings belong to every stage of the account, as in live discovery.
ACCOUNT_TYPES = frozenset({_ACCOUNT_BLOCK})


def item_arn(item: Mapping[str, Any]) -> str | None:
    """The resource's ARN as live discovery names it (the API spells the field `arn`)."""
    arn = item.get("ARN", item.get("arn"))
    if isinstance(arn, str) and arn:
        return arn
    if item.get("resourceType") == _ACCOUNT_BLOCK and item.get("awsAccountId"):
        return f"arn:aws:s3:::account/{item['awsAccountId']}/public-access-block"
    return None


def item_region(item: Mapping[str, Any]) -> str | None:
    """The item's region; None for an account-wide setting, which belongs to every region."""
    if item.get("resourceType") in ACCOUNT_TYPES:
        return None
    region = item.get("awsRegion")
    if region is not None and (not isinstance(region, str) or not region):
        # A region that cannot be read would drop the resource out of the regions in use.
        raise ValueError(f"awsRegion {region!r} is not a region name")
    return region


def item_tags(item: Mapping[str, Any]) -> dict[str, str]:
    """The item's tags; an item without any has none."""
    tags = item.get("tags")
    if tags is None:
        return {}
    if not isinstance(tags, Mapping) or not all(isinstance(v, str) for v in tags.values()):
        # Read as no tags, the resource would be left out of the stage unjudged.
        raise ValueError(f"tags {tags!r} is not an object of strings")
    return {str(k): v for k, v in tags.items()}


def account_public_access_block(items: list[Mapping[str, Any]]) -> Any:
    """The account's S3 public access block as boto3 returns it; UNKNOWN when not recorded."""
    for item in items:
        if item.get("resourceType") == _ACCOUNT_BLOCK:
            return _described(ConfigItem(item, {}, UNKNOWN))
    return UNKNOWN


def key_managers(items: list[Mapping[str, Any]]) -> dict[str, str]:
    """KMS key ARN and id -> key manager, from a snapshot's key items."""
    found: dict[str, str] = {}
    for item in items:
        if item.get("resourceType") != "AWS::KMS::Key":
            continue
        configuration = _decoded(item.get("configuration"))
        manager = configuration.get("keyManager") if isinstance(configuration, Mapping) else None
        if isinstance(manager, str):
            for name in (item_arn(item), item.get("resourceId")):
                if name:
                    found[str(name)] = manager
    return found
