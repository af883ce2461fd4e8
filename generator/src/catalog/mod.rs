//! The catalogue of CloudTrail actions the generator knows: for each, the service, how often it
//! shows up in ordinary traffic, who calls it, its request parameters and response elements, the
//! errors it fails with, and the ECS categorisation the AWS integration gives it. Pure data and
//! small builders (in `builders.rs`); randomness comes in through [`Pick`].

use super::identities::{Identity, Profile};
use chrono::{DateTime, Utc};
use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;
use serde_json::{Map, Value};

mod builders;

pub use builders::REGIONS;
use builders::*;

/// An AWS service that writes CloudTrail events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Iam,
    Sts,
    Signin,
    S3,
    Ec2,
    Kms,
    CloudTrail,
}

impl Service {
    /// `eventSource` / `event.provider`.
    pub fn provider(self) -> &'static str {
        match self {
            Service::Iam => "iam.amazonaws.com",
            Service::Sts => "sts.amazonaws.com",
            Service::Signin => "signin.amazonaws.com",
            Service::S3 => "s3.amazonaws.com",
            Service::Ec2 => "ec2.amazonaws.com",
            Service::Kms => "kms.amazonaws.com",
            Service::CloudTrail => "cloudtrail.amazonaws.com",
        }
    }

    /// The prefix of its IAM actions (`iam:AddUserToGroup`).
    pub fn prefix(self) -> &'static str {
        self.provider()
            .split('.')
            .next()
            .expect("a provider always has a first label")
    }

    /// Global services log in us-east-1.
    pub fn is_global(self) -> bool {
        matches!(self, Service::Iam | Service::Signin)
    }

    /// The service a provider name (`iam.amazonaws.com`) stands for.
    pub fn from_provider(provider: &str) -> Option<Service> {
        ALL_SERVICES
            .iter()
            .copied()
            .find(|s| s.provider() == provider)
    }
}

const ALL_SERVICES: &[Service] = &[
    Service::Iam,
    Service::Sts,
    Service::Signin,
    Service::S3,
    Service::Ec2,
    Service::Kms,
    Service::CloudTrail,
];

/// Chooses values: from a seeded generator, or (for hand-made specs) always the first option, so
/// that `EventSpec::new` is deterministic without a seed.
pub struct Pick<'a> {
    rng: Option<&'a mut Xoshiro256PlusPlus>,
}

impl<'a> Pick<'a> {
    /// Random choices.
    pub fn random(rng: &'a mut Xoshiro256PlusPlus) -> Self {
        Self { rng: Some(rng) }
    }

    /// Always the first option.
    pub fn first() -> Pick<'static> {
        Pick { rng: None }
    }

    /// One of `options` (which must not be empty).
    pub fn one<T: Copy>(&mut self, options: &[T]) -> T {
        match &mut self.rng {
            Some(rng) => options[rng.random_range(0..options.len())],
            None => options[0],
        }
    }

    /// A number in `range`, its start when not random.
    pub fn number(&mut self, range: std::ops::Range<u64>) -> u64 {
        match &mut self.rng {
            Some(rng) => rng.random_range(range),
            None => range.start,
        }
    }
}

/// One way an action fails: CloudTrail `errorCode` and `errorMessage`. The message may hold
/// `{arn}` (the caller), `{action}`, `{resource}`, `{group}` and `{user}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub code: &'static str,
    pub message: Option<&'static str>,
}

const fn fail(code: &'static str, message: &'static str) -> Failure {
    Failure {
        code,
        message: Some(message),
    }
}

const IAM_DENIED: Failure = fail(
    "AccessDenied",
    "User: {arn} is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action",
);
const KMS_DENIED: Failure = fail(
    "AccessDeniedException",
    "User: {arn} is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action",
);
const S3_DENIED: Failure = fail("AccessDenied", "Access Denied");
const EC2_DENIED: Failure = fail(
    "Client.UnauthorizedOperation",
    "You are not authorized to perform this operation.",
);
const EXPIRED: Failure = fail(
    "ExpiredToken",
    "The security token included in the request is expired",
);

/// Builds request parameters.
type ParamsFn = fn(&mut Pick, &Identity, &str) -> Option<Map<String, Value>>;
/// Builds the response elements of a successful call from its parameters.
type ResponseFn = fn(&Map<String, Value>, &str, DateTime<Utc>) -> Value;

