/*
 * trap_accept: TCP trap listeners that learn the peer address from accept4() itself.
 *
 * Node's net.Server accepts with accept4(fd, NULL, NULL) and asks getpeername() later; for a
 * peer that completes the handshake and resets at once (nmap -sT) that fails and
 * remoteAddress is undefined (nodejs/node#23858). PortSentry 1.2 took the address from
 * accept(); so do we. Accepted sockets never outlive the JS callback: banner, close, done.
 *
 * JS API (all synchronous):
 *   listen(family 4|6, port, backlog) -> fd           throws Error{code: errno name}
 *   watch(fd, onHit(address, remotePort, localPort, family) -> banner?, onError?(code))
 *     -> handle                                        takes ownership of fd
 *   port(handle) -> bound local port
 *   stats(handle) -> { accepted, skipped, resourceErrors }
 *   close(handle)                                      idempotent
 */
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#include "napi_common.h"

/* Accepts per wakeup: a flood cannot starve the rest of the event loop. */
#define MAX_ACCEPTS_PER_WAKEUP 256
/* After EMFILE/ENFILE and the like, stop polling this long instead of spinning. */
#define RESOURCE_PAUSE_MS 100
/* Longest banner sent; 1.2 sent one short line. */
#define MAX_BANNER_BYTES 65536

typedef enum { TRAP_OPEN, TRAP_CLOSED } trap_state;

typedef struct trap {
  uv_poll_t poll;
  uv_timer_t pause_timer;
  napi_env env;
  napi_ref self_ref; /* strong while open: an open trap is never collected */
  napi_ref on_hit;
  napi_ref on_error; /* may be NULL */
  napi_async_context async_ctx;
  int fd;
  int local_port;
  trap_state state;
  int handles_open; /* uv handles not yet through their close callback */
  int finalized;    /* JS handle collected */
  uint64_t accepted;
  uint64_t skipped;         /* ECONNABORTED, EPROTO and the like: peer gone before accept */
  uint64_t resource_errors; /* EMFILE, ENFILE, ENOBUFS, ENOMEM, other unexpected errors */
} trap_t;

/* ---------- errors ---------- */

static void throw_errno(napi_env env, int err, const char *syscall, const char *what) {
  char name[64];
  char message[256];
  uv_err_name_r(-err, name, sizeof name);
  snprintf(message, sizeof message, "%s failed for %s: %s", syscall, what, uv_strerror(-err));
  napi_value code_v, msg_v, error, errno_v, syscall_v;
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code_v) != napi_ok) return;
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg_v) != napi_ok) return;
  if (napi_create_error(env, code_v, msg_v, &error) != napi_ok) return;
  napi_create_int32(env, -err, &errno_v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_v);
  napi_set_named_property(env, error, "errno", errno_v);
  napi_set_named_property(env, error, "syscall", syscall_v);
  napi_throw(env, error);
}

/* ---------- listen ---------- */

static napi_value js_listen(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, argv, 3, 3, "listen(family, port, backlog)")) return NULL;
  int64_t family, port, backlog;
  if (!get_int_arg(env, argv[0], "family", 4, 6, &family)) return NULL;
  if (family != 4 && family != 6) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "family must be 4 or 6");
    return NULL;
  }
  if (!get_int_arg(env, argv[1], "port", 0, 65535, &port)) return NULL;
  if (!get_int_arg(env, argv[2], "backlog", 1, 65535, &backlog)) return NULL;

  char what[64];
  snprintf(what, sizeof what, "TCP port %d (IPv%d)", (int)port, (int)family);

  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_errno(env, errno, "socket", what);
    return NULL;
  }
  const int one = 1;
  const char *failed = NULL;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    failed = "setsockopt";
  } else if (family == 6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
    /* v4 and v6 traps are separate sockets, so both can bind the same port. */
    failed = "setsockopt";
  } else {
    int rc;
    if (family == 4) {
      struct sockaddr_in sa;
      memset(&sa, 0, sizeof sa);
      sa.sin_family = AF_INET;
      sa.sin_addr.s_addr = htonl(INADDR_ANY);
      sa.sin_port = htons((uint16_t)port);
      rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    } else {
      struct sockaddr_in6 sa;
      memset(&sa, 0, sizeof sa);
      sa.sin6_family = AF_INET6;
      sa.sin6_addr = in6addr_any;
      sa.sin6_port = htons((uint16_t)port);
      rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    }
    if (rc != 0) {
      failed = "bind";
    } else if (listen(fd, (int)backlog) != 0) {
      failed = "listen";
    }
  }
  if (failed != NULL) {
    int err = errno;
    close(fd);
    throw_errno(env, err, failed, what);
    return NULL;
  }
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

