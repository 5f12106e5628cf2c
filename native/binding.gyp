{
  "targets": [
    {
      "target_name": "trap_accept",
      "sources": ["trap_accept.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"]
    },
    {
      "target_name": "live_capture",
      "sources": ["live_capture.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
      "libraries": ["-lpcap"]
    }
  ]
}
