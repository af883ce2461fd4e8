//! Who makes the generated calls and from where: AWS identities (IAM users, assumed roles,
//! Identity Center sessions, root, AWS service principals), source addresses and user agents.
//! Pure data plus deterministic constructors; no randomness lives here.

use sha2::{Digest, Sha256};

/// The account every default identity belongs to (an AWS documentation example).
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";
/// A second account that shows up in cross-account role assumptions.
pub const PARTNER_ACCOUNT_ID: &str = "210987654321";
/// The characters of AWS unique ids (`AIDA...`, `AKIA...`).
const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Length of the part after the four-letter prefix of AWS unique ids and access key ids.
const ID_SUFFIX_LEN: usize = 16;

/// `userIdentity.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityKind {
    IamUser,
    AssumedRole,
    Root,
    AwsService,
}

impl IdentityKind {
    /// The value CloudTrail writes.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::IamUser => "IAMUser",
            IdentityKind::AssumedRole => "AssumedRole",
            IdentityKind::Root => "Root",
            IdentityKind::AwsService => "AWSService",
        }
    }
}

/// How an identity behaves: which user agents and addresses it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// A person at a browser or a terminal.
    Human,
    /// CI, Terraform, applications on EC2 or Lambda.
    Automation,
    /// An AWS service acting for the account.
    Service,
}

/// The caller of one API call (CloudTrail `userIdentity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub kind: IdentityKind,
    /// The caller's account (`cloud.account.id`); None for AWS service principals.
    pub account_id: Option<String>,
    /// IAM user name, role name (for assumed roles), or service principal.
    pub name: String,
    /// `principalId` (`user.id`); None for AWS service principals.
    pub principal_id: Option<String>,
    pub arn: Option<String>,
    pub access_key_id: Option<String>,
    /// Assumed roles: the role's own unique id (`AROA...`) and ARN.
    pub role_id: Option<String>,
    pub role_arn: Option<String>,
    pub mfa_authenticated: bool,
    /// `invokedBy`: set for AWS service principals and console-driven calls.
    pub invoked_by: Option<String>,
    pub profile: Profile,
}

impl Identity {
    /// An IAM user of the account, using long-term access keys.
    pub fn iam_user(account_id: &str, name: &str) -> Self {
        Self {
            kind: IdentityKind::IamUser,
            account_id: Some(account_id.to_string()),
            name: name.to_string(),
            principal_id: Some(fake_id("AIDA", name)),
            arn: Some(format!("arn:aws:iam::{account_id}:user/{name}")),
            access_key_id: Some(fake_id("AKIA", name)),
            role_id: None,
            role_arn: None,
            mfa_authenticated: false,
            invoked_by: None,
            profile: Profile::Human,
        }
    }

    /// A session of a role (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`).
    pub fn assumed_role(account_id: &str, role: &str, session: &str) -> Self {
        let role_id = fake_id("AROA", role);
        Self {
            kind: IdentityKind::AssumedRole,
            account_id: Some(account_id.to_string()),
            name: role.to_string(),
            principal_id: Some(format!("{role_id}:{session}")),
            arn: Some(format!(
                "arn:aws:sts::{account_id}:assumed-role/{role}/{session}"
            )),
            access_key_id: Some(fake_id("ASIA", &format!("{role}/{session}"))),
            role_id: Some(role_id),
            role_arn: Some(format!("arn:aws:iam::{account_id}:role/{role}")),
            mfa_authenticated: false,
            invoked_by: None,
            profile: Profile::Automation,
        }
    }

    /// The account's root user.
    pub fn root(account_id: &str) -> Self {
        Self {
            kind: IdentityKind::Root,
            account_id: Some(account_id.to_string()),
            name: "root".to_string(),
            principal_id: Some(account_id.to_string()),
            arn: Some(format!("arn:aws:iam::{account_id}:root")),
            access_key_id: None,
            role_id: None,
            role_arn: None,
            mfa_authenticated: true,
            invoked_by: None,
            profile: Profile::Human,
        }
    }

    /// An AWS service acting on the account's behalf (`lambda.amazonaws.com`).
    pub fn aws_service(principal: &str) -> Self {
        Self {
            kind: IdentityKind::AwsService,
            account_id: None,
            name: principal.to_string(),
            principal_id: None,
            arn: None,
            access_key_id: None,
            role_id: None,
            role_arn: None,
            mfa_authenticated: false,
            invoked_by: Some(principal.to_string()),
            profile: Profile::Service,
        }
    }

    /// The same identity with another behaviour profile.
    pub fn with_profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// The same identity, marked as having signed in with MFA.
    pub fn with_mfa(mut self) -> Self {
        self.mfa_authenticated = true;
        self
    }

    /// The name ECS puts in `user.name`: the user name, or the role name for assumed roles; None
    /// for root and service principals (CloudTrail gives them no `userName`).
    pub fn user_name(&self) -> Option<&str> {
        match self.kind {
            IdentityKind::IamUser | IdentityKind::AssumedRole => Some(&self.name),
            IdentityKind::Root | IdentityKind::AwsService => None,
        }
    }
}

/// A stable, AWS-looking unique id: `prefix` followed by 16 characters derived from `seed`.
pub fn fake_id(prefix: &str, seed: &str) -> String {
    let digest = Sha256::digest(format!("{prefix}/{seed}").as_bytes());
    let suffix: String = digest
        .iter()
        .take(ID_SUFFIX_LEN)
        .map(|byte| char::from(ID_ALPHABET[usize::from(*byte) % ID_ALPHABET.len()]))
        .collect();
    format!("{prefix}{suffix}")
}