/* ---------- watcher lifecycle ---------- */

static void maybe_free(trap_t *trap) {
  if (trap->handles_open == 0 && trap->finalized) free(trap);
}

static void on_handle_closed(uv_handle_t *handle) {
  trap_t *trap = (trap_t *)handle->data;
  trap->handles_open--;
  maybe_free(trap);
}

/* Stops polling and closes the listening fd; touches no JS state (safe at env teardown). */
static void stop_io(trap_t *trap) {
  if (trap->state != TRAP_OPEN) return;
  trap->state = TRAP_CLOSED;
  uv_poll_stop(&trap->poll); /* removes fd from epoll before the fd is closed */
  uv_timer_stop(&trap->pause_timer);
  close(trap->fd);
  trap->fd = -1;
  uv_close((uv_handle_t *)&trap->poll, on_handle_closed);
  uv_close((uv_handle_t *)&trap->pause_timer, on_handle_closed);
}

static void on_env_teardown(void *arg) {
  stop_io((trap_t *)arg);
}

static void close_trap(trap_t *trap) {
  if (trap->state != TRAP_OPEN) return; /* double close is a no-op */
  napi_env env = trap->env;
  stop_io(trap);
  napi_remove_env_cleanup_hook(env, on_env_teardown, trap);
  napi_async_destroy(env, trap->async_ctx);
  napi_delete_reference(env, trap->on_hit);
  if (trap->on_error != NULL) napi_delete_reference(env, trap->on_error);
  napi_delete_reference(env, trap->self_ref); /* now the JS handle may be collected */
  trap->on_hit = trap->on_error = trap->self_ref = NULL;
}

static void finalize_trap(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  trap_t *trap = (trap_t *)data;
  stop_io(trap); /* only still open at env teardown */
  trap->finalized = 1;
  maybe_free(trap);
}

/* ---------- calling JS ---------- */

static void report_error(trap_t *trap, int err) {
  if (trap->on_error == NULL) return;
  napi_env env = trap->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  char name[64];
  uv_err_name_r(-err, name, sizeof name);
  napi_value fn, recv, arg, result;
  if (napi_get_reference_value(env, trap->on_error, &fn) == napi_ok && fn != NULL &&
      napi_get_global(env, &recv) == napi_ok &&
      napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &arg) == napi_ok) {
    if (napi_make_callback(env, trap->async_ctx, recv, fn, 1, &arg, &result) != napi_ok) {
      raise_pending(env);
    }
  }
  napi_close_handle_scope(env, scope);
}

