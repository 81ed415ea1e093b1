"""Tests of timers, the scheduler, the calendar admin, escalation, notifications and the weekly start."""
