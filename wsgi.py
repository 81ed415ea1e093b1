"""WSGI entry point: ``gunicorn wsgi:app`` (production) or ``flask --app wsgi run``."""

import gc

from app import create_app

app = create_app()
# The ~140,000 objects the app is made of (modules, mappers, templates, the catalogues) live as
# long as the worker: kept out of the collector's full passes, which otherwise walked them all
# every few dozen requests (a 60-80 ms pause each: the pages' p95).
gc.collect()
gc.freeze()
