//! The CloudTrail activity that the AWS CloudTrail EQL rules of Elastic's detection rules look
//! for: one [`Scenario`] per rule, made of the calls that should alert (the request parameters
//! holding the strings the rule tests, the user agents, the two steps of the sequence) and near
//! misses that should not (the same call with the tell-tale string missing, failed, from the
//! excluded caller, or out of the sequence's reach). Each step says which rule it is planted
//! for, so a test can check that every rule alerts on exactly those events. No planted call
//! matches another rule of the list.
//!
//! Rules are named by their file name without `.toml` (the corpus's `rules/integrations/aws/`
//! plus one building-block rule in `rules_building_block/`). Two of them cannot alert on documents
//! of Elastic's AWS integration as the project describes it (`fixtures/cloudtrail/MAPPING.md`, §4:
//! only actions of the pipeline's categorisation table get an `event.category`): their activity is
//! planted anyway and their steps are planted for no rule ([`UNREACHABLE_AWS_EQL_RULES`]).

use super::identities::{DEFAULT_ACCOUNT_ID, Identity};
use super::spec::EventSpec;
use super::{GeneratedEvent, GeneratorError};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

/// The AWS CloudTrail EQL rules of the corpus (27 in `rules/integrations/aws/`, then the
/// building-block rule of `rules_building_block/`), by file name without `.toml`.
pub const AWS_EQL_RULES: [&str; 28] = [
    "credential_access_iam_compromisedkeyquarantine_policy_attached_to_user",
    "defense_evasion_s3_bucket_lifecycle_expiration_added",
    "defense_evasion_s3_bucket_server_access_logging_disabled",
    "discovery_bedrock_model_recon_and_invocation_via_long_term_key",
    "exfiltration_ec2_ebs_snapshot_shared_with_another_account",
    "exfiltration_rds_snapshot_shared_with_another_account",
    "exfiltration_s3_bucket_policy_added_for_external_account_access",
    "exfiltration_s3_bucket_policy_added_for_public_access",
    "exfiltration_s3_bucket_replicated_to_external_account",
    "impact_ec2_ebs_snapshot_access_removed",
    "impact_rds_instance_cluster_deletion_protection_disabled",
    "impact_rds_snapshot_deleted",
    "impact_s3_bucket_object_uploaded_with_ransom_keyword",
    "impact_s3_object_versioning_disabled",
    "initial_access_suspicious_user_agent_detected_in_cloudtrail",
    "lateral_movement_ec2_instance_console_login",
    "persistence_aws_attempt_to_register_virtual_mfa_device",
    "persistence_iam_create_login_profile_for_root",
    "persistence_iam_roles_anywhere_trusted_anchor_created_with_external_ca",
    "persistence_lambda_backdoor_invoke_function_for_any_principal",
    "persistence_lambda_cross_account_invocation_backdoor",
    "persistence_lambda_function_url_public_access",
    "persistence_rds_db_instance_password_modified",
    "persistence_rds_instance_made_public",
    "privilege_escalation_iam_administratoraccess_policy_attached_to_group",
    "privilege_escalation_iam_administratoraccess_policy_attached_to_role",
    "privilege_escalation_iam_administratoraccess_policy_attached_to_user",
    "persistence_iam_instance_request_to_iam_service",
];

/// Rules whose activity is planted but that cannot alert on the integration's documents, and why.
pub const UNREACHABLE_AWS_EQL_RULES: [(&str, &str); 2] = [
    (
        "privilege_escalation_iam_administratoraccess_policy_attached_to_role",
        "`iam where` needs event.category iam, and the pipeline's categorisation table has no \
         AttachRolePolicy (MAPPING.md §4 names it), so the event has no event.category",
    ),
    (
        "impact_s3_bucket_object_uploaded_with_ransom_keyword",
        "`file where` needs event.category file, and the pipeline's categorisation table has no \
         PutObject, so the event has no event.category",
    ),
];

