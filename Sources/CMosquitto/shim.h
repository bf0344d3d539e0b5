#ifndef PORCHLIGHT_MOSQUITTO_SHIM_H
#define PORCHLIGHT_MOSQUITTO_SHIM_H
// libmosquitto (Debian's libmosquitto-dev), MQTT 3.1.1 and 5, and the OpenSSL it is built on,
// for a pinned broker certificate (an SSL_CTX of our own, handed over as MOSQ_OPT_SSL_CTX).
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

/// SSL_CTX_set_min_proto_version is a macro.
static inline int porchlight_ssl_ctx_min_tls12(SSL_CTX *ctx) {
    return (int)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}
#endif
