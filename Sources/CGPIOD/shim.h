#ifndef PORCHLIGHT_CGPIOD_SHIM_H
#define PORCHLIGHT_CGPIOD_SHIM_H
// libgpiod, the GPIO character-device library, behind one small C interface for both of its APIs.
//
// Debian 12 / Raspberry Pi OS bookworm ship libgpiod 1.6 (gpiod_line_request_*,
// gpiod_line_event_read_*). Debian 13 / Raspberry Pi OS trixie ship libgpiod 2.x, whose API
// replaced it (gpiod_line_settings, gpiod_request_config, gpiod_edge_event_buffer). The preprocessor
// picks the implementation from the installed gpiod.h, so the same Swift builds on either release
// and for a cross sysroot alike: Swift calls only the porchlight_gpio_* functions below.
//
// Conventions on both: a function that fails returns NULL or -1 with errno set by the library or
// the kernel, and nothing else clobbers errno on the way out. Lines are addressed by offset; a
// request holds one line; releasing a request does not close its chip, and a chip is closed
// only after its requests are released.
#include <errno.h>
#include <gpiod.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
// The reader thread's wake-up descriptor; Swift's Glibc module leaves this header out.
#include <sys/eventfd.h>

#ifdef GPIOD_LINE_BULK_MAX_LINES
#define PORCHLIGHT_GPIOD_API 1
#else
#define PORCHLIGHT_GPIOD_API 2
#endif

/// Which libgpiod API this build speaks, for `porchlightctl hw` and the tests' names.
static const int porchlight_gpiod_api = PORCHLIGHT_GPIOD_API;

/// The linked library's version, such as "1.6.3" or "2.2.1".
static inline const char *porchlight_gpio_version(void) {
#if PORCHLIGHT_GPIOD_API == 1
    return gpiod_version_string();
#else
    return gpiod_api_version();
#endif
}

#define PORCHLIGHT_GPIO_BIAS_AS_IS 0
#define PORCHLIGHT_GPIO_BIAS_DISABLED 1
#define PORCHLIGHT_GPIO_BIAS_PULL_UP 2
#define PORCHLIGHT_GPIO_BIAS_PULL_DOWN 3

/// The most edges one read returns; the kernel queues more until the next read.
#define PORCHLIGHT_GPIO_EDGE_BATCH 16

/// One line requested for edges or as an output.
struct porchlight_gpio_request {
#if PORCHLIGHT_GPIOD_API == 1
    struct gpiod_line *line;
#else
    struct gpiod_line_request *request;
    struct gpiod_edge_event_buffer *events;
    unsigned int offset;
#endif
};

/// An edge with the kernel's timestamp, after active-low: rising means "became active".
struct porchlight_gpio_edge {
    int rising;
    int64_t seconds;
    int64_t nanoseconds;
};

/// What `gpiodetect` shows of a chip. Names and labels longer than the buffers are cut.
struct porchlight_gpio_chip_info {
    char name[64];
    char label[64];
    unsigned int lines;
};

/// What `gpioinfo` shows of a line: its name and its consumer, "" when there is none.
struct porchlight_gpio_line_info {
    char name[64];
    char consumer[64];
    int used;
};

static inline void porchlight_gpio_copy(char *to, size_t size, const char *from) {
    if (from == NULL) from = "";
    strncpy(to, from, size - 1);
    to[size - 1] = '\0';
}

/// Opens a chip by its path (`/dev/gpiochip0`).
static inline struct gpiod_chip *porchlight_gpio_open(const char *path) { return gpiod_chip_open(path); }

static inline void porchlight_gpio_close(struct gpiod_chip *chip) { gpiod_chip_close(chip); }

