#!/usr/bin/env bash
# Kafka's script of the same name: a broker and/or controller in the foreground.
export KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx1G -Xms1G}
exec /opt/kafka/bin/kafka-run-class.sh kafka.Kafka "$@"
