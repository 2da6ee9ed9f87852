#!/bin/bash
# The smallest jobrelay job: says hello and records a message.
echo "hello from $(hostname) as $(id -un), job $JOBRELAY_JOB_REF"
jobrelay_message INFO "said hello"
