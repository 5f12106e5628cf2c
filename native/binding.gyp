# ldflags -z now: every symbol is bound when the addon loads, not at its first call (the
# first probe would otherwise pay a symbol lookup for pcap_dispatch, uv_hrtime, memcpy...).
{
  "targets": [
    {
      "target_name": "trap_accept",
      "sources": ["trap_accept.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
      "ldflags": ["-Wl,-z,now"]
    },
    {
      "target_name": "live_capture",
      "sources": ["live_capture.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
      "ldflags": ["-Wl,-z,now"],
      "libraries": ["-lpcap"]
    },
    {
      "target_name": "sock_diag",
      "sources": ["sock_diag.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
      "ldflags": ["-Wl,-z,now"]
    }
  ]
}