/// One catalogue entry.
#[derive(Debug)]
pub struct ActionDef {
    pub name: &'static str,
    pub service: Service,
    /// Relative frequency in ordinary traffic (0: only when asked for).
    pub weight: u32,
    pub read_only: bool,
    /// Who calls it.
    pub callers: &'static [Profile],
    pub params: ParamsFn,
    pub response: Option<ResponseFn>,
    /// How it fails, most common first.
    pub failures: &'static [Failure],
}

const ANYONE: &[Profile] = &[Profile::Human, Profile::Automation];
const PEOPLE: &[Profile] = &[Profile::Human];
const SERVICES_TOO: &[Profile] = &[Profile::Human, Profile::Automation, Profile::Service];

const fn def(
    name: &'static str,
    service: Service,
    weight: u32,
    read_only: bool,
    callers: &'static [Profile],
    params: ParamsFn,
    failures: &'static [Failure],
) -> ActionDef {
    ActionDef {
        name,
        service,
        weight,
        read_only,
        callers,
        params,
        response: None,
        failures,
    }
}

const fn with_response(mut action: ActionDef, response: ResponseFn) -> ActionDef {
    action.response = Some(response);
    action
}

/// The seed actions of the project's two starting rules.
pub const SEED_ACTIONS: &[&str] = &["AddUserToGroup", "CreateGroup"];

