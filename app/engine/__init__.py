"""The BPMN engine layer: SpiffWorkflow behind a small, transactional service (no Flask here)."""
