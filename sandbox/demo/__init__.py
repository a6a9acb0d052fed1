"""`make demo`: one registration's whole life through the real binary (`datadog`, `dynatrace`)."""
