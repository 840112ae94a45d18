"""The local stack: every service a call needs, started on one machine with the offline defaults."""
