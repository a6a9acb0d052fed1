//! What AWS says: the organisation's accounts (Organizations) and the StackSet's parameters and
//! stack instances (CloudFormation), every page, with the caller's credentials.

use std::collections::{BTreeMap, HashSet};

use aws_sdk_cloudformation::types::CallAs;

use crate::aws::explain;
use crate::error::AuditError;
use crate::join::{Account, Instance};
use crate::progress::Indicator;

/// The organisation's accounts: every one (`all`), and those under `ous` (recursively), or all
/// of them when no OU is given.
pub async fn accounts(
    client: &aws_sdk_organizations::Client,
    ous: &[String],
    progress: &Indicator,
) -> Result<(Vec<Account>, HashSet<String>), AuditError> {
    let failed = |detail: String| AuditError::Aws {
        what: "list the organisation's accounts (organizations:ListAccounts; run from the management account or a delegated administrator)",
        detail,
    };
    let mut all = Vec::new();
    let mut pages = client.list_accounts().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failed(explain(&e)))?;
        all.extend(page.accounts().iter().map(account));
        progress.show(&format!(
            "reading the organisation's accounts: {}",
            all.len()
        ));
    }
    let ids: HashSet<String> = all.iter().map(|a| a.id.clone()).collect();
    if ous.is_empty() {
        return Ok((all, ids));
    }
    let mut wanted = HashSet::new();
    let mut queue: Vec<String> = ous.to_vec();
    while let Some(parent) = queue.pop() {
        let what = |e: String| AuditError::Aws {
            what: "list the accounts and OUs under an OU (organizations:ListAccountsForParent, ListOrganizationalUnitsForParent)",
            detail: format!("{parent}: {e}"),
        };
        let mut pages = client
            .list_accounts_for_parent()
            .parent_id(&parent)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| what(explain(&e)))?;
            wanted.extend(
                page.accounts()
                    .iter()
                    .filter_map(|a| a.id().map(str::to_owned)),
            );
            progress.show(&format!("reading the OUs' accounts: {}", wanted.len()));
        }
        let mut pages = client
            .list_organizational_units_for_parent()
            .parent_id(&parent)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| what(explain(&e)))?;
            queue.extend(
                page.organizational_units()
                    .iter()
                    .filter_map(|ou| ou.id().map(str::to_owned)),
            );
        }
    }
    let audited = all.into_iter().filter(|a| wanted.contains(&a.id)).collect();
    Ok((audited, ids))
}

/// The organisation's management account (DescribeOrganization).
pub async fn management_account(
    client: &aws_sdk_organizations::Client,
) -> Result<Option<String>, AuditError> {
    let answer = client
        .describe_organization()
        .send()
        .await
        .map_err(|e| AuditError::Aws {
            what: "describe the organisation (organizations:DescribeOrganization)",
            detail: explain(&e),
        })?;
    Ok(answer
        .organization()
        .and_then(|o| o.master_account_id())
        .map(str::to_owned))
}

fn account(a: &aws_sdk_organizations::types::Account) -> Account {
    let status = a
        .state()
        .map(|s| s.as_str().to_owned())
        .or_else(|| a.status().map(|s| s.as_str().to_owned()))
        .unwrap_or_else(|| "UNKNOWN".to_owned());
    Account {
        id: a.id().unwrap_or_default().to_owned(),
        name: a.name().unwrap_or_default().to_owned(),
        status,
    }
}

/// The StackSet as DescribeStackSet answers it: its parameters and its ARN's partition.
pub struct StackSet {
    pub parameters: BTreeMap<String, String>,
    pub partition: String,
}

/// DescribeStackSet.
pub async fn stack_set(
    client: &aws_sdk_cloudformation::Client,
    name: &str,
    call_as: &CallAs,
) -> Result<StackSet, AuditError> {
    let answer = client
        .describe_stack_set()
        .stack_set_name(name)
        .call_as(call_as.clone())
        .send()
        .await
        .map_err(|e| AuditError::Aws {
            what: "describe the StackSet (cloudformation:DescribeStackSet; from a delegated administrator account add --call-as DELEGATED_ADMIN)",
            detail: format!("{name}: {}", explain(&e)),
        })?;
    let set = answer.stack_set().ok_or_else(|| AuditError::Aws {
        what: "describe the StackSet",
        detail: format!("{name}: the answer has no StackSet"),
    })?;
    let parameters = set
        .parameters()
        .iter()
        .filter_map(|p| {
            Some((
                p.parameter_key()?.to_owned(),
                p.parameter_value().unwrap_or_default().to_owned(),
            ))
        })
        .collect();
    let partition = set
        .stack_set_arn()
        .and_then(|arn| arn.split(':').nth(1))
        .filter(|p| !p.is_empty())
        .unwrap_or("aws")
        .to_owned();
    Ok(StackSet {
        parameters,
        partition,
    })
}

/// Every stack instance of the StackSet (ListStackInstances, every page).
pub async fn instances(
    client: &aws_sdk_cloudformation::Client,
    name: &str,
    call_as: &CallAs,
    progress: &Indicator,
) -> Result<Vec<Instance>, AuditError> {
    let mut instances = Vec::new();
    let mut pages = client
        .list_stack_instances()
        .stack_set_name(name)
        .call_as(call_as.clone())
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AuditError::Aws {
            what: "list the StackSet's stack instances (cloudformation:ListStackInstances)",
            detail: format!("{name}: {}", explain(&e)),
        })?;
        instances.extend(page.summaries().iter().map(|s| {
            Instance {
                account: s.account().unwrap_or_default().to_owned(),
                region: s.region().unwrap_or_default().to_owned(),
                status: s
                    .status()
                    .map_or("UNKNOWN", |status| status.as_str())
                    .to_owned(),
                detailed_status: s
                    .stack_instance_status()
                    .and_then(|st| st.detailed_status())
                    .map(|d| d.as_str().to_owned()),
                reason: s.status_reason().map(str::to_owned),
            }
        }));
        progress.show(&format!("reading the stack instances: {}", instances.len()));
    }
    Ok(instances)
}
