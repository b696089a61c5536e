"""OrdersStack business logic: the order worker, the notification worker and the nightly reconciliation."""
