/*
 * live_capture: libpcap live captures read on the daemon's own event loop, in batches, and
 * released the moment they are closed.
 *
 * Why not the `pcap` npm package (node_pcap 3.1.0): its close() only sets libpcap's break-loop
 * flag, honoured at the *next* packet, so a capture on a quiet or vanished interface is never
 * released; the daemon had to read in a child process and end it to let go, which put an IPC
 * hop and a second process wake-up between a probe and its log line. It also calls JS once per
 * packet. Here libpcap does the capturing; this file only polls its selectable fd with libuv
 * and copies each read's frames into a caller-owned buffer, one JS call per read.
 *
 * Batch buffer layout (caller-owned, `slotBytes` per frame, frames in arrival order):
 *   +0 u32 captured length   +4 u32 length on the wire   +8 f64 kernel time, µs since the epoch
 *   +16 the captured bytes (at most slotBytes - 16)
 *
 * JS API:
 *   open(device, filter, snapLength, bufferBytes, timeoutMs) -> { handle, linkType }
 *       timeoutMs 0: immediate mode (each packet wakes us); > 0: TPACKET_V3 block timeout.
 *       throws Error{code: "EPERM" | "ENODEV" | "EFILTER" | "EPCAP"} with libpcap's text
 *   start(handle, buffer, slotBytes, onBatch(count), onError(message), holdUnderLoadMs)
 *       holdUnderLoadMs > 0: once reads are busy (more than BUSY_FRAMES frames in a
 *       LOAD_WINDOW_MS window), each read first waits that long (a timer, never a blocking
 *       wait), so that one read takes a whole millisecond's frames.
 *   drain(handle)        reads what the ring holds now, at once (onBatch runs before it returns)
 *   stats(handle) -> { received, dropped, ifDropped } | undefined once closed
 *   close(handle)        idempotent; the socket and ring are released at once
 */
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#define _GNU_SOURCE

#include <errno.h>
#include <poll.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <node_api.h>
#include <uv.h>

#include "napi_common.h"

/* Buffer-fulls read per wake-up: a flood cannot starve the rest of the event loop. */
#define MAX_READS_PER_WAKEUP 16
#define SLOT_HEADER_BYTES 16
#define LOAD_WINDOW_MS 10
#define BUSY_FRAMES 20

typedef enum { CAPTURE_OPEN, CAPTURE_CLOSED } capture_state;

typedef struct capture {
  uv_poll_t poll;
  uv_timer_t hold_timer;
  napi_env env;
  napi_ref self_ref;   /* strong until close: an open capture is never collected */
  napi_ref on_batch;   /* NULL until start */
  napi_ref on_error;   /* NULL until start */
  napi_ref buffer_ref; /* keeps the batch buffer alive while we write into it */
  napi_async_context async_ctx;
  pcap_t *pcap;
  capture_state state;
  int started;
  int handles_open; /* uv handles not yet through their close callback */
  int finalized;    /* JS handle collected */
  uint8_t *batch;
  size_t slot_bytes;
  uint32_t slots;
  uint32_t count; /* frames in the batch being filled */
  uint32_t hold_ms;
  uint64_t window_start_ms;
  uint32_t window_frames;
  int busy;
  int holding; /* the poll is stopped and the hold timer runs */
  int failed;  /* a read failed: polling stopped for good */
  int dispatching;   /* inside pcap_dispatch: libpcap's handle must not be closed now */
  int close_pending; /* closed from a callback inside pcap_dispatch: close after it returns */
} capture_t;

/* ---------- errors and arguments ---------- */

static void throw_coded(napi_env env, const char *code, const char *message) {
  napi_value code_v, msg_v, error;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_v) != napi_ok) return;
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg_v) != napi_ok) return;
  if (napi_create_error(env, code_v, msg_v, &error) != napi_ok) return;
  napi_throw(env, error);
}

/* A JS string into a fresh C string (NULL and a thrown error on failure). */
static char *get_string_arg(napi_env env, napi_value v, const char *name, size_t max) {
  size_t length;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &length) != napi_ok || length > max) {
    char message[128];
    snprintf(message, sizeof message, "%s must be a string of at most %zu bytes", name, max);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
    return NULL;
  }
  char *text = malloc(length + 1);
  if (text == NULL) {
    throw_coded(env, "ENOMEM", "out of memory");
    return NULL;
  }
  if (napi_get_value_string_utf8(env, v, text, length + 1, &length) != napi_ok) {
    free(text);
    return NULL;
  }
  return text;
}

