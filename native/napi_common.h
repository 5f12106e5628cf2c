/*
 * Helpers the addons (trap_accept.c, live_capture.c, sock_diag.c) share: argument checks and
 * handing a JS exception thrown in a callback back to Node. Header-only: each addon is one
 * translation unit, and one that needs only some of the helpers is not warned about the rest.
 */
#ifndef PORTSENTRY_NAPI_COMMON_H
#define PORTSENTRY_NAPI_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <node_api.h>

#define NAPI_COMMON_HELPER static __attribute__((unused))

/* Fills argv[0..capacity-1] (undefined past what was passed); throws a TypeError naming `usage`
 * and returns 0 when fewer than `required` arguments were passed. */
NAPI_COMMON_HELPER int get_args(napi_env env, napi_callback_info info, napi_value *argv,
                                size_t capacity, size_t required, const char *usage) {
  size_t argc = capacity;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  if (argc < required) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", usage);
    return 0;
  }
  return 1;
}

/* Reads an integer argument in min..max; otherwise throws a RangeError and returns 0. */
NAPI_COMMON_HELPER int get_int_arg(napi_env env, napi_value v, const char *name, int64_t min,
                                   int64_t max, int64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || d != d || d < (double)min ||
      d > (double)max || d != (double)(int64_t)d) {
    char message[128];
    snprintf(message, sizeof message, "%s must be an integer in %lld..%lld", name, (long long)min,
             (long long)max);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
    return 0;
  }
  *out = (int64_t)d;
  return 1;
}

/* Reports a pending JS exception to the process the normal way ('uncaughtException'). */
NAPI_COMMON_HELPER void raise_pending(napi_env env) {
  bool pending = false;
  napi_value exception;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env, &exception) == napi_ok) {
    napi_fatal_exception(env, exception);
  }
}

/* The bytes of a Uint8Array argument; otherwise throws a TypeError saying `what` and returns 0. */
static __attribute__((unused)) int get_uint8_array(napi_env env, napi_value v, const char *what,
                                                   uint8_t **data, size_t *length) {
  bool is_typedarray = false;
  napi_typedarray_type array_type;
  size_t byte_offset;
  void *bytes;
  napi_value array_buffer;
  if (napi_is_typedarray(env, v, &is_typedarray) != napi_ok || !is_typedarray ||
      napi_get_typedarray_info(env, v, &array_type, length, &bytes, &array_buffer, &byte_offset) !=
          napi_ok ||
      array_type != napi_uint8_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", what);
    return 0;
  }
  *data = bytes;
  return 1;
}

#endif
