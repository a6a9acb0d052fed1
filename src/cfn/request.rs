//! The custom-resource request, parsed from the raw event.
//!
//! The runtime hands the event over as `serde_json::Value`, never as a typed struct: if the
//! typed parse fails, the fields needed to answer (the [`Envelope`]) are still read, so a
//! malformed event gets a FAILED answer instead of a stack that waits for its timeout.

use std::fmt;

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest;
use reqwest::Url;
use serde_json::{Map, Value};

use crate::config::HostAllowList;

/// What CloudFormation asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestType {
    Create,
    Update,
    Delete,
}

impl RequestType {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestType::Create => "Create",
            RequestType::Update => "Update",
            RequestType::Delete => "Delete",
        }
    }
}

impl fmt::Display for RequestType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The pre-signed URL the answer goes to. It is a write capability: its `Display` and `Debug`
/// show only scheme, host and path, never the signed query string.
#[derive(Clone, PartialEq, Eq)]
pub struct ResponseUrl(Url);

impl ResponseUrl {
    /// The full URL, for the one PUT that needs it.
    pub fn expose(&self) -> &Url {
        &self.0
    }
}

impl fmt::Display for ResponseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = &self.0;
        write!(f, "{}://{}", url.scheme(), url.host_str().unwrap_or(""))?;
        if let Some(port) = url.port() {
            write!(f, ":{port}")?;
        }
        f.write_str(url.path())
    }
}

impl fmt::Debug for ResponseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResponseUrl({self})")
    }
}

/// The fields every answer must echo, read from any event that has them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    pub request_type: String,
    pub request_id: String,
    pub stack_id: String,
    pub logical_resource_id: String,
    pub physical_resource_id: Option<String>,
}

/// A well-formed custom-resource request.
#[derive(Debug, Clone)]
pub struct Request {
    pub request_type: RequestType,
    pub envelope: Envelope,
    pub response_url: ResponseUrl,
    /// `ResourceProperties`: the desired state (for Delete, the state being removed).
    pub properties: Map<String, Value>,
}

/// Why an event could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// No usable `ResponseURL`: nobody can be answered.
    #[error("{0}")]
    Unanswerable(String),
    /// The event can be answered, but not acted on.
    #[error("{}", .0.reason)]
    Malformed(Box<Malformed>),
}

/// An event that can be answered but not acted on, and why.
#[derive(Debug)]
pub struct Malformed {
    pub envelope: Envelope,
    pub response_url: ResponseUrl,
    pub reason: String,
}

impl Request {
    /// Parses an event; `allowed` says which hosts may receive the answer.
    pub fn parse(event: Value, allowed: &HostAllowList) -> Result<Request, ParseError> {
        let Some(fields) = event.as_object() else {
            return Err(ParseError::Unanswerable(format!(
                "the event is a JSON {}, not a CloudFormation custom-resource request",
                json_kind(&event)
            )));
        };
        let response_url = response_url(fields, allowed)?;
        let text = |name: &str| fields.get(name).and_then(Value::as_str).map(str::to_owned);
        let envelope = Envelope {
            request_type: text("RequestType").unwrap_or_default(),
            request_id: text("RequestId").unwrap_or_default(),
            stack_id: text("StackId").unwrap_or_default(),
            logical_resource_id: text("LogicalResourceId").unwrap_or_default(),
            physical_resource_id: text("PhysicalResourceId").filter(|id| !id.is_empty()),
        };
        let malformed = |reason: String| {
            ParseError::Malformed(Box::new(Malformed {
                envelope: envelope.clone(),
                response_url: response_url.clone(),
                reason,
            }))
        };

        let typed: CloudFormationCustomResourceRequest = serde_json::from_value(event.clone())
            .map_err(|e| {
                malformed(format!(
                    "The request is not a valid CloudFormation custom-resource event: {e}."
                ))
            })?;
        // OldResourceProperties is checked, not kept: the PhysicalResourceId says what an
        // Update changes (see `crate::lifecycle::plan`).
        let (request_type, properties, old_properties) = match typed {
            CloudFormationCustomResourceRequest::Create(r) => {
                (RequestType::Create, r.resource_properties, None)
            }
            CloudFormationCustomResourceRequest::Update(r) => (
                RequestType::Update,
                r.resource_properties,
                Some(r.old_resource_properties),
            ),
            CloudFormationCustomResourceRequest::Delete(r) => {
                (RequestType::Delete, r.resource_properties, None)
            }
            _ => {
                return Err(malformed(format!(
                    "Unsupported RequestType {:?}.",
                    envelope.request_type
                )));
            }
        };
        for (name, value) in [
            ("RequestId", &envelope.request_id),
            ("StackId", &envelope.stack_id),
            ("LogicalResourceId", &envelope.logical_resource_id),
        ] {
            if value.is_empty() {
                return Err(malformed(format!("The request has an empty {name}.")));
            }
        }
        // A Delete may come without one (CloudFormation cancelled a Create still running);
        // an Update always names what it updates.
        if request_type == RequestType::Update && envelope.physical_resource_id.is_none() {
            return Err(malformed(format!(
                "The {request_type} request has no PhysicalResourceId."
            )));
        }
        let properties = into_object(properties, "ResourceProperties").map_err(malformed)?;
        if let Some(old) = old_properties {
            into_object(old, "OldResourceProperties").map_err(malformed)?;
        }
        Ok(Request {
            request_type,
            envelope,
            response_url,
            properties,
        })
    }
}