/* ---------- lifecycle ---------- */

static void maybe_free(capture_t *cap) {
  if (cap->handles_open == 0 && cap->finalized) free(cap);
}

static void on_handle_closed(uv_handle_t *handle) {
  capture_t *cap = (capture_t *)handle->data;
  cap->handles_open--;
  maybe_free(cap);
}

/* Stops polling and releases libpcap's handle; touches no JS state (safe at env teardown). */
static void stop_io(capture_t *cap) {
  if (cap->state != CAPTURE_OPEN) return;
  cap->state = CAPTURE_CLOSED;
  if (cap->handles_open > 0) {
    uv_poll_stop(&cap->poll); /* out of epoll before libpcap closes the fd */
    uv_timer_stop(&cap->hold_timer);
    uv_close((uv_handle_t *)&cap->poll, on_handle_closed);
    uv_close((uv_handle_t *)&cap->hold_timer, on_handle_closed);
  }
  if (cap->dispatching) {
    cap->close_pending = 1; /* read_available closes it once pcap_dispatch has returned */
    pcap_breakloop(cap->pcap);
  } else {
    pcap_close(cap->pcap);
    cap->pcap = NULL;
  }
  cap->batch = NULL;
}

static void on_env_teardown(void *arg) {
  stop_io((capture_t *)arg);
}

static void drop_ref(napi_env env, napi_ref *ref) {
  if (*ref != NULL) napi_delete_reference(env, *ref);
  *ref = NULL;
}

static void close_capture(capture_t *cap) {
  if (cap->state != CAPTURE_OPEN) return; /* double close is a no-op */
  napi_env env = cap->env;
  stop_io(cap);
  napi_remove_env_cleanup_hook(env, on_env_teardown, cap);
  if (cap->started) napi_async_destroy(env, cap->async_ctx);
  drop_ref(env, &cap->on_batch);
  drop_ref(env, &cap->on_error);
  drop_ref(env, &cap->buffer_ref);
  drop_ref(env, &cap->self_ref); /* now the JS handle may be collected */
}

static void finalize_capture(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  capture_t *cap = (capture_t *)data;
  stop_io(cap); /* still open only at env teardown */
  cap->finalized = 1;
  maybe_free(cap);
}

/* ---------- calling JS ---------- */

/* Calls `fn_ref` with one argument; returns 0 if it threw. */
static int call_js(capture_t *cap, napi_ref fn_ref, napi_value (*make_arg)(napi_env, const void *),
                   const void *arg_source) {
  napi_env env = cap->env;
  napi_handle_scope scope;
  if (fn_ref == NULL || napi_open_handle_scope(env, &scope) != napi_ok) return 1;
  int ok = 1;
  napi_value fn, recv, arg, result;
  if (napi_get_reference_value(env, fn_ref, &fn) == napi_ok && fn != NULL &&
      napi_get_global(env, &recv) == napi_ok && (arg = make_arg(env, arg_source)) != NULL) {
    if (napi_make_callback(env, cap->async_ctx, recv, fn, 1, &arg, &result) != napi_ok) {
      ok = 0;
      raise_pending(env);
    }
  }
  napi_close_handle_scope(env, scope);
  return ok;
}

static napi_value make_count(napi_env env, const void *source) {
  napi_value v;
  return napi_create_uint32(env, *(const uint32_t *)source, &v) == napi_ok ? v : NULL;
}

static napi_value make_text(napi_env env, const void *source) {
  napi_value v;
  return napi_create_string_utf8(env, (const char *)source, NAPI_AUTO_LENGTH, &v) == napi_ok ? v
                                                                                            : NULL;
}

/* ---------- reading ---------- */

static void on_frame(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes) {
  capture_t *cap = (capture_t *)user;
  if (cap->state != CAPTURE_OPEN) return;
  cap->window_frames++;
  if (cap->count >= cap->slots) {
    /* Full (an nflog read hands over a whole datagram, whatever the count asked): deliver. */
    uint32_t count = cap->count;
    cap->count = 0;
    if (!call_js(cap, cap->on_batch, make_count, &count) || cap->state != CAPTURE_OPEN) return;
  }
  uint8_t *slot = cap->batch + (size_t)cap->count * cap->slot_bytes;
  uint32_t captured = h->caplen;
  if (captured > cap->slot_bytes - SLOT_HEADER_BYTES) captured = cap->slot_bytes - SLOT_HEADER_BYTES;
  uint32_t wire = h->len;
  double ts_us = (double)h->ts.tv_sec * 1e6 + (double)h->ts.tv_usec;
  memcpy(slot, &captured, 4);
  memcpy(slot + 4, &wire, 4);
  memcpy(slot + 8, &ts_us, 8);
  memcpy(slot + SLOT_HEADER_BYTES, bytes, captured);
  cap->count++;
}