/// Every action the generator knows.
#[rustfmt::skip]
pub static CATALOG: &[ActionDef] = &[
    // sts
    def("GetCallerIdentity", Service::Sts, 90, true, ANYONE, no_params, &[EXPIRED]),
    with_response(def("AssumeRole", Service::Sts, 110, true, SERVICES_TOO, assume_role_params, &[IAM_DENIED, EXPIRED]), assume_role_response),
    // signin
    def("ConsoleLogin", Service::Signin, 25, false, PEOPLE, no_params, &[]),
    // s3
    def("ListBuckets", Service::S3, 70, true, ANYONE, s3_host_params, &[S3_DENIED]),
    def("GetBucketLocation", Service::S3, 30, true, ANYONE, bucket_params, &[S3_DENIED]),
    def("GetBucketAcl", Service::S3, 25, true, ANYONE, bucket_params, &[S3_DENIED]),
    def("GetBucketPolicy", Service::S3, 20, true, ANYONE, bucket_params, &[fail("NoSuchBucketPolicy", "The bucket policy does not exist"), S3_DENIED]),
    def("GetBucketEncryption", Service::S3, 15, true, ANYONE, bucket_params, &[S3_DENIED]),
    def("CreateBucket", Service::S3, 2, false, ANYONE, bucket_params, &[fail("BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it."), S3_DENIED]),
    def("DeleteBucket", Service::S3, 1, false, ANYONE, bucket_params, &[fail("BucketNotEmpty", "The bucket you tried to delete is not empty"), S3_DENIED]),
    def("PutBucketPolicy", Service::S3, 1, false, ANYONE, bucket_params, &[S3_DENIED]),
    // ec2
    def("DescribeInstances", Service::Ec2, 100, true, ANYONE, describe_params, &[fail("Client.RequestLimitExceeded", "Request limit exceeded."), EC2_DENIED]),
    def("DescribeSecurityGroups", Service::Ec2, 35, true, ANYONE, describe_params, &[EC2_DENIED]),
    def("DescribeVpcs", Service::Ec2, 20, true, ANYONE, describe_params, &[EC2_DENIED]),
    def("DescribeRegions", Service::Ec2, 25, true, ANYONE, describe_params, &[EC2_DENIED]),
    def("RunInstances", Service::Ec2, 4, false, ANYONE, run_instances_params, &[EC2_DENIED]),
    def("StopInstances", Service::Ec2, 2, false, ANYONE, instance_params, &[fail("Client.InvalidInstanceID.NotFound", "The instance ID '{resource}' does not exist"), EC2_DENIED]),
    def("AuthorizeSecurityGroupIngress", Service::Ec2, 1, false, ANYONE, ingress_params, &[EC2_DENIED]),
    def("CreateKeyPair", Service::Ec2, 1, false, ANYONE, key_pair_params, &[fail("Client.InvalidKeyPair.Duplicate", "The keypair already exists"), EC2_DENIED]),
    // kms
    def("Decrypt", Service::Kms, 80, true, SERVICES_TOO, decrypt_params, &[Failure { code: "InvalidCiphertextException", message: None }, KMS_DENIED]),
    def("GenerateDataKey", Service::Kms, 45, true, SERVICES_TOO, key_params, &[KMS_DENIED]),
    def("DescribeKey", Service::Kms, 15, true, ANYONE, key_params, &[KMS_DENIED]),
    def("ListKeys", Service::Kms, 8, true, ANYONE, no_params, &[KMS_DENIED]),
    def("ScheduleKeyDeletion", Service::Kms, 1, false, ANYONE, key_deletion_params, &[KMS_DENIED]),
    // cloudtrail
    def("DescribeTrails", Service::CloudTrail, 12, true, ANYONE, no_params, &[IAM_DENIED]),
    def("GetTrailStatus", Service::CloudTrail, 10, true, ANYONE, trail_params, &[IAM_DENIED]),
    def("LookupEvents", Service::CloudTrail, 8, true, ANYONE, no_params, &[fail("ThrottlingException", "Rate exceeded")]),
    def("StopLogging", Service::CloudTrail, 1, false, ANYONE, trail_params, &[IAM_DENIED]),
    // iam reads
    def("ListUsers", Service::Iam, 20, true, ANYONE, no_params, &[IAM_DENIED]),
    def("GetUser", Service::Iam, 15, true, ANYONE, user_params, &[fail("NoSuchEntityException", "The user with name {user} cannot be found."), IAM_DENIED]),
    def("ListRoles", Service::Iam, 20, true, ANYONE, no_params, &[IAM_DENIED]),
    def("ListGroups", Service::Iam, 8, true, ANYONE, no_params, &[IAM_DENIED]),
    def("GetGroup", Service::Iam, 5, true, ANYONE, group_params, &[fail("NoSuchEntityException", "The group with name {group} cannot be found."), IAM_DENIED]),
    def("ListGroupsForUser", Service::Iam, 6, true, ANYONE, user_params, &[IAM_DENIED]),
    def("ListAttachedUserPolicies", Service::Iam, 8, true, ANYONE, user_params, &[IAM_DENIED]),
    def("ListAccessKeys", Service::Iam, 10, true, ANYONE, user_params, &[IAM_DENIED]),
    def("GetAccountSummary", Service::Iam, 6, true, ANYONE, no_params, &[IAM_DENIED]),
    // iam changes (rare)
    with_response(def("CreateUser", Service::Iam, 2, false, ANYONE, user_params, &[fail("EntityAlreadyExistsException", "User with name {user} already exists."), IAM_DENIED]), create_user_response),
    def("DeleteUser", Service::Iam, 1, false, ANYONE, user_params, &[fail("DeleteConflictException", "Cannot delete entity, must delete access keys first."), IAM_DENIED]),
    with_response(def("CreateAccessKey", Service::Iam, 2, false, ANYONE, user_params, &[fail("LimitExceededException", "Cannot exceed quota for AccessKeysPerUser: 2"), IAM_DENIED]), create_access_key_response),
    def("DeleteAccessKey", Service::Iam, 2, false, ANYONE, access_key_params, &[IAM_DENIED]),
    def("AttachUserPolicy", Service::Iam, 1, false, ANYONE, attach_user_policy_params, &[IAM_DENIED]),
    def("AttachGroupPolicy", Service::Iam, 1, false, ANYONE, attach_group_policy_params, &[IAM_DENIED]),
    def("RemoveUserFromGroup", Service::Iam, 1, false, ANYONE, membership_params, &[IAM_DENIED]),
    def("DeleteGroup", Service::Iam, 1, false, ANYONE, group_params, &[fail("DeleteConflictException", "Cannot delete entity, must remove users from group first."), IAM_DENIED]),
    def("UpdateLoginProfile", Service::Iam, 1, false, PEOPLE, user_params, &[IAM_DENIED]),
    // the seed actions: only through the seed rate or when asked for
    def("AddUserToGroup", Service::Iam, 0, false, ANYONE, membership_params, &[IAM_DENIED, fail("NoSuchEntityException", "The group with name {group} cannot be found."), fail("LimitExceededException", "Cannot exceed quota for GroupsPerUser: 10")]),
    with_response(def("CreateGroup", Service::Iam, 0, false, ANYONE, group_params, &[fail("EntityAlreadyExistsException", "Group with name {group} already exists."), IAM_DENIED]), create_group_response),
];

/// The catalogue entry of an action.
pub fn find(action: &str) -> Option<&'static ActionDef> {
    CATALOG.iter().find(|def| def.name == action)
}

