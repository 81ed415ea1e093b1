"""Weekly assessment results: the computed figures per department and case, and the Excel export."""
