"""Infrastructure every stage leans on: configuration, errors, logging, OIDC and the outgoing-mail type."""