static inline int porchlight_gpio_chip_info(struct gpiod_chip *chip, struct porchlight_gpio_chip_info *out) {
#if PORCHLIGHT_GPIOD_API == 1
    porchlight_gpio_copy(out->name, sizeof out->name, gpiod_chip_name(chip));
    porchlight_gpio_copy(out->label, sizeof out->label, gpiod_chip_label(chip));
    out->lines = gpiod_chip_num_lines(chip);
    return 0;
#else
    struct gpiod_chip_info *info = gpiod_chip_get_info(chip);
    if (info == NULL) return -1;
    porchlight_gpio_copy(out->name, sizeof out->name, gpiod_chip_info_get_name(info));
    porchlight_gpio_copy(out->label, sizeof out->label, gpiod_chip_info_get_label(info));
    out->lines = (unsigned int)gpiod_chip_info_get_num_lines(info);
    gpiod_chip_info_free(info);
    return 0;
#endif
}

static inline int porchlight_gpio_line_info(struct gpiod_chip *chip, unsigned int offset,
                                            struct porchlight_gpio_line_info *out) {
#if PORCHLIGHT_GPIOD_API == 1
    struct gpiod_line *line = gpiod_chip_get_line(chip, offset);
    if (line == NULL) return -1;
    porchlight_gpio_copy(out->name, sizeof out->name, gpiod_line_name(line));
    porchlight_gpio_copy(out->consumer, sizeof out->consumer, gpiod_line_consumer(line));
    out->used = gpiod_line_is_used(line);
    return 0;
#else
    struct gpiod_line_info *info = gpiod_chip_get_line_info(chip, offset);
    if (info == NULL) return -1;
    porchlight_gpio_copy(out->name, sizeof out->name, gpiod_line_info_get_name(info));
    porchlight_gpio_copy(out->consumer, sizeof out->consumer, gpiod_line_info_get_consumer(info));
    out->used = gpiod_line_info_is_used(info);
    gpiod_line_info_free(info);
    return 0;
#endif
}

/// The offset of the line the device tree names `name`; -1 and ENOENT when the chip has none.
static inline int porchlight_gpio_find_line(struct gpiod_chip *chip, const char *name) {
#if PORCHLIGHT_GPIOD_API == 1
    errno = 0;
    struct gpiod_line *line = gpiod_chip_find_line(chip, name);
    if (line == NULL) {
        if (errno == 0) errno = ENOENT;
        return -1;
    }
    return (int)gpiod_line_offset(line);
#else
    errno = 0;
    int offset = gpiod_chip_get_line_offset_from_name(chip, name);
    if (offset < 0 && errno == 0) errno = ENOENT;
    return offset;
#endif
}

#if PORCHLIGHT_GPIOD_API == 1
static inline int porchlight_gpio_flags(int active_low, int bias) {
    int flags = active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;
    switch (bias) {
    case PORCHLIGHT_GPIO_BIAS_DISABLED: flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE; break;
    case PORCHLIGHT_GPIO_BIAS_PULL_UP: flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP; break;
    case PORCHLIGHT_GPIO_BIAS_PULL_DOWN: flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN; break;
    default: break;
    }
    return flags;
}
#else
static inline enum gpiod_line_bias porchlight_gpio_bias(int bias) {
    switch (bias) {
    case PORCHLIGHT_GPIO_BIAS_DISABLED: return GPIOD_LINE_BIAS_DISABLED;
    case PORCHLIGHT_GPIO_BIAS_PULL_UP: return GPIOD_LINE_BIAS_PULL_UP;
    case PORCHLIGHT_GPIO_BIAS_PULL_DOWN: return GPIOD_LINE_BIAS_PULL_DOWN;
    default: return GPIOD_LINE_BIAS_AS_IS;
    }
}

