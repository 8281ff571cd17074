#!/bin/sh
# Fixture for internal/spec tests; never run.
