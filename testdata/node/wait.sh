#!/bin/bash
# Shell fixture: a process that is not Node, idle until stopped.
trap "exit 0" INT TERM
while :; do sleep 1; done
