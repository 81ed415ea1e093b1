"""Cases: the list, the intake form for new feedback, and the case page with its timeline."""