/// The population the generator draws callers from, with relative weights.
pub fn population() -> Vec<(Identity, u32)> {
    let a = DEFAULT_ACCOUNT_ID;
    vec![
        (Identity::iam_user(a, "alice.nguyen").with_mfa(), 8),
        (Identity::iam_user(a, "bob.martin"), 6),
        (Identity::iam_user(a, "carol.smith").with_mfa(), 5),
        (Identity::iam_user(a, "dave.ops"), 4),
        (Identity::iam_user(a, "erin.admin").with_mfa(), 2),
        (
            Identity::iam_user(a, "ci-deployer").with_profile(Profile::Automation),
            10,
        ),
        (
            Identity::iam_user(a, "terraform").with_profile(Profile::Automation),
            6,
        ),
        (
            Identity::assumed_role(
                a,
                "AWSReservedSSO_AdministratorAccess_4f1b2c3d5e6f7a8b",
                "frank.li@example.com",
            )
            .with_profile(Profile::Human)
            .with_mfa(),
            4,
        ),
        (
            Identity::assumed_role(
                a,
                "AWSReservedSSO_ReadOnlyAccess_9a8b7c6d5e4f3a2b",
                "grace.kim@example.com",
            )
            .with_profile(Profile::Human)
            .with_mfa(),
            5,
        ),
        (
            Identity::assumed_role(a, "app-server-role", "i-0a1b2c3d4e5f60718"),
            14,
        ),
        (
            Identity::assumed_role(a, "data-pipeline-lambda", "data-pipeline-ingest"),
            10,
        ),
        (
            Identity::assumed_role(a, "GitHubActionsDeploy", "GitHubActions"),
            6,
        ),
        (
            Identity::assumed_role(
                PARTNER_ACCOUNT_ID,
                "OrganizationAccountAccessRole",
                "audit-session",
            ),
            2,
        ),
        (Identity::aws_service("lambda.amazonaws.com"), 5),
        (Identity::aws_service("ec2.amazonaws.com"), 3),
        (Identity::aws_service("cloudformation.amazonaws.com"), 1),
        (Identity::root(a), 1),
    ]
}

/// Where a call comes from: CloudTrail's `sourceIPAddress` (an IP or a service name) and, for
/// VPC endpoint traffic, the endpoint id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub address: String,
    pub vpc_endpoint_id: Option<String>,
}

impl Source {
    /// A plain address (IP or service name).
    pub fn new(address: &str) -> Self {
        Self {
            address: address.to_string(),
            vpc_endpoint_id: None,
        }
    }
}

/// Corporate egress addresses (office NAT and VPN; documentation ranges, unknown to GeoIP).
pub const CORPORATE_ADDRESSES: &[&str] = &[
    "203.0.113.10",
    "203.0.113.11",
    "203.0.113.12",
    "203.0.113.24",
    "198.51.100.7",
    "198.51.100.8",
    "198.51.100.42",
];
/// Addresses of workloads inside AWS (EC2 public addresses and NAT gateways).
pub const AWS_ADDRESSES: &[&str] = &[
    "3.120.181.40",
    "3.121.6.180",
    "18.197.14.23",
    "52.59.93.111",
];
/// Private addresses seen through a VPC endpoint, with the endpoint's id.
pub const VPC_ADDRESSES: &[&str] = &["10.20.1.17", "10.20.2.45", "10.20.3.9"];
/// The VPC endpoint private traffic goes through.
pub const VPC_ENDPOINT_ID: &str = "vpce-0f1e2d3c4b5a69788";
/// Public addresses from elsewhere (home connections, travel, attackers).
pub const PUBLIC_ADDRESSES: &[&str] = &[
    "89.160.20.156",
    "89.160.20.128",
    "81.2.69.144",
    "81.2.69.160",
    "216.160.83.56",
    "175.16.199.20",
];

/// User agents of people at a browser (console) and terminal.
pub const HUMAN_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:124.0) Gecko/20100101 Firefox/124.0",
    "aws-cli/2.15.30 Python/3.11.8 Darwin/23.4.0 exe/x86_64 prompt/off",
    "AWS Internal",
];
/// User agents of SDKs, CI and infrastructure tools.
pub const AUTOMATION_AGENTS: &[&str] = &[
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10.213-201.855.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69",
    "aws-sdk-go-v2/1.26.0 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/sts#1.28.5",
    "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.43.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.26.0 os/linux lang/go#1.22.1",
    "aws-cli/2.15.30 Python/3.11.8 Linux/5.10.210 exe/x86_64.amzn.2 prompt/off",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_ids_are_stable_and_aws_shaped() {
        let id = fake_id("AIDA", "alice");
        assert_eq!(id, fake_id("AIDA", "alice"));
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("AIDA"));
        assert_ne!(id, fake_id("AIDA", "bob"));
    }

    #[test]
    fn assumed_role_names_the_role_and_session() {
        let role = Identity::assumed_role("111122223333", "Deploy", "ci");
        assert_eq!(
            role.arn.as_deref(),
            Some("arn:aws:sts::111122223333:assumed-role/Deploy/ci")
        );
        assert_eq!(role.user_name(), Some("Deploy"));
        assert!(
            role.principal_id
                .as_deref()
                .is_some_and(|id| id.ends_with(":ci"))
        );
    }

    #[test]
    fn root_and_services_have_no_user_name() {
        assert_eq!(Identity::root(DEFAULT_ACCOUNT_ID).user_name(), None);
        assert_eq!(
            Identity::aws_service("lambda.amazonaws.com").user_name(),
            None
        );
    }
}