/// `event.category` and `event.type` as the integration's categorisation table gives them; actions
/// outside the table get no category and type `info`.
pub fn categorize(action: &str) -> (Option<&'static [&'static str]>, &'static [&'static str]) {
    const IAM: &[&str] = &["iam"];
    const AUTH: &[&str] = &["authentication"];
    const FILE: &[&str] = &["file"];
    match action {
        "AddUserToGroup"
        | "AttachGroupPolicy"
        | "RemoveUserFromGroup"
        | "PutGroupPolicy"
        | "DetachGroupPolicy"
        | "DeleteGroupPolicy"
        | "UpdateGroup" => (Some(IAM), &["group", "change"]),
        "CreateGroup" => (Some(IAM), &["group", "creation"]),
        "DeleteGroup" => (Some(IAM), &["group", "deletion"]),
        "CreateUser" => (Some(IAM), &["user", "creation"]),
        "DeleteUser" => (Some(IAM), &["user", "deletion"]),
        "CreateAccessKey"
        | "DeleteAccessKey"
        | "UpdateAccessKey"
        | "AttachUserPolicy"
        | "DetachUserPolicy"
        | "PutUserPolicy"
        | "ChangePassword"
        | "UpdateLoginProfile"
        | "UpdateUser"
        | "CreateVirtualMFADevice"
        | "DeactivateMFADevice"
        | "EnableMFADevice"
        | "TagUser" => (Some(IAM), &["user", "change"]),
        "GetUser"
        | "ListUsers"
        | "ListGroupsForUser"
        | "ListAttachedUserPolicies"
        | "ListUserPolicies"
        | "GetUserPolicy"
        | "ListUserTags" => (Some(IAM), &["user", "info"]),
        "GetGroup"
        | "ListGroups"
        | "GetGroupPolicy"
        | "ListAttachedGroupPolicies"
        | "ListGroupPolicies" => (Some(IAM), &["group", "info"]),
        "CreateKeyPair" => (Some(IAM), &["admin", "creation"]),
        "UpdateRole" | "SetDefaultPolicyVersion" | "UpdateAccountPasswordPolicy" => {
            (Some(IAM), &["admin", "change"])
        }
        "ConsoleLogin" | "AssumeRole" => (Some(AUTH), &["info"]),
        "CreateBucket" => (Some(FILE), &["creation"]),
        "DeleteBucket" => (Some(FILE), &["deletion"]),
        _ => (None, &["info"]),
    }
}

/// The resource an error message names, from the call's parameters.
pub fn resource_of(params: Option<&Map<String, Value>>, account: &str) -> String {
    let get = |key: &str| params.and_then(|p| p.get(key)).and_then(Value::as_str);
    if let Some(role) = get("roleArn") {
        return role.to_string();
    }
    if let Some(group) = get("groupName") {
        return format!("arn:aws:iam::{account}:group/{group}");
    }
    if let Some(user) = get("userName") {
        return format!("arn:aws:iam::{account}:user/{user}");
    }
    if let Some(bucket) = get("bucketName") {
        return format!("arn:aws:s3:::{bucket}");
    }
    if let Some(key) = get("keyId") {
        return key.to_string();
    }
    "*".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_are_unique() {
        let mut names: Vec<_> = CATALOG.iter().map(|d| d.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }

    #[test]
    fn seed_actions_are_in_the_catalogue_but_not_in_the_noise() {
        for name in SEED_ACTIONS {
            let def = find(name).expect("seed action is catalogued");
            assert_eq!(def.weight, 0);
            assert!(!def.failures.is_empty());
        }
    }

    #[test]
    fn categorisation_follows_the_integration_table() {
        assert_eq!(
            categorize("AddUserToGroup"),
            (Some(&["iam"][..]), &["group", "change"][..])
        );
        assert_eq!(categorize("CreateGroup").1, &["group", "creation"]);
        assert_eq!(categorize("ListBuckets"), (None, &["info"][..]));
    }

    #[test]
    fn first_pick_is_deterministic() {
        let identity = Identity::iam_user("111122223333", "alice");
        let params = membership_params(&mut Pick::first(), &identity, "us-east-1").expect("params");
        assert_eq!(params["userName"], "bob.martin");
        assert_eq!(params["groupName"], "Developers");
    }

    #[test]
    fn response_dates_use_the_aws_text_form() {
        let time = DateTime::parse_from_rfc3339("2020-01-09T01:48:44Z")
            .expect("valid")
            .to_utc();
        assert_eq!(aws_response_date(time), "Jan 9, 2020 1:48:44 AM");
    }
}