fn response_url(
    fields: &Map<String, Value>,
    allowed: &HostAllowList,
) -> Result<ResponseUrl, ParseError> {
    let Some(text) = fields.get("ResponseURL").and_then(Value::as_str) else {
        return Err(ParseError::Unanswerable(
            "the event has no ResponseURL, so it cannot be answered".into(),
        ));
    };
    let url = Url::parse(text)
        .map_err(|_| ParseError::Unanswerable("the event's ResponseURL is not a URL".into()))?;
    let url = ResponseUrl(url);
    if !allowed.permits(url.expose()) {
        return Err(ParseError::Unanswerable(format!(
            "refusing to send the answer to {url}: not an https URL on an allowed host (add the host to REGISTRAR_RESPONSE_HOSTS if it is legitimate)"
        )));
    }
    Ok(url)
}

fn into_object(value: Value, name: &str) -> Result<Map<String, Value>, String> {
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        other => Err(format!(
            "{name} is a JSON {}, not an object.",
            json_kind(&other)
        )),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn allowed() -> HostAllowList {
        HostAllowList::default()
    }

    fn event(request_type: &str) -> Value {
        json!({
            "RequestType": request_type,
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:registrar",
            "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/arn%3A?X-Amz-Signature=abc123",
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/guid",
            "RequestId": "req-1",
            "ResourceType": "Custom::VendorRegistration",
            "LogicalResourceId": "VendorRegistration",
            "PhysicalResourceId": "registrar:datadog:datadoghq.com:aws:123456789012:abc",
            "ResourceProperties": {"ServiceToken": "arn:…", "Vendor": "datadog"},
            "OldResourceProperties": {"Vendor": "datadog"}
        })
    }

    #[test]
    fn parses_the_three_request_types() {
        for kind in ["Create", "Update", "Delete"] {
            let request = Request::parse(event(kind), &allowed()).unwrap();
            assert_eq!(request.request_type.as_str(), kind);
            assert_eq!(request.properties["Vendor"], "datadog");
            // An Update's OldResourceProperties must be an object too; the others have none.
            let mut e = event(kind);
            e["OldResourceProperties"] = json!("not an object");
            assert_eq!(
                matches!(Request::parse(e, &allowed()), Err(ParseError::Malformed(_))),
                kind == "Update"
            );
        }
    }

    #[test]
    fn the_response_url_never_shows_its_query() {
        let request = Request::parse(event("Create"), &allowed()).unwrap();
        let shown = format!("{} {:?}", request.response_url, request.response_url);
        assert!(
            !shown.contains("Signature") && !shown.contains("abc123"),
            "{shown}"
        );
        assert!(shown.contains("s3.amazonaws.com/arn%3A"));
    }

    #[test]
    fn an_unknown_request_type_can_still_be_answered() {
        let Err(ParseError::Malformed(malformed)) = Request::parse(event("Frobnicate"), &allowed())
        else {
            panic!("expected Malformed");
        };
        let Malformed {
            envelope, reason, ..
        } = *malformed;
        assert_eq!(envelope.request_id, "req-1");
        assert!(reason.contains("Frobnicate"), "{reason}");
    }

    #[test]
    fn missing_properties_or_ids_are_malformed() {
        let mut e = event("Create");
        e["ResourceProperties"] = json!("not an object");
        assert!(matches!(
            Request::parse(e, &allowed()),
            Err(ParseError::Malformed(_))
        ));
        let mut e = event("Delete");
        e.as_object_mut().unwrap().remove("PhysicalResourceId");
        assert!(matches!(
            Request::parse(e, &allowed()),
            Err(ParseError::Malformed(_))
        ));
    }

    #[test]
    fn no_or_foreign_response_url_is_unanswerable() {
        let mut e = event("Create");
        e.as_object_mut().unwrap().remove("ResponseURL");
        assert!(matches!(
            Request::parse(e, &allowed()),
            Err(ParseError::Unanswerable(_))
        ));
        let mut e = event("Create");
        e["ResponseURL"] = json!("https://attacker.example/collect?X-Amz-Signature=1");
        let Err(ParseError::Unanswerable(why)) = Request::parse(e, &allowed()) else {
            panic!()
        };
        assert!(!why.contains("Signature"));
        assert!(matches!(
            Request::parse(json!([1, 2]), &allowed()),
            Err(ParseError::Unanswerable(_))
        ));
    }
}

#[cfg(test)]
mod fuzz {
    //! Any event at all: parsing never panics, and one with a usable ResponseURL is always
    //! answerable (a malformed one is answered FAILED, never left in silence).

    use super::*;
    use proptest::prelude::*;

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::String),
            prop_oneof![Just("Create"), Just("Update"), Just("Delete"), Just("")]
                .prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("RequestType".to_owned()),
                        Just("RequestId".to_owned()),
                        Just("StackId".to_owned()),
                        Just("LogicalResourceId".to_owned()),
                        Just("PhysicalResourceId".to_owned()),
                        Just("ResourceType".to_owned()),
                        Just("ResourceProperties".to_owned()),
                        Just("OldResourceProperties".to_owned()),
                        "[A-Za-z]{1,8}",
                    ],
                    inner,
                    0..8
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn arbitrary_events_never_panic(event in json()) {
            let _ = Request::parse(event, &HostAllowList::default());
        }

        #[test]
        fn events_with_a_response_url_are_always_answerable(event in json()) {
            let mut event = match event {
                Value::Object(map) => map,
                other => [("Payload".to_owned(), other)].into_iter().collect(),
            };
            event.insert(
                "ResponseURL".into(),
                "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x?X-Amz-Signature=1".into(),
            );
            match Request::parse(Value::Object(event), &HostAllowList::default()) {
                Ok(_) => {}
                Err(ParseError::Malformed(m)) => prop_assert!(!m.reason.is_empty()),
                Err(ParseError::Unanswerable(why)) => prop_assert!(false, "unanswerable: {why}"),
            }
        }
    }
}
