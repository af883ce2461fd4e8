//! The values catalogue entries draw from (groups, users, buckets, roles, policies, regions) and
//! the functions that build each action's request parameters and response elements. Pure.

use super::Pick;
use crate::identities::{DEFAULT_ACCOUNT_ID, Identity, fake_id};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// Regions regional calls happen in, with weights.
pub const REGIONS: &[(&str, u32)] = &[("eu-central-1", 6), ("us-east-1", 3), ("eu-west-1", 1)];
/// Groups that IAM calls name.
pub const GROUPS: &[&str] = &[
    "Developers",
    "Admins",
    "ReadOnly",
    "Billing",
    "SecurityAudit",
    "OnCall",
];
/// Users that IAM calls act on.
pub const TARGET_USERS: &[&str] = &[
    "bob.martin",
    "svc-reporting",
    "intern.2024",
    "dave.ops",
    "backup-operator",
    "carol.smith",
];
/// Buckets that S3 calls name.
pub const BUCKETS: &[&str] = &[
    "acme-prod-artifacts",
    "acme-prod-logs",
    "acme-data-lake-raw",
    "acme-terraform-state",
    "acme-public-assets",
];
/// Instances that EC2 calls name.
pub const INSTANCES: &[&str] = &[
    "i-0a1b2c3d4e5f60718",
    "i-0123456789abcdef0",
    "i-0fedcba9876543210",
];
/// Roles that AssumeRole names.
pub const ROLES: &[&str] = &[
    "app-server-role",
    "data-pipeline-lambda",
    "GitHubActionsDeploy",
    "OrganizationAccountAccessRole",
    "ReadOnlyAuditor",
];
/// Managed policies that attach calls name.
pub const POLICIES: &[&str] = &[
    "arn:aws:iam::aws:policy/ReadOnlyAccess",
    "arn:aws:iam::aws:policy/AdministratorAccess",
    "arn:aws:iam::aws:policy/AmazonS3FullAccess",
    "arn:aws:iam::aws:policy/PowerUserAccess",
];

