#ifndef PORCHLIGHT_CSYSTEMD_SHIM_H
#define PORCHLIGHT_CSYSTEMD_SHIM_H
// libsystemd. Porchlight speaks the sd_notify and journald native protocols itself (both are
// documented and stable) so that tests can point them at their own sockets; libsystemd is kept
// for sd_listen_fds (socket activation of porchlight-sync) and sd_booted.
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#endif
