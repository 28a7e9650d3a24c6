"""smtp-proto: a Sans-IO SMTP server core."""
