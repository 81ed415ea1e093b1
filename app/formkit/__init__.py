"""Declarative forms: definitions in ``forms/*.json`` turned into WTForms, API schemas and
server-side validation, all from the same definition (no Flask here)."""
