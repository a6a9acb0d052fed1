"""How a StackSet of the single template of earlier releases (template.yaml, kept here as
legacy_template.yaml) moves to the split templates: which template each of its parameters goes
to (docs/template.md, "Moving from template.yaml"). The template and integration tests use it to
show that the switch keeps the registration."""

from cfn import INGEST, MEMBER, load

# Parameters of the legacy template that the ingest StackSet takes over (with EnvironmentUrl and
# SecretKmsKeyArn, which the Dynatrace member template keeps too).
INGEST_ONLY = {"LogIngest", "EventIngest", "IngestSecretArn", "EventSources", "UseCustomerManagedKey"}


def ships(legacy):
    """Whether a legacy Dynatrace StackSet had log or event ingest."""
    return "true" in (legacy.get("LogIngest", "false"), legacy.get("EventIngest", "false"))


def migrate(legacy):
    """{template path: its parameters} for a StackSet of the legacy template with parameters
    `legacy`: the vendor's member template, with every parameter it declares (the others, Vendor
    and the other vendor's, are dropped), and for Dynatrace with ingest the ingest template."""
    vendor = legacy.get("Vendor", "datadog")
    member = load(MEMBER[vendor])["Parameters"]
    out = {MEMBER[vendor]: {k: v for k, v in legacy.items() if k in member}}
    if vendor == "dynatrace" and ships(legacy):
        ingest = load(INGEST)["Parameters"]
        out[INGEST] = {k: v for k, v in legacy.items() if k in ingest}
    return out
