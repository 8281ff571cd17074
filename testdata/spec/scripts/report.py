# Fixture for internal/spec tests; never run.