fn object(value: Value) -> Option<Map<String, Value>> {
    match value {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

pub(super) fn no_params(_: &mut Pick, _: &Identity, _: &str) -> Option<Map<String, Value>> {
    None
}

pub(super) fn user_params(pick: &mut Pick, _: &Identity, _: &str) -> Option<Map<String, Value>> {
    object(json!({"userName": pick.one(TARGET_USERS)}))
}

pub(super) fn group_params(pick: &mut Pick, _: &Identity, _: &str) -> Option<Map<String, Value>> {
    object(json!({"groupName": pick.one(GROUPS)}))
}

pub(super) fn membership_params(
    pick: &mut Pick,
    _: &Identity,
    _: &str,
) -> Option<Map<String, Value>> {
    object(json!({"userName": pick.one(TARGET_USERS), "groupName": pick.one(GROUPS)}))
}

pub(super) fn access_key_params(
    pick: &mut Pick,
    _: &Identity,
    _: &str,
) -> Option<Map<String, Value>> {
    let user = pick.one(TARGET_USERS);
    object(json!({"userName": user, "accessKeyId": fake_id("AKIA", user)}))
}

pub(super) fn attach_user_policy_params(
    pick: &mut Pick,
    _: &Identity,
    _: &str,
) -> Option<Map<String, Value>> {
    object(json!({"userName": pick.one(TARGET_USERS), "policyArn": pick.one(POLICIES)}))
}

pub(super) fn attach_group_policy_params(
    pick: &mut Pick,
    _: &Identity,
    _: &str,
) -> Option<Map<String, Value>> {
    object(json!({"groupName": pick.one(GROUPS), "policyArn": pick.one(POLICIES)}))
}

pub(super) fn assume_role_params(
    pick: &mut Pick,
    caller: &Identity,
    account: &str,
) -> Option<Map<String, Value>> {
    let role = pick.one(ROLES);
    let session = match caller.user_name() {
        Some(name) => name.to_string(),
        None => format!("session-{}", pick.number(1_000_000..10_000_000)),
    };
    object(json!({
        "roleArn": format!("arn:aws:iam::{account}:role/{role}"),
        "roleSessionName": session,
        "durationSeconds": 3600,
    }))
}

pub(super) fn s3_host_params(
    _: &mut Pick,
    _: &Identity,
    region: &str,
) -> Option<Map<String, Value>> {
    object(json!({"Host": format!("s3.{region}.amazonaws.com")}))
}

pub(super) fn bucket_params(
    pick: &mut Pick,
    _: &Identity,
    region: &str,
) -> Option<Map<String, Value>> {
    let bucket = pick.one(BUCKETS);
    object(json!({"bucketName": bucket, "Host": format!("{bucket}.s3.{region}.amazonaws.com")}))
}

pub(super) fn describe_params(
    pick: &mut Pick,
    _: &Identity,
    _: &str,
) -> Option<Map<String, Value>> {
    object(json!({"maxResults": pick.one(&[1000, 100, 5])}))
}

pub(super) fn instance_params(
    pick: &mut Pick,
    _: &Identity,
    _: &str,
) -> Option<Map<String, Value>> {
    object(
        json!({"instancesSet": {"items": [{"instanceId": pick.one(INSTANCES)}]}, "force": false}),
    )
}

pub(super) fn run_instances_params(
    pick: &mut Pick,
    _: &Identity,
    _: &str,
) -> Option<Map<String, Value>> {
    object(json!({
        "instancesSet": {"items": [{"imageId": "ami-0c55b159cbfafe1f0", "minCount": 1, "maxCount": 1}]},
        "instanceType": pick.one(&["t3.micro", "m5.large", "c5.xlarge"]),
        "monitoring": {"enabled": false},
        "disableApiTermination": false,
    }))
}

pub(super) fn ingress_params(pick: &mut Pick, _: &Identity, _: &str) -> Option<Map<String, Value>> {
    let port = pick.one(&[22, 443, 3389]);
    object(json!({
        "groupId": "sg-0123456789abcdef0",
        "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": port, "toPort": port,
            "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]},
    }))
}

pub(super) fn key_pair_params(
    pick: &mut Pick,
    _: &Identity,
    _: &str,
) -> Option<Map<String, Value>> {
    object(json!({"keyName": pick.one(&["bastion", "ops-temp", "debug"]), "keyType": "rsa"}))
}

pub(super) fn kms_key(pick: &mut Pick, account: &str, region: &str) -> String {
    let id = pick.one(&[
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "0987dcba-09fe-87dc-65ba-ab0987654321",
    ]);
    format!("arn:aws:kms:{region}:{account}:key/{id}")
}

pub(super) fn key_params(
    pick: &mut Pick,
    caller: &Identity,
    region: &str,
) -> Option<Map<String, Value>> {
    let account = caller.account_id.as_deref().unwrap_or(DEFAULT_ACCOUNT_ID);
    object(json!({"keyId": kms_key(pick, account, region), "keySpec": "AES_256"}))
}

pub(super) fn decrypt_params(
    pick: &mut Pick,
    caller: &Identity,
    region: &str,
) -> Option<Map<String, Value>> {
    let account = caller.account_id.as_deref().unwrap_or(DEFAULT_ACCOUNT_ID);
    object(json!({
        "keyId": kms_key(pick, account, region),
        "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }))
}

pub(super) fn key_deletion_params(
    pick: &mut Pick,
    caller: &Identity,
    region: &str,
) -> Option<Map<String, Value>> {
    let account = caller.account_id.as_deref().unwrap_or(DEFAULT_ACCOUNT_ID);
    object(json!({"keyId": kms_key(pick, account, region), "pendingWindowInDays": 7}))
}

pub(super) fn trail_params(
    _: &mut Pick,
    caller: &Identity,
    region: &str,
) -> Option<Map<String, Value>> {
    let account = caller.account_id.as_deref().unwrap_or(DEFAULT_ACCOUNT_ID);
    object(
        json!({"name": format!("arn:aws:cloudtrail:{region}:{account}:trail/management-events")}),
    )
}

/// Java's `Date.toString`-like format AWS uses inside IAM response elements.
pub(super) fn aws_response_date(time: DateTime<Utc>) -> String {
    time.format("%b %-d, %Y %-I:%M:%S %p").to_string()
}

pub(super) fn param<'a>(params: &'a Map<String, Value>, key: &str) -> &'a str {
    params.get(key).and_then(Value::as_str).unwrap_or_default()
}

pub(super) fn create_group_response(
    params: &Map<String, Value>,
    account: &str,
    time: DateTime<Utc>,
) -> Value {
    let group = param(params, "groupName");
    json!({"group": {
        "path": "/",
        "groupName": group,
        "groupId": fake_id("AGPA", group),
        "arn": format!("arn:aws:iam::{account}:group/{group}"),
        "createDate": aws_response_date(time),
    }})
}

pub(super) fn create_user_response(
    params: &Map<String, Value>,
    account: &str,
    time: DateTime<Utc>,
) -> Value {
    let user = param(params, "userName");
    json!({"user": {
        "path": "/",
        "userName": user,
        "userId": fake_id("AIDA", user),
        "arn": format!("arn:aws:iam::{account}:user/{user}"),
        "createDate": aws_response_date(time),
    }})
}

pub(super) fn create_access_key_response(
    params: &Map<String, Value>,
    _: &str,
    time: DateTime<Utc>,
) -> Value {
    let user = param(params, "userName");
    json!({"accessKey": {
        "userName": user,
        "accessKeyId": fake_id("AKIA", &format!("{user}/{}", time.timestamp())),
        "status": "Active",
        "createDate": aws_response_date(time),
    }})
}

pub(super) fn assume_role_response(
    params: &Map<String, Value>,
    _: &str,
    time: DateTime<Utc>,
) -> Value {
    let role_arn = param(params, "roleArn");
    let session = param(params, "roleSessionName");
    let role = role_arn.rsplit('/').next().unwrap_or_default();
    let account = role_arn.split(':').nth(4).unwrap_or_default();
    json!({
        "credentials": {
            "accessKeyId": fake_id("ASIA", &format!("{role}/{session}/{}", time.timestamp())),
            "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN",
            "expiration": aws_response_date(time + chrono::TimeDelta::hours(1)),
        },
        "assumedRoleUser": {
            "assumedRoleId": format!("{}:{session}", fake_id("AROA", role)),
            "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
        },
    })
}
