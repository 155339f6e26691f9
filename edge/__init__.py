"""The gateway agent: reads BLE health devices and sends every reading over MQTT."""
