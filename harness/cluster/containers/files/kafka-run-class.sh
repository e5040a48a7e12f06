#!/usr/bin/env bash
# Kafka's own script, reduced to what this image needs: the jars, the heap and the JVM options.
# shellcheck disable=SC2086  # the *_OPTS variables are lists of options
exec java ${KAFKA_HEAP_OPTS:--Xmx256m} ${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseSerialGC} ${KAFKA_LOG4J_OPTS:-@LOG4J_OPTS@} \
  ${KAFKA_OPTS:-} -cp '/opt/kafka/libs/*' "$@"
