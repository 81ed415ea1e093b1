"""The process designer (blueprint ``designer``)."""
