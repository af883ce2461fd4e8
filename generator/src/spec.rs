//! One CloudTrail event described by what matters to a test or a rule (action, outcome, caller,
//! source, parameters) and turned into the raw CloudTrail record AWS would write
//! ([`EventSpec::to_record`]) and into the ECS document Elastic's AWS integration would index
//! ([`EventSpec::to_document`]). Pure: times are passed in.

use super::catalog::{self, Pick, Service};
use super::ecs;
use super::identities::{DEFAULT_ACCOUNT_ID, Identity, IdentityKind};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Map, Value, json};

/// The address hand-made events come from unless told otherwise (a corporate egress address).
pub const DEFAULT_SOURCE_IP: &str = "203.0.113.10";
/// The user agent of hand-made events unless told otherwise.
pub const DEFAULT_USER_AGENT: &str =
    "aws-cli/2.15.30 Python/3.11.8 Darwin/23.4.0 exe/x86_64 prompt/off";
/// The caller of hand-made events unless told otherwise.
pub const DEFAULT_USER: &str = "alice.nguyen";
/// How long before the call a role session or console session started.
pub const SESSION_AGE: TimeDelta = TimeDelta::minutes(23);
/// The message of a denial the catalogue does not know for the action.
const GENERIC_DENIED: &str =
    "User: {arn} is not authorized to perform: {action} on resource: {resource}";
/// UUID namespace for event ids of hand-made events (derived, so they are stable).
const EVENT_ID_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6c6f_6f6b_6f75_7447_656e_4576_656e_7449);

/// Whether the call succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    /// `event.outcome`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// One event to generate. Build it with [`EventSpec::new`] and the `with_*`/`failed*` methods.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSpec {
    pub action: String,
    pub provider: String,
    /// Set it with [`EventSpec::failed`] or [`EventSpec::failed_with`]: like the real pipeline,
    /// the document's `event.outcome` comes from the error code (or ConsoleLogin's result).
    pub outcome: Outcome,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub user: Identity,
    /// CloudTrail `sourceIPAddress`: an IP, or a service name such as `AWS Internal`.
    pub source_ip: String,
    pub vpc_endpoint_id: Option<String>,
    pub user_agent: String,
    pub region: String,
    pub recipient_account_id: String,
    pub request_parameters: Option<Map<String, Value>>,
    /// None: the catalogue's response for a success, nothing for a failure.
    pub response_elements: Option<Value>,
    pub read_only: Option<bool>,
    pub event_id: Option<String>,
    pub request_id: Option<String>,
    /// Keep the raw record in `event.original` (the integration's `preserve_original_event`).
    pub preserve_original: bool,
    /// ConsoleLogin: whether MFA was used.
    pub mfa_used: bool,
    /// CloudTrail `resources`; None: derived from the parameters (a role or a KMS key).
    pub resources: Option<Value>,
}

impl EventSpec {
    /// A successful call of `action` by [`DEFAULT_USER`] from [`DEFAULT_SOURCE_IP`], with the
    /// provider and request parameters the catalogue gives it (`AddUserToGroup` ->
    /// `iam.amazonaws.com`, `{userName: bob.martin, groupName: Developers}`). Unknown actions get
    /// provider `iam.amazonaws.com` and no parameters; set them with the `with_*` methods.
    pub fn new(action: &str) -> Self {
        let user = Identity::iam_user(DEFAULT_ACCOUNT_ID, DEFAULT_USER);
        let def = catalog::find(action);
        let service = def.map_or(Service::Iam, |d| d.service);
        let region = if service.is_global() {
            "us-east-1"
        } else {
            "eu-central-1"
        };
        let params = def.and_then(|d| (d.params)(&mut Pick::first(), &user, region));
        Self {
            action: action.to_string(),
            provider: service.provider().to_string(),
            outcome: Outcome::Success,
            error_code: None,
            error_message: None,
            user,
            source_ip: DEFAULT_SOURCE_IP.to_string(),
            vpc_endpoint_id: None,
            user_agent: DEFAULT_USER_AGENT.to_string(),
            region: region.to_string(),
            recipient_account_id: DEFAULT_ACCOUNT_ID.to_string(),
            request_parameters: params,
            response_elements: None,
            read_only: def.map(|d| d.read_only),
            event_id: None,
            request_id: None,
            preserve_original: false,
            mfa_used: false,
            resources: None,
        }
    }

    /// The call failed with the catalogue's most common error for this action (AccessDenied for
    /// actions without one; `Failed authentication` for ConsoleLogin).
    pub fn failed(self) -> Self {
        let code = catalog::find(&self.action)
            .and_then(|d| d.failures.first())
            .map_or("AccessDenied", |f| f.code);
        self.failed_with(code)
    }

