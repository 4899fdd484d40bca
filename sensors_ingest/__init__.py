"""Getting data into the lake: the MQTT landing service, file/HTTP ingestion and the simulated device fleet."""
