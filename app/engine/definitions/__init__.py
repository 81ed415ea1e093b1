"""Process and form definitions: ``deploy`` (store versions, validate without storing),
``rules`` (our checks on a parsed diagram), ``lookup`` (deployed versions and their specs),
``schedules`` (scheduled starts)."""
