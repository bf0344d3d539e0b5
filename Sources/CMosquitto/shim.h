#ifndef PORCHLIGHT_MOSQUITTO_SHIM_H
#define PORCHLIGHT_MOSQUITTO_SHIM_H
// libmosquitto (Debian's libmosquitto-dev), MQTT 3.1.1 and 5.
#include <mosquitto.h>
#include <mqtt_protocol.h>
#endif