/// One line with `settings`, requested as `consumer`; frees the settings. NULL and errno on failure.
static inline struct gpiod_line_request *porchlight_gpio_request_one(struct gpiod_chip *chip, unsigned int offset,
                                                                     const char *consumer,
                                                                     struct gpiod_line_settings *settings) {
    struct gpiod_line_request *request = NULL;
    struct gpiod_line_config *lines = gpiod_line_config_new();
    struct gpiod_request_config *config = gpiod_request_config_new();
    int failure = ENOMEM;
    if (lines != NULL && config != NULL && gpiod_line_config_add_line_settings(lines, &offset, 1, settings) == 0) {
        gpiod_request_config_set_consumer(config, consumer);
        gpiod_request_config_set_event_buffer_size(config, PORCHLIGHT_GPIO_EDGE_BATCH * 4);
        request = gpiod_chip_request_lines(chip, config, lines);
        failure = errno;
    } else if (errno != 0) {
        failure = errno;
    }
    gpiod_request_config_free(config);
    gpiod_line_config_free(lines);
    gpiod_line_settings_free(settings);
    if (request == NULL) errno = failure;
    return request;
}
#endif

/// Frees a request that failed half-way; NULL, with errno set to `failure`.
static inline struct porchlight_gpio_request *porchlight_gpio_abandon(struct porchlight_gpio_request *handle,
                                                                      int failure) {
#if PORCHLIGHT_GPIOD_API != 1
    gpiod_edge_event_buffer_free(handle->events);
#endif
    free(handle);
    errno = failure;
    return NULL;
}

#if PORCHLIGHT_GPIOD_API != 1
/// Requests the line with `settings` (freed whatever happens) into `handle`, or abandons it.
static inline struct porchlight_gpio_request *porchlight_gpio_finish(struct porchlight_gpio_request *handle,
                                                                     struct gpiod_chip *chip, unsigned int offset,
                                                                     const char *consumer,
                                                                     struct gpiod_line_settings *settings,
                                                                     int configured, int active_low) {
    if (settings == NULL) return porchlight_gpio_abandon(handle, ENOMEM);
    if (!configured) {
        int failure = errno;
        gpiod_line_settings_free(settings);
        return porchlight_gpio_abandon(handle, failure);
    }
    gpiod_line_settings_set_active_low(settings, active_low != 0);
    handle->offset = offset;
    handle->request = porchlight_gpio_request_one(chip, offset, consumer, settings);
    return handle->request == NULL ? porchlight_gpio_abandon(handle, errno) : handle;
}
#endif

/// Requests a line as an input reporting both edges, with the kernel's monotonic timestamps.
static inline struct porchlight_gpio_request *porchlight_gpio_request_input(struct gpiod_chip *chip,
                                                                            unsigned int offset,
                                                                            const char *consumer, int active_low,
                                                                            int bias) {
    struct porchlight_gpio_request *handle = calloc(1, sizeof *handle);
    if (handle == NULL) return NULL;
#if PORCHLIGHT_GPIOD_API == 1
    handle->line = gpiod_chip_get_line(chip, offset);
    int flags = porchlight_gpio_flags(active_low, bias);
    if (handle->line == NULL || gpiod_line_request_both_edges_events_flags(handle->line, consumer, flags) < 0)
        return porchlight_gpio_abandon(handle, errno);
    return handle;
#else
    handle->events = gpiod_edge_event_buffer_new(PORCHLIGHT_GPIO_EDGE_BATCH);
    if (handle->events == NULL) return porchlight_gpio_abandon(handle, ENOMEM);
    struct gpiod_line_settings *settings = gpiod_line_settings_new();
    int configured = settings != NULL && gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_INPUT) == 0 &&
                     gpiod_line_settings_set_edge_detection(settings, GPIOD_LINE_EDGE_BOTH) == 0 &&
                     gpiod_line_settings_set_bias(settings, porchlight_gpio_bias(bias)) == 0 &&
                     gpiod_line_settings_set_event_clock(settings, GPIOD_LINE_CLOCK_MONOTONIC) == 0;
    return porchlight_gpio_finish(handle, chip, offset, consumer, settings, configured, active_low);
#endif
}