static void on_readable(uv_poll_t *handle, int status, int events);

/* Stops reading for good and tells JS why (the interface went away, or a read failed). */
static void fail(capture_t *cap, const char *why) {
  char message[PCAP_ERRBUF_SIZE + 64];
  snprintf(message, sizeof message, "%s", why);
  cap->failed = 1;
  uv_poll_stop(&cap->poll);
  uv_timer_stop(&cap->hold_timer);
  call_js(cap, cap->on_error, make_text, message);
}

/* Whether the fd has something to read now (some libpcap readers, nflog's among them, report
 * a non-blocking read of nothing as an error). */
static int readable_now(capture_t *cap) {
  struct pollfd p = {.fd = pcap_get_selectable_fd(cap->pcap), .events = POLLIN};
  return poll(&p, 1, 0) > 0;
}

/* Reads what the ring holds, a batch at a time, handing each batch to JS. `known_readable`:
 * libuv just said so; otherwise the fd is asked first. */
static void read_available(capture_t *cap, int known_readable) {
  for (int round = 0; round < MAX_READS_PER_WAKEUP && cap->state == CAPTURE_OPEN; round++) {
    if (!(round == 0 && known_readable) && !readable_now(cap)) return;
    cap->count = 0;
    cap->dispatching = 1;
    int n = pcap_dispatch(cap->pcap, (int)cap->slots, on_frame, (u_char *)cap);
    int err = errno;
    cap->dispatching = 0;
    if (cap->close_pending) {
      pcap_close(cap->pcap);
      cap->pcap = NULL;
      return;
    }
    if (n == PCAP_ERROR && (err == EAGAIN || err == EWOULDBLOCK)) n = 0;
    if (n < 0 && n != PCAP_ERROR_BREAK) {
      fail(cap, pcap_geterr(cap->pcap));
      return;
    }
    uint32_t count = cap->count;
    if (count > 0 && !call_js(cap, cap->on_batch, make_count, &count)) return;
    if (n < (int)cap->slots) return; /* the ring is empty (or nearly: the next wake-up reads it) */
  }
}

static void on_hold_over(uv_timer_t *timer) {
  capture_t *cap = (capture_t *)timer->data;
  if (cap->state != CAPTURE_OPEN) return;
  cap->holding = 0;
  read_available(cap, 0);
  if (cap->state == CAPTURE_OPEN && !cap->failed) {
    uv_poll_start(&cap->poll, UV_READABLE, on_readable);
  }
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  capture_t *cap = (capture_t *)handle->data;
  if (cap->state != CAPTURE_OPEN) return;
  if (status < 0) {
    /* libpcap closes its socket itself when the interface goes away (EBADF here). */
    char why[160];
    snprintf(why, sizeof why, "capture socket failed (%s): the interface may have gone away",
             uv_strerror(status));
    fail(cap, why);
    return;
  }
  if (cap->hold_ms > 0) {
    uint64_t now = uv_hrtime() / 1000000;
    uint64_t elapsed = now - cap->window_start_ms;
    if (elapsed >= LOAD_WINDOW_MS) {
      /* A window long past (an idle spell) never counts as load. */
      cap->busy = cap->window_frames > BUSY_FRAMES && elapsed < 2 * LOAD_WINDOW_MS;
      cap->window_start_ms = now;
      cap->window_frames = 0;
    }
    if (cap->busy && !cap->holding) {
      cap->holding = 1;
      uv_poll_stop(&cap->poll);
      uv_timer_start(&cap->hold_timer, on_hold_over, cap->hold_ms, 0);
      return;
    }
  }
  read_available(cap, 1);
}

/* ---------- JS entry points ---------- */

static capture_t *get_capture(napi_env env, napi_value handle) {
  napi_valuetype type;
  void *data = NULL;
  if (napi_typeof(env, handle, &type) != napi_ok || type != napi_external ||
      napi_get_value_external(env, handle, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "not a capture handle");
    return NULL;
  }
  return (capture_t *)data;
}

/* libpcap's activation status → our error code. */
static const char *activate_code(int status) {
  switch (status) {
  case PCAP_ERROR_PERM_DENIED:
  case PCAP_ERROR_PROMISC_PERM_DENIED:
    return "EPERM";
  case PCAP_ERROR_NO_SUCH_DEVICE:
  case PCAP_ERROR_IFACE_NOT_UP:
    return "ENODEV";
  default:
    return "EPCAP";
  }
}