/// An account outside the organisation that exfiltration and backdoor calls name.
pub const EXTERNAL_ACCOUNT_ID: &str = "999988887777";
/// The EC2 instance whose role makes the instance-credential calls.
pub const INSTANCE_ID: &str = "i-0a1b2c3d4e5f60718";
/// How long after a scenario starts its last step may come (the sequence's near miss waits
/// longer than the rule's 15 minute maxspan).
pub const SCENARIO_SPAN: TimeDelta = TimeDelta::minutes(20);

/// One call of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub spec: EventSpec,
    /// Time since the scenario's previous step (its start for the first).
    pub after: TimeDelta,
    /// The rule this call is planted for (None: a near miss, which no rule should alert on).
    pub planted_for: Option<&'static str>,
}

/// The activity one rule looks for, with its near misses.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The rule (file name without `.toml`).
    pub rule: &'static str,
    pub steps: Vec<Step>,
}

impl Scenario {
    /// The scenario's events with the first at `start` and each arriving in the index as it
    /// happens (`event.ingested` = `@timestamp`).
    pub fn events(&self, start: DateTime<Utc>) -> Vec<GeneratedEvent> {
        let mut time = start;
        self.steps
            .iter()
            .map(|step| {
                time += step.after;
                GeneratedEvent {
                    spec: step.spec.clone(),
                    timestamp: time,
                    ingested: time,
                    planted_for: step.planted_for,
                }
            })
            .collect()
    }
}

/// The scenario of one rule.
pub fn scenario(rule: &str) -> Result<Scenario, GeneratorError> {
    aws_eql_scenarios()
        .into_iter()
        .find(|s| s.rule == rule)
        .ok_or_else(|| GeneratorError::UnknownScenario(rule.to_string()))
}

const TERRAFORM_AGENT: &str = "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) \
     terraform-provider-aws/5.40.0 (+https://registry.terraform.io/providers/hashicorp/aws) \
     aws-sdk-go-v2/1.25.3 os/linux lang/go#1.21.8 md/GOOS#linux md/GOARCH#amd64";
const KALI_AGENT: &str = "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.6.9-amd64 \
     md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard \
     md/installer#source md/distrib#kali.2024 md/prompt#off md/command#sts.get-caller-identity";
const TRUFFLEHOG_AGENT: &str = "TruffleHog";
const BACKUP: &str = "backup.amazonaws.com";
const ADMIN_POLICY: &str = "arn:aws:iam::aws:policy/AdministratorAccess";
const READ_ONLY_POLICY: &str = "arn:aws:iam::aws:policy/ReadOnlyAccess";
const S3_XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// A successful call of `action` on `provider` in `region` with `params`, by alice.
fn call(provider: &str, action: &str, region: &str, params: Value) -> EventSpec {
    EventSpec::new(action)
        .with_provider(provider)
        .with_region(region)
        .with_params(params)
        .with_read_only(false)
}

fn rds(action: &str, params: Value) -> EventSpec {
    call("rds.amazonaws.com", action, "eu-central-1", params)
}

fn s3(action: &str, bucket: &str, extra: Value) -> EventSpec {
    let mut params = json!({
        "bucketName": bucket,
        "Host": format!("{bucket}.s3.eu-central-1.amazonaws.com"),
    });
    if let (Some(params), Value::Object(extra)) = (params.as_object_mut(), extra) {
        params.extend(extra);
    }
    call("s3.amazonaws.com", action, "eu-central-1", params)
}

fn iam(action: &str, params: Value) -> EventSpec {
    call("iam.amazonaws.com", action, "us-east-1", params)
}

fn lambda(action: &str, params: Value) -> EventSpec {
    call("lambda.amazonaws.com", action, "eu-central-1", params)
}

fn ec2(action: &str, params: Value) -> EventSpec {
    call("ec2.amazonaws.com", action, "eu-central-1", params)
}

fn bedrock(action: &str, user: &Identity, params: Value) -> EventSpec {
    call("bedrock.amazonaws.com", action, "us-east-1", params).with_identity(user.clone())
}

fn instance_role() -> Identity {
    Identity::assumed_role(DEFAULT_ACCOUNT_ID, "app-server-role", INSTANCE_ID)
}

