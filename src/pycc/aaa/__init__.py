"""Authentication, authorization and accounting: digest checks, bans and call records."""