/// Requests a line as an output at `initial` (logical: 1 is active).
static inline struct porchlight_gpio_request *porchlight_gpio_request_output(struct gpiod_chip *chip,
                                                                             unsigned int offset,
                                                                             const char *consumer, int active_low,
                                                                             int initial) {
    struct porchlight_gpio_request *handle = calloc(1, sizeof *handle);
    if (handle == NULL) return NULL;
#if PORCHLIGHT_GPIOD_API == 1
    handle->line = gpiod_chip_get_line(chip, offset);
    int flags = porchlight_gpio_flags(active_low, PORCHLIGHT_GPIO_BIAS_AS_IS);
    if (handle->line == NULL || gpiod_line_request_output_flags(handle->line, consumer, flags, initial) < 0)
        return porchlight_gpio_abandon(handle, errno);
    return handle;
#else
    struct gpiod_line_settings *settings = gpiod_line_settings_new();
    enum gpiod_line_value value = initial ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE;
    int configured = settings != NULL &&
                     gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_OUTPUT) == 0 &&
                     gpiod_line_settings_set_output_value(settings, value) == 0;
    return porchlight_gpio_finish(handle, chip, offset, consumer, settings, configured, active_low);
#endif
}

/// The descriptor that becomes readable when edges are queued, for poll.
static inline int porchlight_gpio_request_fd(struct porchlight_gpio_request *handle) {
#if PORCHLIGHT_GPIOD_API == 1
    return gpiod_line_event_get_fd(handle->line);
#else
    return gpiod_line_request_get_fd(handle->request);
#endif
}

/// Reads the queued edges, at most `max` (up to PORCHLIGHT_GPIO_EDGE_BATCH): how many, or -1.
/// Call it only when poll says the descriptor is readable: the read blocks otherwise.
static inline int porchlight_gpio_read_edges(struct porchlight_gpio_request *handle,
                                             struct porchlight_gpio_edge *edges, unsigned int max) {
    if (max > PORCHLIGHT_GPIO_EDGE_BATCH) max = PORCHLIGHT_GPIO_EDGE_BATCH;
#if PORCHLIGHT_GPIOD_API == 1
    struct gpiod_line_event events[PORCHLIGHT_GPIO_EDGE_BATCH];
    int count = gpiod_line_event_read_multiple(handle->line, events, max);
    for (int i = 0; i < count; i++) {
        edges[i].rising = events[i].event_type == GPIOD_LINE_EVENT_RISING_EDGE;
        edges[i].seconds = (int64_t)events[i].ts.tv_sec;
        edges[i].nanoseconds = (int64_t)events[i].ts.tv_nsec;
    }
    return count;
#else
    int count = gpiod_line_request_read_edge_events(handle->request, handle->events, max);
    for (int i = 0; i < count; i++) {
        struct gpiod_edge_event *event = gpiod_edge_event_buffer_get_event(handle->events, (unsigned long)i);
        uint64_t nanoseconds = gpiod_edge_event_get_timestamp_ns(event);
        edges[i].rising = gpiod_edge_event_get_event_type(event) == GPIOD_EDGE_EVENT_RISING_EDGE;
        edges[i].seconds = (int64_t)(nanoseconds / 1000000000u);
        edges[i].nanoseconds = (int64_t)(nanoseconds % 1000000000u);
    }
    return count;
#endif
}

/// Sets an output (logical: 1 is active).
static inline int porchlight_gpio_set_value(struct porchlight_gpio_request *handle, int value) {
#if PORCHLIGHT_GPIOD_API == 1
    return gpiod_line_set_value(handle->line, value);
#else
    return gpiod_line_request_set_value(handle->request, handle->offset,
                                        value ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE);
#endif
}

/// Gives the line back to the kernel and frees the request.
static inline void porchlight_gpio_release(struct porchlight_gpio_request *handle) {
#if PORCHLIGHT_GPIOD_API == 1
    gpiod_line_release(handle->line);
#else
    gpiod_line_request_release(handle->request);
    gpiod_edge_event_buffer_free(handle->events);
#endif
    free(handle);
}

#endif
