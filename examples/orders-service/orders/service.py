"""The service itself: ship every order it consumes (the chaos gate stands in for it with a
kafka-chaos consumer worker that uses the same settings)."""

from confluent_kafka import Consumer

from orders import settings


def run(bootstrap_servers: str, ship) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": settings.GROUP,
                         "enable.auto.commit": False, **settings.CONSUMER})
    consumer.subscribe([settings.TOPIC])
    try:
        while True:
            batch = consumer.consume(100, 1.0)
            if settings.COMMIT_BEFORE_PROCESSING and batch:
                consumer.commit(asynchronous=False)
            for message in batch:
                if not message.error():
                    ship(message.value())
            if not settings.COMMIT_BEFORE_PROCESSING and batch:
                consumer.commit(asynchronous=False)
    finally:
        consumer.close()
