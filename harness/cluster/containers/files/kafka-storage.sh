#!/usr/bin/env bash
# Kafka's script of the same name: format a KRaft log directory.
exec /opt/kafka/bin/kafka-run-class.sh kafka.tools.StorageTool "$@"
