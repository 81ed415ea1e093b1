"""The audit explorer (auditors and admins, read-only): filters, paging, exports with their
progress, and the verification of the hash chain."""