static pcap_t *open_pcap(napi_env env, const char *device, const char *filter, int snap_length,
                         int buffer_bytes, int timeout_ms) {
  char errbuf[PCAP_ERRBUF_SIZE];
  char message[PCAP_ERRBUF_SIZE + 128];
  errbuf[0] = '\0';
  pcap_t *p = pcap_create(device, errbuf);
  if (p == NULL) {
    throw_coded(env, "ENODEV", errbuf);
    return NULL;
  }
  pcap_set_snaplen(p, snap_length);
  pcap_set_promisc(p, 0);
  pcap_set_buffer_size(p, buffer_bytes);
  if (timeout_ms == 0) {
    pcap_set_immediate_mode(p, 1);
  } else {
    pcap_set_timeout(p, timeout_ms);
  }
  int status = pcap_activate(p);
  if (status < 0) {
    /* PCAP_ERROR carries its text in pcap_geterr; the others only in pcap_statustostr. */
    const char *detail = status == PCAP_ERROR ? pcap_geterr(p) : pcap_statustostr(status);
    if (status != PCAP_ERROR && pcap_geterr(p)[0] != '\0') detail = pcap_geterr(p);
    snprintf(message, sizeof message, "%s: %s", device, detail);
    pcap_close(p);
    throw_coded(env, activate_code(status), message);
    return NULL;
  }
  if (filter[0] != '\0') {
    struct bpf_program program;
    if (pcap_compile(p, &program, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
      snprintf(message, sizeof message, "filter does not compile: %s", pcap_geterr(p));
      pcap_close(p);
      throw_coded(env, "EFILTER", message);
      return NULL;
    }
    int set = pcap_setfilter(p, &program);
    pcap_freecode(&program);
    if (set != 0) {
      snprintf(message, sizeof message, "cannot set the filter: %s", pcap_geterr(p));
      pcap_close(p);
      throw_coded(env, "EFILTER", message);
      return NULL;
    }
  }
  if (pcap_setnonblock(p, 1, errbuf) != 0 || pcap_get_selectable_fd(p) < 0) {
    snprintf(message, sizeof message, "%s: cannot read without blocking: %s", device, errbuf);
    pcap_close(p);
    throw_coded(env, "EPCAP", message);
    return NULL;
  }
  return p;
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!get_args(env, info, argv, 5, 5, "open(device, filter, snapLength, bufferBytes, timeoutMs)")) {
    return NULL;
  }
  int64_t snap_length, buffer_bytes, timeout_ms;
  if (!get_int_arg(env, argv[2], "snapLength", 64, 262144, &snap_length)) return NULL;
  if (!get_int_arg(env, argv[3], "bufferBytes", 65536, 1 << 30, &buffer_bytes)) return NULL;
  if (!get_int_arg(env, argv[4], "timeoutMs", 0, 1000, &timeout_ms)) return NULL;
  char *device = get_string_arg(env, argv[0], "device", 255);
  if (device == NULL) return NULL;
  char *filter = get_string_arg(env, argv[1], "filter", 1 << 20);
  if (filter == NULL) {
    free(device);
    return NULL;
  }
  pcap_t *p = open_pcap(env, device, filter, (int)snap_length, (int)buffer_bytes, (int)timeout_ms);
  free(device);
  free(filter);
  if (p == NULL) return NULL;

  capture_t *cap = calloc(1, sizeof *cap);
  napi_value handle, result, link_type;
  if (cap == NULL) {
    pcap_close(p);
    throw_coded(env, "ENOMEM", "out of memory");
    return NULL;
  }
  cap->env = env;
  cap->pcap = p;
  cap->state = CAPTURE_OPEN;
  if (napi_create_external(env, cap, finalize_capture, NULL, &handle) != napi_ok) {
    pcap_close(p);
    free(cap);
    throw_coded(env, "ENOMEM", "out of memory");
    return NULL;
  }
  /* Strong until close(): an open capture is never collected, only closed. */
  napi_create_reference(env, handle, 1, &cap->self_ref);
  napi_add_env_cleanup_hook(env, on_env_teardown, cap);
  napi_create_object(env, &result);
  napi_create_int32(env, pcap_datalink(p), &link_type);
  napi_set_named_property(env, result, "handle", handle);
  napi_set_named_property(env, result, "linkType", link_type);
  return result;
}

