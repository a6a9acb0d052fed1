//! The CloudFormation custom-resource protocol, independent of any vendor.
//!
//! [`request`] parses the event (leniently, so a malformed one still gets an answer),
//! [`response`] builds the answer and fits it in 4096 bytes, [`responder`] delivers it to the
//! pre-signed `ResponseURL`, [`budget`] turns the runtime's deadline into time for the work and
//! time for the answer, and [`guard`] makes sure every outcome (result, panic or deadline)
//! becomes exactly one answer.

pub mod budget;
pub mod guard;
pub mod request;
pub mod responder;
pub mod response;

pub use budget::Budget;
pub use request::{Request, RequestType, ResponseUrl};
pub use response::{Outcome, Response, Status};
