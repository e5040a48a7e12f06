"""orders-service: consumes orders and ships them."""
