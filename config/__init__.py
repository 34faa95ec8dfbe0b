"""Studio configuration: default.yaml ships with the package; see docs/config.md."""
