"""Printable documents of the procedure (PDF): the generic renderer and the case's documents."""