fn hit(spec: EventSpec, after_seconds: i64, rule: &&'static str) -> Step {
    Step {
        spec,
        after: TimeDelta::seconds(after_seconds),
        planted_for: Some(*rule),
    }
}

fn miss(spec: EventSpec, after_seconds: i64) -> Step {
    Step {
        spec,
        after: TimeDelta::seconds(after_seconds),
        planted_for: None,
    }
}

/// `spec` planted for `rule`, then the same call failing 5 seconds later (a near miss: the
/// rules look for successful calls).
fn then_failed(spec: EventSpec, rule: &&'static str) -> Vec<Step> {
    vec![hit(spec.clone(), 0, rule), miss(spec.failed(), 5)]
}

fn bucket_policy(statement: Value) -> Value {
    json!({"bucketPolicy": {"Version": "2012-10-17", "Statement": [statement]}})
}

fn snapshot_permission(change: &str) -> Value {
    json!({
        "snapshotId": "snap-0b1c2d3e4f5a6b7c8",
        "attributeType": "CREATE_VOLUME_PERMISSION",
        "createVolumePermission": {change: {"items": [{"userId": EXTERNAL_ACCOUNT_ID}]}},
    })
}

fn lambda_permission(principal: &str) -> Value {
    json!({
        "functionName": "orders-api",
        "statementId": "invoke-permission",
        "action": "lambda:InvokeFunction",
        "principal": principal,
    })
}

fn mfa_device() -> Value {
    json!({"virtualMFADeviceName": "ci-device", "path": "/"})
}

