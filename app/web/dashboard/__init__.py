"""The analysis dashboard: charts of the figures in ``app.services.analytics`` with their
downloads (Excel, CSV) and the cases behind a bar or slice."""