/* Writes the banner once, never blocking: a peer with a full window just misses it. */
static void send_banner(napi_env env, int conn, napi_value banner) {
  napi_valuetype type;
  if (napi_typeof(env, banner, &type) != napi_ok) return;
  if (type == napi_string) {
    size_t length;
    if (napi_get_value_string_utf8(env, banner, NULL, 0, &length) != napi_ok || length == 0) return;
    if (length > MAX_BANNER_BYTES) length = MAX_BANNER_BYTES;
    char *text = malloc(length + 1);
    if (text == NULL) return;
    size_t written;
    if (napi_get_value_string_utf8(env, banner, text, length + 1, &written) == napi_ok) {
      (void)send(conn, text, written, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    free(text);
    return;
  }
  bool is_buffer = false;
  if (type == napi_object && napi_is_buffer(env, banner, &is_buffer) == napi_ok && is_buffer) {
    void *data;
    size_t length;
    if (napi_get_buffer_info(env, banner, &data, &length) == napi_ok && length > 0) {
      if (length > MAX_BANNER_BYTES) length = MAX_BANNER_BYTES;
      (void)send(conn, data, length, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
  }
}

/* Returns 0 if the JS callback threw (the caller stops this wakeup). */
static int deliver_hit(trap_t *trap, int conn, const struct sockaddr_storage *peer) {
  char text[INET6_ADDRSTRLEN];
  int remote_port = 0;
  int family = 4;
  text[0] = '\0';
  if (peer->ss_family == AF_INET) {
    const struct sockaddr_in *sa = (const struct sockaddr_in *)peer;
    inet_ntop(AF_INET, &sa->sin_addr, text, sizeof text);
    remote_port = ntohs(sa->sin_port);
  } else if (peer->ss_family == AF_INET6) {
    const struct sockaddr_in6 *sa = (const struct sockaddr_in6 *)peer;
    remote_port = ntohs(sa->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&sa->sin6_addr)) {
      /* Not expected with IPV6_V6ONLY; report the IPv4 host it really is. */
      inet_ntop(AF_INET, &sa->sin6_addr.s6_addr[12], text, sizeof text);
    } else {
      inet_ntop(AF_INET6, &sa->sin6_addr, text, sizeof text);
      family = 6;
    }
  }

  napi_env env = trap->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) {
    close(conn);
    return 1;
  }
  int ok = 1;
  napi_value fn, recv, argv[4], result;
  if (napi_get_reference_value(env, trap->on_hit, &fn) == napi_ok && fn != NULL &&
      napi_get_global(env, &recv) == napi_ok &&
      napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &argv[0]) == napi_ok &&
      napi_create_int32(env, remote_port, &argv[1]) == napi_ok &&
      napi_create_int32(env, trap->local_port, &argv[2]) == napi_ok &&
      napi_create_int32(env, family, &argv[3]) == napi_ok) {
    if (napi_make_callback(env, trap->async_ctx, recv, fn, 4, argv, &result) == napi_ok) {
      send_banner(env, conn, result);
    } else {
      ok = 0;
    }
  }
  close(conn); /* before any exception propagates: the fd never leaks */
  if (!ok) raise_pending(env);
  napi_close_handle_scope(env, scope);
  return ok;
}

/* ---------- accept loop ---------- */

static void on_readable(uv_poll_t *handle, int status, int events);

static void on_pause_over(uv_timer_t *timer) {
  trap_t *trap = (trap_t *)timer->data;
  if (trap->state == TRAP_OPEN) uv_poll_start(&trap->poll, UV_READABLE, on_readable);
}

static void pause_polling(trap_t *trap, int err) {
  trap->resource_errors++;
  uv_poll_stop(&trap->poll);
  uv_timer_start(&trap->pause_timer, on_pause_over, RESOURCE_PAUSE_MS, 0);
  report_error(trap, err);
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  trap_t *trap = (trap_t *)handle->data;
  if (trap->state != TRAP_OPEN) return;
  if (status < 0) {
    pause_polling(trap, -status);
    return;
  }
  for (int i = 0; i < MAX_ACCEPTS_PER_WAKEUP && trap->state == TRAP_OPEN; i++) {
    struct sockaddr_storage peer;
    socklen_t peer_len = sizeof peer;
    memset(&peer, 0, sizeof peer);
    int conn = accept4(trap->fd, (struct sockaddr *)&peer, &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (conn < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return;
      if (err == EINTR) continue;
      /* The peer went away or its network failed before accept: nothing to attribute. */
      if (err == ECONNABORTED || err == EPROTO || err == ENETDOWN || err == ENOPROTOOPT ||
          err == EHOSTDOWN || err == ENONET || err == EHOSTUNREACH || err == EOPNOTSUPP ||
          err == ENETUNREACH || err == EPERM) {
        trap->skipped++;
        continue;
      }
      /* EMFILE, ENFILE, ENOBUFS, ENOMEM or a bug: level-triggered polling would spin. */
      pause_polling(trap, err);
      return;
    }
    trap->accepted++;
    if (!deliver_hit(trap, conn, &peer)) return;
  }
}

/* ---------- JS entry points ---------- */

static trap_t *get_trap(napi_env env, napi_value handle) {
  napi_valuetype type;
  void *data = NULL;
  if (napi_typeof(env, handle, &type) != napi_ok || type != napi_external ||
      napi_get_value_external(env, handle, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "not a trap handle");
    return NULL;
  }
  return (trap_t *)data;
}

static napi_value js_watch(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, argv, 3, 2, "watch(fd, onHit, onError?)")) return NULL;
  int64_t fd;
  if (!get_int_arg(env, argv[0], "fd", 0, INT32_MAX, &fd)) return NULL;
  napi_valuetype hit_type, error_type = napi_undefined;
  napi_typeof(env, argv[1], &hit_type);
  napi_typeof(env, argv[2], &error_type); /* undefined when not passed */
  if (hit_type != napi_function ||
      (error_type != napi_function && error_type != napi_undefined)) {
    close((int)fd);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "onHit and onError must be functions");
    return NULL;
  }

  struct sockaddr_storage local;
  socklen_t local_len = sizeof local;
  if (getsockname((int)fd, (struct sockaddr *)&local, &local_len) != 0) {
    int err = errno;
    close((int)fd);
    throw_errno(env, err, "getsockname", "trap fd");
    return NULL;
  }
  int local_port = local.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&local)->sin6_port)
                                               : ntohs(((struct sockaddr_in *)&local)->sin_port);

  uv_loop_t *loop;
  trap_t *trap = calloc(1, sizeof *trap);
  if (trap == NULL || napi_get_uv_event_loop(env, &loop) != napi_ok) {
    free(trap);
    close((int)fd);
    throw_errno(env, ENOMEM, "watch", "trap fd");
    return NULL;
  }
  trap->env = env;
  trap->fd = (int)fd;
  trap->local_port = local_port;
  trap->state = TRAP_OPEN;

  napi_value handle, resource_name;
  int rc = uv_poll_init(loop, &trap->poll, trap->fd);
  if (rc != 0) {
    free(trap);
    close((int)fd);
    throw_errno(env, -rc, "uv_poll_init", "trap fd");
    return NULL;
  }
  uv_timer_init(loop, &trap->pause_timer);
  trap->poll.data = trap;
  trap->pause_timer.data = trap;
  trap->handles_open = 2;
  /* From here on the trap is torn down only through close_trap/stop_io. */
  if (napi_create_external(env, trap, finalize_trap, NULL, &handle) != napi_ok) {
    stop_io(trap);
    trap->finalized = 1; /* freed once both handles have closed */
    throw_errno(env, ENOMEM, "watch", "trap handle");
    return NULL;
  }
  napi_create_reference(env, handle, 1, &trap->self_ref);
  napi_create_reference(env, argv[1], 1, &trap->on_hit);
  if (error_type == napi_function) napi_create_reference(env, argv[2], 1, &trap->on_error);
  napi_create_string_utf8(env, "TcpTrap", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, NULL, resource_name, &trap->async_ctx);
  napi_add_env_cleanup_hook(env, on_env_teardown, trap);

  rc = uv_poll_start(&trap->poll, UV_READABLE, on_readable);
  if (rc != 0) {
    close_trap(trap);
    throw_errno(env, -rc, "uv_poll_start", "trap fd");
    return NULL;
  }
  return handle;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, argv, 1, 1, "close(handle)")) return NULL;
  trap_t *trap = get_trap(env, argv[0]);
  if (trap != NULL) close_trap(trap);
  return NULL;
}

static napi_value js_port(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  trap_t *trap = argc < 1 ? NULL : get_trap(env, argv[0]);
  if (trap == NULL) return NULL;
  napi_value result;
  napi_create_int32(env, trap->local_port, &result);
  return result;
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  trap_t *trap = argc < 1 ? NULL : get_trap(env, argv[0]);
  if (trap == NULL) return NULL;
  napi_value result, accepted, skipped, resource_errors;
  napi_create_object(env, &result);
  napi_create_double(env, (double)trap->accepted, &accepted);
  napi_create_double(env, (double)trap->skipped, &skipped);
  napi_create_double(env, (double)trap->resource_errors, &resource_errors);
  napi_set_named_property(env, result, "accepted", accepted);
  napi_set_named_property(env, result, "skipped", skipped);
  napi_set_named_property(env, result, "resourceErrors", resource_errors);
  return result;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"listen", NULL, js_listen, NULL, NULL, NULL, napi_enumerable, NULL},
      {"watch", NULL, js_watch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"port", NULL, js_port, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) {
    return NULL;
  }
  return exports;
}
