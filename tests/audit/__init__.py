"""The audit trail: writer coverage, hash chain, explorer and exports."""