    /// The call failed with `code`; the message comes from the catalogue when it knows the code.
    pub fn failed_with(mut self, code: &str) -> Self {
        self.outcome = Outcome::Failure;
        if self.action == "ConsoleLogin" {
            self.error_message = Some("Failed authentication".to_string());
            return self;
        }
        let known = catalog::find(&self.action)
            .and_then(|d| d.failures.iter().find(|f| f.code == code))
            .and_then(|f| f.message);
        let denied = code.contains("Denied") || code.contains("Unauthorized");
        let message = known.or(denied.then_some(GENERIC_DENIED));
        self.error_code = Some(code.to_string());
        self.error_message = message.map(|m| self.fill_message(m));
        self
    }

    /// The caller is the IAM user `name` of the default account.
    pub fn with_user(mut self, name: &str) -> Self {
        self.user = Identity::iam_user(DEFAULT_ACCOUNT_ID, name);
        self
    }

    /// The caller.
    pub fn with_identity(mut self, identity: Identity) -> Self {
        self.user = identity;
        self
    }

    /// The source address (an IP or a service name).
    pub fn with_source_ip(mut self, address: &str) -> Self {
        self.source_ip = address.to_string();
        self
    }

    /// The user agent string.
    pub fn with_user_agent(mut self, agent: &str) -> Self {
        self.user_agent = agent.to_string();
        self
    }

    /// The service that logs the call (`eventSource`, `event.provider`), such as
    /// `rds.amazonaws.com`, for actions the catalogue does not know.
    pub fn with_provider(mut self, provider: &str) -> Self {
        self.provider = provider.to_string();
        self
    }

    /// All the request parameters (a JSON object; anything else means none).
    pub fn with_params(mut self, params: Value) -> Self {
        self.request_parameters = match params {
            Value::Object(map) => Some(map),
            _ => None,
        };
        self
    }

    /// CloudTrail `resources` (a list of `{accountId, type, ARN}`).
    pub fn with_resources(mut self, resources: Value) -> Self {
        self.resources = Some(resources);
        self
    }

    /// Whether the call only reads (`readOnly`).
    pub fn with_read_only(mut self, read_only: bool) -> Self {
        self.read_only = Some(read_only);
        self
    }

    /// The region.
    pub fn with_region(mut self, region: &str) -> Self {
        self.region = region.to_string();
        self
    }

    /// Sets (or adds) one request parameter.
    pub fn with_param(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.request_parameters
            .get_or_insert_with(Map::new)
            .insert(key.to_string(), value.into());
        self
    }

    /// The event id (`eventID`, `event.id`).
    pub fn with_event_id(mut self, id: &str) -> Self {
        self.event_id = Some(id.to_string());
        self
    }

    /// Keeps the raw record in `event.original`.
    pub fn with_original(mut self) -> Self {
        self.preserve_original = true;
        self
    }

    /// The raw CloudTrail record for a call made at `time`.
    pub fn to_record(&self, time: DateTime<Utc>) -> Value {
        let mut record = Map::new();
        record.insert("eventVersion".into(), json!("1.09"));
        record.insert("userIdentity".into(), self.user_identity(time));
        record.insert(
            "eventTime".into(),
            json!(time.to_rfc3339_opts(SecondsFormat::Secs, true)),
        );
        record.insert("eventSource".into(), json!(self.provider));
        record.insert("eventName".into(), json!(self.action));
        record.insert("awsRegion".into(), json!(self.region));
        record.insert("sourceIPAddress".into(), json!(self.source_ip));
        record.insert("userAgent".into(), json!(self.user_agent));
        if let Some(code) = &self.error_code {
            record.insert("errorCode".into(), json!(code));
        }
        if let Some(message) = &self.error_message {
            record.insert("errorMessage".into(), json!(message));
        }
        record.insert(
            "requestParameters".into(),
            self.request_parameters
                .clone()
                .map_or(Value::Null, Value::Object),
        );
        record.insert("responseElements".into(), self.response(time));
        if self.action == "ConsoleLogin" {
            record.insert("additionalEventData".into(), self.console_login_data());
        }
        record.insert("requestID".into(), json!(self.request_id(time)));
        record.insert("eventID".into(), json!(self.event_id(time)));
        if let Some(read_only) = self.read_only {
            record.insert("readOnly".into(), json!(read_only));
        }
        if let Some(resources) = self.resources() {
            record.insert("resources".into(), resources);
        }
        let event_type = if self.action == "ConsoleLogin" {
            "AwsConsoleSignIn"
        } else {
            "AwsApiCall"
        };
        record.insert("eventType".into(), json!(event_type));
        record.insert("managementEvent".into(), json!(true));
        record.insert(
            "recipientAccountId".into(),
            json!(self.recipient_account_id),
        );
        if let Some(endpoint) = &self.vpc_endpoint_id {
            record.insert("vpcEndpointId".into(), json!(endpoint));
        }
        record.insert("eventCategory".into(), json!("Management"));
        Value::Object(record)
    }

    /// The ECS document the AWS integration indexes for a call made at `time`; `ingested` is when
    /// it reached Elasticsearch (`event.ingested`), None to leave it to the cluster.
    pub fn to_document(&self, time: DateTime<Utc>, ingested: Option<DateTime<Utc>>) -> Value {
        let record = self.to_record(time);
        ecs::to_ecs_owned(record, ingested, self.preserve_original)
    }

