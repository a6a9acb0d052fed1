//! `bootstrap`: the Lambda entry point. Start-up reads the environment and nothing else; every
//! network call waits for an event that needs it.

use std::sync::Arc;

use lambda_runtime::{Error, service_fn};
use registrar::config::Config;
use registrar::handler::Handler;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    registrar::logging::init();
    let handler = Arc::new(Handler::new(Config::from_env()));
    lambda_runtime::run(service_fn(move |event| handler.clone().handle(event))).await
}
