"""Read-side queries over the projection tables, grouped by what they serve: ``inbox``,
``tasks``, ``cases``, ``history`` (audit events), ``people``, ``paging``."""
