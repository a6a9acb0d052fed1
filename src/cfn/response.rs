//! The answer to CloudFormation: what happened ([`Outcome`]) and the JSON body that says so
//! ([`Response`]), fitted into CloudFormation's 4096-byte limit.

use std::collections::BTreeMap;

use serde::Serialize;

use super::request::Envelope;

/// CloudFormation rejects response bodies larger than this ("Response object is too long").
pub const MAX_BODY_BYTES: usize = 4096;
/// CloudFormation's limit for a PhysicalResourceId.
pub const MAX_PHYSICAL_ID_BYTES: usize = 1024;
const TRUNCATION_MARK: &str = " … (truncated; the full message is in the function's log)";

/// SUCCESS or FAILED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Success,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "SUCCESS",
            Status::Failed => "FAILED",
        }
    }
}

/// What handling an event came to, before it is put into a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: Status,
    pub physical_resource_id: String,
    pub reason: Option<String>,
    pub data: BTreeMap<String, String>,
}

impl Outcome {
    pub fn success(
        physical_resource_id: impl Into<String>,
        data: BTreeMap<String, String>,
    ) -> Outcome {
        Outcome {
            status: Status::Success,
            physical_resource_id: physical_resource_id.into(),
            reason: None,
            data,
        }
    }

    pub fn failed(physical_resource_id: impl Into<String>, reason: impl Into<String>) -> Outcome {
        Outcome {
            status: Status::Failed,
            physical_resource_id: physical_resource_id.into(),
            reason: Some(reason.into()),
            data: BTreeMap::new(),
        }
    }
}

/// The JSON body PUT to the `ResponseURL`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub physical_resource_id: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
}

impl Response {
    /// The response for `outcome`, echoing the request's identifiers.
    pub fn new(envelope: &Envelope, outcome: Outcome) -> Response {
        Response {
            status: outcome.status,
            reason: outcome.reason,
            physical_resource_id: outcome.physical_resource_id,
            stack_id: envelope.stack_id.clone(),
            request_id: envelope.request_id.clone(),
            logical_resource_id: envelope.logical_resource_id.clone(),
            data: outcome.data,
        }
    }

    /// Serializes the response, shortening the `Reason` (on a character boundary, keeping its
    /// beginning) so that the body fits in [`MAX_BODY_BYTES`].
    pub fn into_body(mut self) -> Vec<u8> {
        if self.physical_resource_id.len() > MAX_PHYSICAL_ID_BYTES {
            self.physical_resource_id.truncate(floor_char_boundary(
                &self.physical_resource_id,
                MAX_PHYSICAL_ID_BYTES,
            ));
        }
        let body = serde_json::to_vec(&self).expect("a response always serializes");
        if body.len() <= MAX_BODY_BYTES {
            return body;
        }
        if let Some(reason) = self.reason.take() {
            // JSON escaping makes the body's size a non-linear function of the reason's length,
            // so search for the longest prefix that fits.
            let base = reason.strip_suffix(TRUNCATION_MARK).unwrap_or(&reason);
            let (mut fits, mut too_long) = (0, base.len());
            while too_long - fits > 1 {
                let middle = (fits + too_long) / 2;
                self.reason = Some(format!(
                    "{}{TRUNCATION_MARK}",
                    &base[..floor_char_boundary(base, middle)]
                ));
                if serde_json::to_vec(&self)
                    .expect("a response always serializes")
                    .len()
                    <= MAX_BODY_BYTES
                {
                    fits = middle;
                } else {
                    too_long = middle;
                }
            }
            self.reason = Some(format!(
                "{}{TRUNCATION_MARK}",
                &base[..floor_char_boundary(base, fits)]
            ));
            let body = serde_json::to_vec(&self).expect("a response always serializes");
            if body.len() <= MAX_BODY_BYTES {
                return body;
            }
        }
        if !self.data.is_empty() {
            self.data.clear();
            self.status = Status::Failed;
            self.reason = Some("The resource's attributes were too large for CloudFormation's 4096-byte response limit.".into());
            let body = serde_json::to_vec(&self).expect("a response always serializes");
            if body.len() <= MAX_BODY_BYTES {
                return body;
            }
        }
        // Only the echoed identifiers are left; CloudFormation bounds those itself.
        self.reason = None;
        serde_json::to_vec(&self).expect("a response always serializes")
    }
}

/// The largest index ≤ `index` that is a char boundary of `text`.
fn floor_char_boundary(text: &str, index: usize) -> usize {
    let mut index = index.min(text.len());
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn envelope() -> Envelope {
        Envelope {
            request_type: "Create".into(),
            request_id: "req-1".into(),
            stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/s/guid".into(),
            logical_resource_id: "VendorRegistration".into(),
            physical_resource_id: None,
        }
    }

    #[test]
    fn success_has_no_reason_and_echoes_identifiers() {
        let data = BTreeMap::from([("ExternalId".to_string(), "abc".to_string())]);
        let body = Response::new(&envelope(), Outcome::success("pid", data)).into_body();
        let json: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["Status"], "SUCCESS");
        assert!(json.get("Reason").is_none());
        assert_eq!(json["RequestId"], "req-1");
        assert_eq!(json["LogicalResourceId"], "VendorRegistration");
        assert_eq!(json["Data"]["ExternalId"], "abc");
    }

    #[test]
    fn long_reasons_are_cut_on_a_char_boundary_to_fit() {
        for filler in ["x", "é", "🦀", "\"", "\u{1}"] {
            let reason = format!("Datadog said: {}", filler.repeat(5000));
            let body = Response::new(&envelope(), Outcome::failed("pid", reason)).into_body();
            assert!(body.len() <= MAX_BODY_BYTES, "{filler}: {}", body.len());
            let json: Value = serde_json::from_slice(&body).unwrap();
            let reason = json["Reason"].as_str().unwrap();
            assert!(reason.starts_with("Datadog said: "));
            assert!(reason.ends_with(TRUNCATION_MARK));
            assert!(
                body.len() > MAX_BODY_BYTES - 64,
                "kept as much as fits: {}",
                body.len()
            );
        }
    }

    #[test]
    fn physical_ids_are_bounded() {
        let body = Response::new(&envelope(), Outcome::failed("p".repeat(5000), "no")).into_body();
        let json: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json["PhysicalResourceId"].as_str().unwrap().len(),
            MAX_PHYSICAL_ID_BYTES
        );
    }
}

#[cfg(test)]
mod fuzz {
    //! Any reason and identifiers: the body is valid JSON within 4096 bytes.

    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_body_fits_and_parses(reason in ".{0,6000}", id in ".{0,1500}", request_id in ".{0,200}", key in ".{0,40}", value in ".{0,300}") {
            let envelope = Envelope { request_id, ..Envelope::default() };
            let mut outcome = Outcome::failed(id, reason);
            outcome.data.insert(key, value);
            let body = Response::new(&envelope, outcome).into_body();
            prop_assert!(body.len() <= MAX_BODY_BYTES);
            prop_assert!(serde_json::from_slice::<serde_json::Value>(&body).is_ok());
        }
    }
}