static napi_value js_start(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  if (!get_args(env, info, argv, 6, 6,
                "start(handle, buffer, slotBytes, onBatch, onError, holdUnderLoadMs)")) {
    return NULL;
  }
  capture_t *cap = get_capture(env, argv[0]);
  if (cap == NULL) return NULL;
  if (cap->state != CAPTURE_OPEN || cap->started) {
    throw_coded(env, "EINVAL", "capture is closed or already started");
    return NULL;
  }
  uint8_t *data;
  size_t length;
  static const char *const wanted = "buffer must be an 8-byte aligned Uint8Array";
  if (!get_uint8_array(env, argv[1], wanted, &data, &length)) return NULL;
  if (((uintptr_t)data & 7) != 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", wanted);
    return NULL;
  }
  int64_t slot_bytes, hold_ms;
  if (!get_int_arg(env, argv[2], "slotBytes", SLOT_HEADER_BYTES + 64, 1 << 20, &slot_bytes))
    return NULL;
  if (slot_bytes % 8 != 0 || (size_t)slot_bytes > length) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "slotBytes must be a multiple of 8 within the buffer");
    return NULL;
  }
  if (!get_int_arg(env, argv[5], "holdUnderLoadMs", 0, 100, &hold_ms)) return NULL;
  napi_valuetype batch_type, error_type;
  napi_typeof(env, argv[3], &batch_type);
  napi_typeof(env, argv[4], &error_type);
  if (batch_type != napi_function || error_type != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "onBatch and onError must be functions");
    return NULL;
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return NULL;
  int rc = uv_poll_init(loop, &cap->poll, pcap_get_selectable_fd(cap->pcap));
  if (rc != 0) {
    throw_coded(env, "EPCAP", uv_strerror(rc));
    return NULL;
  }
  uv_timer_init(loop, &cap->hold_timer);
  cap->poll.data = cap;
  cap->hold_timer.data = cap;
  cap->handles_open = 2;
  cap->started = 1;
  cap->batch = data;
  cap->slot_bytes = (size_t)slot_bytes;
  cap->slots = (uint32_t)(length / (size_t)slot_bytes);
  cap->hold_ms = (uint32_t)hold_ms;
  napi_value resource_name;
  napi_create_string_utf8(env, "LiveCapture", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, NULL, resource_name, &cap->async_ctx);
  napi_create_reference(env, argv[1], 1, &cap->buffer_ref);
  napi_create_reference(env, argv[3], 1, &cap->on_batch);
  napi_create_reference(env, argv[4], 1, &cap->on_error);
  rc = uv_poll_start(&cap->poll, UV_READABLE, on_readable);
  if (rc != 0) {
    close_capture(cap);
    throw_coded(env, "EPCAP", uv_strerror(rc));
    return NULL;
  }
  /* An empty batch: the first call into JS costs a few hundred µs (V8 compiles the callback,
   * Node sets up its callback scope); pay it now, not on the first probe. */
  uint32_t none = 0;
  if (!call_js(cap, cap->on_batch, make_count, &none)) return NULL;
  /* Frames that arrived between activation and now: read them without waiting for the next. */
  read_available(cap, 0);
  return NULL;
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  capture_t *cap = argc < 1 ? NULL : get_capture(env, argv[0]);
  if (cap == NULL) return NULL;
  struct pcap_stat s;
  napi_value result, received, dropped, if_dropped;
  if (cap->state != CAPTURE_OPEN || pcap_stats(cap->pcap, &s) != 0) {
    napi_get_undefined(env, &result);
    return result;
  }
  napi_create_object(env, &result);
  napi_create_double(env, (double)s.ps_recv, &received);
  napi_create_double(env, (double)s.ps_drop, &dropped);
  napi_create_double(env, (double)s.ps_ifdrop, &if_dropped);
  napi_set_named_property(env, result, "received", received);
  napi_set_named_property(env, result, "dropped", dropped);
  napi_set_named_property(env, result, "ifDropped", if_dropped);
  return result;
}

static napi_value js_drain(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  capture_t *cap = argc < 1 ? NULL : get_capture(env, argv[0]);
  if (cap != NULL && cap->state == CAPTURE_OPEN && cap->started && !cap->failed && !cap->dispatching) {
    read_available(cap, 0);
  }
  return NULL;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  capture_t *cap = argc < 1 ? NULL : get_capture(env, argv[0]);
  if (cap != NULL) close_capture(cap);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"start", NULL, js_start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"drain", NULL, js_drain, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) {
    return NULL;
  }
  return exports;
}