/// The activity of every rule of [`AWS_EQL_RULES`], in that order.
pub fn aws_eql_scenarios() -> Vec<Scenario> {
    let [
        quarantine,
        lifecycle,
        logging,
        bedrock_rule,
        ebs_shared,
        rds_shared,
        policy_external,
        policy_public,
        replication,
        ebs_removed,
        deletion_protection,
        rds_deleted,
        ransom,
        versioning,
        agent,
        console,
        mfa,
        root_profile,
        trust_anchor,
        lambda_any,
        lambda_cross,
        function_url,
        rds_password,
        rds_public,
        admin_group,
        admin_role,
        admin_user,
        instance_iam,
    ] = &AWS_EQL_RULES;
    let scenario = |rule: &'static str, steps: Vec<Step>| Scenario { rule, steps };
    let key_user = Identity::iam_user(DEFAULT_ACCOUNT_ID, "ml-batch");
    let slow_user = Identity::iam_user(DEFAULT_ACCOUNT_ID, "ml-notebook");
    let pipeline_role =
        Identity::assumed_role(DEFAULT_ACCOUNT_ID, "data-pipeline-lambda", "model-eval");
    let sso = Identity::assumed_role(
        DEFAULT_ACCOUNT_ID,
        "AWSReservedSSO_AdministratorAccess_4f1b2c3d5e6f7a8b",
        "frank.li@example.com",
    );
    vec![
        scenario(quarantine, then_failed(iam("AttachUserPolicy", json!({"userName": "ci-deployer",
            "policyArn": "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV2"})), quarantine)),
        scenario(lifecycle, vec![
            hit(s3("PutBucketLifecycle", "acme-prod-logs", json!({"LifecycleConfiguration": {
                "xmlns": S3_XMLNS, "Rule": {"ID": "purge", "Status": "Enabled",
                "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 1}}}})), 0, lifecycle),
            miss(s3("PutBucketLifecycle", "acme-prod-logs", json!({"LifecycleConfiguration": {
                "xmlns": S3_XMLNS, "Rule": {"ID": "archive", "Status": "Enabled",
                "Filter": {"Prefix": "logs/"}, "Transition": {"Days": 30, "StorageClass": "GLACIER"}}}})), 5),
        ]),
        scenario(logging, vec![
            hit(s3("PutBucketLogging", "acme-prod-artifacts",
                json!({"BucketLoggingStatus": {"xmlns": S3_XMLNS}})), 0, logging),
            miss(s3("PutBucketLogging", "acme-prod-artifacts", json!({"BucketLoggingStatus": {
                "xmlns": S3_XMLNS, "LoggingEnabled": {"TargetBucket": "acme-prod-logs",
                "TargetPrefix": "s3-access/"}}})), 5),
        ]),
        scenario(bedrock_rule, vec![
            // The sequence: a long-term key lists the models, then invokes one, 2 minutes later.
            hit(bedrock("ListFoundationModels", &key_user, json!({"byOutputModality": "TEXT"}))
                .with_read_only(true), 0, bedrock_rule),
            hit(bedrock("InvokeModel", &key_user,
                json!({"modelId": "anthropic.claude-3-haiku-20240307-v1:0"})), 120, bedrock_rule),
            // Temporary credentials (an ASIA key): not a long-term key.
            miss(bedrock("ListFoundationModels", &pipeline_role, json!({"byOutputModality": "TEXT"}))
                .with_read_only(true), 10),
            miss(bedrock("InvokeModel", &pipeline_role,
                json!({"modelId": "anthropic.claude-3-haiku-20240307-v1:0"})), 10),
            // Another long-term key whose invocation comes 16 minutes later: past the maxspan.
            miss(bedrock("ListFoundationModels", &slow_user, json!({"byOutputModality": "TEXT"}))
                .with_read_only(true), 10),
            miss(bedrock("Converse", &slow_user,
                json!({"modelId": "anthropic.claude-3-haiku-20240307-v1:0"})), 960),
        ]),
        scenario(ebs_shared, then_failed(ec2("ModifySnapshotAttribute", snapshot_permission("add")), ebs_shared)),
        scenario(rds_shared, vec![
            hit(rds("ModifyDBSnapshotAttribute", json!({"dBSnapshotIdentifier": "orders-nightly",
                "attributeName": "restore", "valuesToAdd": [EXTERNAL_ACCOUNT_ID]})), 0, rds_shared),
            miss(rds("ModifyDBSnapshotAttribute", json!({"dBSnapshotIdentifier": "orders-nightly",
                "attributeName": "restore", "valuesToRemove": [EXTERNAL_ACCOUNT_ID]})), 5),
        ]),
        scenario(policy_external, vec![
            hit(s3("PutBucketPolicy", "acme-data-lake-raw", bucket_policy(json!({"Sid": "partner",
                "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{EXTERNAL_ACCOUNT_ID}:root")},
                "Action": "s3:GetObject", "Resource": "arn:aws:s3:::acme-data-lake-raw/*"}))), 0, policy_external),
            // The account's own role: names the recipient account.
            miss(s3("PutBucketPolicy", "acme-data-lake-raw", bucket_policy(json!({"Sid": "app",
                "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/app-server-role")},
                "Action": "s3:GetObject", "Resource": "arn:aws:s3:::acme-data-lake-raw/*"}))), 5),
            // CloudFront's origin access identity.
            miss(s3("PutBucketPolicy", "acme-public-assets", bucket_policy(json!({"Sid": "cdn",
                "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity E2QWRUHAPOMQZL"},
                "Action": "s3:GetObject", "Resource": "arn:aws:s3:::acme-public-assets/*"}))), 5),
        ]),
        scenario(policy_public, vec![
            hit(s3("PutBucketPolicy", "acme-public-assets", bucket_policy(json!({"Sid": "public",
                "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::acme-public-assets/*"}))), 0, policy_public),
            miss(s3("PutBucketPolicy", "acme-public-assets", bucket_policy(json!({"Sid": "deny-http",
                "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": "arn:aws:s3:::acme-public-assets/*"}))), 5),
        ]),
        scenario(replication, vec![
            hit(s3("PutBucketReplication", "acme-prod-artifacts", json!({"ReplicationConfiguration": {
                "xmlns": S3_XMLNS, "Role": format!("arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/replication"),
                "Rule": {"ID": "copy-out", "Status": "Enabled", "Destination": {
                    "Bucket": "arn:aws:s3:::partner-drop", "Account": EXTERNAL_ACCOUNT_ID}}}})), 0, replication),
            miss(s3("PutBucketReplication", "acme-prod-artifacts", json!({"ReplicationConfiguration": {
                "xmlns": S3_XMLNS, "Role": format!("arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/replication"),
                "Rule": {"ID": "dr-copy", "Status": "Enabled", "Destination": {
                    "Bucket": "arn:aws:s3:::acme-prod-artifacts-dr"}}}})), 5),
        ]),
        scenario(ebs_removed, vec![
            hit(ec2("ModifySnapshotAttribute", snapshot_permission("remove")), 0, ebs_removed),
            // AWS Backup tidying its own copies.
            miss(ec2("ModifySnapshotAttribute", snapshot_permission("remove"))
                .with_source_ip(BACKUP).with_user_agent(BACKUP), 5),
        ]),
        scenario(deletion_protection, vec![
            hit(rds("ModifyDBCluster", json!({"dBClusterIdentifier": "orders-cluster",
                "deletionProtection": false, "applyImmediately": true})), 0, deletion_protection),
            miss(rds("ModifyDBCluster", json!({"dBClusterIdentifier": "orders-cluster",
                "deletionProtection": true, "applyImmediately": true})), 5),
        ]),
        scenario(rds_deleted, vec![
            hit(rds("DeleteDBSnapshot", json!({"dBSnapshotIdentifier": "orders-nightly"})), 0, rds_deleted),
            hit(rds("ModifyDBInstance", json!({"dBInstanceIdentifier": "orders-db",
                "backupRetentionPeriod": 0, "applyImmediately": true})), 5, rds_deleted),
            // AWS Backup deleting an expired snapshot.
            miss(rds("DeleteDBSnapshot", json!({"dBSnapshotIdentifier": "awsbackup-job-7f3a"}))
                .with_source_ip(BACKUP).with_user_agent(BACKUP), 5),
        ]),
        scenario(ransom, vec![
            // Planted, but no rule can see it: PutObject has no event.category.
            miss(s3("PutObject", "acme-data-lake-raw", json!({"key": "README_HOW_TO_DECRYPT.txt"}))
                .with_resources(json!([
                    {"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::acme-data-lake-raw/README_HOW_TO_DECRYPT.txt"},
                    {"accountId": DEFAULT_ACCOUNT_ID, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::acme-data-lake-raw"},
                ])), 0),
        ]),
        scenario(versioning, vec![
            hit(s3("PutBucketVersioning", "acme-terraform-state", json!({"VersioningConfiguration": {
                "xmlns": S3_XMLNS, "Status": "Suspended"}})), 0, versioning),
            miss(s3("PutBucketVersioning", "acme-terraform-state", json!({"VersioningConfiguration": {
                "xmlns": S3_XMLNS, "Status": "Enabled"}})), 5),
        ]),
        scenario(agent, vec![
            hit(call("sts.amazonaws.com", "GetCallerIdentity", "us-east-1", Value::Null)
                .with_user_agent(KALI_AGENT).with_read_only(true), 0, agent),
            hit(call("sts.amazonaws.com", "GetCallerIdentity", "us-east-1", Value::Null)
                .with_user("svc-reporting").with_user_agent(TRUFFLEHOG_AGENT).with_read_only(true), 5, agent),
            miss(call("s3.amazonaws.com", "ListBuckets", "eu-central-1", Value::Null)
                .with_user_agent(KALI_AGENT).with_read_only(true).failed(), 5),
        ]),
        scenario(console, vec![
            hit(call("signin.amazonaws.com", "GetSigninToken", "us-east-1", Value::Null)
                .with_identity(instance_role()), 0, console),
            hit(EventSpec::new("ConsoleLogin").with_identity(instance_role()), 5, console),
            miss(call("signin.amazonaws.com", "GetSigninToken", "us-east-1", Value::Null)
                .with_identity(sso.clone()), 5),
        ]),
        scenario(mfa, vec![
            hit(iam("CreateVirtualMFADevice", mfa_device()).with_identity(pipeline_role.clone()), 0, mfa),
            hit(iam("EnableMFADevice", json!({"userName": "ci-deployer",
                "serialNumber": format!("arn:aws:iam::{DEFAULT_ACCOUNT_ID}:mfa/ci-device")}))
                .with_identity(pipeline_role.clone()), 5, mfa),
            // A long-term key (AKIA) is not what the rule looks for.
            miss(iam("CreateVirtualMFADevice", mfa_device()), 5),
        ]),
        scenario(root_profile, vec![
            hit(iam("CreateLoginProfile", json!({"passwordResetRequired": false}))
                .with_identity(Identity::root(DEFAULT_ACCOUNT_ID)), 0, root_profile),
            // Root giving a user a password.
            miss(iam("CreateLoginProfile", json!({"userName": "carol.smith", "passwordResetRequired": true}))
                .with_identity(Identity::root(DEFAULT_ACCOUNT_ID)), 5),
        ]),
        scenario(trust_anchor, vec![
            hit(call("rolesanywhere.amazonaws.com", "CreateTrustAnchor", "eu-central-1", json!({
                "name": "partner-ca", "enabled": true, "source": {"sourceType": "CERTIFICATE_BUNDLE",
                "sourceData": {"x509CertificateData": "MIIBszCCAVmgAwIBAgIUd2Vzb21lY2E"}}})), 0, trust_anchor),
            miss(call("rolesanywhere.amazonaws.com", "CreateTrustAnchor", "eu-central-1", json!({
                "name": "corp-pca", "enabled": true, "source": {"sourceType": "AWS_ACM_PCA",
                "sourceData": {"acmPcaArn": format!("arn:aws:acm-pca:eu-central-1:{DEFAULT_ACCOUNT_ID}:certificate-authority/0f1e2d3c")}}})), 5),
        ]),
        scenario(lambda_any, then_failed(lambda("AddPermission20150331v2", lambda_permission("*")), lambda_any)),
        scenario(lambda_cross, vec![
            hit(lambda("AddPermission20150331v2", lambda_permission(EXTERNAL_ACCOUNT_ID)), 0, lambda_cross),
            // A service principal.
            miss(lambda("AddPermission20150331v2", lambda_permission("s3.amazonaws.com")), 5),
        ]),
        scenario(function_url, vec![
            hit(lambda("CreateFunctionUrlConfig20211031", json!({"functionName": "orders-api",
                "authType": "NONE"})), 0, function_url),
            miss(lambda("CreateFunctionUrlConfig20211031", json!({"functionName": "orders-api",
                "authType": "AWS_IAM"})), 5),
            // Infrastructure as code.
            miss(lambda("UpdateFunctionUrlConfig20211031", json!({"functionName": "orders-api",
                "authType": "NONE"})).with_user_agent(TERRAFORM_AGENT), 5),
        ]),
        scenario(rds_password, vec![
            hit(rds("ModifyDBInstance", json!({"dBInstanceIdentifier": "orders-db",
                "masterUserPassword": "HIDDEN_DUE_TO_SECURITY_REASONS", "applyImmediately": true})), 0, rds_password),
            miss(rds("ModifyDBInstance", json!({"dBInstanceIdentifier": "orders-db",
                "allocatedStorage": 200, "applyImmediately": true})), 5),
        ]),
        scenario(rds_public, vec![
            hit(rds("ModifyDBInstance", json!({"dBInstanceIdentifier": "reports-db",
                "publiclyAccessible": true, "applyImmediately": true})), 0, rds_public),
            hit(rds("CreateDBInstance", json!({"dBInstanceIdentifier": "scratch-db",
                "dBInstanceClass": "db.t3.micro", "engine": "postgres", "publiclyAccessible": true})), 5, rds_public),
            miss(rds("ModifyDBInstance", json!({"dBInstanceIdentifier": "reports-db",
                "publiclyAccessible": false, "applyImmediately": true})), 5),
        ]),
        scenario(admin_group, vec![
            hit(iam("AttachGroupPolicy", json!({"groupName": "OnCall", "policyArn": ADMIN_POLICY})), 0, admin_group),
            miss(iam("AttachGroupPolicy", json!({"groupName": "OnCall", "policyArn": READ_ONLY_POLICY})), 5),
        ]),
        scenario(admin_role, vec![
            // Planted, but no rule can see it: AttachRolePolicy has no event.category.
            miss(iam("AttachRolePolicy", json!({"roleName": "GitHubActionsDeploy", "policyArn": ADMIN_POLICY})), 0),
        ]),
        scenario(admin_user, then_failed(iam("AttachUserPolicy", json!({"userName": "intern.2024",
            "policyArn": ADMIN_POLICY})), admin_user)),
        scenario(instance_iam, vec![
            hit(iam("CreateAccessKey", json!({"userName": "backup-operator"}))
                .with_identity(instance_role()), 0, instance_iam),
            // The building block has no outcome condition: a denied attempt counts too.
            hit(iam("PutRolePolicy", json!({"roleName": "app-server-role", "policyName": "escalate"}))
                .with_identity(instance_role()).failed(), 5, instance_iam),
            miss(iam("ListRoles", Value::Null).with_identity(instance_role()).with_read_only(true), 5),
            miss(iam("CreateAccessKey", json!({"userName": "backup-operator"}))
                .with_identity(pipeline_role.clone()), 5),
        ]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_one_scenario_in_order() {
        let scenarios = aws_eql_scenarios();
        let rules: Vec<&str> = scenarios.iter().map(|s| s.rule).collect();
        assert_eq!(rules, AWS_EQL_RULES);
    }

    #[test]
    fn each_reachable_rule_has_planted_calls_and_the_unreachable_ones_none() {
        for scenario in aws_eql_scenarios() {
            let planted = scenario
                .steps
                .iter()
                .filter(|s| s.planted_for == Some(scenario.rule))
                .count();
            let unreachable = UNREACHABLE_AWS_EQL_RULES
                .iter()
                .any(|(rule, _)| *rule == scenario.rule);
            assert_eq!(planted == 0, unreachable, "{}", scenario.rule);
            assert!(
                scenario
                    .steps
                    .iter()
                    .all(|s| s.planted_for.is_none_or(|r| r == scenario.rule)),
                "{}",
                scenario.rule
            );
        }
    }

    #[test]
    fn scenarios_fit_in_their_span_and_have_distinct_event_ids() {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .expect("valid")
            .to_utc();
        let mut ids = std::collections::BTreeSet::new();
        for scenario in aws_eql_scenarios() {
            let events = scenario.events(start);
            let last = events.last().expect("steps").timestamp;
            assert!(last - start <= SCENARIO_SPAN, "{}", scenario.rule);
            for event in events {
                let doc = event.to_document();
                let id = doc["event"]["id"].as_str().expect("an id").to_string();
                assert!(ids.insert(id), "{}", scenario.rule);
            }
        }
    }

    #[test]
    fn request_parameters_hold_the_strings_the_rules_test() {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .expect("valid")
            .to_utc();
        let text = |rule: &str, step: usize| {
            let events = scenario(rule).expect("known").events(start);
            events[step].to_document()["aws"]["cloudtrail"]["request_parameters"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let public = text("exfiltration_s3_bucket_policy_added_for_public_access", 0);
        assert!(public.contains("Effect=Allow") && public.contains("Principal=*"));
        let shared = text("exfiltration_rds_snapshot_shared_with_another_account", 0);
        assert!(shared.contains("valuesToAdd=[999988887777]"), "{shared}");
        let ebs = text(
            "exfiltration_ec2_ebs_snapshot_shared_with_another_account",
            0,
        );
        assert!(ebs.contains("attributeType=CREATE_VOLUME_PERMISSION") && ebs.contains("add="));
        let retention = text("impact_rds_snapshot_deleted", 1);
        assert!(retention.contains("backupRetentionPeriod=0"), "{retention}");
    }
}
