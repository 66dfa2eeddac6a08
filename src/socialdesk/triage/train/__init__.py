"""Training scripts for the triage models (``python -m socialdesk.triage.train all``)."""