    fn fill_message(&self, template: &str) -> String {
        let account = self
            .user
            .account_id
            .as_deref()
            .unwrap_or(&self.recipient_account_id);
        let param = |key: &str| {
            self.request_parameters
                .as_ref()
                .and_then(|p| p.get(key))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let service = Service::from_provider(&self.provider).map_or("iam", |s| s.prefix());
        template
            .replace("{arn}", self.user.arn.as_deref().unwrap_or(&self.user.name))
            .replace("{action}", &format!("{service}:{}", self.action))
            .replace(
                "{resource}",
                &catalog::resource_of(self.request_parameters.as_ref(), account),
            )
            .replace("{group}", &param("groupName"))
            .replace("{user}", &param("userName"))
    }

    fn user_identity(&self, time: DateTime<Utc>) -> Value {
        let user = &self.user;
        let mut identity = Map::new();
        identity.insert("type".into(), json!(user.kind.as_str()));
        let mut put = |key: &str, value: Option<&str>| {
            if let Some(value) = value {
                identity.insert(key.into(), json!(value));
            }
        };
        put("principalId", user.principal_id.as_deref());
        put("arn", user.arn.as_deref());
        put("accountId", user.account_id.as_deref());
        // Signing in uses a password, not an access key.
        if self.action != "ConsoleLogin" {
            put("accessKeyId", user.access_key_id.as_deref());
        }
        if user.kind == IdentityKind::IamUser {
            put("userName", Some(&user.name));
        }
        if let Some(context) = self.session_context(time) {
            identity.insert("sessionContext".into(), context);
        }
        if let Some(invoked_by) = user.invoked_by.as_deref() {
            identity.insert("invokedBy".into(), json!(invoked_by));
        }
        Value::Object(identity)
    }

    fn session_context(&self, time: DateTime<Utc>) -> Option<Value> {
        let user = &self.user;
        let console = self.user_agent.starts_with("Mozilla/") || self.user_agent == "AWS Internal";
        let attributes = json!({
            "creationDate": (time - SESSION_AGE).to_rfc3339_opts(SecondsFormat::Secs, true),
            "mfaAuthenticated": if user.mfa_authenticated { "true" } else { "false" },
        });
        match user.kind {
            IdentityKind::AssumedRole => Some(json!({
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": user.role_id,
                    "arn": user.role_arn,
                    "accountId": user.account_id,
                    "userName": user.name,
                },
                "attributes": attributes,
            })),
            IdentityKind::IamUser | IdentityKind::Root
                if console && self.action != "ConsoleLogin" =>
            {
                Some(json!({"attributes": attributes}))
            }
            _ => None,
        }
    }

    fn response(&self, time: DateTime<Utc>) -> Value {
        if let Some(response) = &self.response_elements {
            return response.clone();
        }
        if self.action == "ConsoleLogin" {
            let result = match self.outcome {
                Outcome::Success => "Success",
                Outcome::Failure => "Failure",
            };
            return json!({"ConsoleLogin": result});
        }
        if self.outcome == Outcome::Failure {
            return Value::Null;
        }
        let account = self.recipient_account_id.as_str();
        match (
            catalog::find(&self.action).and_then(|d| d.response),
            &self.request_parameters,
        ) {
            (Some(build), Some(params)) => build(params, account, time),
            _ => Value::Null,
        }
    }

    fn console_login_data(&self) -> Value {
        json!({
            "LoginTo": "https://console.aws.amazon.com/console/home",
            "MobileVersion": "No",
            "MFAUsed": if self.mfa_used || self.user.mfa_authenticated { "Yes" } else { "No" },
        })
    }

    fn resources(&self) -> Option<Value> {
        if let Some(resources) = &self.resources {
            return Some(resources.clone());
        }
        let params = self.request_parameters.as_ref()?;
        let account = &self.recipient_account_id;
        if let Some(role) = params.get("roleArn").and_then(Value::as_str) {
            return Some(json!([{"accountId": account, "type": "AWS::IAM::Role", "ARN": role}]));
        }
        if let Some(key) = params.get("keyId").and_then(Value::as_str) {
            return Some(json!([{"accountId": account, "type": "AWS::KMS::Key", "ARN": key}]));
        }
        None
    }

    fn event_id(&self, time: DateTime<Utc>) -> String {
        self.event_id
            .clone()
            .unwrap_or_else(|| self.derived_id("event", time))
    }

    fn request_id(&self, time: DateTime<Utc>) -> String {
        self.request_id
            .clone()
            .unwrap_or_else(|| self.derived_id("request", time))
    }

    /// A UUID derived from what the event is, so hand-made events are stable.
    fn derived_id(&self, kind: &str, time: DateTime<Utc>) -> String {
        let text = format!(
            "{kind}|{}|{}|{}|{}|{:?}",
            self.action,
            time.timestamp_millis(),
            self.user.arn.as_deref().unwrap_or(&self.user.name),
            self.outcome.as_str(),
            self.request_parameters
        );
        uuid::Uuid::new_v5(&EVENT_ID_NAMESPACE, text.as_bytes()).to_string()
    }
}
